"""The send rules of campaigns/ on their own, without an operator (request, schedule, result, waiting)."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_activecampaign.campaigns.api import ActiveCampaignCampaignError
from airflow_provider_activecampaign.campaigns.request import read_send_request
from airflow_provider_activecampaign.campaigns.schedule import plan_send_time
from airflow_provider_activecampaign.campaigns.waiting import resume_after_trigger


def request(**given: Any) -> Any:
    values: dict[str, Any] = {
        "name": "N",
        "campaign_id": None,
        "message_id": None,
        "parts": {},
        "lists": "News",
        "segment_id": None,
        "max_recipients": None,
        "test_emails": None,
    }
    return read_send_request(**{**values, **given})


def test_rendered_blanks_mean_not_given() -> None:
    """A template renders an unset value as "" and None as "None": neither names a draft or segment."""
    read = request(campaign_id="None", message_id="", segment_id=" ", lists="News, 4", test_emails="")
    assert (read.template_id, read.message_id, read.segment_id) == (None, None, None)
    assert read.lists == ["News", "4"]
    assert read.dry_run is False
    assert request(campaign_id="12").exclude == ["12"]


def test_test_addresses_are_checked_before_anything_is_sent() -> None:
    assert request(test_emails="QA@Example.com").test_emails == ["qa@example.com"]
    with pytest.raises(ActiveCampaignCampaignError, match="test_emails has addresses that are not valid"):
        request(test_emails="qa@example.com, not-an-address")


def test_send_time_uses_the_operator_zone_then_the_connection_and_warns_when_it_assumes_utc() -> None:
    chosen = plan_send_time(
        "2025-03-09T12:00:00Z", account_timezone="", connection_timezone="America/New_York"
    )
    assert (chosen.sdate, chosen.configured, chosen.warnings) == ("2025-03-09 08:00:00", True, ())
    assumed = plan_send_time("2025-03-09T12:00:00Z", account_timezone=None, connection_timezone=None)
    assert assumed.sdate == "2025-03-09 12:00:00"
    assert assumed.configured is False
    assert ["assuming the API user's time zone is UTC" in w for w in assumed.warnings] == [True]
    now = plan_send_time(None, account_timezone=None, connection_timezone=None)
    assert now.warnings == ()  # "now" is now in any zone: nothing assumed


def test_a_wall_time_that_occurs_twice_is_warned_about() -> None:
    fall_back = plan_send_time(
        "2025-11-02T05:30:00Z", account_timezone="America/New_York", connection_timezone=None
    )
    assert fall_back.sdate == "2025-11-02 01:30:00"
    assert ["occurs twice" in w for w in fall_back.warnings] == [True]


def test_resuming_without_the_saved_result_rebuilds_it_from_the_trigger_event() -> None:
    report = {"campaign_id": "31", "name": "N", "status": "completed", "sends": 3, "recipients": 3}
    event = {"status": "success", "outcome": "completed", "campaign_id": "31", "report": report}
    assert resume_after_trigger(None, event) == {
        "campaign_id": "31",
        "name": "N",
        "scheduled_for": None,
        "created": None,
        "status": "completed",
        "recipients": 3,
        "report": report,
    }
