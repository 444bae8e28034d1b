"""Waiting for a sent campaign to finish: one progress check, the give-up error, the resume after deferral.

The operator owns the loop (it sleeps or defers); these rules decide what one look at the campaign
means, so the worker loop, the trigger's event and the resume agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_activecampaign.campaigns.api import (
    campaign_report,
    describe_progress,
    finish_outcome,
    get_campaign,
    raise_for_outcome,
)
from airflow_provider_activecampaign.campaigns.result import finished, resumed
from airflow_provider_activecampaign.exceptions import ActiveCampaignError

if TYPE_CHECKING:
    from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook

#: XCom key holding the send result while the task waits (it survives a deferral).
SEND_RESULT_XCOM_KEY = "campaign_send"


@dataclass(frozen=True)
class Progress:
    """One look at the campaign: ``done`` is the final result once it finished, else ``None``."""

    progress: str
    done: dict[str, Any] | None


def check_progress(hook: ActiveCampaignHook, result: Mapping[str, Any]) -> Progress:
    """Read the campaign once; a stopped or disabled campaign fails the task without retries."""
    campaign = get_campaign(hook, result["campaign_id"])
    outcome = finish_outcome(campaign)
    if outcome is None:
        return Progress(describe_progress(campaign), None)
    report = campaign_report(campaign)
    raise_for_outcome(outcome, report)
    return Progress(describe_progress(campaign), finished(result, report))


def gave_up_waiting(wait_timeout: float | None, progress: str) -> ActiveCampaignError:
    """The error for a wait past ``wait_timeout``: the campaign keeps sending, a re-run only waits."""
    return ActiveCampaignError(
        f"Gave up waiting after {wait_timeout} s: {progress}.",
        hint="The campaign keeps sending in ActiveCampaign. Re-running this task will not "
        "send it again; it will wait again.",
    )


def resume_after_trigger(previous: Mapping[str, Any] | None, event: Mapping[str, Any]) -> dict[str, Any]:
    """The result once the trigger saw the campaign finish; its error or a failed send raise."""
    if event.get("status") != "success":
        raise ActiveCampaignError(f"Waiting for the campaign failed: {event.get('message')}")
    raise_for_outcome(event["outcome"], event["report"])
    return resumed(previous, event)
