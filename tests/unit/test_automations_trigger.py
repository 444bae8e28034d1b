"""ActiveCampaignAutomationCompletedTrigger with a mocked async hook."""

from __future__ import annotations

import time
from typing import Any

import pytest
from pytest_mock import MockerFixture

from airflow_provider_activecampaign.exceptions import ActiveCampaignNotFoundError, ActiveCampaignServerError
from airflow_provider_activecampaign.hooks.activecampaign_async import ActiveCampaignAsyncHook
from airflow_provider_activecampaign.triggers.automations import ActiveCampaignAutomationCompletedTrigger

PATH = "airflow_provider_activecampaign.triggers.automations.ActiveCampaignAutomationCompletedTrigger"
RUNNING = {"status": "1", "completed": 0, "contact": "5", "completeValue": 10}
DONE = {"status": "2", "completed": 1}
EXITED = {"status": "2", "completed": 0}


def hook_answering(mocker: MockerFixture, answers: dict[str, list[Any]]) -> Any:
    """A hook whose ``get("contactAutomations/<id>")`` returns the next scripted answer for that id."""
    hook = mocker.create_autospec(ActiveCampaignAsyncHook, instance=True)

    async def get(endpoint: str, params: Any = None) -> Any:
        ident = endpoint.rsplit("/", 1)[1]
        answer = answers[ident].pop(0) if len(answers[ident]) > 1 else answers[ident][0]
        if isinstance(answer, Exception):
            raise answer
        return {"contactAutomation": answer}

    hook.get.side_effect = get
    return hook


def test_serialize_round_trips() -> None:
    trigger = ActiveCampaignAutomationCompletedTrigger(
        ["1", 2], activecampaign_conn_id="ac", poll_interval=5, deadline=1700000000.5
    )
    path, kwargs = trigger.serialize()

    assert path == PATH
    assert kwargs == {
        "activecampaign_conn_id": "ac",
        "poll_interval": 5.0,
        "contact_automation_ids": ["1", "2"],
        "deadline": 1700000000.5,
    }
    assert ActiveCampaignAutomationCompletedTrigger(**kwargs).serialize() == (path, kwargs)


async def test_waits_while_running_and_reads_finished_ones_only_once(mocker: MockerFixture) -> None:
    hook = hook_answering(mocker, {"1": [DONE], "2": [RUNNING, RUNNING, EXITED]})
    trigger = ActiveCampaignAutomationCompletedTrigger(["1", "2"])

    assert await trigger.check(hook) is None
    assert await trigger.check(hook) is None
    assert await trigger.check(hook) == {"completed": ["1"], "exited": ["2"]}
    reads = [call.args[0] for call in hook.get.call_args_list]
    assert reads.count("contactAutomations/1") == 1
    assert reads.count("contactAutomations/2") == 3


async def test_a_vanished_enrolment_ends_the_wait(mocker: MockerFixture) -> None:
    hook = hook_answering(mocker, {"1": [ActiveCampaignNotFoundError("No Result found")], "2": [RUNNING]})
    event = await ActiveCampaignAutomationCompletedTrigger(["1", "2"]).check(hook)

    assert event is not None
    assert event["status"] == "missing"
    assert event["missing"] == ["1"]


async def test_the_deadline_reports_what_is_still_running(mocker: MockerFixture) -> None:
    hook = hook_answering(mocker, {"1": [DONE], "2": [RUNNING]})
    event = await ActiveCampaignAutomationCompletedTrigger(["1", "2"], deadline=time.time() - 1).check(hook)

    assert event == {
        "status": "timeout",
        "running": ["2"],
        "message": "1 enrolment(s) still running: 2 (contact 5, 10% done)",
        "completed": ["1"],
        "exited": [],
    }


async def test_run_yields_one_success_event(mocker: MockerFixture) -> None:
    hook = hook_answering(mocker, {"1": [RUNNING, DONE]})
    hook.__aenter__.return_value = hook
    mocker.patch("airflow_provider_activecampaign.triggers.base.ActiveCampaignAsyncHook", return_value=hook)
    trigger = ActiveCampaignAutomationCompletedTrigger(["1"], poll_interval=0.01)

    events = [event async for event in trigger.run()]

    assert [event.payload for event in events] == [{"status": "success", "completed": ["1"], "exited": []}]


async def test_run_turns_an_api_error_into_an_error_event(mocker: MockerFixture) -> None:
    hook = hook_answering(mocker, {"1": [ActiveCampaignServerError("ActiveCampaign failed", status=500)]})
    hook.__aenter__.return_value = hook
    mocker.patch("airflow_provider_activecampaign.triggers.base.ActiveCampaignAsyncHook", return_value=hook)

    events = [event async for event in ActiveCampaignAutomationCompletedTrigger(["1"]).run()]

    assert len(events) == 1
    assert events[0].payload["status"] == "error"
    assert "ActiveCampaign failed" in events[0].payload["message"]


@pytest.mark.parametrize("ids", [["7"], ["7", "8", "9"]])
def test_ids_are_kept_as_strings_in_order(ids: list[str]) -> None:
    assert ActiveCampaignAutomationCompletedTrigger([int(i) for i in ids]).contact_automation_ids == ids
