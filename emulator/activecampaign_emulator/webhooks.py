"""Webhooks: ``/api/3/webhooks`` CRUD, ``/api/3/webhook/events``, and deliveries to registered URLs.

SPEC operations: ``GET/POST /webhooks``, ``GET/PUT/DELETE /webhooks/{id}``, ``GET /webhook/events``
(25 events, numeric ``meta.total``).  ``POST`` needs ``name``, ``url``, ``events`` and ``sources``
(SPEC "required"). SPEC: "for https endpoints, we only can send webhooks on port 443": deliveries
to any other https port are never made; that ``POST``/``PUT`` refuse such a URL with a 422 is
*assumed* (the reference documents only 201), switchable as ``webhook_https_port_check``.

Deliveries (reference §8): when a matching change happens through the API (the route modules call
:func:`fire`), every webhook whose ``events`` hold the event, whose ``sources`` hold ``api`` and
(for list events) whose ``listid`` is 0 or the list gets one POST, form-encoded with PHP-style keys
(``type``, ``date_time``, ``initiated_from``, ``initiated_by``, ``list``, ``contact[email]``...).
They are sent by a background thread after the API answer (never blocking it), once, never retried
(DOC page/webhooks: "failed deliveries are never retried").  A receiver answering 410 deactivates
the webhook (rollout.com, secondary; DOC page/webhooks per §10): it sends nothing more and shows
in ``GET /_emulator/webhooks`` under ``deactivated``. Whether ``GET /webhooks`` still lists it is
not documented: by default it leaves the list (*assumed*, ``webhook_410_removes``); off, it stays
listed with ``"state": "0"``. Only ``type``, ``date_time``, ``initiated_by`` and
``contact[email]`` are named by the reference notes (§8, UNCERTAIN); the other keys follow the
secondary sources (*assumed*, ``webhook_delivery_secondary_fields``; off, a delivery carries only
those four). Bulk imports fire nothing (reference §8).

Control: ``GET /_emulator/webhooks`` (webhooks, deactivated, deliveries, pending) and
``POST /_emulator/webhooks/config`` ``{"drop": true}`` (deliveries are recorded as dropped and
never sent: the "ActiveCampaign lost it" case reconcile must cover), ``{"timeout": s}``.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from activecampaign_emulator.clock import iso
from activecampaign_emulator.core import ApiRequest, BaseExtension, Emulator
from activecampaign_emulator.responses import (
    collection,
    field_invalid,
    field_missing,
    json_response,
    no_result,
    single,
)
from activecampaign_emulator.state import Contact

#: SPEC ``GET /webhook/events`` example, in its order.
WEBHOOK_EVENTS = (
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
)
SOURCES = ("public", "admin", "api", "system")
#: Events whose webhook ``listid`` filters deliveries (SPEC lists the ones it does NOT apply to).
LIST_SCOPED = frozenset({"subscribe", "unsubscribe", "update", "bounce", "sent", "open", "click", "forward"})
#: The delivery keys the reference notes name (§8, UNCERTAIN): all a delivery carries while
#: ``webhook_delivery_secondary_fields`` is off.
REFERENCE_DELIVERY_KEYS = frozenset({"type", "date_time", "initiated_by", "contact[email]"})
#: The flag a deactivated webhook is listed with while ``webhook_410_removes`` is off. *Assumed*:
#: DOC page/webhooks says it is "set to a state of inactive"; "0" is §9's string flag.
INACTIVE_FLAG = ("state", "0")
DEFAULT_DELIVERY_TIMEOUT = 10.0
MAX_LOGGED_DELIVERIES = 20_000


@dataclass
class Delivery:
    seq: int
    webhook_id: int
    event: str
    url: str = field(repr=False)
    body: str = field(repr=False)
    queued_at: float = 0.0
    status: int | None = None
    outcome: str = "pending"  # pending | delivered | failed | dropped
    error: str = ""
    response: str = ""
    sent_at: float | None = None
    answered_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "webhook_id": str(self.webhook_id),
            "event": self.event,
            "body": self.body,
            "status": self.status,
            "outcome": self.outcome,
            "error": self.error,
            "response": self.response,
            "queued_at": self.queued_at,
            "sent_at": self.sent_at,
            "answered_at": self.answered_at,
        }


class WebhookBook(BaseExtension):
    """Registered webhooks and the delivery queue (one sender thread per emulator)."""

    def __init__(self) -> None:
        self.webhooks: dict[int, dict[str, Any]] = {}
        #: Deactivated by a 410, not deleted: listed (flagged) only while ``webhook_410_removes`` is off.
        self.inactive: dict[int, dict[str, Any]] = {}
        self.deactivated: list[dict[str, Any]] = []
        self.deliveries: list[Delivery] = []
        self.drop = False
        self.timeout = DEFAULT_DELIVERY_TIMEOUT
        self._next_id = 1
        self._seq = 0
        self._generation = 0
        self._queue: queue.Queue[tuple[int, Delivery]] = queue.Queue()
        self._pending = 0
        self._pending_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._emu: Emulator | None = None

    # -- extension ------------------------------------------------------------------------

    def reset(self, emu: Emulator, seed: Mapping[str, Any]) -> None:
        self._emu = emu
        self.webhooks = {}
        self.inactive = {}
        self.deactivated = []
        self.deliveries = []
        self.drop = False
        self.timeout = DEFAULT_DELIVERY_TIMEOUT
        self._next_id = 1
        self._generation += 1  # queued deliveries of the old account are not sent

    def snapshot(self, emu: Emulator) -> dict[str, Any]:
        return {"webhooks": [self.webhooks[k] for k in sorted(self.webhooks)]}

    # -- registry -------------------------------------------------------------------------

    def add(self, body: dict[str, Any], now_iso: str) -> dict[str, Any]:
        wid = self._next_id
        self._next_id += 1
        hook = {
            "cdate": now_iso,
            "listid": str(body.get("listid") or 0),
            "name": body["name"],
            "url": body["url"],
            "events": list(body["events"]),
            "sources": list(body["sources"]),
            "links": [],
            "id": str(wid),
        }
        self.webhooks[wid] = hook
        return hook

    # -- deliveries -----------------------------------------------------------------------

    def enqueue(self, hook: dict[str, Any], event: str, fields: list[tuple[str, str]], now: float) -> None:
        self._seq += 1
        delivery = Delivery(self._seq, int(hook["id"]), event, hook["url"], urlencode(fields), now)
        if len(self.deliveries) >= MAX_LOGGED_DELIVERIES:
            del self.deliveries[: MAX_LOGGED_DELIVERIES // 2]
        self.deliveries.append(delivery)
        if self.drop:
            delivery.outcome = "dropped"
            return
        parts = urlsplit(delivery.url)
        if parts.scheme == "https" and parts.port not in (None, 443):
            # SPEC: "for https endpoints, we only can send webhooks on port 443".
            delivery.outcome = "not_sent_https_port"
            return
        with self._pending_lock:
            self._pending += 1
        self._ensure_thread()
        self._queue.put((self._generation, delivery))

    @property
    def pending(self) -> int:
        with self._pending_lock:
            return self._pending

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="emulator-webhooks", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        with httpx.Client() as client:
            while True:
                generation, delivery = self._queue.get()
                try:
                    if generation == self._generation:
                        self._send(client, delivery)
                finally:
                    with self._pending_lock:
                        self._pending -= 1

    def _send(self, client: httpx.Client, delivery: Delivery) -> None:
        delivery.sent_at = time.time()
        try:
            response = client.post(
                delivery.url,
                content=delivery.body.encode(),
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "User-Agent": "ActiveCampaign/1.0",
                },
                timeout=self.timeout,
            )
        except httpx.HTTPError as exc:
            delivery.outcome = "failed"
            delivery.error = type(exc).__name__
            delivery.answered_at = time.time()
            return
        delivery.answered_at = time.time()
        delivery.status = response.status_code
        delivery.response = response.text[:300]
        delivery.outcome = "delivered" if 200 <= response.status_code < 300 else "failed"
        if response.status_code == 410 and self._emu is not None:
            with self._emu.lock:
                hook = self.webhooks.pop(delivery.webhook_id, None)
                if hook is not None:
                    self.inactive[delivery.webhook_id] = hook
                    self.deactivated.append({**hook, "deactivated_by_delivery": delivery.seq})


def webhook_book(emu: Emulator) -> WebhookBook:
    for extension in emu.extensions:
        if isinstance(extension, WebhookBook):
            return extension
    raise RuntimeError("the webhooks module is not loaded in this emulator")


# -- what route modules call ----------------------------------------------------------------


def contact_fields(req: ApiRequest, contact: Contact) -> list[tuple[str, str]]:
    """The ``contact[...]`` keys of a delivery (reference §8; rollout.com's field list)."""
    state = req.state
    tags = ", ".join(state.tags[t].tag for t in sorted(contact.tags) if t in state.tags)
    return [
        ("contact[id]", str(contact.id)),
        ("contact[email]", contact.email),
        ("contact[first_name]", contact.first_name),
        ("contact[last_name]", contact.last_name),
        ("contact[phone]", contact.phone),
        ("contact[ip]", "0.0.0.0"),
        ("contact[tags]", tags),
    ]


def deal_fields(req: ApiRequest, deal: Any) -> list[tuple[str, str]]:
    """The ``deal[...]`` keys of ``deal_add`` / ``deal_update`` (and the deal's contact, if any)."""
    fields = [
        ("deal[id]", str(deal.id)),
        ("deal[title]", deal.title),
        ("deal[pipelineid]", str(deal.group_id)),
        ("deal[stageid]", str(deal.stage_id)),
        ("deal[value]", str(deal.value)),
        ("deal[currency]", deal.currency),
        ("deal[status]", str(deal.status)),
        ("deal[owner]", str(deal.owner_id)),
    ]
    contact = req.state.contacts.get(deal.contact_id) if deal.contact_id else None
    if contact is not None:
        fields.extend(contact_fields(req, contact))
    return fields


def fire(
    req: ApiRequest,
    event: str,
    fields: list[tuple[str, str]],
    *,
    list_id: int | None = None,
    source: str = "api",
) -> None:
    """Queue a delivery of ``event`` to every matching webhook (call under the lock, after the change)."""
    try:
        book = webhook_book(req.emu)
    except RuntimeError:
        return
    if not book.webhooks:
        return
    head = [
        ("type", event),
        ("date_time", iso(req.now, req.state.settings.tz)),
        ("initiated_from", source),
        ("initiated_by", source),
    ]
    if list_id is not None:
        head.append(("list", str(list_id)))
    body: list[tuple[str, str]] | None = None
    for hook in list(book.webhooks.values()):
        if event not in hook["events"] or source not in hook["sources"]:
            continue
        hook_list = int(hook.get("listid") or 0)
        if event in LIST_SCOPED and hook_list and list_id is not None and hook_list != list_id:
            continue
        if body is None:  # a delivery is made: its keys depend on the switch
            body = head + fields
            if not req.assumed("webhook_delivery_secondary_fields"):
                body = [(key, value) for key, value in body if key in REFERENCE_DELIVERY_KEYS]
        book.enqueue(hook, event, body, req.now)


# -- API routes -----------------------------------------------------------------------------


def _checked(req: ApiRequest, *, partial: bool) -> dict[str, Any]:
    body = req.json_object("webhook")
    for key in ("name", "url", "events", "sources"):
        if not partial and not body.get(key):
            raise field_missing(key)
    if "url" in body:
        parts = urlsplit(str(body["url"]))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise field_invalid("url", "url must be an http or https URL")
        if (
            parts.scheme == "https"
            and parts.port not in (None, 443)
            and req.assumed("webhook_https_port_check")
        ):
            raise field_invalid("url", "https webhooks are only sent on port 443")
    for key, allowed in (("events", WEBHOOK_EVENTS), ("sources", SOURCES)):
        if key in body:
            values = body[key]
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise field_invalid(key, f"{key} must be a list of strings")
            unknown = sorted(set(values) - set(allowed))
            if unknown:
                raise field_invalid(key, f"unknown {key}: {', '.join(unknown)}")
    return body


def routes(emu: Emulator) -> list[BaseRoute]:
    book = WebhookBook()
    emu.add_extension(book)

    def listed_inactive(req: ApiRequest) -> bool:
        """Whether deactivated webhooks are listed (flagged): ``webhook_410_removes`` is off."""
        return bool(book.inactive) and not req.assumed("webhook_410_removes")

    def flagged(hook: dict[str, Any]) -> dict[str, Any]:
        key, value = INACTIVE_FLAG
        return {**hook, key: value}

    def hook_or_404(req: ApiRequest) -> dict[str, Any]:
        """An active webhook, or a deactivated one while they stay listed (the stored dict)."""
        ident = req.path_id()
        hook = book.webhooks.get(ident)
        if hook is None and ident in book.inactive and listed_inactive(req):
            hook = book.inactive[ident]
        if hook is None:
            raise no_result("Webhook", req.path_params["id"])
        return hook

    def shown(hook: dict[str, Any]) -> dict[str, Any]:
        return flagged(hook) if int(hook["id"]) in book.inactive else hook

    def list_webhooks(req: ApiRequest) -> Response:
        """SPEC ``GET /webhooks`` with ``filters[name|url|listid]`` (exact)."""
        every = dict(book.webhooks)
        if listed_inactive(req):
            every.update({k: flagged(v) for k, v in book.inactive.items()})
        rows = [every[k] for k in sorted(every)]
        for key in ("name", "url", "listid"):
            wanted = req.query.get(f"filters[{key}]")
            if wanted is not None:
                rows = [r for r in rows if str(r.get(key)) == wanted]
        limit = int(req.query.get("limit") or 20)
        offset = int(req.query.get("offset") or 0)
        return req.json_response(collection("webhooks", rows[offset : offset + limit], len(rows)))

    def create_webhook(req: ApiRequest) -> Response:
        """SPEC ``POST /webhooks`` → 201 with the webhook (``listid`` "0" when not given)."""
        body = _checked(req, partial=False)
        hook = book.add(body, str(req.ctx.iso(req.now)))
        return req.json_response(single("webhook", hook), 201)

    def get_webhook(req: ApiRequest) -> Response:
        return req.json_response(single("webhook", shown(hook_or_404(req))))

    def update_webhook(req: ApiRequest) -> Response:
        """SPEC ``PUT /webhooks/{id}``: every attribute optional."""
        hook = hook_or_404(req)
        body = _checked(req, partial=True)
        for key in ("name", "url", "events", "sources"):
            if key in body:
                hook[key] = list(body[key]) if isinstance(body[key], list) else body[key]
        if "listid" in body:
            hook["listid"] = str(body["listid"] or 0)
        # An update does not reactivate (DOC page/webhooks: "delete it and recreate it").
        return req.json_response(single("webhook", shown(hook)))

    def delete_webhook(req: ApiRequest) -> Response:
        hook_or_404(req)
        book.webhooks.pop(req.path_id(), None)
        book.inactive.pop(req.path_id(), None)
        return req.json_response({})

    def list_events(req: ApiRequest) -> Response:
        """SPEC ``GET /webhook/events``: ``meta.total`` is a number here (25)."""
        return req.json_response(
            {"webhookEvents": list(WEBHOOK_EVENTS), "meta": {"total": len(WEBHOOK_EVENTS)}}
        )

    return [
        emu.route("/api/3/webhooks", list_webhooks, ["GET"]),
        emu.route("/api/3/webhooks", create_webhook, ["POST"]),
        emu.route("/api/3/webhooks/{id}", get_webhook, ["GET"]),
        emu.route("/api/3/webhooks/{id}", update_webhook, ["PUT"]),
        emu.route("/api/3/webhooks/{id}", delete_webhook, ["DELETE"]),
        emu.route("/api/3/webhook/events", list_events, ["GET"]),
    ]


def control_routes(emu: Emulator) -> list[BaseRoute]:
    async def state(request: Request) -> Response:
        with emu.lock:
            book = webhook_book(emu)
            since = int(request.query_params.get("since", 0))
            tz = emu.state.settings.tz
            return json_response(
                {
                    "webhooks": [book.webhooks[k] for k in sorted(book.webhooks)],
                    "deactivated": list(book.deactivated),
                    "deliveries": [d.to_json() for d in book.deliveries if d.seq > since],
                    "pending": book.pending,
                    "drop": book.drop,
                    "timeout": book.timeout,
                    "now": iso(emu.clock.now(), tz),
                }
            )

    async def configure(request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return json_response({"error": "config takes a JSON object"}, 400)
        if not isinstance(body, dict) or set(body) - {"drop", "timeout"}:
            return json_response({"error": "config takes {'drop': bool, 'timeout': seconds}"}, 400)
        with emu.lock:
            book = webhook_book(emu)
            if "drop" in body:
                book.drop = bool(body["drop"])
            if "timeout" in body:
                book.timeout = float(body["timeout"])
            return json_response({"drop": book.drop, "timeout": book.timeout})

    return [
        Route("/_emulator/webhooks", state, methods=["GET"]),
        Route("/_emulator/webhooks/config", configure, methods=["POST"]),
    ]
