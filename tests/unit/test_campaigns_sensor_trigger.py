"""Unit tests of the sent sensor and its trigger (fake hooks, no HTTP)."""

from __future__ import annotations

import asyncio
from typing import Any
from unittest.mock import AsyncMock, MagicMock

import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

from airflow_provider_activecampaign.exceptions import ActiveCampaignError, ActiveCampaignNotFoundError
from airflow_provider_activecampaign.hooks.activecampaign_async import ActiveCampaignAsyncHook
from airflow_provider_activecampaign.sensors.campaigns import ActiveCampaignCampaignSentSensor
from airflow_provider_activecampaign.triggers.campaigns import ActiveCampaignCampaignSentTrigger


def campaign(status: str, sent: int = 0) -> dict[str, Any]:
    return {"id": "7", "name": "N", "status": status, "send_amt": str(sent), "total_amt": "10", "opens": "4"}


class FakeHook:
    base_url = "https://acme.api-us1.com"

    def __init__(self, *answers: dict[str, Any]) -> None:
        self.answers = list(answers)

    def get_connection(self, conn_id: str) -> Any:
        return MagicMock(extra_dejson={})

    def get(self, endpoint: str, params: Any = None) -> Any:
        assert endpoint == "campaigns/7"
        return {"campaign": self.answers.pop(0)}


def sensor_with(hook: FakeHook, **kwargs: Any) -> tuple[ActiveCampaignCampaignSentSensor, Any]:
    sensor = ActiveCampaignCampaignSentSensor(task_id="sent", campaign_id="7", **kwargs)
    sensor.__dict__["hook"] = hook
    return sensor, {"ti": MagicMock()}


def test_poke_waits_then_reports() -> None:
    sensor, context = sensor_with(FakeHook(campaign("2", 4), campaign("5", 10)))
    assert sensor.poke(context).is_done is False
    done = sensor.poke(context)
    assert done.is_done is True
    assert done.xcom_value is not None
    assert done.xcom_value["sends"] == 10
    assert done.xcom_value["opens"] == 4
    context["ti"].xcom_push.assert_called_once()  # the link, once


@pytest.mark.parametrize("status", ["4", "6"])
def test_poke_fails_for_good_on_stopped_or_disabled(status: str) -> None:
    sensor, context = sensor_with(FakeHook(campaign(status, 3)))
    with pytest.raises(AirflowFailException, match="3 of 10"):
        sensor.poke(context)


@pytest.mark.parametrize("campaign_id", ["None", "", "abc"])
def test_a_missing_campaign_id_is_a_clear_error(campaign_id: str) -> None:
    hook = FakeHook()
    sensor = ActiveCampaignCampaignSentSensor(task_id="sent", campaign_id=campaign_id)
    sensor.__dict__["hook"] = hook
    with pytest.raises(AirflowFailException, match="numeric id"):
        sensor.poke({"ti": MagicMock()})


def test_deferrable_sensor_defers_with_the_campaign_trigger() -> None:
    sensor, context = sensor_with(
        FakeHook(campaign("1")), deferrable=True, defer_after=0, poke_interval=5, timeout=600
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, ActiveCampaignCampaignSentTrigger)
    assert trigger.serialize()[1] == {
        "activecampaign_conn_id": "activecampaign_default",
        "poll_interval": 5.0,
        "campaign_id": "7",
    }
    assert deferred.value.method_name == "execute_complete"


def test_sensor_execute_complete() -> None:
    sensor, context = sensor_with(FakeHook())
    report = {"campaign_id": "7", "name": "N", "sends": 10, "recipients": 10}
    assert (
        sensor.execute_complete(context, {"status": "success", "outcome": "completed", "report": report})
        == report
    )
    with pytest.raises(AirflowFailException):
        sensor.execute_complete(context, {"status": "success", "outcome": "disabled", "report": report})
    with pytest.raises(ActiveCampaignError, match="timeout"):
        sensor.execute_complete(context, {"status": "error", "message": "timeout"})


def test_trigger_serializes_to_its_constructor() -> None:
    trigger = ActiveCampaignCampaignSentTrigger(campaign_id="7", activecampaign_conn_id="ac", poll_interval=2)
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_activecampaign.triggers.campaigns.ActiveCampaignCampaignSentTrigger"
    rebuilt = ActiveCampaignCampaignSentTrigger(**kwargs)
    assert rebuilt.serialize() == (path, kwargs)
    assert kwargs == {"activecampaign_conn_id": "ac", "poll_interval": 2.0, "campaign_id": "7"}


async def _first_event(trigger: ActiveCampaignCampaignSentTrigger) -> dict[str, Any]:
    async for event in trigger.run():
        return dict(event.payload)
    raise AssertionError("no event")


def test_trigger_polls_until_the_campaign_is_done(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = [{"campaign": campaign("1")}, {"campaign": campaign("2", 5)}, {"campaign": campaign("5", 10)}]
    get = AsyncMock(side_effect=answers)
    monkeypatch.setattr(ActiveCampaignAsyncHook, "get", get)
    trigger = ActiveCampaignCampaignSentTrigger(campaign_id="7", activecampaign_conn_id="ac", poll_interval=0)
    event = asyncio.run(_first_event(trigger))
    assert get.await_count == 3
    assert event["status"] == "success"
    assert event["outcome"] == "completed"
    assert event["report"]["sends"] == 10


def test_trigger_reports_a_stopped_campaign_as_its_outcome(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        ActiveCampaignAsyncHook, "get", AsyncMock(return_value={"campaign": campaign("4", 2)})
    )
    trigger = ActiveCampaignCampaignSentTrigger(campaign_id="7", activecampaign_conn_id="ac", poll_interval=0)
    event = asyncio.run(_first_event(trigger))
    assert (event["status"], event["outcome"]) == ("success", "stopped")


def test_trigger_turns_api_errors_into_an_error_event(monkeypatch: pytest.MonkeyPatch) -> None:
    missing = ActiveCampaignNotFoundError("Not found: GET campaigns/7")
    monkeypatch.setattr(ActiveCampaignAsyncHook, "get", AsyncMock(side_effect=missing))
    trigger = ActiveCampaignCampaignSentTrigger(campaign_id="7", activecampaign_conn_id="ac", poll_interval=0)
    event = asyncio.run(_first_event(trigger))
    assert event["status"] == "error"
    assert "Not found" in event["message"]
