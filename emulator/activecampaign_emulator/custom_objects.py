"""Custom objects: schemas and their records (SPEC ``/customObjects/*``).

Documented calls emulated, each shaped as the reference's example:

* ``GET /customObjects/schemas`` (``limit`` <= 100, ``offset``), ``GET /customObjects/schemas/{id}``,
  ``POST /customObjects/schemas`` (201; the two documented 422s: fields without labels, a slug in
  use). Schema ids are UUIDs.
* ``POST /customObjects/records/{schemaId}`` — "Create or Update Record": a record whose
  ``externalId`` exists in the schema is updated in place (same id), answering 200: *assumed*
  (the reference shows only the create's 201), switch ``custom_object_record_update_200`` (off:
  201). A field id the schema lacks is the documented 422 ``Invalid value for field``; a value of
  the wrong type, or no ``externalId``, is a 422 of the same shape (*assumed* wording). An unknown
  schema is 404 ``{"message": "Not Found"}``.
* ``GET /customObjects/records/{schemaId}`` (``limit`` <= 100, ``offset``; in creation order:
  *assumed*, the reference declares no order, switch ``custom_object_records_creation_order``
  (off: newest first); ``filters[relationships.<id>][eq]`` as the reference's parameter describes it;
  ``filters[externalId][eq]`` *assumed*, switch ``custom_object_records_external_id_filter``
  (off: ignored, every record listed)), ``GET .../{recordId}``, ``DELETE .../{recordId}`` and
  ``DELETE .../external/{externalId}`` (202 with an empty body, as the reference's examples; an
  unknown record is 404 ``Not Found``: *assumed*, the reference shows only a 400).

Switches live in :mod:`activecampaign_emulator.assumed`; docs/emulator.md lists each behaviour's
source.

List ``meta`` carries ``total``, ``count``, ``limit`` and ``offset`` as **numbers**, as the
reference's examples print them (unlike the rest of v3, where ``meta.total`` is a string).
Timestamps are RFC 3339 UTC with nanoseconds (``2021-04-16T16:12:22.222685095Z``), as in the examples.

Seed key ``custom_objects``: ``[{"slug", "labels", "fields", "relationships", "records": [...]}]``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute

from activecampaign_emulator.core import ApiRequest, BaseExtension, Emulator
from activecampaign_emulator.responses import JSON_MEDIA_TYPE, ApiError, bad_request
from activecampaign_emulator.seed import SeedError

MAX_LIMIT = 100
#: SPEC ``GET /customObjects/records/{schemaId}``: ``?filters[relationships.{relationship}][eq]={id}``.
_RELATIONSHIP_FILTER = re.compile(r"filters\[relationships\.([^\]]+)\]\[eq\]")
_NUMBER_TYPES = {"number", "currency"}


def _stamp(now: float) -> str:
    """The reference's timestamp spelling: UTC, nanoseconds, ``Z``."""
    moment = datetime.fromtimestamp(now, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}000Z"


def _not_found() -> ApiError:
    return ApiError(404, {"message": "Not Found"})


def _invalid(name: str, detail: str, *, pointer: str | None = None) -> ApiError:
    """SPEC's 422 shape; the pointer is ``/data/attributes/<name>`` unless given."""
    return ApiError(
        422,
        {
            "errors": [
                {
                    "title": f'Invalid value for field "{name}"',
                    "detail": detail,
                    "source": {"type": "pointer", "value": pointer or f"/data/attributes/{name}"},
                }
            ]
        },
    )


@dataclass
class Schema:
    body: dict[str, Any]
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> record, creation order
    by_external: dict[str, str] = field(default_factory=dict)  # externalId -> id

    @property
    def field_types(self) -> dict[str, str]:
        return {str(f["id"]): str(f.get("type", "text")) for f in self.body.get("fields", [])}


class CustomObjects(BaseExtension):
    """Every schema and record; dropped on reset."""

    seed_keys = frozenset({"custom_objects"})

    def __init__(self) -> None:
        self.schemas: dict[str, Schema] = {}
        #: Record writes by (schema slug, externalId): how often each was sent (tests read it).
        self.writes: dict[str, int] = {}

    def reset(self, emu: Emulator, seed: Mapping[str, Any]) -> None:
        self.schemas = {}
        self.writes = {}
        self.merge_seed(emu, seed)

    def merge_seed(self, emu: Emulator, seed: Mapping[str, Any]) -> None:
        items = seed.get("custom_objects") or []
        if not isinstance(items, list):
            raise SeedError("custom_objects must be a list of schemas")
        now = emu.now()
        for item in items:
            if not isinstance(item, Mapping) or not item.get("slug"):
                raise SeedError("custom_objects: every schema needs a slug")
            records = list(item.get("records") or [])
            body = {k: v for k, v in item.items() if k != "records"}
            schema = self.create_schema(body, now)
            for record in records:
                self.upsert(schema, dict(record), now)

    def snapshot(self, emu: Emulator) -> dict[str, Any]:
        return {
            "custom_objects": {
                schema.body["slug"]: list(schema.records.values()) for schema in self.schemas.values()
            },
            "custom_object_writes": dict(self.writes),
        }

    def create_schema(self, body: Mapping[str, Any], now: float) -> Schema:
        slug = str(body.get("slug") or "")
        if any(s.body["slug"] == slug for s in self.schemas.values()):
            raise _invalid(
                "schema.slug", "Schema slug must be unique", pointer="/data/attributes/schema/slug"
            )
        for spec in body.get("fields") or []:
            if not isinstance(spec, Mapping) or not spec.get("labels"):
                raise _invalid(
                    "schema.fields.labels",
                    "Schema fields must provide labels",
                    pointer="/data/attributes/schema/fields/labels",
                )
        stamp = _stamp(now)
        schema_body = {
            "id": str(uuid.uuid4()),
            "slug": slug,
            "visibility": body.get("visibility", "private"),
            "labels": body.get("labels") or {"singular": slug, "plural": slug},
            "description": body.get("description", ""),
            "createdTimestamp": stamp,
            "updatedTimestamp": stamp,
            "fields": [dict(f) for f in body.get("fields") or []],
            "icons": {"default": "https://d226aj4ao1t61q.cloudfront.net/n9mayqo2d_customobject.png"},
            "relationships": [dict(r) for r in body.get("relationships") or []],
        }
        schema = Schema(schema_body)
        self.schemas[schema_body["id"]] = schema
        return schema

    def upsert(self, schema: Schema, body: dict[str, Any], now: float) -> tuple[dict[str, Any], bool]:
        """Create or update by ``externalId``; returns (record, created)."""
        types = schema.field_types
        values = body.get("fields") or []
        if not isinstance(values, list):
            raise _invalid("record.fields", "fields must be a list of {id, value}")
        for item in values:
            name = str(item.get("id")) if isinstance(item, Mapping) else ""
            if name not in types:
                raise _invalid(
                    name or "record.fields",
                    f"{name} cannot accept a value that is not defined in the schema.",
                )
            value = item.get("value")
            if (
                types[name] in _NUMBER_TYPES
                and value is not None
                and (isinstance(value, bool) or not isinstance(value, int | float))
            ):
                raise _invalid(name, f"{name} must be a number.")
        external = str(body.get("externalId") or body.get("id") or "")
        if not external:
            raise _invalid("record.externalId", "A record needs an externalId.")
        counted = f"{schema.body['slug']}:{external}"
        self.writes[counted] = self.writes.get(counted, 0) + 1
        stamp = _stamp(now)
        relationships = {
            str(k): [str(v) for v in (vs if isinstance(vs, list) else [vs])]
            for k, vs in dict(body.get("relationships") or {}).items()
        }
        known = schema.by_external.get(external)
        if known is not None:
            record = schema.records[known]
            record["fields"] = [dict(v) for v in values]
            record["relationships"] = relationships
            record["updatedTimestamp"] = stamp
            return record, False
        record = {
            "id": str(uuid.uuid4()),
            "externalId": external,
            "schemaId": schema.body["id"],
            "fields": [dict(v) for v in values],
            "relationships": relationships,
            "createdTimestamp": stamp,
            "updatedTimestamp": stamp,
        }
        schema.records[record["id"]] = record
        schema.by_external[external] = record["id"]
        return record, True


def custom_objects_of(emu: Emulator) -> CustomObjects:
    for extension in emu.extensions:
        if isinstance(extension, CustomObjects):
            return extension
    book = CustomObjects()
    emu.add_extension(book)
    return book


def _window(req: ApiRequest) -> tuple[int, int]:
    try:
        limit = int(req.query.get("limit", "20"))
        offset = int(req.query.get("offset", "0"))
    except ValueError as exc:
        raise bad_request("limit and offset must be integers") from exc
    return max(1, min(limit, MAX_LIMIT)), max(0, offset)


def _accepted() -> Response:
    """SPEC's answer to both record deletes: 202 with an empty body."""
    return Response(b"", status_code=202, media_type=JSON_MEDIA_TYPE)


def _meta(total: int, count: int, limit: int, offset: int) -> dict[str, int]:
    return {"total": total, "count": count, "limit": limit, "offset": offset}


def routes(emu: Emulator) -> list[BaseRoute]:
    book = custom_objects_of(emu)

    def schema_of(req: ApiRequest, key: str) -> Schema:
        schema = book.schemas.get(str(req.request.path_params[key]))
        if schema is None:
            raise _not_found()
        return schema

    def list_schemas(req: ApiRequest) -> Response:
        limit, offset = _window(req)
        rows = [s.body for s in book.schemas.values()]
        page = rows[offset : offset + limit]
        return req.json_response({"schemas": page, "meta": _meta(len(rows), len(page), limit, offset)})

    def get_schema(req: ApiRequest) -> Response:
        return req.json_response({"schema": schema_of(req, "id").body})

    def create_schema(req: ApiRequest) -> Response:
        body = req.json_object("schema")
        return req.json_response({"schema": book.create_schema(body, req.now).body}, status=201)

    def list_records(req: ApiRequest) -> Response:
        schema = schema_of(req, "schemaId")
        limit, offset = _window(req)
        rows = list(schema.records.values())
        for key, wanted in req.query.items():
            related = _RELATIONSHIP_FILTER.fullmatch(key)
            if related is not None:  # SPEC: filters[relationships.{relationship}][eq]={id}
                rows = [r for r in rows if wanted in r["relationships"].get(related.group(1), [])]
        external = req.query.get("filters[externalId][eq]")
        if external is not None and req.assumed("custom_object_records_external_id_filter"):
            rows = [r for r in rows if r["externalId"] == external]
        if len(rows) > 1 and not req.assumed("custom_object_records_creation_order"):
            rows.reverse()  # the reference declares no order; off, the other plausible one: newest first
        page = rows[offset : offset + limit]
        return req.json_response({"records": page, "meta": _meta(len(rows), len(page), limit, offset)})

    def upsert_record(req: ApiRequest) -> Response:
        schema = schema_of(req, "schemaId")
        body = req.json_object("record")
        record, created = book.upsert(schema, dict(body), req.now)
        # SPEC's create answer echoes the relationship ids as sent ({"account": [123]}); reads
        # show them as strings ({"primary-contact": ["14"]}).
        sent = {
            str(k): list(vs) if isinstance(vs, list) else [vs]
            for k, vs in dict(body.get("relationships") or {}).items()
        }
        status = 201 if created or not req.assumed("custom_object_record_update_200") else 200
        return req.json_response({"record": {**record, "relationships": sent}}, status=status)

    def get_record(req: ApiRequest) -> Response:
        schema = schema_of(req, "schemaId")
        record = schema.records.get(str(req.request.path_params["recordId"]))
        if record is None:
            raise _not_found()
        return req.json_response({"record": record})

    def delete_record(req: ApiRequest) -> Response:
        schema = schema_of(req, "schemaId")
        record = schema.records.pop(str(req.request.path_params["recordId"]), None)
        if record is None:
            raise _not_found()
        schema.by_external.pop(record["externalId"], None)
        return _accepted()

    def delete_external(req: ApiRequest) -> Response:
        schema = schema_of(req, "schemaId")
        known = schema.by_external.pop(str(req.request.path_params["externalId"]), None)
        if known is None:
            raise _not_found()
        schema.records.pop(known, None)
        return _accepted()

    return [
        emu.route("/api/3/customObjects/schemas", list_schemas, ["GET"]),
        emu.route("/api/3/customObjects/schemas", create_schema, ["POST"]),
        emu.route("/api/3/customObjects/schemas/{id}", get_schema, ["GET"]),
        emu.route("/api/3/customObjects/records/{schemaId}", list_records, ["GET"]),
        emu.route("/api/3/customObjects/records/{schemaId}", upsert_record, ["POST"]),
        emu.route("/api/3/customObjects/records/{schemaId}/{recordId}", get_record, ["GET"]),
        emu.route("/api/3/customObjects/records/{schemaId}/{recordId}", delete_record, ["DELETE"]),
        emu.route(
            "/api/3/customObjects/records/{schemaId}/external/{externalId}", delete_external, ["DELETE"]
        ),
    ]
