"""Tags and contact tags.

SPEC operations: ``GET/POST /tags``, ``GET /tags/{id}``, ``POST /contactTags``,
``DELETE /contactTags/{id}``.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import Response
from starlette.routing import BaseRoute

from activecampaign_emulator import render, webhooks
from activecampaign_emulator.contacts import page_window
from activecampaign_emulator.core import ApiRequest, Emulator
from activecampaign_emulator.responses import (
    ApiError,
    bad_request,
    collection,
    field_missing,
    no_result,
    single,
    unprocessable,
)
from activecampaign_emulator.state import Tag
from activecampaign_emulator.validation import parse_int_id

_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "eq": lambda name, v: name == v,
    "neq": lambda name, v: name != v,
    "lt": lambda name, v: name < v,
    "lte": lambda name, v: name <= v,
    "gt": lambda name, v: name > v,
    "gte": lambda name, v: name >= v,
    "contains": lambda name, v: v in name,
    "starts_with": lambda name, v: name.startswith(v),
}


def list_tags(req: ApiRequest) -> Response:
    """SPEC ``GET /tags``: ``search`` (contains), ``filters[search][<op>]``, ``orders[search]``.

    Name comparisons are case-insensitive, as AC treats tag names.
    """
    limit, offset = page_window(req)
    rows = sorted(req.state.tags.values(), key=lambda t: t.id)
    term = req.query.get("search")
    if term:
        rows = [t for t in rows if term.lower() in t.tag.lower()]
    for key, value in req.query.multi_items():
        if key.startswith("filters[search][") and key.endswith("]"):
            op = _OPERATORS.get(key[len("filters[search][") : -1])
            if op is None:  # what AC does with one is assumed: switch tags_unknown_operator_refused
                if req.assumed("tags_unknown_operator_refused"):
                    raise bad_request(f"unsupported operator in {key}")
                continue
            rows = [t for t in rows if op(t.tag.lower(), value.lower())]
    order = (req.query.get("orders[search]") or "").lower()
    if order in ("asc", "desc"):
        rows.sort(key=lambda t: t.tag.lower(), reverse=order == "desc")
    elif order == "weight":
        needle = (term or "").lower()
        rows.sort(key=lambda t: (t.tag.lower() != needle, not t.tag.lower().startswith(needle), t.id))
    page = rows[offset : offset + limit]
    return req.json_response(collection("tags", [render.tag(req.ctx, t) for t in page], len(rows)))


def get_tag(req: ApiRequest) -> Response:
    """SPEC ``GET /tags/{id}``; unknown → 404 ``No Result found for Tag with id N``."""
    tag = req.state.tags.get(req.path_id())
    if tag is None:
        raise no_result("Tag", req.path_params["id"])
    count = sum(1 for c in req.state.contacts.values() if tag.id in c.tags)
    return req.json_response(single("tag", render.tag(req.ctx, tag, subscriber_count=count)))


def create_tag(req: ApiRequest) -> Response:
    """SPEC ``POST /tags`` → 201.  A name that exists (case-insensitively) → 422 ``duplicate``."""
    body = req.json_object("tag")
    name = str(body.get("tag") or "").strip()
    if not name:
        raise field_missing("tag")
    state = req.state
    if state.tag_by_name(name) is not None:
        raise unprocessable("Duplicate entry", "duplicate", "tag", f"A tag named '{name}' already exists")
    tag_type = str(body.get("tagType") or "contact")
    if tag_type not in ("contact", "template"):
        raise unprocessable("Invalid tag type", "field_invalid", "tagType")
    tag: Tag = state.add_tag(name, req.now, tag_type, str(body.get("description") or ""))
    body_out = render.tag(req.ctx, tag)
    ordered = {k: body_out[k] for k in ("tag", "description", "tagType", "cdate", "links", "id")}
    return req.json_response(single("tag", ordered), 201)


def add_contact_tag(req: ApiRequest) -> Response:
    """SPEC ``POST /contactTags`` → 201; missing attribute → 422; unknown contact → 404 body.

    Tagging a contact that already has the tag returns the existing row (one row per pair;
    the repeat is counted in the contact's audit counters). That is assumed: switched off
    (``contact_tag_repeat_returns_existing``), the repeat is refused with a 422 ``duplicate``.
    """
    body = req.json_object("contactTag")
    for attribute in ("contact", "tag"):
        if body.get(attribute) in (None, ""):
            raise ApiError(
                422,
                {
                    "errors": [
                        {
                            "status": 422,
                            "title": "Missing attribute",
                            "source": {"pointer": f"/data/attributes/{attribute}"},
                        }
                    ]
                },
            )
    state = req.state
    contact_id = parse_int_id(body["contact"])
    contact = state.contacts.get(contact_id) if contact_id else None
    if contact is None:
        raise ApiError(
            404, {"errors": [{"status": 404, "title": "Not Found", "detail": "Contact not found"}]}
        )
    tag_id = parse_int_id(body["tag"])
    tag = state.tags.get(tag_id) if tag_id else None
    if tag is None:
        raise ApiError(404, {"errors": [{"status": 404, "title": "Not Found", "detail": "Tag not found"}]})
    if tag.id in contact.tags and not req.assumed("contact_tag_repeat_returns_existing"):
        contact.tags[tag.id].add_requests += 1
        contact.counters["tag_repeats"] += 1
        raise unprocessable(
            "Duplicate entry", "duplicate", "tag", f"The contact already has the tag {tag.tag!r}"
        )
    contact_tag, added = state.tag_contact(contact, tag, req.now)
    if added:
        fields = [*webhooks.contact_fields(req, contact), ("tag", tag.tag)]
        webhooks.fire(req, "contact_tag_added", fields)
    return req.json_response(single("contactTag", render.contact_tag(req.ctx, contact_tag)), 201)


def remove_contact_tag(req: ApiRequest) -> Response:
    """SPEC ``DELETE /contactTags/{id}`` → 200 ``{}``; unknown → 404 ``...SubscriberTag...``."""
    contact_tag = req.state.contact_tags.get(req.path_id())
    if contact_tag is None:
        raise no_result("SubscriberTag", req.path_params["id"])
    req.state.untag(contact_tag, req.now)
    contact = req.state.contacts.get(contact_tag.contact_id)
    tag = req.state.tags.get(contact_tag.tag_id)
    if contact is not None and tag is not None:
        fields = [*webhooks.contact_fields(req, contact), ("tag", tag.tag)]
        webhooks.fire(req, "contact_tag_removed", fields)
    return req.json_response({})


def list_contact_tags(req: ApiRequest) -> Response:
    """``GET /contactTags``: every tag on every contact, in id order, offset-paged.

    *Reported*, not in the v3 reference: tap-activecampaign 1.3.1 reads it as its
    ``contact_tags`` stream (``tap_activecampaign/streams.py``); the rows have the documented
    contactTag shape (``POST /contactTags``).
    """
    limit, offset = page_window(req)
    rows = sorted(req.state.contact_tags.values(), key=lambda t: t.id)
    page = [render.contact_tag(req.ctx, t) for t in rows[offset : offset + limit]]
    return req.json_response(collection("contactTags", page, len(rows)))


def routes(emu: Emulator) -> list[BaseRoute]:
    return [
        emu.route("/api/3/contactTags", list_contact_tags, ["GET"]),
        emu.route("/api/3/tags", list_tags, ["GET"]),
        emu.route("/api/3/tags", create_tag, ["POST"]),
        emu.route("/api/3/tags/{id}", get_tag, ["GET"]),
        emu.route("/api/3/contactTags", add_contact_tag, ["POST"]),
        emu.route("/api/3/contactTags/{id}", remove_contact_tag, ["DELETE"]),
    ]
