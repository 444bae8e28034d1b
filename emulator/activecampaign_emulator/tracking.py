"""Event tracking: the v3 switch and event names, and the tracking endpoint itself.

* ``GET/PUT /api/3/eventTracking`` → ``{"eventTracking": {"enabled": bool}}`` (SPEC).
* ``GET/POST /api/3/eventTrackingEvents``, ``DELETE /api/3/eventTrackingEvents/{eventName}`` (SPEC).
* ``POST /event`` — ActiveCampaign's ``https://trackcmp.net/event``, served on the emulator's own
  host and port.  Form-encoded ``actid``, ``key``, ``event``, ``eventdata``, ``visit`` (a JSON
  string ``{"email": ...}``); query fields are accepted too (an integrator reports passing them
  as URL params).  No ``Api-Token`` and no account rate limit: it is another host.

Answers of ``/event`` (all HTTP 200, JSON):

* accepted: ``{"success":1,"message":"Event spawned"}`` (reference §8, DOC:track-event);
* tracking disabled: the same success answer, but the event is NOT saved (reference §10,
  V1:track_event_add: "not saved although the call appears to succeed").  The emulator keeps
  it as ``saved: false`` so tests can prove nothing was claimed;
* no ``actid``: ``{"success":0,"message":"An account ID must be provided."}`` (reported,
  ActiveCampaign/activecampaign-api-nodejs issue #35);
* wrong ``actid``/``key``, no ``event``, a name over 32 characters, no email: ``success: 0``
  with a message — UNCERTAIN wording (no public capture), same envelope as the reported one.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from starlette.responses import Response
from starlette.routing import BaseRoute

from activecampaign_emulator.contacts import page_window
from activecampaign_emulator.core import ApiRequest, Emulator
from activecampaign_emulator.crm import EVENT_NAME_MAX, crm_book
from activecampaign_emulator.responses import bad_request, no_result, unprocessable
from activecampaign_emulator.validation import is_valid_email

TRACK_PATH = "/event"
SPAWNED = {"success": 1, "message": "Event spawned"}


def _refused(message: str) -> dict[str, Any]:
    return {"success": 0, "message": message}


def routes(emu: Emulator) -> list[BaseRoute]:
    book = crm_book(emu)

    def status_body() -> dict[str, Any]:
        return {"eventTracking": {"enabled": book.tracking.enabled}}

    def get_status(req: ApiRequest) -> Response:
        return req.json_response(status_body())

    def set_status(req: ApiRequest) -> Response:
        body = req.json_object("eventTracking")
        if not isinstance(body.get("enabled"), bool):
            raise bad_request("eventTracking.enabled must be true or false")
        book.tracking.enabled = body["enabled"]
        book.count("event_tracking_enabled" if body["enabled"] else "event_tracking_disabled")
        return req.json_response(status_body())

    def list_events(req: ApiRequest) -> Response:
        limit, offset = page_window(req)
        names = book.tracking.names
        return req.json_response(
            {
                "eventTrackingEvents": [{"name": n} for n in names[offset : offset + limit]],
                "meta": {"total": len(names)},  # a number in the SPEC example
            }
        )

    def create_event(req: ApiRequest) -> Response:
        body = req.json_object("eventTrackingEvent")
        name = str(body.get("name") or "").strip()
        if not name:
            raise unprocessable("The name field is required", "field_missing", "name")
        if len(name) > EVENT_NAME_MAX:
            raise unprocessable(
                f"Event names are at most {EVENT_NAME_MAX} characters", "field_invalid", "name"
            )
        if name in book.tracking.names:
            # UNCERTAIN: the reference does not say; a repeat create is refused, not duplicated.
            raise unprocessable(f"An event named '{name}' already exists", "duplicate", "name")
        book.tracking.names.append(name)
        return req.json_response({"eventTrackingEvent": {"name": name}}, 201)

    def delete_event(req: ApiRequest) -> Response:
        name = unquote(str(req.path_params["eventName"]))
        if name not in book.tracking.names:
            raise no_result("EventTrackingEvent", name)
        book.tracking.names.remove(name)
        return req.json_response({})

    def track(req: ApiRequest) -> Response:
        """``POST https://trackcmp.net/event`` (answers as described in the module docstring)."""
        fields = req.form()
        t = book.tracking
        actid = fields.get("actid", "").strip()
        if not actid:
            return _answer(req, _refused("An account ID must be provided."))
        if actid != t.actid or fields.get("key", "") != t.key:
            book.count("events_refused_bad_credentials")
            return _answer(req, _refused("Invalid account ID or event key."))
        event = fields.get("event", "").strip()
        if not event:
            return _answer(req, _refused("An event name must be provided."))
        if len(event) > EVENT_NAME_MAX:
            return _answer(req, _refused(f"Event names are at most {EVENT_NAME_MAX} characters."))
        email = _visit_email(fields.get("visit"))
        if email is None:
            return _answer(req, _refused("A valid visit email must be provided."))
        book.record_event(event, fields.get("eventdata"), email, req.now)
        return _answer(req, SPAWNED)

    return [
        book.route("/api/3/eventTracking", get_status, ["GET"]),
        book.route("/api/3/eventTracking", set_status, ["PUT"]),
        book.route("/api/3/eventTrackingEvents", list_events, ["GET"]),
        book.route("/api/3/eventTrackingEvents", create_event, ["POST"]),
        book.route("/api/3/eventTrackingEvents/{eventName}", delete_event, ["DELETE"]),
        book.route(TRACK_PATH, track, ["POST"]),
    ]


def _answer(req: ApiRequest, body: dict[str, Any]) -> Response:
    return req.json_response(body)


def _visit_email(raw: str | None) -> str | None:
    """``visit`` is a JSON string ``{"email": "x@y"}``; anything else has no usable email."""
    if not raw:
        return None
    try:
        visit = json.loads(raw)
    except ValueError:
        return None
    email = visit.get("email") if isinstance(visit, dict) else None
    if not isinstance(email, str) or not is_valid_email(email.strip()):
        return None
    return email.strip().lower()
