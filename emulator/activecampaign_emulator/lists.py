"""Lists and list membership.

SPEC operations: ``GET/POST /lists``, ``GET /lists/{id}``, ``POST /contactLists``.

``POST /contactLists`` with ``status: 1`` re-subscribes a contact who had unsubscribed: SPEC
warns that it does ("you can re-subscribe a contact to a list from which they had manually
unsubscribed").  The emulator does the same, so an operator that must respect opt-outs has
to check the membership first.  Bulk import, by contrast, refuses (see ``importer``).
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute

from activecampaign_emulator import render, webhooks
from activecampaign_emulator.contacts import page_window
from activecampaign_emulator.core import ApiRequest, Emulator
from activecampaign_emulator.responses import (
    ApiError,
    collection,
    field_invalid,
    field_missing,
    no_result,
    single,
)
from activecampaign_emulator.state import SUBSCRIBED, UNSUBSCRIBED, MailingList
from activecampaign_emulator.validation import parse_int_id

#: SPEC ``POST /lists`` declares these required (its own request example omits the last two;
#: the schema is the stricter reading).
REQUIRED_LIST_ATTRIBUTES = ("name", "stringid", "sender_url", "sender_reminder")


def list_lists(req: ApiRequest) -> Response:
    """SPEC ``GET /lists`` (``filters[name]`` exact, ``filters[name][contains]`` etc.)."""
    limit, offset = page_window(req)
    rows = sorted(req.state.lists.values(), key=lambda lst: lst.id)
    name = req.query.get("filters[name]")
    if name is not None:
        rows = [lst for lst in rows if lst.name == name]
    contains = req.query.get("filters[name][contains]")
    if contains is not None:
        rows = [lst for lst in rows if contains.lower() in lst.name.lower()]
    page = rows[offset : offset + limit]
    return req.json_response(
        collection("lists", [render.mailing_list(req.ctx, lst) for lst in page], len(rows))
    )


def get_list(req: ApiRequest) -> Response:
    """SPEC ``GET /lists/{id}``; unknown → 404 ``No Result found for _List with id N``."""
    lst = req.state.lists.get(req.path_id())
    if lst is None:
        raise no_result("_List", req.path_params["id"])
    return req.json_response(single("list", render.mailing_list(req.ctx, lst)))


def create_list(req: ApiRequest) -> Response:
    """SPEC ``POST /lists`` → 200 (not 201) with the short list object of its example."""
    body = req.json_object("list")
    for attribute in REQUIRED_LIST_ATTRIBUTES:
        if not str(body.get(attribute) or "").strip():
            raise field_missing(attribute)
    state = req.state
    lid = state.next_id("list")
    lst = MailingList(
        lid,
        str(body["name"]),
        str(body["stringid"]),
        req.now,
        sender_url=str(body["sender_url"]),
        sender_reminder=str(body["sender_reminder"]),
        user_id=parse_int_id(body.get("user", 1)) or 1,
        udate=req.now,
    )
    state.lists[lid] = lst
    state.counters["lists_created"] += 1
    links = {
        name: req.ctx.link(f"lists/{lid}/{name}") for name in ("contactGoalLists", "user", "addressLists")
    }
    return req.json_response(
        single(
            "list",
            {
                "name": lst.name,
                "stringid": lst.stringid,
                "cdate": req.ctx.iso(lst.cdate),
                "udate": req.ctx.iso(lst.udate),
                "links": links,
                "id": str(lid),
            },
        )
    )


def update_list_status(req: ApiRequest) -> Response:
    """SPEC ``POST /contactLists`` → 200 ``{"contacts": [...], "contactList": {...}}``."""
    body = req.json_object("contactList")
    for key in ("list", "contact", "status"):
        if key not in body:
            raise field_missing(key)
    state = req.state
    contact_id = parse_int_id(body["contact"])
    contact = state.contacts.get(contact_id) if contact_id else None
    if contact is None:
        raise _unknown(req, "Subscriber", body["contact"])
    list_id = parse_int_id(body["list"])
    if list_id is None or list_id not in state.lists:
        raise _unknown(req, "_List", body["list"])
    status = parse_int_id(body["status"])
    if status not in (SUBSCRIBED, UNSUBSCRIBED):
        raise field_invalid("status", "status must be 1 (subscribe) or 2 (unsubscribe)")
    sourceid = str(body.get("sourceid", "3") or "3")
    membership, changed = state.set_list_status(contact, list_id, status, req.now, sourceid=sourceid)
    contact.counters["list_requests"] += 1
    if changed:
        event = "subscribe" if status == SUBSCRIBED else "unsubscribe"
        webhooks.fire(req, event, webhooks.contact_fields(req, contact), list_id=list_id)
    return req.json_response(
        single(
            "contactList",
            render.contact_list(req.ctx, membership, numeric_status=True),
            contacts=[render.contact(req.ctx, contact)],
        )
    )


def _unknown(req: ApiRequest, entity: str, ident: object) -> ApiError:
    """An unknown contact or list: AC's usual 404 (assumed: ``contact_list_unknown_404``), or the
    reference's only error, ``400 {}``."""
    if req.assumed("contact_list_unknown_404"):
        return no_result(entity, ident)
    return ApiError(400, {})


def list_contact_lists(req: ApiRequest) -> Response:
    """``GET /contactLists``: every list membership, in id order, offset-paged.

    *Reported*, not in the v3 reference: tap-activecampaign 1.3.1 reads it as its
    ``contact_lists`` stream (``tap_activecampaign/streams.py``); the rows have the documented
    contactList shape. ``filters[...]`` are ignored, as reported of live accounts
    (shared/reference/activecampaign-api.md, export gotchas, uncertain).
    """
    limit, offset = page_window(req)
    rows = sorted(req.state.contact_lists.values(), key=lambda m: m.id)
    page = [render.contact_list(req.ctx, m) for m in rows[offset : offset + limit]]
    return req.json_response(collection("contactLists", page, len(rows)))


def routes(emu: Emulator) -> list[BaseRoute]:
    return [
        emu.route("/api/3/contactLists", list_contact_lists, ["GET"]),
        emu.route("/api/3/lists", list_lists, ["GET"]),
        emu.route("/api/3/lists", create_list, ["POST"]),
        emu.route("/api/3/lists/{id}", get_list, ["GET"]),
        emu.route("/api/3/contactLists", update_list_status, ["POST"]),
    ]
