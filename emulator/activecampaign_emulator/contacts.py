"""Contacts: list/search, create, sync (upsert), read, update, delete, and per-contact sublists.

SPEC operations: ``GET/POST /contacts``, ``POST /contact/sync``, ``GET/PUT/DELETE /contacts/{id}``,
``GET /contacts/{id}/{contactAutomations,contactLists,fieldValues}`` and (linked from every
contact, not a separate SPEC page) ``GET /contacts/{id}/contactTags``.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute

from activecampaign_emulator import render, webhooks
from activecampaign_emulator.clock import parse_timestamp
from activecampaign_emulator.core import ApiRequest, Emulator
from activecampaign_emulator.responses import (
    ApiError,
    bad_request,
    field_invalid,
    field_missing,
    no_result,
    unprocessable,
)
from activecampaign_emulator.state import AccountState, Contact, ContactChange
from activecampaign_emulator.validation import (
    as_value_text,
    field_value_problem,
    is_valid_email,
    parse_int_id,
)

DEFAULT_LIMIT = 20
MAX_LIMIT = 100

_ORDER_KEYS: dict[str, Callable[[Contact], Any]] = {
    "id": lambda c: c.id,
    "cdate": lambda c: (c.cdate, c.id),
    "email": lambda c: (c.email.lower(), c.id),
    "first_name": lambda c: (c.first_name.lower(), c.id),
    "last_name": lambda c: (c.last_name.lower(), c.id),
    "name": lambda c: (f"{c.first_name} {c.last_name}".lower(), c.id),
}


def page_window(req: ApiRequest, default_limit: int = DEFAULT_LIMIT) -> tuple[int, int]:
    """``limit`` (default 20, silently capped at 100) and zero-based ``offset`` (DOC:pagination)."""
    try:
        limit = int(req.query.get("limit", default_limit))
        offset = int(req.query.get("offset", 0))
    except ValueError as exc:
        raise bad_request("limit and offset must be integers") from exc
    return max(1, min(limit, MAX_LIMIT)), max(0, offset)


# -- reading ------------------------------------------------------------------------------


def list_contacts(req: ApiRequest) -> Response:
    """SPEC ``GET /contacts``.  Without ``orders[...]`` the order is newest first (see docs)."""
    state = req.state
    query = req.query
    limit, offset = page_window(req)
    orders = [(key[7:-1], value) for key, value in query.multi_items() if key.startswith("orders[")]
    id_walk = bool(query.get("id_greater")) and query.get("email") is None
    ascending_ids = [(n, v.strip().lower()) for n, v in orders] == [("id", "asc")]
    walked = _id_walk_page(req, state, limit, offset) if id_walk and ascending_ids else None
    if walked is not None:
        page, total = walked
        candidates: list[Contact] = []
    else:
        candidates = _filtered(req, state)
        total = len(candidates)
    if walked is not None or (id_walk and ascending_ids):
        pass  # the page is cut from the id index, or _filtered returned them in id order already
    elif orders:
        for name, direction in reversed(orders):
            key = _ORDER_KEYS.get(name)
            if key is None:
                if req.assumed("contacts_unsupported_order_refused"):
                    raise bad_request(f"unsupported order {name!r}")
                continue
            candidates.sort(key=key, reverse=direction.strip().lower() == "desc")
    elif len(candidates) > 1 and req.assumed("contacts_default_order_newest_first"):
        candidates.sort(key=lambda c: (c.cdate, c.id), reverse=True)
    else:
        candidates.sort(key=lambda c: c.id)
    if walked is None:
        page = candidates[offset : offset + limit]
    if page and state.settings.overlapping_pages:
        repeated = _previous_page_last(req, state, candidates, offset)
        if repeated is not None:
            page.insert(0, repeated)
            if state.settings.overlap_within_limit:
                del page[limit:]  # the repeat takes one of the page's places
    page_input = {
        "segmentid": _int_query(req, "segmentid"),
        "formid": _int_query(req, "formid"),
        "listid": _int_query(req, "listid"),
        "tagid": _int_query(req, "tagid"),
        "limit": limit,
        "offset": offset,
        "search": query.get("search"),
        "sort": None,
        "seriesid": _int_query(req, "seriesid"),
        "waitid": 0,
        "status": _int_query(req, "status", -1),
        "forceQuery": 0,
        "cacheid": "",
    }
    body: dict[str, Any] = {
        "scoreValues": [],
        "contacts": [render.contact(req.ctx, c, with_score_values=True) for c in page],
        "meta": {"total": str(total), "page_input": page_input},
    }
    body.update(_sideloads(req, page))
    return req.json_response(body)


def _previous_page_last(
    req: ApiRequest, state: AccountState, candidates: list[Contact], offset: int
) -> Contact | None:
    """The record to repeat at the start of a non-first page (``paging.overlapping_pages``).

    A reported behaviour of live accounts when records change while a client pages, not a
    documented one.  ``offset`` paging: the record just before ``offset`` (the last one of the
    previous page at the same ``limit``).  ``id_greater`` walk: the record whose id is the
    cursor, if it still matches the other filters.  Only non-empty pages get one, so a walk
    that stops on an empty page still ends.
    """
    if offset > 0:
        return candidates[offset - 1]
    if not req.query.get("id_greater"):
        return None
    cursor = _int_query(req, "id_greater")
    return next((c for c in _filtered(req, state, id_greater_inclusive=True) if c.id == cursor), None)


def _sideloads(req: ApiRequest, page: list[Contact]) -> dict[str, Any]:
    """``include=fieldValues,contactLists,contactTags``: the page's related rows, sideloaded.

    Not in the official reference, but widely used against the live API (one request per page
    instead of one per contact); other ``include`` values are ignored. *Assumed*: switched off
    (``contacts_list_include``), every ``include`` is ignored, as the reference alone promises.
    """
    wanted = {part.strip() for raw in req.query.getlist("include") for part in raw.split(",")}
    if not wanted - {""} or not req.assumed("contacts_list_include"):
        return {}
    ctx = req.ctx
    extra: dict[str, Any] = {}
    if "fieldValues" in wanted:
        extra["fieldValues"] = [render.field_value(ctx, v) for c in page for v in c.field_values.values()]
    if "contactLists" in wanted:
        extra["contactLists"] = [render.contact_list(ctx, m) for c in page for m in c.lists.values()]
    if "contactTags" in wanted:
        extra["contactTags"] = [render.contact_tag(ctx, t) for c in page for t in c.tags.values()]
    return extra


def _int_query(req: ApiRequest, name: str, default: int = 0) -> int:
    raw = req.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise bad_request(f"{name} must be an integer") from exc


def _filtered(req: ApiRequest, state: AccountState, *, id_greater_inclusive: bool = False) -> list[Contact]:
    query = req.query
    email = query.get("email")
    if email is not None:
        found = state.contact_by_email(email)
        pool: Iterable[Contact] = [found] if found is not None else []
    else:
        pool = state.contacts.values()
    tests: list[Callable[[Contact], bool]] = []
    ids = [i for raw in query.getlist("ids[]") + query.getlist("ids") for i in raw.split(",") if i.strip()]
    if ids:
        wanted = {parse_int_id(i) for i in ids}
        tests.append(lambda c: c.id in wanted)
    if query.get("id_greater"):
        bound = _int_query(req, "id_greater")
        bound = bound - 1 if id_greater_inclusive else bound
        if email is None:
            # An id_greater walk is how exports page: start at the cursor in the id-ordered index
            # instead of testing every contact, so a 100,000-contact walk costs what one page costs.
            pool = _ids_above(state, bound)
        else:
            tests.append(_id_above(bound))
    if query.get("id_less"):
        tests.append(_id_below(_int_query(req, "id_less")))
    if query.get("exclude"):
        excluded = _int_query(req, "exclude")
        tests.append(lambda c: c.id != excluded)
    if query.get("email_like"):
        needle = query["email_like"].lower()
        tests.append(lambda c: needle in c.email.lower())
    if query.get("search"):
        term = query["search"].lower()
        tests.append(
            lambda c: (
                term in c.email.lower()
                or term in f"{c.first_name} {c.last_name}".lower()
                or term in c.phone.lower()
            )
        )
    if query.get("phone"):
        prefix = query["phone"]
        tests.append(lambda c: c.phone.startswith(prefix))
    status = _int_query(req, "status", -1)
    if query.get("listid"):
        list_id = _int_query(req, "listid")
        tests.append(
            lambda c: (m := c.lists.get(list_id)) is not None and (status == -1 or m.status == status)
        )
    if query.get("tagid"):
        tag_id = _int_query(req, "tagid")
        tests.append(lambda c: tag_id in c.tags)
    if query.get("seriesid"):
        series = _int_query(req, "seriesid")
        tests.append(
            lambda c: any(
                state.enrolments[e].automation_id == series and not state.enrolments[e].removed
                for e in c.enrolment_ids
            )
        )
    tests.extend(_date_tests(req))
    if not tests:
        return list(pool)
    return [c for c in pool if all(test(c) for test in tests)]


def _date_tests(req: ApiRequest) -> list[Callable[[Contact], bool]]:
    """``filters[created|updated_after|before]``: compared with the account-local day's start.

    SPEC declares the four as ``format: date``; integrators report that a time part is not honoured
    (reference §10, "filters[updated_after] takes a date, not a timestamp"), so a time is accepted
    and dropped, as for ``GET /deals``: a client must widen its window by a day and cut it itself.
    SPEC says only "after"/"prior to" the date: whether the day's start itself passes is *assumed*
    (``date_filters_strict``: on, strict ``>``/``<``; off, inclusive ``>=``/``<=``).
    """
    tests: list[Callable[[Contact], bool]] = []
    spec = (
        ("filters[created_after]", "cdate", True),
        ("filters[created_before]", "cdate", False),
        ("filters[updated_after]", "udate", True),
        ("filters[updated_before]", "udate", False),
    )
    for param, attr, after in spec:
        raw = req.query.get(param)
        if not raw:
            continue
        try:
            moment = datetime.fromtimestamp(parse_timestamp(raw, req.ctx.tz), req.ctx.tz)
        except ValueError as exc:
            raise bad_request(f"{param} must be a date (YYYY-MM-DD) or an ISO-8601 datetime") from exc
        day_start = datetime(moment.year, moment.month, moment.day, tzinfo=req.ctx.tz)
        strict = req.assumed("date_filters_strict")
        tests.append(_time_test(attr, int(day_start.timestamp()), after, strict=strict))
    return tests


_ID_INDEX: dict[int, tuple[tuple[int, int], list[int]]] = {}

#: Query keys an id walk may carry and still be cut straight from the id index.
_ID_WALK_KEYS = frozenset({"id_greater", "id_less", "orders[id]", "limit", "offset", "include"})


def _id_index(state: AccountState) -> list[int]:
    """Every contact id in order, rebuilt only when contacts are added or removed."""
    contacts = state.contacts
    version = (len(contacts), next(reversed(contacts)) if contacts else 0)
    cached = _ID_INDEX.get(id(state))
    if cached is None or cached[0] != version:
        cached = (version, sorted(contacts))
        _ID_INDEX.clear()
        _ID_INDEX[id(state)] = cached
    return cached[1]


def _ids_above(state: AccountState, bound: int) -> list[Contact]:
    """The contacts whose id is above ``bound``, in id order."""
    contacts = state.contacts
    ids = _id_index(state)
    return [contacts[i] for i in ids[bisect.bisect_right(ids, bound) :] if i in contacts]


def _id_walk_page(
    req: ApiRequest, state: AccountState, limit: int, offset: int
) -> tuple[list[Contact], int] | None:
    """One page of a plain ``id_greater`` (and ``id_less``) walk, and its total, in O(log n + limit).

    Exports page this way; building the list of every contact above the cursor for each page made
    the emulator's cost grow with the square of the account (230 s for 300,000 contacts). Any
    other filter, or the opt-in overlapping pages, takes the general path.
    """
    if state.settings.overlapping_pages or any(key not in _ID_WALK_KEYS for key in req.query):
        return None
    ids = _id_index(state)
    low = bisect.bisect_right(ids, _int_query(req, "id_greater"))
    high = bisect.bisect_left(ids, _int_query(req, "id_less")) if req.query.get("id_less") else len(ids)
    total = max(0, high - low)
    start = low + offset
    contacts = state.contacts
    page = [contacts[i] for i in ids[start : min(high, start + limit)] if i in contacts]
    return page, total


def _id_above(bound: int) -> Callable[[Contact], bool]:
    return lambda c: c.id > bound


def _id_below(bound: int) -> Callable[[Contact], bool]:
    return lambda c: c.id < bound


def _time_test(attr: str, bound: int, after: bool, *, strict: bool) -> Callable[[Contact], bool]:
    """Compare at whole-second precision, the precision AC prints timestamps with.

    ``strict`` (assumed ``date_filters_strict``) leaves out a contact stamped exactly at ``bound``.
    """
    if after:
        if strict:
            return lambda c: int(getattr(c, attr)) > bound
        return lambda c: int(getattr(c, attr)) >= bound
    if strict:
        return lambda c: int(getattr(c, attr)) < bound
    return lambda c: int(getattr(c, attr)) <= bound


def get_contact(req: ApiRequest) -> Response:
    """SPEC ``GET /contacts/{id}``: the contact with its relations sideloaded."""
    c = _contact_or_404(req)
    ctx = req.ctx
    return req.json_response(
        {
            "contactAutomations": [
                render.enrolment(ctx, req.state, req.state.enrolments[e])
                for e in c.enrolment_ids
                if not req.state.enrolments[e].removed
            ],
            "contactLists": [render.contact_list(ctx, m) for m in c.lists.values()],
            "deals": [],
            "fieldValues": [render.field_value(ctx, v) for v in c.field_values.values()],
            "geoAddresses": [],
            "geoIps": [],
            "contact": render.contact(ctx, c, with_related_ids=True),
        }
    )


def _contact_or_404(req: ApiRequest) -> Contact:
    contact = req.state.contacts.get(req.path_id())
    if contact is None:
        raise no_result("Subscriber", req.path_params["id"])
    return contact


def contact_automations(req: ApiRequest) -> Response:
    """SPEC ``GET /contacts/{id}/contactAutomations`` (no ``meta``)."""
    c = _contact_or_404(req)
    rows = [req.state.enrolments[e] for e in c.enrolment_ids]
    return req.json_response(
        {
            "contactAutomations": [
                render.enrolment(req.ctx, req.state, e, variant="contact") for e in rows if not e.removed
            ]
        }
    )


def contact_lists(req: ApiRequest) -> Response:
    """SPEC ``GET /contacts/{id}/contactLists``."""
    c = _contact_or_404(req)
    return req.json_response({"contactLists": [render.contact_list(req.ctx, m) for m in c.lists.values()]})


def contact_field_values(req: ApiRequest) -> Response:
    """SPEC ``GET /contacts/{id}/fieldValues``."""
    c = _contact_or_404(req)
    return req.json_response(
        {"fieldValues": [render.field_value(req.ctx, v) for v in c.field_values.values()]}
    )


def contact_tags(req: ApiRequest) -> Response:
    """``GET /contacts/{id}/contactTags`` (the ``contactTags`` link of every contact)."""
    c = _contact_or_404(req)
    return req.json_response({"contactTags": [render.contact_tag(req.ctx, t) for t in c.tags.values()]})


# -- writing ------------------------------------------------------------------------------


def _attributes(body: dict[str, Any]) -> dict[str, str]:
    """Contact attributes present in the body (an empty ``email`` never clears the address)."""
    mapping = (("email", "email"), ("firstName", "first_name"), ("lastName", "last_name"), ("phone", "phone"))
    attrs = {attr: as_value_text(body[key]) for key, attr in mapping if body.get(key) is not None}
    if not attrs.get("email", "x").strip():
        del attrs["email"]
    return attrs


def _required_email(body: dict[str, Any]) -> str:
    """422 envelopes for a missing or malformed email (bodies undocumented; SPEC codes reused)."""
    email = _optional_email(body)
    if email is None:
        raise field_missing("email")
    return email


def _optional_email(body: dict[str, Any]) -> str | None:
    if "email" not in body or body["email"] in (None, ""):
        return None
    email = body["email"]
    if not isinstance(email, str) or not is_valid_email(email.strip()):
        raise unprocessable("Email address is not valid", "field_invalid", "email")
    return email.strip()


def _checked_field_values(req: ApiRequest, body: dict[str, Any]) -> list[tuple[int, str]]:
    """Validate ``fieldValues: [{field, value}]`` before anything is written (all or nothing).

    Refusing a value that breaks its type's format is assumed (switch
    ``contact_field_value_invalid_refused``; off, it is stored as sent).
    """
    state = req.state
    raw = body.get("fieldValues") or []
    if not isinstance(raw, list):
        raise field_invalid("fieldValues", "fieldValues must be an array of {field, value}")
    values: list[tuple[int, str]] = []
    for entry in raw:
        if not isinstance(entry, dict) or "field" not in entry:
            raise field_invalid("fieldValues", "each field value needs 'field' and 'value'")
        field_id = parse_int_id(entry["field"])
        custom = state.fields.get(field_id) if field_id else None
        if custom is None:
            raise unprocessable(
                "Custom field not found",
                "related_missing",
                "fieldValues",
                f"No field with id {entry['field']!r}",
            )
        value = as_value_text(entry.get("value"))
        problem = field_value_problem(state, custom, value)
        if problem and req.assumed("contact_field_value_invalid_refused"):
            raise field_invalid("fieldValues", problem)
        values.append((custom.id, value))
    return values


def _write(
    state: AccountState, contact: Contact, attrs: dict[str, str], values: list[tuple[int, str]], now: float
) -> ContactChange:
    try:
        changed = state.update_contact(contact, attrs, now)
    except ValueError as exc:
        raise _duplicate_email() from exc
    change = ContactChange(contact, changed=changed)
    for field_id, value in values:
        row, field_changed = state.set_field_value(contact, field_id, value, now)
        change.field_values.append(row)
        change.changed = change.changed or field_changed
    contact.counters["field_writes"] += len(values)
    if change.changed:
        contact.counters["changes"] += 1
    return change


def _duplicate_email() -> ApiError:
    """SPEC ``POST /contacts`` 422 body, verbatim."""
    return unprocessable("Email address already exists in the system", "duplicate", "email")


def create_contact(req: ApiRequest) -> Response:
    """SPEC ``POST /contacts`` → 201; an existing email → 422 ``duplicate``."""
    body = req.json_object("contact")
    state = req.state
    email = _required_email(body)
    values = _checked_field_values(req, body)
    existing = state.contact_by_email(email)
    if existing is not None:
        existing.counters["duplicate_create_attempts"] += 1  # e.g. a blind retry after a timeout
        raise _duplicate_email()
    contact = state.create_contact(email, req.now)
    contact.counters["create_requests"] += 1
    change = _write(state, contact, _attributes(body), values, req.now)
    return _contact_write_response(req, change, 201)


def sync_contact(req: ApiRequest) -> Response:
    """SPEC ``POST /contact/sync``: upsert keyed on email; 201 on create, 200 on update (assumed).

    Only email matching is emulated (the id/phone lookup order and inline ``tags``/``lists``
    come from one uncertain source and are ignored).
    """
    body = req.json_object("contact")
    state = req.state
    email = _required_email(body)
    values = _checked_field_values(req, body)
    contact = state.contact_by_email(email)
    created = contact is None
    if contact is None:
        contact = state.create_contact(email, req.now)
    contact.counters["sync_requests"] += 1
    change = _write(state, contact, _attributes(body), values, req.now)
    change.created = created
    if change.changed and not created:
        webhooks.fire(req, "update", webhooks.contact_fields(req, contact))
    # 200 on update is assumed (SPEC shows only 201): switch ``contact_sync_update_200``.
    status = 201 if created or not req.assumed("contact_sync_update_200") else 200
    return _contact_write_response(req, change, status, with_field_value_ids=True)


def update_contact(req: ApiRequest) -> Response:
    """SPEC ``PUT /contacts/{id}`` → 200, same shape as create."""
    contact = _contact_or_404(req)
    body = req.json_object("contact")
    _optional_email(body)
    values = _checked_field_values(req, body)
    contact.counters["update_requests"] += 1
    change = _write(req.state, contact, _attributes(body), values, req.now)
    if change.changed:
        webhooks.fire(req, "update", webhooks.contact_fields(req, contact))
    return _contact_write_response(req, change, 200)


def _contact_write_response(
    req: ApiRequest, change: ContactChange, status: int, *, with_field_value_ids: bool = False
) -> Response:
    ctx = req.ctx
    body = {
        "fieldValues": [render.field_value(ctx, v) for v in change.field_values],
        "contact": render.contact(ctx, change.contact, with_field_value_ids=with_field_value_ids),
    }
    return req.json_response(body, status)


def contact_delete_limit_reached(limit: int | None) -> ApiError:
    """Opt-in monthly contact-delete limit (help centre 115000349564: "Once you reach that limit,
    you will not be able to delete any more contacts until your next billing period").

    UNCERTAIN: no public source shows the API's answer; the emulator uses the v3 422 envelope
    (not 429, which clients would retry) so a client stops instead of retrying.
    """
    return unprocessable(
        "Monthly contact delete limit reached",
        "delete_limit_reached",
        None,
        f"This account can delete {limit} contacts per month; no more can be deleted until the "
        "next billing period.",
    )


def delete_contact(req: ApiRequest) -> Response:
    """SPEC ``DELETE /contacts/{id}`` → 200 ``{}``; unknown id → 404 with lower-case "result"."""
    contact = req.state.contacts.get(req.path_id())
    if contact is None:
        raise no_result("contact", req.path_params["id"], lower=True)
    if not req.state.contact_delete_allowed(req.now):
        raise contact_delete_limit_reached(req.state.settings.contact_delete_monthly_limit)
    req.state.delete_contact(contact)
    req.state.count_contact_delete(req.now)
    return req.json_response({})


def routes(emu: Emulator) -> list[BaseRoute]:
    return [
        emu.route("/api/3/contacts", list_contacts, ["GET"]),
        emu.route("/api/3/contacts", create_contact, ["POST"]),
        emu.route("/api/3/contact/sync", sync_contact, ["POST"]),
        emu.route("/api/3/contacts/{id}", get_contact, ["GET"]),
        emu.route("/api/3/contacts/{id}", update_contact, ["PUT"]),
        emu.route("/api/3/contacts/{id}", delete_contact, ["DELETE"]),
        emu.route("/api/3/contacts/{id}/contactAutomations", contact_automations, ["GET"]),
        emu.route("/api/3/contacts/{id}/contactLists", contact_lists, ["GET"]),
        emu.route("/api/3/contacts/{id}/fieldValues", contact_field_values, ["GET"]),
        emu.route("/api/3/contacts/{id}/contactTags", contact_tags, ["GET"]),
    ]
