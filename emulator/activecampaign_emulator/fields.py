"""Custom fields and their values.

SPEC operations: ``GET/POST /fields``, ``GET /fields/{id}``, ``POST /fieldOption/bulk``,
``POST /fieldRels``, ``GET/POST /fieldValues``, ``GET/PUT/DELETE /fieldValues/{id}``.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute

from activecampaign_emulator import render
from activecampaign_emulator.contacts import page_window
from activecampaign_emulator.core import ApiRequest, Emulator
from activecampaign_emulator.responses import (
    ApiError,
    collection,
    field_invalid,
    field_missing,
    no_result,
    unprocessable,
)
from activecampaign_emulator.state import (
    AccountState,
    CustomField,
    FieldOption,
    FieldRel,
    FieldValue,
)
from activecampaign_emulator.validation import (
    FIELD_TYPES,
    as_value_text,
    field_value_problem,
    parse_int_id,
    perstag_for,
)

FIELDS_DEFAULT_LIMIT = 100  # SPEC GET /fields: "default": 100


def _sideloads(ctx: render.Ctx, state: AccountState, fields: list[CustomField]) -> dict[str, Any]:
    return {
        "fieldOptions": [
            render.field_option(ctx, state.field_options[o]) for f in fields for o in f.option_ids
        ],
        "fieldRels": [render.field_rel(ctx, state.field_rels[r]) for f in fields for r in f.rel_ids],
    }


def list_fields(req: ApiRequest) -> Response:
    """SPEC ``GET /fields`` (default limit 100, ``filters[perstag]``)."""
    state = req.state
    limit, offset = page_window(req, FIELDS_DEFAULT_LIMIT)
    fields = sorted(state.fields.values(), key=lambda f: f.id)
    perstag = req.query.get("filters[perstag]")
    if perstag:
        fields = [f for f in fields if f.perstag == perstag.strip().upper()]
    page = fields[offset : offset + limit]
    body = _sideloads(req.ctx, state, page)
    body.update(collection("fields", [render.custom_field(req.ctx, f) for f in page], len(fields)))
    return req.json_response(body)


def get_field(req: ApiRequest) -> Response:
    """SPEC ``GET /fields/{id}`` (not-found body undocumented: AC's usual message, 404)."""
    custom = req.state.fields.get(req.path_id())
    if custom is None:
        raise no_result("Field", req.path_params["id"])
    body = _sideloads(req.ctx, req.state, [custom])
    body["field"] = render.custom_field(req.ctx, custom)
    return req.json_response(body)


def create_field(req: ApiRequest) -> Response:
    """SPEC ``POST /fields`` → 201 with the plural envelope; duplicate title → 422."""
    body = req.json_object("field")
    state = req.state
    title = str(body.get("title") or "").strip()
    if not title:
        raise field_missing("title")
    ftype = str(body.get("type") or "")
    if ftype not in FIELD_TYPES:
        raise field_invalid("type", f"type must be one of {sorted(FIELD_TYPES)}")
    if any(f.title.lower() == title.lower() for f in state.fields.values()):
        raise unprocessable(
            "There is already a field with this title",
            "duplicate",
            detail=f"There is already a field named '{title}' -- choose another name",
        )
    perstag = perstag_for(str(body.get("perstag") or title))
    if state.field_by_perstag(perstag) is not None:
        raise unprocessable("There is already a field with this personalization tag", "duplicate", "perstag")
    fid = state.next_id("field")
    custom = CustomField(
        fid,
        title,
        ftype,
        perstag,
        req.now,
        req.now,
        descript=body.get("descript"),
        defval=None if body.get("defval") is None else as_value_text(body["defval"]),
        isrequired=bool(body.get("isrequired", False)),
        visible=bool(body.get("visible", True)),
        ordernum=int(body.get("ordernum") or fid),
    )
    state.fields[fid] = custom
    state.counters["fields_created"] += 1
    payload = _sideloads(req.ctx, state, [custom])
    payload.update(collection("fields", [render.custom_field(req.ctx, custom)], 1))
    return req.json_response(payload, 201)


def create_field_options(req: ApiRequest) -> Response:
    """SPEC ``POST /fieldOption/bulk`` → 201; a body without an array → the SPEC 422 text."""
    body = req.json()
    options = body.get("fieldOptions") if isinstance(body, dict) else None
    if not isinstance(options, list) or not options:
        raise ApiError(
            422, {"errors": "Bulk operation failed. Request must contain an array of fieldOption objects."}
        )
    state = req.state
    created: list[FieldOption] = []
    for index, spec in enumerate(options):
        field_id = parse_int_id(spec.get("field")) if isinstance(spec, dict) else None
        custom = state.fields.get(field_id) if field_id else None
        if custom is None or not isinstance(spec, dict) or "value" not in spec:
            raise unprocessable("Invalid field option", "field_invalid", f"fieldOptions/{index}")
        oid = state.next_id("fieldOption")
        value = as_value_text(spec["value"])
        option = FieldOption(
            oid,
            custom.id,
            value,
            str(spec.get("label", value)),
            int(spec.get("orderid") or len(custom.option_ids) + 1),
            bool(spec.get("isdefault", False)),
            req.now,
        )
        state.field_options[oid] = option
        custom.option_ids.append(oid)
        created.append(option)
    return req.json_response({"fieldOptions": [render.field_option(req.ctx, o) for o in created]}, 201)


def create_field_rel(req: ApiRequest) -> Response:
    """SPEC ``POST /fieldRels`` → 201 (``relid`` 0 = every list)."""
    body = req.json_object("fieldRel")
    state = req.state
    field_id = parse_int_id(body.get("field"))
    custom = state.fields.get(field_id) if field_id else None
    if custom is None:
        raise no_result("Field", body.get("field"))
    relid = int(str(body.get("relid", 0)))
    if relid and relid not in state.lists:
        raise no_result("_List", relid)
    rel = FieldRel(state.next_id("fieldRel"), custom.id, relid, req.now)
    state.field_rels[rel.id] = rel
    custom.rel_ids.append(rel.id)
    return req.json_response(
        {
            "fieldRel": {
                "relid": relid,
                "field": custom.id,
                "cdate": req.ctx.iso(rel.cdate),
                "links": [],
                "id": str(rel.id),
            }
        },
        201,
    )


# -- field values -------------------------------------------------------------------------


def list_field_values(req: ApiRequest) -> Response:
    """SPEC ``GET /fieldValues`` (``filters[fieldid]``, ``filters[val]``)."""
    limit, offset = page_window(req)
    rows = sorted(req.state.field_values.values(), key=lambda v: v.id)
    fieldid = req.query.get("filters[fieldid]")
    if fieldid:
        rows = [v for v in rows if str(v.field_id) == fieldid.strip()]
    val = req.query.get("filters[val]")
    if val is not None:
        rows = [v for v in rows if v.value == val]
    page = rows[offset : offset + limit]
    return req.json_response(
        collection("fieldValues", [render.field_value(req.ctx, v) for v in page], len(rows))
    )


def _value_or_403(req: ApiRequest) -> FieldValue:
    """Unknown fieldValue ids answer **403** (SPEC ``GET /fieldValues/{id}``)."""
    value = req.state.field_values.get(req.path_id())
    if value is None:
        raise no_result("FieldValue", req.path_params["id"], 403)
    return value


def get_field_value(req: ApiRequest) -> Response:
    """SPEC ``GET /fieldValues/{id}``."""
    return req.json_response({"fieldValue": render.field_value(req.ctx, _value_or_403(req))})


def _write_value(req: ApiRequest, body: dict[str, Any], existing: FieldValue | None) -> Response:
    state = req.state
    for key in ("contact", "field", "value"):
        if key not in body:
            raise field_missing(key)
    contact_id = parse_int_id(body["contact"])
    contact = state.contacts.get(contact_id) if contact_id else None
    if contact is None:
        raise no_result("Subscriber", body["contact"])
    field_id = parse_int_id(body["field"])
    custom = state.fields.get(field_id) if field_id else None
    if custom is None:
        raise no_result("Field", body["field"])
    if existing is not None and (existing.contact_id, existing.field_id) != (contact.id, custom.id):
        raise field_invalid("fieldValue", "contact and field cannot change on an existing field value")
    value = as_value_text(body["value"])
    problem = field_value_problem(state, custom, value)
    if problem and req.assumed("contact_field_value_invalid_refused"):  # refusing it is assumed
        raise field_invalid("value", problem)
    row, changed = state.set_field_value(contact, custom.id, value, req.now)
    contact.counters["field_writes"] += 1
    if changed:
        contact.counters["changes"] += 1
    return req.json_response(
        {
            "contacts": [render.contact(req.ctx, contact)],
            "fieldValue": render.field_value(req.ctx, row, numeric_refs=True),
        }
    )


def create_field_value(req: ApiRequest) -> Response:
    """SPEC ``POST /fieldValues`` → 200; writing an existing contact+field pair overwrites it."""
    return _write_value(req, req.json_object("fieldValue"), None)


def update_field_value(req: ApiRequest) -> Response:
    """SPEC ``PUT /fieldValues/{id}`` → 200."""
    existing = _value_or_403(req)
    return _write_value(req, req.json_object("fieldValue"), existing)


def delete_field_value(req: ApiRequest) -> Response:
    """SPEC ``DELETE /fieldValues/{id}`` → 200 ``{}``; unknown id → 403."""
    req.state.delete_field_value(_value_or_403(req), req.now)
    return req.json_response({})


def routes(emu: Emulator) -> list[BaseRoute]:
    return [
        emu.route("/api/3/fields", list_fields, ["GET"]),
        emu.route("/api/3/fields", create_field, ["POST"]),
        emu.route("/api/3/fields/{id}", get_field, ["GET"]),
        emu.route("/api/3/fieldOption/bulk", create_field_options, ["POST"]),
        emu.route("/api/3/fieldRels", create_field_rel, ["POST"]),
        emu.route("/api/3/fieldValues", list_field_values, ["GET"]),
        emu.route("/api/3/fieldValues", create_field_value, ["POST"]),
        emu.route("/api/3/fieldValues/{id}", get_field_value, ["GET"]),
        emu.route("/api/3/fieldValues/{id}", update_field_value, ["PUT"]),
        emu.route("/api/3/fieldValues/{id}", delete_field_value, ["DELETE"]),
    ]
