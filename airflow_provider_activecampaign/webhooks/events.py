"""A parsed delivery -> the normalised event recorded on an Airflow asset.

One shape for every event (``extra`` of the asset event), whatever ActiveCampaign put in the form::

    {"type": "unsubscribe", "date_time": "2026-12-01T17:04:05+00:00",   # UTC, ISO 8601
     "initiated_from": "public", "initiated_by": "...",
     "contact": {"id": "12", "email": "ann@example.com", "first_name": ..., "last_name": ...,
                 "phone": ..., "tags": ["vip"]},
     "list_id": "1", "tag": None, "deal": None, "unsubscribe_reason": "...",
     "account_host": "acme.api-us1.com", "source": "webhook",
     "change_key": "unsubscribe:contact=12:list=1", "delivery_key": "<sha256>"}

``delivery_key`` identifies one delivery (a repeat of the same body has the same key: the
receiver records it once); ``change_key`` identifies the change itself, so that reconcile can
tell whether the webhook for a change it found in the account was received.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_activecampaign.records.dates import UnparseableDateError, parse_ac_datetime
from airflow_provider_activecampaign.webhooks.payload import Nested, WebhookPayloadError

ASSET_SCHEME = "activecampaign"

#: ``GET /webhook/events`` (SPEC example, 25 events).
DOCUMENTED_EVENTS = frozenset(
    {
        "bounce",
        "click",
        "contact_tag_added",
        "contact_tag_removed",
        "deal_add",
        "deal_note_add",
        "deal_pipeline_add",
        "deal_stage_add",
        "deal_task_add",
        "deal_task_complete",
        "deal_tasktype_add",
        "deal_update",
        "forward",
        "list_add",
        "open",
        "reply",
        "sent",
        "share",
        "sms_reply",
        "sms_sent",
        "sms_unsub",
        "subscribe",
        "subscriber_note",
        "unsubscribe",
        "update",
    }
)
#: Named by SPEC ``POST /webhooks`` (``listid`` description) but missing from ``/webhook/events``.
OTHER_NAMED_EVENTS = frozenset(
    {"contact_task_add", "account_add", "account_update", "account_contact_add", "account_contact_update"}
)
KNOWN_EVENTS = DOCUMENTED_EVENTS | OTHER_NAMED_EVENTS
#: SPEC ``POST /webhooks`` sources.
SOURCES = ("public", "admin", "api", "system")

#: Events about one contact (every documented one but the deal and list events, plus
#: ``contact_task_add``): a delivery without ``contact[id]`` or ``contact[email]`` is refused.
CONTACT_EVENTS = frozenset(
    {e for e in DOCUMENTED_EVENTS if not e.startswith("deal_") and e != "list_add"} | {"contact_task_add"}
)
TAG_EVENTS = frozenset({"contact_tag_added", "contact_tag_removed"})
DEAL_EVENTS = frozenset({"deal_add", "deal_update", "deal_note_add", "deal_task_add", "deal_task_complete"})

_ID = re.compile(r"^[0-9]{1,18}$")
_HOST = re.compile(r"^[a-z0-9.-]+(:[0-9]{1,5})?$")
_CONTACT_KEYS = ("id", "email", "first_name", "last_name", "phone", "orgname")
_DEAL_KEYS = {
    "id": "id",
    "title": "title",
    "stageid": "stage_id",
    "stage_title": "stage_title",
    "pipelineid": "pipeline_id",
    "pipeline_title": "pipeline_title",
    "status": "status",
    "value": "value",
    "currency": "currency",
    "owner": "owner_id",
}


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One normalised delivery; :meth:`extra` is what goes on the asset event."""

    type: str
    date_time: datetime
    account_host: str
    contact: dict[str, Any] | None
    list_id: str | None
    tag: str | None
    deal: dict[str, str] | None
    initiated_from: str | None
    initiated_by: str | None
    unsubscribe_reason: str | None
    delivery_key: str
    source: str = "webhook"

    @property
    def asset_uri(self) -> str:
        return asset_uri(self.account_host, self.type)

    @property
    def change_key(self) -> str:
        return change_key(self.type, self.contact, self.list_id, self.tag, self.deal)

    def extra(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "date_time": self.date_time.isoformat(),
            "initiated_from": self.initiated_from,
            "initiated_by": self.initiated_by,
            "contact": self.contact,
            "list_id": self.list_id,
            "tag": self.tag,
            "deal": self.deal,
            "unsubscribe_reason": self.unsubscribe_reason,
            "account_host": self.account_host,
            "source": self.source,
            "change_key": self.change_key,
            "delivery_key": self.delivery_key,
        }


def account_host(api_url: str) -> str:
    """``https://Acme.api-us1.com/api/3`` -> ``acme.api-us1.com`` (the asset URI's authority)."""
    text = api_url.strip()
    if "://" not in text:
        text = "https://" + text
    host = (urlsplit(text).netloc or "").lower().rsplit("@", 1)[-1]
    if not host or not _HOST.match(host):
        raise ValueError(
            f"cannot take an account host from {api_url!r}; expected https://<account>.api-us1.com"
        )
    return host


def asset_uri(host: str, event_type: str) -> str:
    """``activecampaign://<account-host>/events/<type>``: the asset a DAG schedules on."""
    if event_type not in KNOWN_EVENTS:
        raise ValueError(
            f"unknown ActiveCampaign webhook event {event_type!r}; known: {sorted(KNOWN_EVENTS)}"
        )
    return f"{ASSET_SCHEME}://{host}/events/{event_type}"


def change_key(
    event_type: str,
    contact: dict[str, Any] | None,
    list_id: str | None,
    tag: str | None,
    deal: dict[str, str] | None,
) -> str:
    """What changed, without when: ``unsubscribe:contact=12:list=1``, ``..._added:contact=12:tag=vip``."""
    parts = [event_type]
    if contact:
        ident = contact.get("id") or (contact.get("email") or "").lower()
        parts.append(f"contact={ident}")
    if list_id:
        parts.append(f"list={list_id}")
    if tag:
        parts.append(f"tag={tag.strip().lower()}")
    if deal and deal.get("id"):
        parts.append(f"deal={deal['id']}")
    return ":".join(parts)


def delivery_key(host: str, fields: Nested) -> str:
    """sha256 of the account and the whole delivery: a repeated delivery has the same key."""
    canonical = json.dumps({"account": host, "fields": fields}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def parse_date_time(raw: str, default_tz: tzinfo = UTC) -> datetime:
    """A date as ActiveCampaign writes it (``records.dates``), with or without offset
    (``2026-12-01 12:04:05`` is read in ``default_tz``) -> UTC."""
    try:
        moment = parse_ac_datetime(raw)
    except UnparseableDateError:
        moment = None
    if moment is None:
        raise WebhookPayloadError(
            f"field 'date_time' is {raw!r}, not an ISO 8601 date and time (e.g. 2026-12-01T12:04:05-05:00)"
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=default_tz)
    return moment.astimezone(UTC)


def normalise(fields: Nested, host: str, *, default_tz: tzinfo = UTC) -> WebhookEvent:
    """Validate a parsed delivery and build its :class:`WebhookEvent`; bad input raises
    :class:`WebhookPayloadError` naming the field and what was expected."""
    event_type = _text(fields, "type")
    if not event_type:
        raise WebhookPayloadError("field 'type' is missing; every ActiveCampaign delivery names its event")
    if event_type not in KNOWN_EVENTS:
        raise WebhookPayloadError(f"field 'type' is {event_type[:40]!r}, not an ActiveCampaign webhook event")
    raw_date = _text(fields, "date_time")
    if not raw_date:
        raise WebhookPayloadError("field 'date_time' is missing")
    moment = parse_date_time(raw_date, default_tz)
    contact = _contact(fields)
    if event_type in CONTACT_EVENTS and contact is None:
        raise WebhookPayloadError(f"a '{event_type}' delivery needs contact[id] or contact[email]")
    list_id = _optional_id(fields, "list")
    tag = _text(fields, "tag") or None
    if event_type in TAG_EVENTS and not tag:
        raise WebhookPayloadError(f"a '{event_type}' delivery needs the field 'tag' (the tag's name)")
    deal = _deal(fields)
    if event_type in DEAL_EVENTS and (deal is None or not deal.get("id")):
        raise WebhookPayloadError(f"a '{event_type}' delivery needs deal[id]")
    unsubscribe = fields.get("unsubscribe")
    reason = unsubscribe.get("reason") if isinstance(unsubscribe, dict) else None
    return WebhookEvent(
        type=event_type,
        date_time=moment,
        account_host=host,
        contact=contact,
        list_id=list_id,
        tag=tag,
        deal=deal,
        initiated_from=_text(fields, "initiated_from") or None,
        initiated_by=_text(fields, "initiated_by") or None,
        unsubscribe_reason=str(reason) if reason else None,
        delivery_key=delivery_key(host, fields),
    )


def _text(fields: Nested, key: str) -> str:
    value = fields.get(key)
    if isinstance(value, dict):
        raise WebhookPayloadError(f"field {key!r} must be a value, not a group of fields")
    return str(value).strip() if value is not None else ""


def _optional_id(fields: Nested, key: str, label: str | None = None) -> str | None:
    raw = _text(fields, key)
    if not raw or raw == "0":
        return None
    if not _ID.match(raw):
        raise WebhookPayloadError(f"field {label or key!r} is {raw[:40]!r}; expected a numeric id")
    return raw


def _contact(fields: Nested) -> dict[str, Any] | None:
    group = fields.get("contact")
    if group is None:
        return None
    if not isinstance(group, dict):
        raise WebhookPayloadError("field 'contact' must be a group (contact[email]=..., contact[id]=...)")
    contact: dict[str, Any] = {}
    for key in _CONTACT_KEYS:
        value = group.get(key)
        if isinstance(value, dict):
            raise WebhookPayloadError(f"field 'contact[{key}]' must be a value")
        contact[key] = str(value).strip() if value not in (None, "") else None
    if contact["id"] is not None and not _ID.match(contact["id"]):
        raise WebhookPayloadError(f"field 'contact[id]' is {contact['id'][:40]!r}; expected a numeric id")
    email = contact["email"]
    if email is not None and ("@" not in email or any(ch.isspace() for ch in email) or len(email) > 254):
        raise WebhookPayloadError(f"field 'contact[email]' is {email[:80]!r}, not an email address")
    if contact["id"] is None and email is None:
        return None
    if email is not None:
        contact["email"] = email.lower()
    tags = group.get("tags")
    if isinstance(tags, dict):
        contact["tags"] = [str(v).strip() for v in tags.values() if str(v).strip()]
    elif isinstance(tags, str):
        contact["tags"] = [t.strip() for t in tags.split(",") if t.strip()]
    else:
        contact["tags"] = []
    return contact


def _deal(fields: Nested) -> dict[str, str] | None:
    group = fields.get("deal")
    if group is None:
        return None
    if not isinstance(group, dict):
        raise WebhookPayloadError("field 'deal' must be a group (deal[id]=..., deal[stageid]=...)")
    deal = {
        name: str(group[key]).strip() for key, name in _DEAL_KEYS.items() if isinstance(group.get(key), str)
    }
    for key in ("id", "stage_id", "pipeline_id"):
        if deal.get(key) and not _ID.match(deal[key]):
            raise WebhookPayloadError(
                f"field 'deal[{key.replace('_', '')}]' is {deal[key][:40]!r}; expected a numeric id"
            )
    return deal or None
