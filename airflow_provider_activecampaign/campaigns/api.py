"""The campaign calls, status rules, send-time rule and report, shared by the operator, sensor and trigger.

Only documented calls are used (reference §7; the reasons are in docs/campaigns.md):

* v3 ``GET /campaigns`` (every page) to find campaigns by name, ``GET /campaigns/{id}`` for status,
  progress and report, ``POST /messages`` + ``GET /messages/{id}`` for the content,
  ``GET /contacts?listid=&status=1`` (``meta.total``) to count active list members;
* v1 ``campaign_create`` to create *and* schedule a campaign in one call (the only documented way
  to send: v3's schedule call has no public path), ``campaign_send action=test`` for test copies,
  ``campaign_list ids= full=1`` to read a draft's lists and messages.

Nothing here retries: the transport retries what is safe and raises
:class:`~airflow_provider_activecampaign.exceptions.ActiveCampaignAmbiguousWriteError` for a
create that may have happened; the operator then reads back by name.
"""

from __future__ import annotations

import html as htmllib
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pendulum
from airflow.sdk.exceptions import AirflowFailException
from pendulum.tz.timezone import FixedTimezone, Timezone

from airflow_provider_activecampaign.exceptions import ActiveCampaignError, ActiveCampaignValidationError
from airflow_provider_activecampaign.records.dates import UnparseableDateError, parse_ac_datetime
from airflow_provider_activecampaign.records.emails import InvalidEmailError, check_email, email_key

if TYPE_CHECKING:
    from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook

log = logging.getLogger(__name__)

DRAFT, SCHEDULED, SENDING, PAUSED, STOPPED, COMPLETED, DISABLED = 0, 1, 2, 3, 4, 5, 6
#: 0-4 and 6 are documented (DOC:schedule/pause/resume/stop-a-campaign); 5 = completed is UNCERTAIN.
STATUS_NAMES: dict[int, str] = {
    DRAFT: "draft",
    SCHEDULED: "scheduled",
    SENDING: "sending",
    PAUSED: "paused",
    STOPPED: "stopped",
    COMPLETED: "completed",
    DISABLED: "disabled",
}
#: v1 ``sdate``: a wall time in the account's timezone (V1:campaign_create).
SDATE_FORMAT = "%Y-%m-%d %H:%M:%S"
#: How far ActiveCampaign's ``sdate`` may differ from the intended send time before we warn.
SDATE_TOLERANCE = timedelta(seconds=90)
#: What :func:`resolve_timezone` returns.
AccountTimezone = Timezone | FixedTimezone


class ActiveCampaignCampaignError(ActiveCampaignError, AirflowFailException):
    """The campaign cannot be sent as asked (bad input, guard refused, name taken by a draft).

    Fails the task without retries: trying again would meet the same answer.
    """


class ActiveCampaignCampaignFailedError(ActiveCampaignCampaignError):
    """The campaign ended without completing (stopped or disabled): retrying the task cannot help."""


# --------------------------------------------------------------------------------------------------
# Status and progress
# --------------------------------------------------------------------------------------------------


def status_code(campaign: Mapping[str, Any]) -> int:
    """The campaign's status as an int (the API sends ``"2"``)."""
    try:
        return int(campaign.get("status"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return -1


def status_name(code: int) -> str:
    return STATUS_NAMES.get(code, f"status {code}")


def as_int(value: Any) -> int:
    """A count from the API (``"12"``, ``12`` or ``None``) as an int."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def finish_outcome(campaign: Mapping[str, Any]) -> str | None:
    """``"completed"``, ``"stopped"`` or ``"disabled"`` once the campaign is done with; else ``None``.

    Completed means status 5 (UNCERTAIN in the reference, see docs/campaigns.md). Drafts, scheduled,
    sending and paused campaigns may still send, so they are "not yet".
    """
    code = status_code(campaign)
    if code == COMPLETED:
        return "completed"
    if code == STOPPED:
        return "stopped"
    if code == DISABLED:
        return "disabled"
    return None


def describe_progress(campaign: Mapping[str, Any]) -> str:
    code = status_code(campaign)
    return (
        f"campaign {campaign.get('id')} {campaign.get('name')!r} is {status_name(code)}: "
        f"{as_int(campaign.get('send_amt'))} of {as_int(campaign.get('total_amt'))} sent"
    )


def campaign_report(campaign: Mapping[str, Any]) -> dict[str, Any]:
    """The campaign's numbers as ints, under plain names (JSON-safe, for XCom and trigger events)."""
    hard, soft = as_int(campaign.get("hardbounces")), as_int(campaign.get("softbounces"))
    code = status_code(campaign)
    return {
        "campaign_id": str(campaign.get("id")),
        "name": campaign.get("name"),
        "status": status_name(code),
        "sends": as_int(campaign.get("send_amt")),
        "recipients": as_int(campaign.get("total_amt")),
        "opens": as_int(campaign.get("opens")),
        "unique_opens": as_int(campaign.get("uniqueopens")),
        "clicks": as_int(campaign.get("linkclicks")),
        "unique_clicks": as_int(campaign.get("uniquelinkclicks")),
        "bounces": hard + soft,
        "hard_bounces": hard,
        "soft_bounces": soft,
        "unsubscribes": as_int(campaign.get("unsubscribes")),
        "forwards": as_int(campaign.get("forwards")),
        "unique_forwards": as_int(campaign.get("uniqueforwards")),
        "replies": as_int(campaign.get("replies")),
        "unique_replies": as_int(campaign.get("uniquereplies")),
        "started_at": campaign.get("sdate"),
        "finished_at": campaign.get("ldate"),
    }


def raise_for_outcome(outcome: str, report: Mapping[str, Any]) -> None:
    """Fail (without retries) on a campaign that stopped or was disabled before it finished."""
    if outcome == "completed":
        return
    raise ActiveCampaignCampaignFailedError(
        f"Campaign {report.get('campaign_id')} {report.get('name')!r} is {outcome}: "
        f"{report.get('sends')} of {report.get('recipients')} emails were sent and it will not send more.",
        hint="Look at the campaign in ActiveCampaign. A stopped campaign cannot be resumed; "
        "send a new campaign if the rest of the audience must receive it.",
    )


# --------------------------------------------------------------------------------------------------
# Time
# --------------------------------------------------------------------------------------------------


def resolve_timezone(name: str | None) -> AccountTimezone:
    """An IANA timezone (``"Europe/Berlin"``) or ``"UTC"``; a clear error for anything else."""
    text = (name or "UTC").strip() or "UTC"
    try:
        return pendulum.timezone(text)
    except Exception:
        raise ActiveCampaignCampaignError(
            f"account_timezone {text!r} is not a timezone name.",
            hint="Use the IANA name of the timezone set for the API key's user in ActiveCampaign "
            "(Settings → My Settings), e.g. 'America/Chicago' or 'Europe/Berlin'.",
        ) from None


def parse_send_at(value: datetime | str | None, *, now: datetime) -> pendulum.DateTime:
    """When to send, as an aware UTC instant; ``None`` or ``""`` means now.

    Naive values are refused: ``2025-03-09 09:00`` could be any of 38 offsets, and guessing wrong
    sends hours early or late.
    """
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null")):
        return pendulum.instance(now).in_timezone("UTC")
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ActiveCampaignCampaignError(
                f"send_at {value!r} is not an ISO-8601 date and time.",
                hint="Use e.g. '2025-03-09T09:00:00-05:00', '2025-03-09T14:00:00Z' or "
                "'{{ data_interval_end }}', or pass an aware datetime.",
            ) from None
    elif isinstance(value, datetime):
        parsed = value
    else:
        raise ActiveCampaignCampaignError(f"send_at must be a datetime or an ISO string, got {type(value)}.")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ActiveCampaignCampaignError(
            f"send_at {value!s} has no timezone, so the moment it names is ambiguous.",
            hint="Add an offset or zone: '2025-03-09T09:00:00-05:00', or "
            "pendulum.datetime(2025, 3, 9, 9, tz='America/New_York').",
        )
    return pendulum.instance(parsed).in_timezone("UTC")


def account_wall_time(moment: datetime, tz: AccountTimezone) -> tuple[str, str | None]:
    """``moment`` as the v1 ``sdate`` text in the account's timezone, plus a warning if it is ambiguous.

    Converting an instant to local time is exact across DST changes. A local time that occurs twice
    (clocks going back) cannot be told apart in ``sdate``'s format; ActiveCampaign may read either.
    """
    local = pendulum.instance(moment).in_timezone(tz)
    text = local.strftime(SDATE_FORMAT)
    naive = datetime(local.year, local.month, local.day, local.hour, local.minute, local.second)
    first = naive.replace(tzinfo=tz, fold=0).utcoffset()
    second = naive.replace(tzinfo=tz, fold=1).utcoffset()
    warning = None
    if first != second:
        warning = (
            f"The send time {text} occurs twice in {tz} (the clocks go back that night); "
            "ActiveCampaign may send an hour earlier or later than intended."
        )
    return text, warning


def assumed_utc_warning(sdate: str) -> str:
    """The warning for a scheduled send when no ``account_timezone`` is set: it names the assumption.

    ActiveCampaign reads ``sdate`` as a wall time in the API user's own time zone, which the API does
    not tell us; without ``account_timezone`` the provider can only assume UTC.
    """
    return (
        f"account_timezone is not set (neither the operator's account_timezone nor the connection "
        f"extra), so the send time is given to ActiveCampaign as {sdate} assuming the API user's time "
        "zone is UTC. If that user's time zone in ActiveCampaign (Settings → My Settings) is another "
        "one, the campaign goes out that many hours off: set account_timezone to its IANA name."
    )


def parse_api_datetime(value: Any) -> pendulum.DateTime | None:
    """A date from the v3 API (``2025-03-09T08:00:00-04:00``, also ``2025-03-09T8:00:00-04:00``) as UTC.

    ``None`` when absent (``0000-00-00``, empty) or without an offset (an instant we cannot place).
    The spellings are the one rule of ``records/dates.py``; a value in none of them is warned about
    and then ``None`` (the callers only compare or report the date, they never drop a record on it).
    """
    moment = _api_moment(value)
    return pendulum.instance(moment).in_timezone("UTC") if moment is not None else None


def _api_moment(value: Any) -> datetime | None:
    """An aware datetime as ActiveCampaign wrote it (offset kept), or ``None`` (see above)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = parse_ac_datetime(value)
    except UnparseableDateError as error:
        log.warning("ActiveCampaign sent a date this provider cannot read: %s; it is ignored.", error)
        return None
    if parsed is None or parsed.tzinfo is None or parsed.utcoffset() is None:
        return None
    return parsed


def _format_offset(offset: timedelta | None) -> str:
    if offset is None:
        return "?"
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def timezone_disagreement(stamp: Any, tz: AccountTimezone) -> str | None:
    """Compare an API timestamp's UTC offset with ``tz``'s offset at that instant.

    v3 renders dates with the account's UTC offset (reference §9), so a message's ``cdate`` shows
    which offset the account used at that moment; comparing at that very instant is DST-safe.
    """
    parsed = _api_moment(stamp)
    if parsed is None:
        return None
    actual = parsed.utcoffset()
    expected = pendulum.instance(parsed).in_timezone(tz).utcoffset()
    if actual == expected:
        return None
    return (
        f"ActiveCampaign shows times with UTC offset {_format_offset(actual)} (e.g. {stamp}), but "
        f"account_timezone {tz} had offset {_format_offset(expected)} at that moment."
    )


def sdate_mismatch(campaign: Mapping[str, Any], intended: datetime) -> str | None:
    """A warning when ActiveCampaign's ``sdate`` is not the instant we asked for (wrong account timezone)."""
    reported = parse_api_datetime(campaign.get("sdate"))
    if reported is None:
        return None
    if abs(reported - pendulum.instance(intended)) <= SDATE_TOLERANCE:
        return None
    return (
        f"ActiveCampaign reports the campaign's send time as {campaign.get('sdate')} "
        f"({reported.isoformat()}), not {pendulum.instance(intended).in_timezone('UTC').isoformat()}. "
        "The account_timezone given to the operator (or the connection extra) probably differs "
        "from the timezone of the API user in ActiveCampaign (Settings → My Settings)."
    )


# --------------------------------------------------------------------------------------------------
# Names and inputs
# --------------------------------------------------------------------------------------------------


def default_campaign_name(dag_id: str, task_id: str, run_id: str, map_index: int = -1) -> str:
    """The deterministic name of the campaign one task instance sends: its idempotency key."""
    suffix = f" #{map_index}" if map_index >= 0 else ""
    return f"{dag_id}.{task_id}{suffix} {run_id}"


def dry_run_campaign_name(name: str) -> str:
    """The draft a dry run sends its test copies from; never the name of a real send."""
    return f"{name} [test]"


def same_name(a: Any, b: str) -> bool:
    """Names match after HTML-unescaping (v1 may store ``&amp;``) and trimming."""
    return htmllib.unescape(str(a or "")).strip() == htmllib.unescape(b).strip()


def as_list(value: Any) -> list[str]:
    """A list of strings from a list, a tuple or a comma-separated string (templated fields)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, Iterable):
        return [str(part).strip() for part in value if str(part).strip()]
    return [str(value).strip()]


def check_emails(emails: Sequence[str], field: str) -> list[str]:
    """Check each address with the provider's one email rule (emails.py); return them lower-cased."""
    checked: list[str] = []
    bad: list[str] = []
    for email in emails:
        try:
            checked.append(email_key(check_email(email)))
        except InvalidEmailError as error:
            bad.append(str(error))
    if bad:
        raise ActiveCampaignCampaignError(
            f"{field} has addresses that are not valid: {'; '.join(bad)}.",
            hint=f"Fix {field}; nothing was sent.",
        )
    return checked


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------


def find_campaigns_named(
    hook: ActiveCampaignHook, names: Iterable[str], *, exclude: Iterable[str] = ()
) -> dict[str, list[dict[str, Any]]]:
    """Every campaign carrying one of ``names``, reading all pages of ``GET /campaigns`` once.

    v3 documents no name filter, and v1's is a "contains" search with XML-era paging, so the
    only exact, documented answer is the whole list (100 per request).
    """
    wanted = {name: [] for name in names}  # type: dict[str, list[dict[str, Any]]]
    skipped = {str(i) for i in exclude}
    for campaign in hook.paginate("campaigns", key="campaigns"):
        if str(campaign.get("id")) in skipped:
            continue
        for name, bucket in wanted.items():
            if same_name(campaign.get("name"), name):
                bucket.append(dict(campaign))
    return wanted


def get_campaign(hook: ActiveCampaignHook, campaign_id: str | int) -> dict[str, Any]:
    return dict(hook.get(f"campaigns/{campaign_id}")["campaign"])


def get_message(hook: ActiveCampaignHook, message_id: str | int) -> dict[str, Any]:
    return dict(hook.get(f"messages/{message_id}").get("message") or {})


def count_active_members(hook: ActiveCampaignHook, list_ids: Sequence[str]) -> dict[str, int]:
    """Active (status 1) members per list, from ``meta.total`` of ``GET /contacts?listid=&status=1``."""
    counts: dict[str, int] = {}
    for list_id in list_ids:
        # Only meta.total is read; the order is named anyway (the default one is not documented).
        query = {"listid": list_id, "status": 1, "orders[id]": "ASC", "limit": 1}
        page = hook.get("contacts", params=query)
        counts[str(list_id)] = as_int((page.get("meta") or {}).get("total"))
    return counts


def read_draft_parts(hook: ActiveCampaignHook, campaign_id: str) -> tuple[list[str], list[str]]:
    """The list ids and message ids of a campaign, from v1 ``campaign_list ids=<id> full=1``.

    The documented ``full`` flag returns the campaign's ``lists`` and ``messages``; their exact
    row shape is UNCERTAIN, so both ``listid``/``messageid`` and ``id`` are accepted.
    """
    body = hook.legacy_request("campaign_list", params={"ids": campaign_id, "full": 1})
    row = body.get("0") if isinstance(body, Mapping) else None
    if not isinstance(row, Mapping):
        raise ActiveCampaignCampaignError(
            f"campaign_list returned no row for campaign {campaign_id}.",
            hint="Check the campaign id, or pass lists= and message_id= explicitly.",
        )
    lists = [
        str(item.get("listid") or item.get("id"))
        for item in row.get("lists") or []
        if isinstance(item, Mapping)
    ]
    messages = [
        str(item.get("messageid") or item.get("id"))
        for item in row.get("messages") or []
        if isinstance(item, Mapping)
    ]
    return [x for x in lists if x not in ("", "None")], [x for x in messages if x not in ("", "None")]


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------


def create_message(
    hook: ActiveCampaignHook,
    *,
    subject: str,
    from_name: str,
    from_email: str,
    reply_to: str,
    html: str | None,
    text: str | None,
) -> dict[str, Any]:
    """Create the email (v3 ``POST /messages``), read it back, check its content stuck; return it.

    The request schema documents no ``html``/``text`` (the response example has both), so we never
    trust the create alone: a message without the body we sent is an error *before* any send.
    """
    payload: dict[str, Any] = {
        "fromname": from_name,
        # The schema names the sender "email"; the official example sends "fromemail". Send both.
        "fromemail": from_email,
        "email": from_email,
        "reply2": reply_to,
        "subject": subject,
    }
    if html:
        payload["html"] = html
    if text:
        payload["text"] = text
    created = hook.post("messages", json={"message": payload})
    message_id = str((created.get("message") or {}).get("id") or "")
    if not message_id:
        raise ActiveCampaignError(
            "ActiveCampaign created a message but returned no id.", response_body=str(created)[:500]
        )
    stored = get_message(hook, message_id)
    lost = [
        name
        for name, sent in (("html", html), ("text", text), ("subject", subject))
        if sent and not str(stored.get(name) or "").strip()
    ]
    if lost:
        raise ActiveCampaignCampaignError(
            f"Message {message_id} was created without its {', '.join(lost)}; nothing was sent.",
            hint="Create the message in ActiveCampaign and pass its id as message_id=.",
        )
    return {**stored, "id": message_id}


def create_campaign(
    hook: ActiveCampaignHook,
    *,
    name: str,
    list_ids: Sequence[str],
    message_id: str,
    sdate: str,
    schedule: bool,
    segment_id: str | None = None,
) -> str:
    """v1 ``campaign_create``: a single campaign for ``list_ids`` with ``message_id`` at 100 %.

    ``schedule=True`` (status 1) hands it to the sending engine for ``sdate`` (a past or present
    time sends now); ``schedule=False`` (status 0) leaves a draft, used by dry runs.
    """
    data: dict[str, Any] = {
        "type": "single",
        "name": name,
        "sdate": sdate,
        "status": 1 if schedule else 0,
        "public": 1,
        "tracklinks": "all",
        "trackreads": 1,
        f"m[{message_id}]": 100,
    }
    for list_id in list_ids:
        data[f"p[{list_id}]"] = list_id
    if segment_id not in (None, "", "0", 0):
        data["segmentid"] = segment_id
    try:
        body = hook.legacy_request("campaign_create", data=data, method="POST")
    except ActiveCampaignValidationError as error:  # result_code 0: nothing was created
        raise ActiveCampaignCampaignError(
            f"ActiveCampaign refused to create campaign {name!r}: {error.summary}. Nothing was sent.",
            hint="Check the lists, message and segment; the message says which one it refused.",
            method=error.method,
            url=error.url,
            request_body=error.request_body,
            response_body=error.response_body,
        ) from error
    campaign_id = str(body.get("id") or "") if isinstance(body, Mapping) else ""
    if not campaign_id:
        # Retryable on purpose: the next try looks the campaign up by name before creating one.
        raise ActiveCampaignError(
            f"campaign_create answered without a campaign id: {str(body)[:300]}",
            hint="Look for the campaign by name in ActiveCampaign before running the task again.",
        )
    return campaign_id


def send_test_copy(hook: ActiveCampaignHook, *, campaign_id: str, message_id: str, email: str) -> None:
    """v1 ``campaign_send action=test``: one test copy to ``email``; the lists receive nothing."""
    try:
        hook.legacy_request(
            "campaign_send",
            params={
                "email": email,
                "campaignid": campaign_id,
                "messageid": message_id,
                "type": "mime",
                "action": "test",
            },
        )
    except ActiveCampaignValidationError as error:
        raise ActiveCampaignCampaignError(
            f"The test copy of campaign {campaign_id} to {email} was refused: {error.summary}",
            hint="Check the address and that the message belongs to the campaign.",
        ) from error
