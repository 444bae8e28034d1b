"""AC's JSON shapes for each record, copied key by key from the official examples (SPEC).

Wire conventions (reference §9): ids, flags and counts are strings, timestamps are ISO-8601
with the account offset, ``links`` hold absolute URLs on the account host.  Where one SPEC
example disagrees with another about a value's type, the renderer takes an argument so each
endpoint answers exactly like its own example (e.g. ``contactAutomation.status`` is ``1`` in
the create response and ``"2"`` when read back).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timezone
from typing import Any

from activecampaign_emulator.clock import iso, wall
from activecampaign_emulator.state import (
    AccountState,
    Automation,
    Contact,
    ContactList,
    ContactTag,
    CustomField,
    Enrolment,
    FieldOption,
    FieldRel,
    FieldValue,
    MailingList,
    Tag,
    User,
)


@dataclass(frozen=True, slots=True)
class Ctx:
    """Per-request rendering context: absolute link base, account timezone, emulated now."""

    base: str
    tz: timezone
    now: float

    def link(self, path: str) -> str:
        """Absolute URL of an API path (``"contacts/5/contactLists"``)."""
        return f"{self.base}/{path}"

    def iso(self, ts: float | None) -> str | None:
        return None if ts is None else iso(ts, self.tz)


_CONTACT_LINKS = (
    "bounceLogs",
    "contactAutomations",
    "contactData",
    "contactGoals",
    "contactLists",
    "contactLogs",
    "contactTags",
    "contactDeals",
    "deals",
    "fieldValues",
    "geoIps",
    "notes",
    "organization",
    "plusAppend",
    "trackingLogs",
    "scoreValues",
    "accountContacts",
    "automationEntryCounts",
)


def user(ctx: Ctx, u: User) -> dict[str, Any]:
    """SPEC ``GET /users/me``."""
    links = ("lists", "userGroup", "dealGroupTotals", "dealGroupUsers", "configs")
    return {
        "username": u.username,
        "firstName": u.first_name,
        "lastName": u.last_name,
        "email": u.email,
        "phone": u.phone,
        "signature": u.signature,
        "links": {name: ctx.link(f"users/{u.id}/{name}") for name in links},
        "id": str(u.id),
    }


def contact(
    ctx: Ctx,
    c: Contact,
    *,
    with_score_values: bool = False,
    with_related_ids: bool = False,
    with_field_value_ids: bool = False,
) -> dict[str, Any]:
    """SPEC ``GET /contacts`` / ``GET /contacts/{id}`` / ``POST /contact/sync`` contact object.

    ``created_utc_timestamp`` repeats the *local* wall time, exactly as the SPEC examples do
    (cdate ``13:50:41-05:00`` next to created_utc_timestamp ``13:50:41``).
    """
    cid = str(c.id)
    base = f"{ctx.base}/contacts/{cid}/"
    body: dict[str, Any] = {
        "cdate": ctx.iso(c.cdate),
        "email": c.email,
        "phone": c.phone,
        "firstName": c.first_name,
        "lastName": c.last_name,
        "orgid": "0",
        "orgname": "",
        "segmentio_id": "",
        "bounced_hard": "0",
        "bounced_soft": "0",
        "bounced_date": None,
        "ip": "0",
        "ua": None,
        "hash": c.hash,
        "socialdata_lastcheck": None,
        "email_local": "",
        "email_domain": "",
        "sentcnt": str(c.sentcnt),
        "rating_tstamp": None,
        "gravatar": "0",
        "deleted": "0",
        "anonymized": "0",
        "adate": None,
        "udate": ctx.iso(c.udate),
        "edate": None,
        "deleted_at": None,
        "created_utc_timestamp": wall(c.cdate, ctx.tz),
        "updated_utc_timestamp": wall(c.udate, ctx.tz),
        "email_empty": False,
    }
    if with_score_values:
        body["scoreValues"] = []
    if with_related_ids:
        body["contactAutomations"] = [str(e) for e in c.enrolment_ids]
        body["contactLists"] = [str(m.id) for m in c.lists.values()]
        body["fieldValues"] = [str(v.id) for v in c.field_values.values()]
        body["geoIps"] = []
        body["deals"] = []
        body["accountContacts"] = []
    elif with_field_value_ids:
        body["fieldValues"] = [str(v.id) for v in c.field_values.values()]
    body["links"] = {name: base + name for name in _CONTACT_LINKS}
    body["id"] = cid
    body["organization"] = None
    return body


def field_value(ctx: Ctx, v: FieldValue, *, numeric_refs: bool = False) -> dict[str, Any]:
    """SPEC fieldValue; ``POST/PUT /fieldValues`` echo contact/field/owner as numbers."""
    contact_ref: int | str = v.contact_id if numeric_refs else str(v.contact_id)
    field_ref: int | str = v.field_id if numeric_refs else str(v.field_id)
    return {
        "contact": contact_ref,
        "field": field_ref,
        "value": v.value,
        "cdate": ctx.iso(v.cdate),
        "udate": ctx.iso(v.udate),
        "created_by": None,
        "updated_by": None,
        "links": {
            "owner": ctx.link(f"fieldValues/{v.id}/owner"),
            "field": ctx.link(f"fieldValues/{v.id}/field"),
        },
        "id": str(v.id),
        "owner": contact_ref,
    }


def contact_list(ctx: Ctx, m: ContactList, *, numeric_status: bool = False) -> dict[str, Any]:
    """SPEC contactList; ``POST /contactLists`` returns ``status`` as a number."""
    mid = str(m.id)
    links = (
        "automation",
        "list",
        "contact",
        "form",
        "autosyncLog",
        "campaign",
        "unsubscribeAutomation",
        "message",
    )
    return {
        "contact": str(m.contact_id),
        "list": str(m.list_id),
        "form": None,
        "seriesid": "0",
        "sdate": ctx.iso(m.sdate),
        "udate": ctx.iso(m.udate),
        "status": m.status if numeric_status else str(m.status),
        "responder": "1",
        "sync": "0",
        "unsubreason": "",
        "campaign": None,
        "message": None,
        "first_name": m.first_name,
        "last_name": m.last_name,
        "ip4Sub": "0",
        "sourceid": m.sourceid,
        "autosyncLog": None,
        "ip4_last": "0",
        "ip4Unsub": "0",
        "created_timestamp": wall(m.sdate, ctx.tz),
        "updated_timestamp": wall(m.udate, ctx.tz),
        "created_by": None,
        "updated_by": None,
        "unsubscribeAutomation": None,
        "links": {name: ctx.link(f"contactLists/{mid}/{name}") for name in links},
        "id": mid,
        "automation": None,
    }


def contact_tag(ctx: Ctx, t: ContactTag) -> dict[str, Any]:
    """SPEC ``POST /contactTags`` (links made absolute; the example's are host-less)."""
    tid = str(t.id)
    return {
        "cdate": ctx.iso(t.cdate),
        "contact": str(t.contact_id),
        "id": tid,
        "links": {
            "contact": ctx.link(f"contactTags/{tid}/contact"),
            "tag": ctx.link(f"contactTags/{tid}/tag"),
        },
        "tag": str(t.tag_id),
    }


def tag(ctx: Ctx, t: Tag, *, subscriber_count: int | None = None) -> dict[str, Any]:
    """SPEC ``GET /tags``; ``GET /tags/{id}`` adds ``subscriber_count``."""
    body: dict[str, Any] = {
        "tagType": t.tag_type,
        "tag": t.tag,
        "description": t.description,
        "cdate": ctx.iso(t.cdate),
    }
    if subscriber_count is not None:
        body["subscriber_count"] = str(subscriber_count)
    body["links"] = {"contactGoalTags": ctx.link(f"tags/{t.id}/contactGoalTags")}
    body["id"] = str(t.id)
    return body


def mailing_list(ctx: Ctx, lst: MailingList) -> dict[str, Any]:
    """SPEC ``GET /lists`` list object (the many presentation flags keep their defaults)."""
    body: dict[str, Any] = {
        "stringid": lst.stringid,
        "userid": str(lst.user_id),
        "name": lst.name,
        "cdate": ctx.iso(lst.cdate),
        "p_use_tracking": "1",
        "p_use_analytics_read": "0",
        "p_use_analytics_link": "0",
        "p_use_twitter": "0",
        "p_use_facebook": "0",
        "p_embed_image": "1",
        "p_use_captcha": "1",
        "send_last_broadcast": "0",
        "private": "0",
        "analytics_domains": None,
        "analytics_source": "",
        "analytics_ua": "",
        "twitter_token": "",
        "twitter_token_secret": "",
        "facebook_session": None,
        "carboncopy": None,
        "subscription_notify": None,
        "unsubscription_notify": None,
        "require_name": "0",
        "get_unsubscribe_reason": "0",
        "to_name": "Subscriber",
        "optinoptout": "1",
        "sender_name": "",
        "sender_addr1": "",
        "sender_addr2": "",
        "sender_city": "",
        "sender_state": "",
        "sender_zip": "",
        "sender_country": "",
        "sender_phone": "",
        "sender_url": lst.sender_url,
        "sender_reminder": lst.sender_reminder,
        "fulladdress": "",
        "optinmessageid": "0",
        "optoutconf": "0",
        "deletestamp": None,
        "udate": ctx.iso(lst.udate),
    }
    body.update(lst.extra)
    body["links"] = {
        name: ctx.link(f"lists/{lst.id}/{name}") for name in ("contactGoalLists", "user", "addressLists")
    }
    body["id"] = str(lst.id)
    body["user"] = str(lst.user_id)
    return body


def custom_field(ctx: Ctx, f: CustomField) -> dict[str, Any]:
    """SPEC ``GET /fields`` field object."""
    return {
        "title": f.title,
        "descript": f.descript,
        "type": f.type,
        "isrequired": "1" if f.isrequired else "0",
        "perstag": f.perstag,
        "defval": f.defval,
        "show_in_list": "0",
        "rows": "0",
        "cols": "0",
        "visible": "1" if f.visible else "0",
        "service": "",
        "ordernum": str(f.ordernum),
        "cdate": ctx.iso(f.cdate),
        "udate": ctx.iso(f.udate),
        "options": [str(o) for o in f.option_ids],
        "relations": [str(r) for r in f.rel_ids],
        "links": {
            "options": ctx.link(f"fields/{f.id}/options"),
            "relations": ctx.link(f"fields/{f.id}/relations"),
        },
        "id": str(f.id),
    }


def field_option(ctx: Ctx, o: FieldOption) -> dict[str, Any]:
    """SPEC ``POST /fieldOption/bulk`` (``orderid``/``isdefault`` are numbers there)."""
    return {
        "orderid": o.orderid,
        "value": o.value,
        "label": o.label,
        "isdefault": 1 if o.isdefault else 0,
        "field": str(o.field_id),
        "cdate": ctx.iso(o.cdate),
        "udate": ctx.iso(o.cdate),
        "links": {"field": ctx.link(f"fieldOptions/{o.id}/field")},
        "id": str(o.id),
    }


def field_rel(ctx: Ctx, r: FieldRel) -> dict[str, Any]:
    """SPEC ``GET /fields/{id}`` fieldRels entry."""
    return {
        "field": str(r.field_id),
        "relid": str(r.relid),
        "dorder": "0",
        "cdate": ctx.iso(r.cdate),
        "links": [],
        "id": str(r.id),
    }


def automation(ctx: Ctx, a: Automation, *, numeric_status: bool = False) -> dict[str, Any]:
    """SPEC ``GET /automations`` (``status`` a string) / ``GET /automations/{id}`` (a number)."""
    aid = str(a.id)
    links = ("campaigns", "contactGoals", "contactAutomations", "blocks", "goals", "sms", "sitemessages")
    return {
        "name": a.name,
        "cdate": ctx.iso(a.cdate),
        "mdate": ctx.iso(a.mdate),
        "userid": "1",
        "status": a.status if numeric_status else str(a.status),
        "entered": str(a.entered),
        "exited": str(a.exited),
        "hidden": "0",
        "entitlements_violation": "0",
        "source": "0",
        "description": a.description,
        "exit_on_unsubscribe": "0",
        "exit_on_conversion": "0",
        "multientry": "1" if a.multientry else "0",
        "defaultscreenshot": "http://img-us1.com/default-series.gif",
        "screenshot": "",
        "links": {name: ctx.link(f"automations/{aid}/{name}") for name in (*links, "triggers")},
        "id": aid,
    }


def enrolment(ctx: Ctx, state: AccountState, e: Enrolment, *, variant: str = "read") -> dict[str, Any]:
    """A contactAutomation, with progress derived from emulated time.

    In progress: ``status`` 1, ``completed`` 0, ``completeValue`` = percent elapsed.
    Done: ``status`` "2", ``completed`` 1, ``remdate`` set, ``completeValue`` 100 (SPEC
    ``GET /contactAutomations/{id}``).  The SPEC examples type some values differently per
    endpoint, and ``variant`` follows them: ``"created"`` (``POST /contactAutomations``: numeric
    ``status``/``startid``), ``"contact"`` (``GET /contacts/{id}/contactAutomations``: numeric
    element counts, ``in_als``), ``"read"`` (everything else).
    """
    created = variant == "created"
    numeric_elements = variant == "contact"
    auto = state.automations.get(e.automation_id)
    total = auto.total_elements if auto is not None else 1
    # complete_at is infinite while held until its first read (complete_after_first_poll): 0 %
    # complete_after_first_poll: progress counts from the release (0 % while held)
    held = e.remdate is None and e.complete_at == math.inf
    start = e.adddate if e.released_at is None else e.released_at
    duration = 0.0 if held else e.complete_at - start
    until = ctx.now if e.remdate is None else e.remdate
    fraction = 1.0 if duration <= 0 else max(0.0, min(1.0, (until - start) / duration))
    if e.remdate is None:
        fraction = 0.0 if held else min(fraction, 0.999)  # still running: never report 100 %
    status = 1 if e.remdate is None else 2
    completed_elements = min(total, int(fraction * total))
    last = e.remdate if e.remdate is not None else (start + fraction * duration)
    eid = str(e.id)
    links = {
        name: ctx.link(f"contactAutomations/{eid}/{name}")
        for name in ("automation", "contact", "contactGoals", "automationLogs")
    }
    body: dict[str, Any] = {
        "contact": str(e.contact_id),
        "seriesid": str(e.automation_id),
        "startid": 0 if created else "0",
        "status": status if created else str(status),
        "batchid": None,
        "adddate": ctx.iso(e.adddate),
        "remdate": ctx.iso(e.remdate),
        "timespan": None if e.remdate is None else str(int(e.remdate - e.adddate)),
        "lastblock": str(completed_elements + 1),
        "lastlogid": "0",
        "lastdate": ctx.iso(last),
        "completedElements": completed_elements if numeric_elements else str(completed_elements),
        "totalElements": total if numeric_elements else str(total),
        "completed": 1 if e.remdate is not None and not e.removed else 0,
        "completeValue": int(fraction * 100),
        "links": links,
        "id": eid,
        "automation": str(e.automation_id),
    }
    if numeric_elements:
        body["in_als"] = "0"
    return body
