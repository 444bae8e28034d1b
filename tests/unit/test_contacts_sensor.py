"""Unit tests of ActiveCampaignBulkImportSensor and ActiveCampaignBulkImportTrigger (hook mocked)."""

from __future__ import annotations

from typing import Any
from unittest.mock import MagicMock

import pytest
from airflow.sdk import PokeReturnValue
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred
from pytest_mock import MockerFixture

from airflow_provider_activecampaign.sensors.contacts import ActiveCampaignBulkImportSensor, parse_batch_ids
from airflow_provider_activecampaign.triggers.contacts import ActiveCampaignBulkImportTrigger

DONE = {"status": "completed", "success": ["1", "2", "3"], "failure": ["x@example.com"]}
RUNNING = {"status": "active", "success": [], "failure": []}


@pytest.mark.parametrize(
    ("value", "ids"),
    [
        (["a", "b"], ["a", "b"]),
        ("a, b,", ["a", "b"]),
        ('["a", "b"]', ["a", "b"]),
        ({"batch_ids": ["a"], "submitted": 250}, ["a"]),
        ('{"batch_ids": ["a", "b"]}', ["a", "b"]),
        (None, []),
    ],
)
def test_batch_ids_from_every_shape(value: Any, ids: list[str]) -> None:
    assert parse_batch_ids(value) == ids


def sensor(mocker: MockerFixture, answers: dict[str, Any], **options: Any) -> tuple[Any, MagicMock]:
    task = ActiveCampaignBulkImportSensor(task_id="wait", batch_ids=list(answers), **options)
    hook = MagicMock()
    hook.get.side_effect = lambda endpoint, params: answers[params["batchId"]]
    mocker.patch.object(ActiveCampaignBulkImportSensor, "hook", hook)
    return task, hook


def test_poke_stops_at_the_first_running_batch(mocker: MockerFixture) -> None:
    task, hook = sensor(mocker, {"a": DONE, "b": RUNNING, "c": DONE})
    result = task.poke({})
    assert isinstance(result, PokeReturnValue)
    assert not result.is_done
    assert [c.kwargs["params"]["batchId"] for c in hook.get.call_args_list] == ["a", "b"]


def test_poke_reports_every_batch_when_all_are_finished(mocker: MockerFixture) -> None:
    task, _ = sensor(mocker, {"a": DONE, "b": {**DONE, "status": "interrupted"}})
    result = task.poke({})
    assert result.is_done
    assert result.xcom_value == {
        "batches": {
            "a": {"status": "completed", "succeeded": 3, "failed": 1, "failed_emails": ["x@example.com"]},
            "b": {"status": "interrupted", "succeeded": 3, "failed": 1, "failed_emails": ["x@example.com"]},
        },
        "succeeded": 6,
        "failed": 2,
        "batch_ids": ["a", "b"],
    }


def test_max_failure_ratio_fails_with_examples(mocker: MockerFixture) -> None:
    task, _ = sensor(mocker, {"a": DONE}, max_failure_ratio=0.1)
    expected = r"1 of 4 imported contacts \(25%\) failed, above max_failure_ratio 0\.1 \(10%\)"
    with pytest.raises(AirflowFailException, match=expected + r".*x@example\.com"):
        task.poke({})


def test_deferrable_sensor_defers_to_the_trigger_which_reports_every_batch(mocker: MockerFixture) -> None:
    task, _ = sensor(
        mocker, {"a": DONE, "b": RUNNING}, deferrable=True, defer_after=0, poke_interval=7, timeout=60
    )
    with pytest.raises(TaskDeferred) as deferred:
        task.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, ActiveCampaignBulkImportTrigger)
    assert trigger.serialize() == (
        "airflow_provider_activecampaign.triggers.contacts.ActiveCampaignBulkImportTrigger",
        {"activecampaign_conn_id": "activecampaign_default", "poll_interval": 7.0, "batch_ids": ["a", "b"]},
    )
    done = {"status": "completed", "succeeded": 3, "failed": 1, "failed_emails": ["x@example.com"]}
    event = {"status": "success", "batches": {"a": done, "b": {**done, "failed": 0, "failed_emails": []}}}
    report = task.execute_complete({}, event=event)
    assert report["succeeded"] == 6
    assert report["failed"] == 1
    assert list(report["batches"]) == ["a", "b"]


def test_a_wait_that_ends_within_defer_after_ends_in_the_worker(mocker: MockerFixture) -> None:
    """apache/airflow#72716: a trigger firing right after its deferral can be misread as a failure."""
    answers = iter([RUNNING, RUNNING, DONE])
    task = ActiveCampaignBulkImportSensor(
        task_id="wait", batch_ids=["a"], deferrable=True, defer_after=30, poke_interval=60, timeout=600
    )
    hook = MagicMock()
    hook.get.side_effect = lambda endpoint, params: next(answers)
    mocker.patch.object(ActiveCampaignBulkImportSensor, "hook", hook)
    sleeps: list[float] = []
    mocker.patch("airflow_provider_activecampaign.sensors.base.time.sleep", side_effect=sleeps.append)
    report = task.execute({})  # no TaskDeferred
    assert report["succeeded"] == 3
    assert hook.get.call_count == 3
    assert sleeps == [2.0, 2.0]  # poked every 2 s (not every poke_interval) while waiting in the worker


def test_a_wait_still_running_after_defer_after_defers(mocker: MockerFixture) -> None:
    task, hook = sensor(mocker, {"a": RUNNING}, deferrable=True, defer_after=0.05, poke_interval=0.01)
    with pytest.raises(TaskDeferred):
        task.execute({})
    assert hook.get.call_count >= 2  # poked again in the worker before deferring


def test_a_failed_wait_fails_the_sensor_with_the_triggers_message(mocker: MockerFixture) -> None:
    task, _ = sensor(mocker, {"a": RUNNING}, deferrable=True, defer_after=0)
    with pytest.raises(Exception, match="Waiting for bulk imports failed: boom"):
        task.execute_complete({}, event={"status": "error", "message": "boom"})


async def test_trigger_waits_until_every_batch_is_finished() -> None:
    answers = iter([DONE, RUNNING, DONE, {"status": False}, DONE])
    hook = MagicMock()

    async def get(endpoint: str, params: dict[str, Any]) -> Any:
        return next(answers)

    hook.get = get
    trigger = ActiveCampaignBulkImportTrigger(
        batch_ids=["a", "b", "c"], activecampaign_conn_id="ac", poll_interval=0
    )
    assert await trigger.check(hook) is None  # a done, b running
    assert await trigger.check(hook) is None  # b done, c not started (status false)
    payload = await trigger.check(hook)  # c done
    assert payload is not None
    assert list(payload["batches"]) == ["a", "b", "c"]
    assert payload["batches"]["c"] == {
        "status": "completed",
        "succeeded": 3,
        "failed": 1,
        "failed_emails": ["x@example.com"],
    }
