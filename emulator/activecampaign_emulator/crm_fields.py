"""Deal and account custom fields: ``/dealCustomFieldMeta``, ``/dealCustomFieldData``,
``/accountCustomFieldMeta``, ``/accountCustomFieldData`` (one implementation, two kinds).

SPEC shapes: meta create/read/update → 200 ``{"<kind>CustomFieldMetum": {...}}``, list
``{"<kind>CustomFieldMeta": [...]}``; data → ``{"<kind>CustomFieldDatum": {...}}``; bulk create
→ 200 ``{"message": "the bulk insert was successful"}``; not found → 404
``{"errors":[{"status":404,"title":"Not Found"}]}``; a value the field type cannot hold → 422
``{"errors":[{"detail":"The custom field value `abc` could not be saved to the custom field of
type `date`."}]}``.  List answers also carry ``meta.total``: *assumed* (not in these examples;
every other v3 list has it), switchable as ``custom_field_meta_total`` (off: no ``meta``, as in
the reference's examples).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute

from activecampaign_emulator.clock import wall
from activecampaign_emulator.contacts import page_window
from activecampaign_emulator.core import ApiRequest, Emulator
from activecampaign_emulator.crm import (
    CRM_FIELD_TYPES,
    CrmBook,
    FieldDatum,
    FieldMeta,
    FieldStore,
    crm_book,
)
from activecampaign_emulator.render import Ctx
from activecampaign_emulator.responses import ApiError, bad_request
from activecampaign_emulator.validation import parse_int_id

_CURRENCY_RE = re.compile(r"^[A-Za-z]{3}$")


def not_found() -> ApiError:
    """SPEC 404 body of every custom-field meta/data operation."""
    return ApiError(404, {"errors": [{"status": 404, "title": "Not Found"}]})


def value_rejected(value: Any, ftype: str) -> ApiError:
    """SPEC ``POST /dealCustomFieldData`` 422 body, verbatim wording."""
    return ApiError(
        422,
        {
            "errors": [
                {
                    "detail": f"The custom field value `{value}` could not be saved to the custom field "
                    f"of type `{ftype}`."
                }
            ]
        },
    )


def _meta_total(req: ApiRequest, total: int) -> dict[str, Any]:
    """``{"meta": {"total": "N"}}`` while the assumed behaviour is on, else nothing (the SPEC shape)."""
    return {"meta": {"total": str(total)}} if req.assumed("custom_field_meta_total") else {}


def value_problem(meta: FieldMeta, value: Any, currency: Any = None) -> bool:
    """True when ``value`` cannot be stored in a field of ``meta.type``."""
    ftype = meta.type
    if value is None:
        return False
    if ftype in ("multiselect", "checkbox"):
        return not isinstance(value, list | str)
    if isinstance(value, list | dict):
        return True
    text = str(value).strip()
    if ftype == "number":
        try:
            float(text)
        except ValueError:
            return True
        return False
    if ftype == "currency":
        if currency is not None and not _CURRENCY_RE.match(str(currency)):
            return True
        return not re.fullmatch(r"-?\d+", text)
    if ftype == "date":
        try:
            date.fromisoformat(text[:10])
        except ValueError:
            return True
        return len(text) not in (10, 19)
    if ftype == "datetime":
        try:
            datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return True
    return False


def stored_value(meta: FieldMeta, value: Any) -> Any:
    """Currency values are integers (cents); numbers keep the caller's text; others pass through."""
    if meta.type == "currency" and value is not None and not isinstance(value, list):
        return int(str(value).strip())
    return value


class FieldKind:
    """Names and shapes of one kind (``deal`` or ``account``)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.meta_plural = f"{kind}CustomFieldMeta"
        self.meta_single = f"{kind}CustomFieldMetum"
        self.data_plural = f"{kind}CustomFieldData"
        self.data_single = f"{kind}CustomFieldDatum"
        self.owner_key = f"{kind}Id"
        #: Account data requests name the owner ``customerAccountId`` in most SPEC examples.
        self.owner_aliases = (self.owner_key, "customerAccountId") if kind == "account" else (self.owner_key,)
        self.owner_filter = "filters[dealId]" if kind == "deal" else "filters[customerAccountId]"

    def render_meta(self, ctx: Ctx, m: FieldMeta, *, full: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": str(m.id),
            "fieldLabel": m.label,
            "fieldType": m.type,
            "fieldOptions": m.options,
            "fieldDefault": m.default,
        }
        if full:
            body["fieldDefaultCurrency"] = m.default_currency
        body["isFormVisible"] = m.is_form_visible
        body["isRequired"] = m.is_required
        body["displayOrder"] = m.display_order
        if full:
            body.update({"personalization": "", "knownFieldId": None, "hideFieldFlag": 0})
        body["createdTimestamp"] = wall(m.cdate, ctx.tz)
        body["updatedTimestamp"] = wall(m.udate, ctx.tz)
        body["links"] = {self.data_plural: ctx.link(f"{self.meta_plural}/{m.id}/{self.data_plural}")}
        return body

    def render_datum(self, ctx: Ctx, d: FieldDatum) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": str(d.id),
            f"{self.kind}CustomFieldMetumId": d.meta_id,
            self.owner_key: d.owner_id,
            "customFieldId": d.meta_id,
            "createdTimestamp": wall(d.cdate, ctx.tz),
            "updatedTimestamp": wall(d.udate, ctx.tz),
            "fieldValue": d.value,
        }
        if d.currency is not None:
            body["fieldCurrency"] = d.currency
        body["links"] = {
            self.kind: ctx.link(f"{self.data_plural}/{d.id}/{self.kind}"),
            self.meta_single: ctx.link(f"{self.data_plural}/{d.id}/{self.meta_single}"),
        }
        return body

    def inline(self, owner_id: int, d: FieldDatum) -> dict[str, Any]:
        """The ``fields`` entries of ``POST/PUT /deals`` and ``/accounts`` answers."""
        body: dict[str, Any] = {"customFieldId": d.meta_id, "fieldValue": d.value}
        if d.currency is not None:
            body["fieldCurrency"] = d.currency
        body[self.owner_key] = str(owner_id)
        return body


def check_inline_fields(book: CrmBook, kind: str, raw: Any) -> list[tuple[FieldMeta, Any, str | None]]:
    """Validate ``fields: [{customFieldId, fieldValue, fieldCurrency?}]`` before anything is written."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise bad_request("fields must be an array of {customFieldId, fieldValue}")
    store = book.fields[kind]
    checked: list[tuple[FieldMeta, Any, str | None]] = []
    for entry in raw:
        if not isinstance(entry, dict) or "customFieldId" not in entry:
            raise bad_request("each entry of fields needs customFieldId and fieldValue")
        meta = store.meta.get(parse_int_id(entry["customFieldId"]) or 0)
        if meta is None:
            raise ApiError(
                422,
                {
                    "errors": [
                        {
                            "title": f"Custom field {entry['customFieldId']} does not exist",
                            "detail": "",
                            "code": "related_missing",
                            "source": {"pointer": "/data/attributes/fields"},
                        }
                    ]
                },
            )
        value = entry.get("fieldValue")
        currency = entry.get("fieldCurrency")
        if value_problem(meta, value, currency):
            raise value_rejected(value, meta.type)
        checked.append((meta, stored_value(meta, value), None if currency is None else str(currency)))
    return checked


def write_inline_fields(
    book: CrmBook, kind: str, owner_id: int, checked: list[tuple[FieldMeta, Any, str | None]], now: float
) -> tuple[list[FieldDatum], bool]:
    """Write values checked by :func:`check_inline_fields`; (rows, anything changed?)."""
    written = []
    changed = False
    for meta, value, currency in checked:
        if currency is None and meta.type == "currency":
            currency = meta.default_currency
        datum, row_changed = book.set_datum(kind, meta, owner_id, value, currency, now)
        written.append(datum)
        changed = changed or row_changed
    return written, changed


def routes_for(emu: Emulator, kind: str) -> list[BaseRoute]:
    book = crm_book(emu)
    names = FieldKind(kind)

    def store_now() -> FieldStore:
        return book.fields[kind]

    def meta_or_404(req: ApiRequest) -> FieldMeta:
        meta = store_now().meta.get(req.path_id())
        if meta is None:
            raise not_found()
        return meta

    def datum_or_404(req: ApiRequest) -> FieldDatum:
        datum = store_now().data.get(req.path_id())
        if datum is None:
            raise not_found()
        return datum

    def list_meta(req: ApiRequest) -> Response:
        limit, offset = page_window(req)
        rows = list(store_now().meta.values())
        page = rows[offset : offset + limit]
        return req.json_response(
            {
                names.meta_plural: [names.render_meta(req.ctx, m, full=True) for m in page],
                **_meta_total(req, len(rows)),
            }
        )

    def create_meta(req: ApiRequest) -> Response:
        body = req.json_object(names.meta_single)
        label = str(body.get("fieldLabel") or "").strip()
        ftype = str(body.get("fieldType") or "").strip()
        if not ftype:
            raise ApiError(
                422, {"errors": [{"title": "The field type field is required.", "detail": "", "code": 422}]}
            )
        if not label:
            raise ApiError(
                422, {"errors": [{"title": "The field label field is required.", "detail": "", "code": 422}]}
            )
        if ftype not in CRM_FIELD_TYPES:
            raise ApiError(
                422, {"errors": [{"title": f"The field type {ftype} is invalid.", "detail": "", "code": 422}]}
            )
        options = body.get("fieldOptions")
        mid = book.next_id(f"{kind}CustomFieldMetum")
        meta = FieldMeta(
            mid,
            label,
            ftype,
            req.now,
            req.now,
            options=None if options is None else [str(o) for o in options],
            default=body.get("fieldDefault"),
            default_currency=body.get("fieldDefaultCurrency"),
            is_form_visible=int(bool(body.get("isFormVisible", 1))),
            is_required=int(bool(body.get("isRequired", 0))),
            display_order=int(body.get("displayOrder", len(store_now().meta) + 1)),
        )
        store_now().meta[mid] = meta
        book.count(f"{kind}_fields_created")
        return req.json_response({names.meta_single: names.render_meta(req.ctx, meta)})

    def get_meta(req: ApiRequest) -> Response:
        return req.json_response({names.meta_single: names.render_meta(req.ctx, meta_or_404(req))})

    def update_meta(req: ApiRequest) -> Response:
        meta = meta_or_404(req)
        body = req.json_object(names.meta_single)
        if "fieldLabel" in body:
            meta.label = str(body["fieldLabel"])
        if "fieldOptions" in body:
            meta.options = None if body["fieldOptions"] is None else [str(o) for o in body["fieldOptions"]]
        if "fieldDefault" in body:
            meta.default = body["fieldDefault"]
        if "isFormVisible" in body:
            meta.is_form_visible = int(bool(body["isFormVisible"]))
        if "displayOrder" in body:
            meta.display_order = int(body["displayOrder"])
        meta.udate = req.now
        return req.json_response({names.meta_single: names.render_meta(req.ctx, meta)})

    def delete_meta(req: ApiRequest) -> Response:
        book.delete_meta(kind, meta_or_404(req))
        label = "DealCustomFieldMeta" if kind == "deal" else "AccountCustomFieldMeta"
        return req.json_response({"message": f"{label} deleted."})

    def list_data(req: ApiRequest) -> Response:
        limit, offset = page_window(req)
        owner_raw = req.query.get(names.owner_filter)
        if owner_raw is not None:
            owner_id = parse_int_id(owner_raw) or 0
            fields = book.owner_fields(kind, owner_id) or {}
            rows = [store_now().data[d] for d in sorted(fields.values()) if d in store_now().data]
        else:
            rows = list(store_now().data.values())
        page = rows[offset : offset + limit]
        return req.json_response(
            {
                names.data_plural: [names.render_datum(req.ctx, d) for d in page],
                **_meta_total(req, len(rows)),
            }
        )

    def _create_one(req: ApiRequest, body: dict[str, Any]) -> FieldDatum:
        owner_ref = next((body[k] for k in names.owner_aliases if body.get(k) not in (None, "")), None)
        for name, present in (
            (names.owner_key, owner_ref is not None),
            ("customFieldId", body.get("customFieldId") not in (None, "")),
            ("fieldValue", "fieldValue" in body),
        ):
            if not present:
                raise ApiError(
                    422,
                    {
                        "errors": [
                            {"title": f"The {name} field is required.", "detail": "", "code": "field_missing"}
                        ]
                    },
                )
        owner_id = parse_int_id(owner_ref) or 0
        if book.owner_fields(kind, owner_id) is None:
            raise ApiError(
                422,
                {
                    "errors": [
                        {"title": f"No {kind} with id {owner_ref}", "detail": "", "code": "related_missing"}
                    ]
                },
            )
        meta = store_now().meta.get(parse_int_id(body["customFieldId"]) or 0)
        if meta is None:
            raise not_found()
        value, currency = body.get("fieldValue"), body.get("fieldCurrency")
        if value_problem(meta, value, currency):
            raise value_rejected(value, meta.type)
        if (meta.id, owner_id) in store_now().index:
            # UNCERTAIN (not documented): one value per field and record; update it with PUT.
            raise ApiError(
                422,
                {
                    "errors": [
                        {
                            "title": f"A value for custom field {meta.id} already exists for this {kind}",
                            "detail": f"Update {names.data_plural}/{store_now().index[(meta.id, owner_id)]} "
                            "instead.",
                            "code": "duplicate",
                        }
                    ]
                },
            )
        if currency is None and meta.type == "currency":
            currency = meta.default_currency
        datum, _ = book.set_datum(
            kind,
            meta,
            owner_id,
            stored_value(meta, value),
            None if currency is None else str(currency),
            req.now,
        )
        _touch_owner(book, kind, owner_id, req.now)
        book.count(f"{kind}_field_values_created")
        return datum

    def create_datum(req: ApiRequest) -> Response:
        datum = _create_one(req, req.json_object(names.data_single))
        return req.json_response({names.data_single: names.render_datum(req.ctx, datum)})

    def bulk_create(req: ApiRequest) -> Response:
        items = req.json()
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise bad_request("bulkCreate takes a JSON array of field values")
        for item in items:
            _create_one(req, item)
        return req.json_response({"message": "the bulk insert was successful"})

    def get_datum(req: ApiRequest) -> Response:
        return req.json_response({names.data_single: names.render_datum(req.ctx, datum_or_404(req))})

    def _update(req: ApiRequest, datum: FieldDatum, body: dict[str, Any]) -> None:
        meta = store_now().meta[datum.meta_id]
        value = body.get("fieldValue", datum.value)
        currency = body.get("fieldCurrency")
        if value_problem(meta, value, currency):
            raise value_rejected(value, meta.type)
        _, changed = book.set_datum(
            kind,
            meta,
            datum.owner_id,
            stored_value(meta, value),
            None if currency is None else str(currency),
            req.now,
        )
        if changed:
            _touch_owner(book, kind, datum.owner_id, req.now)

    def update_datum(req: ApiRequest) -> Response:
        datum = datum_or_404(req)
        _update(req, datum, req.json_object(names.data_single))
        return req.json_response({names.data_single: names.render_datum(req.ctx, datum)})

    def bulk_update(req: ApiRequest) -> Response:
        items = req.json()
        if not isinstance(items, list) or not all(isinstance(i, dict) and "id" in i for i in items):
            raise bad_request("bulkUpdate takes a JSON array of {id, fieldValue}")
        rows = []
        for item in items:
            datum = store_now().data.get(parse_int_id(item["id"]) or 0)
            if datum is None:
                raise not_found()
            rows.append((datum, item))
        for datum, item in rows:
            _update(req, datum, item)
        label = "DealCustomFieldDatas" if kind == "deal" else "AccountCustomFieldDatas"
        ids = ", ".join(str(d.id) for d, _ in rows)
        return req.json_response({"message": f"{label} with ID(s): {ids} successfully bulk updated."})

    def delete_datum(req: ApiRequest) -> Response:
        datum = datum_or_404(req)
        book.delete_datum(kind, datum)
        _touch_owner(book, kind, datum.owner_id, req.now)
        label = "DealCustomFieldData" if kind == "deal" else "AccountCustomFieldData"
        return req.json_response({"message": f"{label} deleted."})

    def owner_data(req: ApiRequest) -> Response:
        """``GET /deals/{id}/dealCustomFieldData`` (the deal's ``links`` entry)."""
        fields = book.owner_fields(kind, req.path_id())
        if fields is None:
            raise not_found()
        rows = [store_now().data[d] for d in sorted(fields.values()) if d in store_now().data]
        return req.json_response(
            {
                names.data_plural: [names.render_datum(req.ctx, d) for d in rows],
                "meta": {"total": str(len(rows))},
            }
        )

    meta_path = f"/api/3/{names.meta_plural}"
    data_path = f"/api/3/{names.data_plural}"
    owner_path = (
        "/api/3/deals/{id}/dealCustomFieldData"
        if kind == "deal"
        else "/api/3/accounts/{id}/accountCustomFieldData"
    )
    handlers: list[tuple[str, Callable[[ApiRequest], Response], str]] = [
        (meta_path, list_meta, "GET"),
        (meta_path, create_meta, "POST"),
        (meta_path + "/{id}", get_meta, "GET"),
        (meta_path + "/{id}", update_meta, "PUT"),
        (meta_path + "/{id}", delete_meta, "DELETE"),
        (data_path, list_data, "GET"),
        (data_path, create_datum, "POST"),
        (data_path + "/bulkCreate", bulk_create, "POST"),
        (data_path + "/bulkUpdate", bulk_update, "PATCH"),
        (data_path + "/{id}", get_datum, "GET"),
        (data_path + "/{id}", update_datum, "PUT"),
        (data_path + "/{id}", delete_datum, "DELETE"),
        (owner_path, owner_data, "GET"),
    ]
    return [book.route(path, handler, [method]) for path, handler, method in handlers]


def _touch_owner(book: CrmBook, kind: str, owner_id: int, now: float) -> None:
    """A field value write is a change of its deal (``mdate``) or account (``updatedTimestamp``)."""
    if kind == "deal":
        deal = book.deals.get(owner_id)
        if deal is not None:
            book.touch_deal(deal, now)
    else:
        account = book.accounts.get(owner_id)
        if account is not None:
            account.udate = now


def routes(emu: Emulator) -> list[BaseRoute]:
    return routes_for(emu, "deal") + routes_for(emu, "account")
