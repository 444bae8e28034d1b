"""Campaigns and messages: create, schedule, send at an emulated rate, report.

Documented calls emulated (reference §7; SPEC examples for every shape):

v3
    ``GET /campaigns`` (``orders[sdate]``, ``orders[ldate]``, ``filters[seriesid]``, ``limit``/``offset``),
    ``GET /campaigns/{id}``, ``GET /campaigns/{id}/links``, ``POST /campaign`` (draft, integer id),
    ``PUT /campaigns/{id}/edit`` (406 on an empty body, 400 ``Campaign not found``),
    ``POST /messages``, ``GET /messages``, ``GET /messages/{id}``.
v1 (``/admin/api.php``, ``api_output=json``, key in the ``Api-Token`` header or ``api_key``)
    ``campaign_create`` (creates a campaign as a draft, ``status=0``, or scheduled, ``status=1``,
    for ``sdate``), ``campaign_send`` (one contact; ``action=test`` is recorded as a test send and
    never counts as a delivery), ``campaign_list``, ``campaign_report_totals``, ``message_add``, and
    the report lists ``campaign_report_open_list``, ``campaign_report_link_list``,
    ``campaign_report_bounce_list`` and ``campaign_report_unsubscription_list`` (rows numbered
    ``"0"``, ``"1"`` …, paged by ``page``, 20 rows a page: *assumed*; the link list in one answer).
    Failures answer HTTP 200 with ``result_code: 0`` and a ``result_message``, as v1 does; an
    empty list is ``Failed: Nothing is returned``.

Not emulated: the v3 schedule / pause / resume / stop / delete status calls. Their paths are
not public in the reference, so neither the provider nor the emulator invents them. A v3 draft
therefore stays a draft here; campaigns in other states come from ``campaign_create`` or the seed.

Sending model
    A campaign with status scheduled (1) whose ``sdate`` has come moves to sending (2): its
    recipients are the contacts with an *active* (status 1) membership of any of its lists at
    that moment, each once. They receive a copy at ``campaign_settings.send_rate`` contacts per
    emulated second (``send_amt`` grows towards ``total_amt``); then the campaign is completed (5)
    with ``ldate`` set. Status 5 = completed is UNCERTAIN in the reference; the emulator uses it.
    Segments are stored, not evaluated (every active list member is a recipient).

Timezone
    v1 ``sdate`` is a wall time in the account's timezone (V1:campaign_create). The core
    emulator models the account as a fixed UTC offset; ``campaign_settings.timezone`` may name an
    IANA zone (``"America/New_York"``) so DST behaves as in a real account. Campaign dates are
    read and rendered in that zone; a wall time that occurs twice is read as its first occurrence.

Reports
    Every delivery draws deterministic outcomes from a hash of (campaign id, contact id), at the
    rates in ``campaign_settings.rates``: bounces (half hard, half soft), opens (some twice),
    clicks among openers (some twice), forwards and replies among openers, unsubscribes. The
    counts are report numbers only: no contact is actually unsubscribed. The first copy to each
    contact also keeps its rows for the report lists, with when they happen: a bounce at delivery,
    an open 1 minute to 6 hours after it (*assumed*), a click 30 s after the open on one of two
    links, an unsubscribe like an open; a row is listed once its moment has come.

Seed sections claimed here::

    campaigns          [{"id", "name", "type", "status", "lists": [ids], "messages": [ids],
                         "sdate": "2025-01-01 09:00:00" (account time) or ISO-8601, "segmentid",
                         "send_amt", "total_amt", "ldate"}]
    campaign_settings  {"timezone": "America/New_York" | "-05:00", "send_rate": 50,
                         "rates": {"bounce", "open", "click", "forward", "reply", "unsubscribe"}}

``GET /_emulator/state`` gains ``campaigns`` (each with ``sends``: how many times it started
sending, its report and ``copies_by_contact``), ``campaign_deliveries`` (per contact: copies per
campaign) and ``campaign_test_sends``.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.responses import Response
from starlette.routing import BaseRoute

from activecampaign_emulator.clock import parse_offset
from activecampaign_emulator.contacts import page_window
from activecampaign_emulator.core import ApiRequest, BaseExtension, Emulator
from activecampaign_emulator.responses import (
    ApiError,
    bad_request,
    collection,
    no_result,
    single,
)
from activecampaign_emulator.seed import SeedError
from activecampaign_emulator.state import SUBSCRIBED
from activecampaign_emulator.validation import is_valid_email, parse_int_id

DRAFT, SCHEDULED, SENDING, PAUSED, STOPPED, COMPLETED, DISABLED = 0, 1, 2, 3, 4, 5, 6
STATUS_NAMES = {
    DRAFT: "draft",
    SCHEDULED: "scheduled",
    SENDING: "sending",
    PAUSED: "paused",
    STOPPED: "stopped",
    COMPLETED: "completed",
    DISABLED: "disabled",
}
#: V1:campaign_create ``type`` values.
CAMPAIGN_TYPES = frozenset(
    {"single", "recurring", "split", "responder", "reminder", "special", "activerss", "text"}
)
#: Recipients per emulated second once a campaign is sending.
DEFAULT_SEND_RATE = 50.0
DEFAULT_RATES: dict[str, float] = {
    "bounce": 0.04,
    "open": 0.5,
    "click": 0.3,
    "forward": 0.05,
    "reply": 0.05,
    "unsubscribe": 0.02,
}
REPORT_KEYS = (
    "opens",
    "uniqueopens",
    "linkclicks",
    "uniquelinkclicks",
    "subscriberclicks",
    "forwards",
    "uniqueforwards",
    "hardbounces",
    "softbounces",
    "unsubscribes",
    "unsubreasons",
    "updates",
    "socialshares",
    "replies",
    "uniquereplies",
)
V1_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------


#: Links a campaign's messages carry in the emulator (id offset, name, URL), for the click report.
#: *Assumed*: the emulator does not parse message HTML; two tracked links stand for its links.
REPORT_LINKS = (
    (101, "Read more", "https://example.com/read-more"),
    (102, "Shop", "https://example.com/shop"),
)
#: The soonest and latest an open (or an unsubscribe) follows its delivery, in emulated seconds.
OPEN_DELAY = (60.0, 6 * 3600.0)
#: Rows a v1 report list answers per ``page`` (*assumed*: V1 pages document ``page``, not its size).
V1_LIST_PAGE = 20
#: SMTP answers the bounce list reports (V1:campaign_report_bounce_list example rows).
BOUNCE_CODES = {
    "hard": ("5.1.1", "bad destination mailbox address", "Bad destination mailbox address"),
    "soft": ("4.2.2", "mailbox full", "Mailbox full"),
}


@dataclass(slots=True)
class Activity:
    """What one recipient did with one campaign, with when: the v1 report lists read it."""

    contact_id: int
    email: str
    delivered: float
    bounce: str | None = None
    opened: float | None = None
    opens: int = 0
    #: link id -> (time of the last click, clicks)
    clicks: dict[int, tuple[float, int]] = field(default_factory=dict)
    unsubscribed: float | None = None
    bounce_id: int = 0


@dataclass(slots=True)
class Campaign:
    id: int
    name: str
    type: str
    status: int
    cdate: float
    mdate: float
    sdate: float | None = None
    ldate: float | None = None
    list_ids: list[int] = field(default_factory=list)
    #: message id → percentage (V1 ``m[<messageid>]=<percent>``).
    messages: dict[int, int] = field(default_factory=dict)
    segment_id: int = 0
    address_id: int = 0
    public: str = "1"
    tracklinks: str = "all"
    trackreads: str = "1"
    trackreplies: str = "0"
    source: str = "api"
    #: Contact ids snapshotted when sending started, in delivery order.
    recipients: list[int] = field(default_factory=list)
    send_amt: int = 0
    total_amt: int = 0
    send_started_at: float | None = None
    #: When the campaign became scheduled: a past ``sdate`` sends from then, not from the past.
    scheduled_at: float | None = None
    #: How many times this campaign started sending (the "never twice" audit).
    sends: int = 0
    report: Counter[str] = field(default_factory=Counter)
    copies: Counter[int] = field(default_factory=Counter)
    #: contact id -> what they did (first delivery's outcome), in delivery order.
    activity: dict[int, Activity] = field(default_factory=dict)


@dataclass(slots=True)
class CampaignSettings:
    tz: tzinfo | None = None
    tz_name: str | None = None
    send_rate: float = DEFAULT_SEND_RATE
    rates: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_RATES))


class CampaignBook(BaseExtension):
    """Campaign state kept beside the core account state (reset, seeded and ticked with it)."""

    seed_keys = frozenset({"campaigns", "campaign_settings"})

    def __init__(self) -> None:
        self.campaigns: dict[int, Campaign] = {}
        self.deliveries: dict[int, Counter[int]] = {}
        self.test_sends: list[dict[str, Any]] = []
        self.settings = CampaignSettings()
        self.bounce_ids = 0

    # -- extension protocol -----------------------------------------------------------------

    def reset(self, emu: Emulator, seed: Mapping[str, Any]) -> None:
        self.campaigns = {}
        self.deliveries = {}
        self.test_sends = []
        self.settings = CampaignSettings()
        self.bounce_ids = 0
        self.merge_seed(emu, seed)

    def merge_seed(self, emu: Emulator, seed: Mapping[str, Any]) -> None:
        settings = seed.get("campaign_settings")
        if settings is not None:
            self._apply_settings(settings)
        items = seed.get("campaigns") or []
        if not isinstance(items, list):
            raise SeedError("seed section 'campaigns' must be a list")
        for index, item in enumerate(items):
            try:
                self._load(emu, item)
            except (KeyError, TypeError, ValueError) as exc:
                raise SeedError(f"seed campaigns[{index}]: {exc}") from exc

    def tick(self, emu: Emulator, now: float) -> None:
        for campaign in self.campaigns.values():
            if campaign.status == SCHEDULED and campaign.sdate is not None and campaign.sdate <= now:
                self._start(emu, campaign, max(campaign.sdate, campaign.scheduled_at or campaign.sdate))
            if campaign.status == SENDING:
                self._progress(emu, campaign, now)

    def snapshot(self, emu: Emulator) -> dict[str, Any]:
        tz = self.tz(emu)
        state = emu.state
        deliveries: dict[str, Any] = {}
        for contact_id, by_campaign in sorted(self.deliveries.items()):
            contact = state.contacts.get(contact_id)
            deliveries[str(contact_id)] = {
                "email": contact.email if contact else state.deleted_contacts.get(contact_id),
                "total": sum(by_campaign.values()),
                "by_campaign": {str(cid): n for cid, n in sorted(by_campaign.items())},
            }
        return {
            "campaigns": [
                {
                    "id": str(c.id),
                    "name": c.name,
                    "type": c.type,
                    "status": c.status,
                    "status_name": STATUS_NAMES.get(c.status, str(c.status)),
                    "source": c.source,
                    "lists": [str(i) for i in c.list_ids],
                    "messages": {str(k): v for k, v in c.messages.items()},
                    "segmentid": str(c.segment_id),
                    "sdate": _iso(c.sdate, tz),
                    "ldate": _iso(c.ldate, tz),
                    "send_amt": c.send_amt,
                    "total_amt": c.total_amt,
                    "sends": c.sends,
                    "report": {key: c.report.get(key, 0) for key in REPORT_KEYS},
                    "copies_by_contact": {str(k): v for k, v in sorted(c.copies.items())},
                }
                for c in sorted(self.campaigns.values(), key=lambda c: c.id)
            ],
            "campaign_deliveries": deliveries,
            "campaign_test_sends": list(self.test_sends),
            "campaign_settings": {
                "timezone": self.settings.tz_name,
                "send_rate": self.settings.send_rate,
                "rates": dict(self.settings.rates),
            },
        }

    # -- helpers ----------------------------------------------------------------------------

    def tz(self, emu: Emulator) -> tzinfo:
        """The account timezone campaigns use: the configured IANA zone, else the account offset."""
        return self.settings.tz if self.settings.tz is not None else emu.state.settings.tz

    def _apply_settings(self, raw: Any) -> None:
        if not isinstance(raw, Mapping):
            raise SeedError("seed section 'campaign_settings' must be an object")
        unknown = set(raw) - {"timezone", "send_rate", "rates"}
        if unknown:
            raise SeedError(f"campaign_settings: unknown keys {sorted(unknown)}")
        if "timezone" in raw:
            name = raw["timezone"]
            if name in (None, ""):
                self.settings.tz, self.settings.tz_name = None, None
            else:
                self.settings.tz, self.settings.tz_name = _zone(str(name)), str(name)
        if "send_rate" in raw:
            rate = float(raw["send_rate"])
            if rate <= 0:
                raise SeedError("campaign_settings.send_rate must be > 0")
            self.settings.send_rate = rate
        if "rates" in raw:
            rates = raw["rates"]
            if not isinstance(rates, Mapping) or set(rates) - set(DEFAULT_RATES):
                raise SeedError(f"campaign_settings.rates takes only {sorted(DEFAULT_RATES)}")
            for key, value in rates.items():
                number = float(value)
                if not 0 <= number <= 1:
                    raise SeedError(f"campaign_settings.rates.{key} must be between 0 and 1")
                self.settings.rates[key] = number

    def _load(self, emu: Emulator, item: Mapping[str, Any]) -> None:
        state = emu.state
        now = emu.clock.now()
        if "id" in item:
            ident = parse_int_id(item["id"])
            if ident is None:
                raise ValueError(f"id must be a positive integer, got {item['id']!r}")
            cid = state.claim_id("campaign", ident)
        else:
            cid = state.next_id("campaign")
        status = int(item.get("status", DRAFT))
        if status not in STATUS_NAMES:
            raise ValueError(f"status must be one of {sorted(STATUS_NAMES)}")
        tz = self.tz(emu)
        campaign = Campaign(
            id=cid,
            name=str(item.get("name") or f"Campaign {cid}"),
            type=str(item.get("type", "single")),
            status=status,
            cdate=now,
            mdate=now,
            sdate=_parse_when(item.get("sdate"), tz),
            ldate=_parse_when(item.get("ldate"), tz),
            list_ids=[int(i) for i in item.get("lists") or []],
            messages={int(m): 100 for m in item.get("messages") or []},
            segment_id=int(item.get("segmentid", 0)),
            source="seed",
            scheduled_at=now if status == SCHEDULED else None,
        )
        for lid in campaign.list_ids:
            if lid not in state.lists:
                raise ValueError(f"unknown list {lid}")
        for mid in campaign.messages:
            if mid not in state.messages:
                raise ValueError(f"unknown message {mid}")
        if status in (SENDING, PAUSED, STOPPED, COMPLETED):
            campaign.recipients = self.recipients_of(emu, campaign)
            campaign.total_amt = int(item.get("total_amt", len(campaign.recipients)))
            campaign.send_amt = int(item.get("send_amt", campaign.total_amt if status == COMPLETED else 0))
            campaign.send_started_at = campaign.sdate if campaign.sdate is not None else now
            campaign.sends = 1
            if status == SENDING:
                # Resume delivering after the copies the seed says were already sent.
                campaign.send_started_at = now - campaign.send_amt / self.settings.send_rate
        self.campaigns[cid] = campaign

    def recipients_of(self, emu: Emulator, campaign: Campaign) -> list[int]:
        """Active members of any of the campaign's lists, each once, in contact id order."""
        wanted = set(campaign.list_ids)
        return sorted(
            contact.id
            for contact in emu.state.contacts.values()
            if any(lid in wanted and m.status == SUBSCRIBED for lid, m in contact.lists.items())
        )

    def _start(self, emu: Emulator, campaign: Campaign, at: float) -> None:
        campaign.recipients = self.recipients_of(emu, campaign)
        campaign.total_amt = len(campaign.recipients)
        campaign.send_amt = 0
        campaign.send_started_at = at
        campaign.status = SENDING
        campaign.sends += 1
        emu.state.counters["campaigns_sent"] += 1

    def _progress(self, emu: Emulator, campaign: Campaign, now: float) -> None:
        started = campaign.send_started_at if campaign.send_started_at is not None else now
        due = min(campaign.total_amt, math.floor(max(0.0, now - started) * self.settings.send_rate + 1e-9))
        for contact_id in campaign.recipients[campaign.send_amt : due]:
            self.deliver(emu, campaign, contact_id)
        campaign.send_amt = max(campaign.send_amt, due)
        if campaign.send_amt >= campaign.total_amt:
            campaign.status = COMPLETED
            campaign.ldate = started + campaign.total_amt / self.settings.send_rate

    def deliver(self, emu: Emulator, campaign: Campaign, contact_id: int) -> None:
        contact = emu.state.contacts.get(contact_id)
        if contact is not None:
            contact.sentcnt += 1
        campaign.copies[contact_id] += 1
        self.deliveries.setdefault(contact_id, Counter())[campaign.id] += 1
        emu.state.counters["campaign_copies_delivered"] += 1
        self._record_outcome(campaign, contact_id, contact.email if contact else "", emu.clock.now())

    def _record_outcome(self, campaign: Campaign, contact_id: int, email: str, now: float) -> None:
        """Draw what the recipient does (deterministic per campaign and contact) and when.

        The counts go to the report at once (as before); the rows the v1 lists show appear when
        their moment comes (an open an hour after delivery is listed an hour later). A second copy
        to the same contact (``campaign_send``) counts again but keeps the first copy's rows.
        """
        rates = self.settings.rates
        report = campaign.report

        def draw(salt: str) -> float:
            digest = hashlib.sha256(f"{campaign.id}:{contact_id}:{salt}".encode()).digest()
            return int.from_bytes(digest[:8], "big") / 2**64

        def later(salt: str, after: float) -> float:
            low, high = OPEN_DELAY
            return float(math.floor(after + low + draw(salt) * (high - low)))

        activity = campaign.activity.get(contact_id)
        record = activity is None
        if activity is None:
            activity = Activity(contact_id, email, now)
            campaign.activity[contact_id] = activity
        if draw("bounce") < rates["bounce"]:
            kind = "hard" if draw("hard") < 0.5 else "soft"
            report[f"{kind}bounces"] += 1
            if record:
                activity.bounce = kind
                self.bounce_ids += 1
                activity.bounce_id = self.bounce_ids
            return
        if draw("open") < rates["open"]:
            report["uniqueopens"] += 1
            opens = 2 if draw("reopen") < 0.5 else 1
            report["opens"] += opens
            if record:
                activity.opened, activity.opens = later("opened", now), opens
            if draw("click") < rates["click"]:
                report["uniquelinkclicks"] += 1
                report["subscriberclicks"] += 1
                clicks = 2 if draw("reclick") < 0.3 else 1
                report["linkclicks"] += clicks
                if record and activity.opened is not None:
                    offset, _, _ = REPORT_LINKS[0 if draw("which link") < 0.5 else 1]
                    activity.clicks[campaign.id * 1000 + offset] = (activity.opened + 30.0, clicks)
            if draw("forward") < rates["forward"]:
                report["forwards"] += 1
                report["uniqueforwards"] += 1
            if draw("reply") < rates["reply"]:
                report["replies"] += 1
                report["uniquereplies"] += 1
        if draw("unsubscribe") < rates["unsubscribe"]:
            report["unsubscribes"] += 1
            if record:
                activity.unsubscribed = later("unsubscribed", now)


def _zone(name: str) -> tzinfo:
    if name[:1] in "+-" or name in ("Z", "UTC"):
        try:
            return parse_offset(name)
        except ValueError as exc:
            raise SeedError(f"campaign_settings.timezone: {exc}") from exc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SeedError(f"campaign_settings.timezone: unknown timezone {name!r}") from exc


def _parse_when(value: Any, tz: tzinfo) -> float | None:
    if value in (None, ""):
        return None
    text = str(value).strip()
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.timestamp()


def _iso(ts: float | None, tz: tzinfo) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz).isoformat(timespec="seconds")


def _wall(ts: float | None, tz: tzinfo) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz).strftime(V1_DATE_FORMAT)


def parse_v1_sdate(text: str, tz: tzinfo) -> float:
    """``YYYY-MM-DD HH:MM:SS`` as a wall time in the account zone (first occurrence if repeated)."""
    naive = datetime.strptime(text.strip(), V1_DATE_FORMAT)
    return naive.replace(tzinfo=tz, fold=0).timestamp()


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


def _campaign_v3(req: ApiRequest, book: CampaignBook, c: Campaign) -> dict[str, Any]:
    """SPEC ``GET /campaigns`` / ``GET /campaigns/{id}`` campaign object (numbers as strings)."""
    tz = book.tz(req.emu)
    cid = str(c.id)
    body: dict[str, Any] = {
        "type": c.type,
        "userid": "1",
        "segmentid": str(c.segment_id),
        "bounceid": "-1",
        "realcid": "0",
        "sendid": "0",
        "threadid": "0",
        "seriesid": "0",
        "formid": "0",
        "basetemplateid": "",
        "basemessageid": str(next(iter(c.messages), 0)),
        "addressid": str(c.address_id),
        "source": "web" if c.source == "seed" else "api",
        "name": c.name,
        "cdate": _iso(c.cdate, tz),
        "mdate": _iso(c.mdate, tz),
        "sdate": _iso(c.sdate, tz),
        "ldate": _iso(c.ldate, tz),
        "send_amt": str(c.send_amt),
        "total_amt": str(c.total_amt),
    }
    body.update({key: str(c.report.get(key, 0)) for key in REPORT_KEYS})
    body.update(
        {
            "status": str(c.status),
            "public": c.public,
            "mail_transfer": "0",
            "mail_send": "1" if c.status in (SENDING, COMPLETED) else "0",
            "mail_cleanup": "1" if c.status == COMPLETED else "0",
            "mailer_log_file": "0",
            "tracklinks": c.tracklinks,
            "tracklinksanalytics": "0",
            "trackreads": c.trackreads,
            "trackreadsanalytics": "1",
            "analytics_campaign_name": "",
            "tweet": "0",
            "facebook": "0",
            "survey": "",
            "embed_images": "0",
            "htmlunsub": "0",
            "textunsub": "0",
            "htmlunsubdata": None,
            "textunsubdata": None,
            "recurring": "day1",
            "willrecur": "0",
            "split_type": "even",
            "split_content": "0",
            "split_offset": "2",
            "split_offset_type": "day",
            "split_winner_messageid": "0",
            "split_winner_awaiting": "0",
            "responder_offset": "0",
            "responder_type": "subscribe",
            "responder_existing": "0",
            "reminder_field": "sdate",
            "reminder_format": None,
            "reminder_type": "month_day",
            "reminder_offset": "0",
            "reminder_offset_type": "day",
            "reminder_offset_sign": "+",
            "reminder_last_cron_run": None,
            "activerss_interval": "day1",
            "activerss_url": None,
            "activerss_items": "10",
            "ip4": "0",
            "laststep": "summary" if c.status != DRAFT else "designer",
            "managetext": "0",
            "schedule": "1" if c.status == SCHEDULED else "0",
            "scheduleddate": _iso(c.sdate, tz) if c.status == SCHEDULED else None,
            "waitpreview": "0",
            "deletestamp": None,
            "replysys": "0",
            "links": {
                name: req.ctx.link(f"campaigns/{cid}/{name}")
                for name in (
                    "user",
                    "automation",
                    "campaignMessage",
                    "campaignMessages",
                    "links",
                    "aggregateRevenues",
                    "campaignLists",
                )
            },
            "id": cid,
            "user": "1",
            "automation": None,
        }
    )
    return body


def _campaign_v1(req: ApiRequest, book: CampaignBook, c: Campaign, full: bool) -> dict[str, Any]:
    """A V1 ``campaign_list`` row; ``full=1`` adds its ``lists`` and ``messages`` (shape UNCERTAIN)."""
    tz = book.tz(req.emu)
    row: dict[str, Any] = {
        "id": str(c.id),
        "type": c.type,
        "userid": "1",
        "segmentid": str(c.segment_id),
        "name": c.name,
        "cdate": _wall(c.cdate, tz),
        "mdate": _wall(c.mdate, tz),
        "sdate": _wall(c.sdate, tz),
        "ldate": _wall(c.ldate, tz),
        "send_amt": str(c.send_amt),
        "total_amt": str(c.total_amt),
        "status": str(c.status),
        "public": c.public,
    }
    row.update({key: str(c.report.get(key, 0)) for key in REPORT_KEYS})
    if full:
        state = req.state
        row["lists"] = [
            {
                "id": str(index + 1),
                "campaignid": str(c.id),
                "listid": str(lid),
                "name": state.lists[lid].name if lid in state.lists else "",
            }
            for index, lid in enumerate(c.list_ids)
        ]
        row["messages"] = [
            {
                "id": str(mid),
                "campaignid": str(c.id),
                "messageid": str(mid),
                "percentage": str(percent),
                "subject": str(state.messages.get(mid, {}).get("subject", "")),
            }
            for mid, percent in c.messages.items()
        ]
    return row


def _date_order(attr: str, missing: float) -> Callable[[Campaign], tuple[float, int]]:
    """Sort key for ``orders[sdate|ldate]``: unset dates sort last either way."""

    def key(campaign: Campaign) -> tuple[float, int]:
        value = getattr(campaign, attr)
        return (missing if value is None else float(value), campaign.id)

    return key


def _message(req: ApiRequest, message: Mapping[str, Any]) -> dict[str, Any]:
    body = dict(message)
    mid = body["id"]
    body["links"] = {name: req.ctx.link(f"messages/{mid}/{name}") for name in ("user", "hyperlinks")}
    return body


def _v1_ok(message: str, **extra: Any) -> dict[str, Any]:
    return {**extra, "result_code": 1, "result_message": message, "result_output": "json"}


def _v1_fail(message: str) -> dict[str, Any]:
    return {"result_code": 0, "result_message": message, "result_output": "json"}


def _indexed(fields: Mapping[str, str], prefix: str) -> dict[str, str]:
    """``p[12]=12`` style fields: ``{"12": "12"}``."""
    found: dict[str, str] = {}
    for key, value in fields.items():
        if key.startswith(prefix + "[") and key.endswith("]"):
            found[key[len(prefix) + 1 : -1]] = value
    return found


# ---------------------------------------------------------------------------------------------
# Routes
# ---------------------------------------------------------------------------------------------


def routes(emu: Emulator) -> list[BaseRoute]:
    book = CampaignBook()
    emu.add_extension(book)

    def campaign_or_404(req: ApiRequest) -> Campaign:
        campaign = book.campaigns.get(req.path_id())
        if campaign is None:
            raise no_result("Campaign", req.path_params["id"])
        return campaign

    # -- v3 campaigns -------------------------------------------------------------------------

    def list_campaigns(req: ApiRequest) -> Response:
        """SPEC ``GET /campaigns``: id order unless ``orders[sdate|ldate]``; ``filters[seriesid]``."""
        limit, offset = page_window(req)
        rows = sorted(book.campaigns.values(), key=lambda c: c.id)
        series = req.query.get("filters[seriesid]")
        if series is not None:
            rows = [c for c in rows if series.strip() in ("", "0")]  # no automation campaigns here
        for key in ("orders[ldate]", "orders[sdate]"):
            direction = req.query.get(key)
            if direction is not None:
                attr = key[7:-1]
                descending = direction.strip().lower() == "desc"
                missing = -math.inf if descending else math.inf
                rows.sort(key=_date_order(attr, missing), reverse=descending)
        page = rows[offset : offset + limit]
        return req.json_response(
            collection("campaigns", [_campaign_v3(req, book, c) for c in page], len(rows))
        )

    def get_campaign(req: ApiRequest) -> Response:
        """SPEC ``GET /campaigns/{id}``; unknown → 404 ``No Result found for Campaign with id N``."""
        return req.json_response(single("campaign", _campaign_v3(req, book, campaign_or_404(req))))

    def campaign_links(req: ApiRequest) -> Response:
        """SPEC ``GET /campaigns/{id}/links``: the read tracker of each of its messages."""
        campaign = campaign_or_404(req)
        links = []
        for index, mid in enumerate([*campaign.messages, 0]):
            lid = str(campaign.id * 1000 + index + 1)
            links.append(
                {
                    "campaignid": str(campaign.id),
                    "messageid": str(mid),
                    "link": "open",
                    "name": "Read Tracker",
                    "ref": "",
                    "tracked": "1",
                    "links": {name: req.ctx.link(f"links/{lid}/{name}") for name in ("campaign", "message")},
                    "id": lid,
                    "campaign": str(campaign.id),
                    "message": str(mid) if mid else None,
                }
            )
        return req.json_response({"links": links})

    def create_campaign(req: ApiRequest) -> Response:
        """DOC:create-campaign ``POST /campaign`` → 200 ``{"id": <int>, ...}``: a draft."""
        body = req.json()
        if not isinstance(body, dict):
            raise ApiError(400, {"errors": ["Request body must be a JSON object"]})
        errors = []
        if not str(body.get("name") or "").strip():
            errors.append("Field name is required")
        if not isinstance(body.get("type"), str):
            errors.append("Field type must be of type string")
        elif body["type"] not in CAMPAIGN_TYPES:
            errors.append(f"Field type must be one of {', '.join(sorted(CAMPAIGN_TYPES))}")
        if errors:
            raise ApiError(400, {"errors": errors})
        cid = req.state.next_id("campaign")
        campaign = Campaign(cid, str(body["name"]), body["type"], DRAFT, req.now, req.now, source="api")
        book.campaigns[cid] = campaign
        req.state.counters["campaigns_created"] += 1
        split = bool(body.get("canSplitContent", False))
        return req.json_response(
            {"id": cid, "name": campaign.name, "type": campaign.type, "canSplitContent": split}
        )

    def edit_campaign(req: ApiRequest) -> Response:
        """DOC:edit-campaign ``PUT /campaigns/{id}/edit``.

        Only drafts and disabled campaigns are edited (the emulator's reading: a sending campaign
        cannot change its lists). ``scheduledDate`` is stored as ``sdate`` without scheduling:
        the schedule call itself is not emulated (path not public).
        """
        body = req.json()
        if not body:
            raise ApiError(406, {"message": "Empty request body"})
        if not isinstance(body, dict):
            raise bad_request("Request body must be a JSON object")
        campaign = book.campaigns.get(req.path_id())
        if campaign is None:
            raise ApiError(400, {"message": "Campaign not found"})
        if campaign.status not in (DRAFT, DISABLED):
            raise ApiError(
                400, {"message": f"Campaign is {STATUS_NAMES[campaign.status]} and cannot be edited"}
            )
        tz = book.tz(req.emu)
        if "name" in body:
            campaign.name = str(body["name"])
        if "type" in body:
            if body["type"] not in CAMPAIGN_TYPES:
                raise bad_request(f"type must be one of {sorted(CAMPAIGN_TYPES)}")
            campaign.type = str(body["type"])
        if "segmentId" in body:
            campaign.segment_id = parse_int_id(body["segmentId"]) or 0
        if "addressId" in body:
            campaign.address_id = parse_int_id(body["addressId"]) or 0
        if "listIds" in body:
            ids = body["listIds"] or []
            parsed = [parse_int_id(i) for i in ids] if isinstance(ids, list) else [None]
            if any(i is None or i not in req.state.lists for i in parsed):
                raise bad_request(f"listIds must be ids of existing lists, got {ids!r}")
            campaign.list_ids = [i for i in parsed if i is not None]
        if "scheduledDate" in body:
            text = body["scheduledDate"]
            try:
                campaign.sdate = None if text in (None, "") else _parse_when(text, tz)
            except ValueError as exc:
                raise bad_request(f"scheduledDate is not a date: {text!r}") from exc
        if "publicCampaignArchive" in body:
            campaign.public = "1" if body["publicCampaignArchive"] else "0"
        campaign.mdate = req.now
        return req.json_response(
            {
                "id": campaign.id,
                "name": campaign.name,
                "type": campaign.type,
                "status": campaign.status,
                "scheduledDate": _iso(campaign.sdate, tz),
                "listIds": list(campaign.list_ids) or None,
                "segmentId": campaign.segment_id or None,
                "addressId": campaign.address_id or None,
                "canSplitContent": False,
                "publicCampaignArchive": campaign.public == "1",
                "selectedAddressInfo": req.state.addresses.get(campaign.address_id),
            }
        )

    # -- v3 messages --------------------------------------------------------------------------

    def create_message(req: ApiRequest) -> Response:
        """SPEC ``POST /messages`` → 201. The schema names the sender ``email``, the example ``fromemail``."""
        body = req.json_object("message")
        sender = str(body.get("fromemail") or body.get("email") or "").strip()
        missing = [
            name
            for name, value in (
                ("fromname", body.get("fromname")),
                ("email", sender),
                ("reply2", body.get("reply2")),
            )
            if not str(value or "").strip()
        ]
        if missing:
            raise bad_request(f"Missing required message field(s): {', '.join(missing)}")
        if not is_valid_email(sender):
            raise bad_request(f"The sender email {sender!r} is not valid")
        message = new_message(req, body, sender)
        return req.json_response(single("message", _message(req, message)), 201)

    def new_message(req: ApiRequest, body: Mapping[str, Any], sender: str) -> dict[str, Any]:
        mid = req.state.next_id("message")
        stamp = _iso(req.now, book.tz(req.emu))
        subject = str(body.get("subject") or "")
        message: dict[str, Any] = {
            "userid": "1",
            "ed_instanceid": "0",
            "ed_version": "1",
            "cdate": stamp,
            "mdate": stamp,
            "name": str(body.get("name") or subject),
            "fromname": str(body.get("fromname") or ""),
            "fromemail": sender,
            "reply2": str(body.get("reply2") or ""),
            "priority": "3",
            "charset": "utf-8",
            "encoding": "quoted-printable",
            "format": str(body.get("format") or "mime"),
            "subject": subject,
            "preheader_text": str(body.get("preheader_text") or ""),
            "text": str(body.get("text") or ""),
            "html": str(body.get("html") or ""),
            "htmlfetch": "now",
            "textfetch": "now",
            "hidden": "0",
            "preview_mime": "",
            "preview_data": "",
            "id": str(mid),
            "user": "1",
        }
        req.state.messages[mid] = message
        req.state.counters["messages_created"] += 1
        return message

    def get_message(req: ApiRequest) -> Response:
        """SPEC ``GET /messages/{id}``."""
        message = req.state.messages.get(req.path_id())
        if message is None:
            raise no_result("Message", req.path_params["id"])
        return req.json_response(single("message", _message(req, message)))

    def list_messages(req: ApiRequest) -> Response:
        """SPEC ``GET /messages`` (id order, ``limit``/``offset``)."""
        limit, offset = page_window(req)
        rows = [req.state.messages[k] for k in sorted(req.state.messages)]
        page = rows[offset : offset + limit]
        return req.json_response(collection("messages", [_message(req, m) for m in page], len(rows)))

    # -- v1 -----------------------------------------------------------------------------------

    def v1_campaign_create(req: ApiRequest, fields: Mapping[str, str]) -> dict[str, Any]:
        """V1:campaign_create: creates a draft (status 0) or a campaign scheduled for ``sdate`` (1)."""
        if req.request.method != "POST":
            return _v1_fail("campaign_create must be sent as a POST")
        for required in ("type", "name", "sdate", "status", "public"):
            if not str(fields.get(required, "")).strip():
                return _v1_fail(f"Campaign {required} is required")
        ctype = fields["type"].strip()
        if ctype not in CAMPAIGN_TYPES:
            return _v1_fail(f"Campaign type {ctype!r} is not valid")
        if ctype != "single":
            return _v1_fail(f"Campaign type {ctype!r} is not emulated (only 'single')")
        status_text = fields["status"].strip()
        if status_text not in ("0", "1"):
            return _v1_fail("Campaign status must be 0 (draft) or 1 (scheduled)")
        tz = book.tz(req.emu)
        try:
            sdate = parse_v1_sdate(fields["sdate"], tz)
        except ValueError:
            return _v1_fail(f"Campaign sdate {fields['sdate']!r} is not a date (YYYY-MM-DD HH:MM:SS)")
        list_ids: list[int] = []
        for key, value in _indexed(fields, "p").items():
            lid = parse_int_id(value) or parse_int_id(key)
            if lid is None or lid not in req.state.lists:
                return _v1_fail(f"List {key!r} does not exist")
            list_ids.append(lid)
        if not list_ids:
            return _v1_fail("At least one list (p[<listid>]) is required")
        messages: dict[int, int] = {}
        for key, value in _indexed(fields, "m").items():
            mid = parse_int_id(key)
            if mid is None or mid not in req.state.messages:
                return _v1_fail(f"Message {key!r} does not exist")
            try:
                messages[mid] = int(value)
            except ValueError:
                return _v1_fail(f"Message percentage m[{key}] must be a number")
        if not messages:
            return _v1_fail("At least one message (m[<messageid>]=100) is required")
        if sum(messages.values()) != 100:
            return _v1_fail("Message percentages must add up to 100")
        cid = req.state.next_id("campaign")
        campaign = Campaign(
            cid,
            fields["name"].strip(),
            ctype,
            int(status_text),
            req.now,
            req.now,
            sdate=sdate,
            list_ids=list_ids,
            messages=messages,
            segment_id=parse_int_id(fields.get("segmentid", "")) or 0,
            public=fields["public"].strip(),
            tracklinks=fields.get("tracklinks", "all") or "all",
            trackreads=fields.get("trackreads", "1") or "1",
            trackreplies=fields.get("trackreplies", "0") or "0",
            source="api_v1",
            scheduled_at=req.now if status_text == "1" else None,
        )
        book.campaigns[cid] = campaign
        req.state.counters["campaigns_created"] += 1
        book.tick(req.emu, req.now)  # a campaign due now starts sending straight away
        return _v1_ok("Campaign saved", id=str(cid))

    def v1_campaign_send(req: ApiRequest, fields: Mapping[str, str]) -> dict[str, Any]:
        """V1:campaign_send: one contact; ``action=test`` sends a test copy (not a delivery)."""
        email = fields.get("email", "").strip().lower()
        if not is_valid_email(email):
            return _v1_fail(f"Email address {email!r} is not valid")
        campaign = book.campaigns.get(parse_int_id(fields.get("campaignid", "")) or 0)
        if campaign is None:
            return _v1_fail("Campaign not found")
        mid = parse_int_id(fields.get("messageid", "")) or 0
        if mid not in campaign.messages:
            return _v1_fail("Message not found in this campaign")
        action = fields.get("action", "send").strip() or "send"
        tz = book.tz(req.emu)
        if action == "test":
            book.test_sends.append(
                {
                    "campaign": str(campaign.id),
                    "message": str(mid),
                    "email": email,
                    "type": fields.get("type", "mime"),
                    "at": _iso(req.now, tz),
                }
            )
            req.state.counters["campaign_test_sends"] += 1
            return _v1_ok("Message sent")
        if action == "send":
            contact = req.state.contact_by_email(email)
            if contact is None:
                return _v1_fail("Contact not found")
            book.deliver(req.emu, campaign, contact.id)
            return _v1_ok("Message sent")
        return _v1_fail(f"campaign_send action {action!r} is not emulated")

    def v1_campaign_list(req: ApiRequest, fields: Mapping[str, str]) -> dict[str, Any]:
        """V1:campaign_list: ``ids`` (comma list or ``all``), ``filters[name]`` (contains), ``full``."""
        rows = sorted(book.campaigns.values(), key=lambda c: c.id)
        ids = fields.get("ids", "").strip()
        if ids and ids.lower() != "all":
            wanted = {parse_int_id(part) for part in ids.split(",")}
            rows = [c for c in rows if c.id in wanted]
        name = fields.get("filters[name]")
        if name:
            rows = [c for c in rows if name.lower() in c.name.lower()]
        page = max(1, parse_int_id(fields.get("page", "1")) or 1)
        per_page = 20
        rows = rows[(page - 1) * per_page : page * per_page]
        if not rows:
            return _v1_fail("Failed: Nothing is returned")
        full = fields.get("full", "0").strip() == "1"
        numbered: dict[str, Any] = {str(i): _campaign_v1(req, book, c, full) for i, c in enumerate(rows)}
        return _v1_ok("Success: Something is returned", **numbered)

    def v1_report_totals(req: ApiRequest, fields: Mapping[str, str]) -> dict[str, Any]:
        """``campaign_report_totals`` (PHP Campaign.class.php): the campaign's totals."""
        campaign = book.campaigns.get(parse_int_id(fields.get("campaignid", "")) or 0)
        if campaign is None:
            return _v1_fail("Campaign not found")
        totals = {key: str(campaign.report.get(key, 0)) for key in REPORT_KEYS}
        return _v1_ok(
            "Success: Something is returned",
            campaignid=str(campaign.id),
            send_amt=str(campaign.send_amt),
            total_amt=str(campaign.total_amt),
            status=str(campaign.status),
            **totals,
        )

    # -- v1 report lists (who opened, clicked, bounced, unsubscribed) ------------------------

    def listed(
        req: ApiRequest, fields: Mapping[str, str], rows: list[dict[str, Any]], paged: bool
    ) -> dict[str, Any]:
        """Rows numbered ``"0"``, ``"1"`` … (V1 list answers); ``page`` pages them (*assumed* size)."""
        if paged:
            page = max(1, parse_int_id(fields.get("page", "1")) or 1)
            rows = rows[(page - 1) * V1_LIST_PAGE : page * V1_LIST_PAGE]
        if not rows:
            return _v1_fail("Failed: Nothing is returned")
        return _v1_ok("Success: Something is returned", **{str(i): row for i, row in enumerate(rows)})

    def reported(fields: Mapping[str, str]) -> Campaign | None:
        return book.campaigns.get(parse_int_id(fields.get("campaignid", "")) or 0)

    def happened(
        campaign: Campaign, req: ApiRequest, moment: Callable[[Activity], float | None]
    ) -> list[Activity]:
        """The campaign's recipients whose ``moment`` has come, in contact id order."""
        return [
            a
            for _, a in sorted(campaign.activity.items())
            if (when := moment(a)) is not None and when <= req.now
        ]

    def v1_open_list(req: ApiRequest, fields: Mapping[str, str]) -> dict[str, Any]:
        """V1:campaign_report_open_list: one row per contact who opened (``times``, last ``tstamp``)."""
        campaign = reported(fields)
        if campaign is None:
            return _v1_fail("Campaign not found")
        tz = book.tz(req.emu)
        rows = [
            {
                "subscriberid": str(a.contact_id),
                "email": a.email,
                "tstamp": _wall(a.opened, tz),
                "times": str(a.opens),
                "tstamp_iso": _iso(a.opened, tz),
            }
            for a in happened(campaign, req, lambda a: a.opened)
        ]
        return listed(req, fields, rows, paged=True)

    def v1_link_list(req: ApiRequest, fields: Mapping[str, str]) -> dict[str, Any]:
        """V1:campaign_report_link_list: each clicked link with who clicked it under ``info`` (no paging)."""
        campaign = reported(fields)
        if campaign is None:
            return _v1_fail("Campaign not found")
        tz = book.tz(req.emu)
        rows: list[dict[str, Any]] = []
        for offset, name, url in REPORT_LINKS:
            lid = campaign.id * 1000 + offset

            def clicked(a: Activity, lid: int = lid) -> float | None:
                return a.clicks[lid][0] if lid in a.clicks else None

            clickers = happened(campaign, req, clicked)
            info = [
                {
                    "email": a.email,
                    "subscriberid": str(a.contact_id),
                    "tstamp": _wall(a.clicks[lid][0], tz),
                    "times": str(a.clicks[lid][1]),
                    "tstamp_iso": _iso(a.clicks[lid][0], tz),
                }
                for a in clickers
            ]
            if info:
                rows.append(
                    {
                        "id": str(lid),
                        "name": name,
                        "link": url,
                        "tracked": "1",
                        "a_unique": str(len(clickers)),
                        "a_total": str(sum(a.clicks[lid][1] for a in clickers)),
                        "info": info,
                    }
                )
        return listed(req, fields, rows, paged=False)

    def v1_bounce_list(req: ApiRequest, fields: Mapping[str, str]) -> dict[str, Any]:
        """V1:campaign_report_bounce_list: one row per bounce, ``tstamp`` a date, with its SMTP code."""
        campaign = reported(fields)
        if campaign is None:
            return _v1_fail("Campaign not found")
        tz = book.tz(req.emu)
        rows = []
        for a in happened(campaign, req, lambda a: a.delivered if a.bounce else None):
            code, reason, descript = BOUNCE_CODES[a.bounce or "hard"]
            rows.append(
                {
                    "id": str(a.bounce_id),
                    "email": a.email,
                    "subscriberid": str(a.contact_id),
                    "listid": str(campaign.list_ids[0] if campaign.list_ids else 0),
                    "campaignid": str(campaign.id),
                    "messageid": str(next(iter(campaign.messages), 0)),
                    "tstamp": (_wall(a.delivered, tz) or "")[:10],
                    "type": a.bounce,
                    "code": code,
                    "counted": "1",
                    "reason": reason,
                    "descript": descript,
                }
            )
        return listed(req, fields, rows, paged=True)

    def v1_unsubscription_list(req: ApiRequest, fields: Mapping[str, str]) -> dict[str, Any]:
        """``campaign_report_unsubscription_list`` (PHP Campaign.class.php; row shape *assumed*, SINGER)."""
        campaign = reported(fields)
        if campaign is None:
            return _v1_fail("Campaign not found")
        tz = book.tz(req.emu)
        rows = [
            {
                "subscriberid": str(a.contact_id),
                "email": a.email,
                "campaignid": str(campaign.id),
                "tstamp": _wall(a.unsubscribed, tz),
                "tstamp_iso": _iso(a.unsubscribed, tz),
                "unsubreason": "",
            }
            for a in happened(campaign, req, lambda a: a.unsubscribed)
        ]
        return listed(req, fields, rows, paged=True)

    def v1_message_add(req: ApiRequest, fields: Mapping[str, str]) -> dict[str, Any]:
        """``message_add`` (PHP examples.php): format, subject, fromemail, fromname, html, p[listid]."""
        if req.request.method != "POST":
            return _v1_fail("message_add must be sent as a POST")
        sender = fields.get("fromemail", "").strip()
        if not is_valid_email(sender):
            return _v1_fail(f"Message from email {sender!r} is not valid")
        if not fields.get("subject", "").strip():
            return _v1_fail("Message subject is required")
        for key in _indexed(fields, "p"):
            if (parse_int_id(key) or 0) not in req.state.lists:
                return _v1_fail(f"List {key!r} does not exist")
        body = {k: fields.get(k, "") for k in ("fromname", "reply2", "subject", "html", "text", "format")}
        message = new_message(req, body, sender)
        return _v1_ok("Message added", id=message["id"])

    legacy_actions: dict[str, Callable[[ApiRequest, Mapping[str, str]], dict[str, Any]]] = {
        "campaign_create": v1_campaign_create,
        "campaign_send": v1_campaign_send,
        "campaign_list": v1_campaign_list,
        "campaign_report_totals": v1_report_totals,
        "campaign_report_open_list": v1_open_list,
        "campaign_report_link_list": v1_link_list,
        "campaign_report_bounce_list": v1_bounce_list,
        "campaign_report_unsubscription_list": v1_unsubscription_list,
        "message_add": v1_message_add,
    }

    def legacy(req: ApiRequest) -> Response:
        """``/admin/api.php``: v1 answers HTTP 200 whatever happens; ``result_code`` says how it went."""
        fields = req.form()
        action = fields.get("api_action", "")
        if fields.get("api_output", "xml") != "json":
            return req.json_response(_v1_fail("The emulator answers api_output=json only"))
        handler = legacy_actions.get(action)
        if handler is None:
            return req.json_response(_v1_fail(f"Unknown or unsupported api_action {action!r}"))
        return req.json_response(handler(req, fields))

    return [
        emu.route("/api/3/campaigns", list_campaigns, ["GET"]),
        emu.route("/api/3/campaigns/{id}", get_campaign, ["GET"]),
        emu.route("/api/3/campaigns/{id}/links", campaign_links, ["GET"]),
        emu.route("/api/3/campaigns/{id}/edit", edit_campaign, ["PUT"]),
        emu.route("/api/3/campaign", create_campaign, ["POST"]),
        emu.route("/api/3/messages", list_messages, ["GET"]),
        emu.route("/api/3/messages", create_message, ["POST"]),
        emu.route("/api/3/messages/{id}", get_message, ["GET"]),
        emu.route("/admin/api.php", legacy, ["GET", "POST"]),
    ]
