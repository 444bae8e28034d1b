"""Automations and contact enrolments (contactAutomations).

SPEC operations: ``GET /automations``, ``GET /automations/{id}``, ``POST /contactAutomations``,
``GET /contactAutomations``, ``GET /contactAutomations/{id}``, ``DELETE /contactAutomations/{id}``.

An enrolment runs for the automation's ``duration_seconds`` of emulated time (seed), showing
``status`` 1 and a growing ``completeValue``; then ``status`` "2", ``completed`` 1, ``remdate``
set and ``completeValue`` 100 (with the emulator control ``complete_after_first_poll``, the
duration counts from the enrolment's first ``GET /contactAutomations/{id}``).  Adding a contact
that is already running through the automation creates a SECOND enrolment (undocumented; the
worst case, so operators must prove they never add twice). That is the assumed behaviour
``contact_automation_readd_duplicates``; switched off, such a POST is refused with the documented
403 instead.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute

from activecampaign_emulator import render
from activecampaign_emulator.contacts import page_window
from activecampaign_emulator.core import ApiRequest, Emulator
from activecampaign_emulator.responses import ApiError, collection, no_result, single
from activecampaign_emulator.state import Enrolment
from activecampaign_emulator.validation import parse_int_id

#: SPEC ``POST /contactAutomations`` 403 body, used for every refusal (unknown contact or
#: automation, malformed body): the documented failure is this single message.
COULD_NOT_CREATE = {"message": "Could not create SubscriberSeries"}


def list_automations(req: ApiRequest) -> Response:
    """SPEC ``GET /automations`` (``meta.starts`` lists subscribe triggers)."""
    limit, offset = page_window(req)
    rows = sorted(req.state.automations.values(), key=lambda a: a.id)
    page = rows[offset : offset + limit]
    starts = [
        {"id": str(index), "series": str(a.id), "type": trigger.type}
        for index, (a, trigger) in enumerate(((a, t) for a in rows for t in a.triggers), start=1)
    ]
    body = collection(
        "automations",
        [render.automation(req.ctx, a) for a in page],
        len(rows),
        starts=starts,
        filtered=False,
        smsLogs=[],
    )
    return req.json_response(body)


def get_automation(req: ApiRequest) -> Response:
    """SPEC ``GET /automations/{id}``.

    That SPEC page is a copy of the list page and shows a list; the emulator answers with the
    singular envelope every other "retrieve" endpoint uses, and the object shape (numeric
    ``status``, ``multientry``...) of that page's example.
    """
    automation = req.state.automations.get(req.path_id())
    if automation is None:
        raise no_result("Series", req.path_params["id"])
    return req.json_response(
        single("automation", render.automation(req.ctx, automation, numeric_status=True))
    )


def add_contact(req: ApiRequest) -> Response:
    """SPEC ``POST /contactAutomations`` → 201; any refusal → 403 ``Could not create SubscriberSeries``."""
    body = req.json()
    inner = body.get("contactAutomation") if isinstance(body, dict) else None
    if not isinstance(inner, dict):
        raise ApiError(403, COULD_NOT_CREATE)
    state = req.state
    contact_id = parse_int_id(inner.get("contact"))
    automation_id = parse_int_id(inner.get("automation"))
    contact = state.contacts.get(contact_id) if contact_id else None
    automation = state.automations.get(automation_id) if automation_id else None
    if contact is None or automation is None:
        raise ApiError(403, COULD_NOT_CREATE)
    if state.active_enrolments(contact.id, automation.id) and not req.assumed(
        "contact_automation_readd_duplicates"
    ):
        # The reference does not say whether re-adding duplicates, is ignored or errors (§6,
        # could-not-confirm #7); off, it errors with the only refusal the SPEC documents.
        raise ApiError(403, COULD_NOT_CREATE)
    enrolment = state.enrol(contact, automation, req.now, source="api")
    return req.json_response(
        single(
            "contactAutomation",
            _created_shape(render.enrolment(req.ctx, state, enrolment, variant="created")),
            contacts=[render.contact(req.ctx, contact)],
        ),
        201,
    )


def _created_shape(body: dict[str, object]) -> dict[str, object]:
    """The create response carries fewer keys than a read (SPEC example)."""
    keys = (
        "contact",
        "seriesid",
        "startid",
        "status",
        "lastblock",
        "completedElements",
        "totalElements",
        "completed",
        "completeValue",
        "links",
        "id",
        "automation",
    )
    shaped = {key: body[key] for key in keys}
    links = body["links"]
    if isinstance(links, dict):
        shaped["links"] = {k: v for k, v in links.items() if k != "automationLogs"}
    return shaped


def list_enrolments(req: ApiRequest) -> Response:
    """SPEC ``GET /contactAutomations``.  SPEC documents no filters: unknown params are ignored."""
    limit, offset = page_window(req)
    rows = sorted(req.state.visible_enrolments(), key=lambda e: e.id)
    page = rows[offset : offset + limit]
    return req.json_response(
        collection(
            "contactAutomations",
            [render.enrolment(req.ctx, req.state, e) for e in page],
            len(rows),
            showcase_stats=[],
        )
    )


def _enrolment(req: ApiRequest, status: int) -> Enrolment:
    enrolment = req.state.enrolments.get(req.path_id())
    if enrolment is None or enrolment.removed:
        raise no_result("SubscriberSeries", req.path_params["id"], status)
    return enrolment


def get_enrolment(req: ApiRequest) -> Response:
    """SPEC ``GET /contactAutomations/{id}``; unknown → 404.

    This read, and no other, releases an enrolment held by the emulator control
    ``complete_after_first_poll``: it is the read every waiter of the provider polls with, while
    the enrolling operator reads ``GET /contacts/{id}/contactAutomations`` (before a POST, and
    back after a lost answer), so its reads never start the clock of what it just created.
    """
    enrolment = _enrolment(req, 404)
    req.state.release_enrolment(enrolment, req.now)
    return req.json_response(single("contactAutomation", render.enrolment(req.ctx, req.state, enrolment)))


def remove_enrolment(req: ApiRequest) -> Response:
    """SPEC ``DELETE /contactAutomations/{id}`` → 200 ``{}``; unknown → **403** (SPEC)."""
    req.state.remove_enrolment(_enrolment(req, 403), req.now)
    return req.json_response({})


def routes(emu: Emulator) -> list[BaseRoute]:
    return [
        emu.route("/api/3/automations", list_automations, ["GET"]),
        emu.route("/api/3/automations/{id}", get_automation, ["GET"]),
        emu.route("/api/3/contactAutomations", add_contact, ["POST"]),
        emu.route("/api/3/contactAutomations", list_enrolments, ["GET"]),
        emu.route("/api/3/contactAutomations/{id}", get_enrolment, ["GET"]),
        emu.route("/api/3/contactAutomations/{id}", remove_enrolment, ["DELETE"]),
    ]
