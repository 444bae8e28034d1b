"""What a send returns (its XCom): one shape for a fresh send, a found one, a dry run and a finished wait.

``{"campaign_id", "name", "status", "scheduled_for", "recipients", "created"}``, plus ``"report"``
after waiting and ``"dry_run"``/``"test_emails"`` for a dry run. Kept JSON-safe: it is also the
state a deferred wait carries to :func:`resumed`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pendulum

from airflow_provider_activecampaign.campaigns.api import as_int, parse_api_datetime, status_code, status_name


def send_result(
    campaign: Mapping[str, Any],
    name: str,
    *,
    counted: int | None,
    created: bool,
    intended: pendulum.DateTime | None,
) -> dict[str, Any]:
    """The result for a campaign handed to the sending engine (by this try or an earlier one)."""
    reported = parse_api_datetime(campaign.get("sdate"))
    scheduled = reported or intended
    total = as_int(campaign.get("total_amt"))
    return {
        "campaign_id": str(campaign.get("id")),
        "name": name,
        "status": status_name(status_code(campaign)),
        "scheduled_for": scheduled.isoformat() if scheduled else None,
        # Our count when we just checked the lists; else ActiveCampaign's, once it has one.
        "recipients": counted if counted is not None else (total or None),
        "created": created,
    }


def dry_run_result(
    campaign_id: str, name: str, *, recipients: int, created: bool, test_emails: list[str]
) -> dict[str, Any]:
    """The result of test copies only: nothing scheduled, the lists' members counted but not sent to."""
    return {
        "campaign_id": campaign_id,
        "name": name,
        "status": "test_sent",
        "scheduled_for": None,
        "recipients": recipients,
        "created": created,
        "dry_run": True,
        "test_emails": test_emails,
    }


def finished(result: Mapping[str, Any], report: Mapping[str, Any]) -> dict[str, Any]:
    """The send's result once the campaign is done: ActiveCampaign's status, recipients and report."""
    return {**result, "status": report["status"], "recipients": report["recipients"], "report": dict(report)}


def resumed(previous: Mapping[str, Any] | None, event: Mapping[str, Any]) -> dict[str, Any]:
    """The result after a deferred wait, from the state saved before deferring (or, lost, the event)."""
    report: Mapping[str, Any] = event["report"]
    state = previous or {
        "campaign_id": event.get("campaign_id"),
        "name": report.get("name"),
        "scheduled_for": None,
        "created": None,
    }
    return finished(dict(state), report)
