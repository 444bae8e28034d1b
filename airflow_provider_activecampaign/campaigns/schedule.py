"""When a send goes out: the instant asked for, the account's wall time for it, and the timezone check.

ActiveCampaign reads v1 ``sdate`` as a wall time in the API user's own timezone, which the API does
not state; these rules decide that wall time and refuse a send whose hour would be wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pendulum

from airflow_provider_activecampaign.campaigns.api import (
    AccountTimezone,
    ActiveCampaignCampaignError,
    account_wall_time,
    assumed_utc_warning,
    parse_send_at,
    resolve_timezone,
    timezone_disagreement,
)
from airflow_provider_activecampaign.campaigns.request import blank_to_none


@dataclass(frozen=True)
class SendTime:
    """The send's instant (UTC), its ``sdate`` in the account's timezone, and what to warn about."""

    at: pendulum.DateTime
    sdate: str
    timezone: AccountTimezone
    #: Whether ``account_timezone`` was set (operator or connection extra), not assumed UTC.
    configured: bool
    warnings: tuple[str, ...]


def plan_send_time(
    send_at: datetime | str | None, *, account_timezone: Any, connection_timezone: Any
) -> SendTime:
    """The send time, in the operator's ``account_timezone``, else the connection's, else UTC (warned)."""
    setting = blank_to_none(account_timezone) or blank_to_none(connection_timezone)
    tz = resolve_timezone(setting)
    at = parse_send_at(send_at, now=pendulum.now("UTC"))
    sdate, ambiguity = account_wall_time(at, tz)
    warnings = [ambiguity] if ambiguity else []
    if setting is None and blank_to_none(send_at) is not None:
        warnings.append(assumed_utc_warning(sdate))
    return SendTime(at, sdate, tz, setting is not None, tuple(warnings))


def check_account_timezone(message: dict[str, Any], when: SendTime, *, verify: bool) -> str | None:
    """Refuse to schedule when ActiveCampaign's own dates show another timezone than the one used.

    Returns a warning to log instead when ``verify`` is off; ``None`` when the two agree.
    """
    problem = timezone_disagreement(message.get("cdate") or message.get("mdate"), when.timezone)
    if problem is None:
        return None
    if not verify:
        return f"{problem} verify_account_timezone=False: sending anyway."
    assumed = "" if when.configured else " No account_timezone is configured, so UTC was assumed."
    raise ActiveCampaignCampaignError(
        f"{problem}{assumed} The campaign would send at the wrong hour, so nothing was sent.",
        hint="Set account_timezone= on the operator, or the connection extra account_timezone, to "
        "the IANA name of the API user's timezone in ActiveCampaign (Settings → My Settings), "
        "e.g. 'America/Chicago'.",
    )
