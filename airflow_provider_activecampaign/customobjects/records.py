"""Custom-object records upserted from a warehouse by external id, fields by name, never twice.

ActiveCampaign's ``POST /customObjects/records/{schemaId}`` creates or updates the record whose
``externalId`` matches (SPEC "Create or Update Record"), so a write repeated with the same body
leaves the same record. The writer still does three things a plain loop would not:

* it reads the schema once (by slug, label or id) and refuses columns that are not its fields, by
  their id or label, before anything is written; values are checked against the field's type per
  record (a number field takes numbers, a date field dates; NaN, Infinity and objects are refused);
* it reads the schema's records once (``GET /customObjects/records/{schemaId}``, 100 per request)
  and sends only records that are new or differ, so a re-run writes nothing;
* every write goes through the write journal (``records/journal.py``): a try killed after the
  server applied a write finds it by reading back, and a write whose answer was lost is settled
  before it is sent again (a resend is harmless here, but the report must say how often it went).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from airflow_provider_activecampaign.hooks.activecampaign import PAGE_SIZE, ActiveCampaignHook
from airflow_provider_activecampaign.records.journal import Intent, WriteJournal, send_once
from airflow_provider_activecampaign.records.upsert import RecordRejected, UpsertTally, empty

log = logging.getLogger(__name__)

#: The journal's name for custom-object record writes.
WRITER = "custom_object_records"
#: Field types whose values are numbers (SPEC schema field types).
NUMBER_TYPES = frozenset({"number", "currency"})
DATE_TYPES = frozenset({"date"})
DATETIME_TYPES = frozenset({"datetime"})
MULTI_TYPES = frozenset({"multiselect"})


def _fingerprint(fields: list[dict[str, Any]], relationships: Mapping[str, list[str]]) -> str:
    body = {
        "fields": sorted((str(f["id"]), json.dumps(f.get("value"), sort_keys=True)) for f in fields),
        "relationships": {k: sorted(str(v) for v in vs) for k, vs in sorted(relationships.items())},
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


class CustomObjectUpserter:
    """One run's custom-object record writes, for one schema.

    :param schema: The schema's slug, singular or plural label, or id.
    :param external_id_column: The source column holding each record's external id.
    :param relationship_columns: ``{"source column": "relationship id"}``; the column holds the
        related object ids (a list, or a string split on ``,``/``;``).
    """

    def __init__(
        self,
        hook: ActiveCampaignHook,
        schema: str,
        *,
        external_id_column: str = "external_id",
        relationship_columns: Mapping[str, str] | None = None,
        journal: WriteJournal,
        deadline_seconds: float,
        logger: Any = None,
    ) -> None:
        self.hook = hook
        self.schema_name = str(schema).strip()
        self.external_id_column = external_id_column
        self.relationship_columns = dict(relationship_columns or {})
        self.journal = journal
        self.deadline_seconds = deadline_seconds
        self.log = logger or log
        self.tally = UpsertTally()
        self.schema_id = ""
        self._types: dict[str, str] = {}  # field id -> type
        self._columns: dict[str, str] = {}  # source column -> field id
        self._known: dict[str, str] = {}  # external id -> fingerprint of what is stored
        #: Set once a read-back's answer shows ``filters[externalId][eq]`` was ignored (warned once).
        self._filter_ignored = False

    # -- once per run --------------------------------------------------------------------------------

    def prepare(self, columns: list[str]) -> None:
        """Find the schema, map every column to a field, read what is stored (refuses before writing)."""
        schema = self._find_schema()
        self.schema_id = str(schema["id"])
        by_name: dict[str, str] = {}
        for spec in schema.get("fields") or []:
            ident = str(spec["id"])
            self._types[ident] = str(spec.get("type", "text"))
            by_name[ident.lower()] = ident
            for label in (spec.get("labels") or {}).values():
                by_name.setdefault(str(label).strip().lower(), ident)
        relationships = {str(r.get("id")) for r in schema.get("relationships") or []}
        unknown_relationships = sorted(set(self.relationship_columns.values()) - relationships)
        if unknown_relationships:
            raise ValueError(
                f"Custom object {self.schema_name!r} has no relationship {', '.join(unknown_relationships)}; "
                f"it has: {', '.join(sorted(relationships)) or 'none'}."
            )
        unknown: list[str] = []
        for column in columns:
            if column == self.external_id_column or column in self.relationship_columns:
                continue
            found = by_name.get(column.strip().lower())
            if found is None:
                unknown.append(column)
            else:
                self._columns[column] = found
        if self.external_id_column not in columns:
            raise ValueError(
                f"The source has no {self.external_id_column!r} column: every custom-object record needs "
                "an external id (set external_id_column to the column that holds it)."
            )
        if unknown:
            fields = ", ".join(f"{ident} ({self._types[ident]})" for ident in sorted(self._types))
            raise ValueError(
                f"Columns {', '.join(map(repr, unknown))} are not fields of custom object "
                f"{self.schema_name!r} (by id or label). Its fields: {fields}. "
                "Map or drop them with field_map."
            )
        for record in self.hook.paginate(f"customObjects/records/{self.schema_id}", key="records"):
            self._known[str(record.get("externalId"))] = _fingerprint(
                list(record.get("fields") or []), dict(record.get("relationships") or {})
            )
        self.log.info(
            "Custom object %r (schema %s): %d fields, %d records stored.",
            self.schema_name,
            self.schema_id,
            len(self._types),
            len(self._known),
        )

    def _find_schema(self) -> dict[str, Any]:
        wanted = self.schema_name.lower()
        seen: list[str] = []
        for schema in self.hook.paginate("customObjects/schemas", key="schemas"):
            labels = [str(v).lower() for v in (schema.get("labels") or {}).values()]
            if wanted in (str(schema.get("id")).lower(), str(schema.get("slug")).lower(), *labels):
                return dict(schema)
            seen.append(str(schema.get("slug")))
        raise ValueError(
            f"No custom object schema {self.schema_name!r} (by slug, label or id). "
            f"The account has: {', '.join(seen) or 'none'}."
        )

    # -- per record ----------------------------------------------------------------------------------

    def upsert(self, record: dict[str, Any]) -> str:
        """Write one record if it is new or differs; returns ``created``, ``updated`` or ``unchanged``."""
        external = record.get(self.external_id_column)
        if empty(external) or isinstance(external, dict | list | float):
            raise RecordRejected(self.external_id_column, "needs an external id (a string or an integer)")
        external_id = str(external).strip()
        fields = [
            {"id": ident, "value": self._value(column, ident, record.get(column))}
            for column, ident in self._columns.items()
            if column in record
        ]
        relationships = {
            target: _ids(column, record.get(column))
            for column, target in self.relationship_columns.items()
            if not empty(record.get(column))
        }
        fingerprint = _fingerprint(fields, relationships)
        stored = self._known.get(external_id)
        if stored == fingerprint:
            self.tally.unchanged += 1
            return "unchanged"
        body = {"record": {"externalId": external_id, "fields": fields, "relationships": relationships}}

        def read_back(_intent: Intent) -> str | None:
            found = self._stored(external_id)
            return external_id if found == fingerprint else None

        sent = send_once(
            self.journal,
            WRITER,
            f"{self.schema_id}:{external_id}",
            body,
            lambda: self.hook.post(f"customObjects/records/{self.schema_id}", json=body),
            read_back=read_back,
            deadline_seconds=self.deadline_seconds,
            what=f"POST /customObjects/records for {external_id!r}",
            ref_of=lambda answer: (answer or {}).get("record", {}).get("id"),
        )
        if sent.recovered:
            self.tally.recovered += 1
        self._known[external_id] = fingerprint
        if stored is None:
            self.tally.created += 1
            return "created"
        self.tally.updated += 1
        return "updated"

    def _stored(self, external_id: str) -> str | None:
        """What the account holds for one external id now (a read-back), as a fingerprint.

        The reference documents this list's filters only by an example for relationships
        (``filters[relationships.<id>][eq]``); ``filters[externalId][eq]`` is not in it. So the
        answer is never trusted to be filtered: the record is picked by its ``externalId``, and a
        first page holding *other* external ids (the filter was ignored) is followed by every
        other page of the schema, so a record beyond the first 100 is still found. With the filter
        honoured this costs one request; ignored, one per 100 records, only for read-backs (lost
        answers and earlier tries' open writes), never per record written.
        """
        endpoint = f"customObjects/records/{self.schema_id}"
        first = self.hook.get(endpoint, params={"filters[externalId][eq]": external_id, "limit": PAGE_SIZE})
        records = list((first or {}).get("records") or [])
        found = _by_external_id(records, external_id)
        if found is not None or all(str(r.get("externalId")) == external_id for r in records):
            return found  # filtered as asked (or nothing at all): the first answer is the whole answer
        if not self._filter_ignored:
            self._filter_ignored = True
            self.log.warning(
                "GET /customObjects/records/%s ignored filters[externalId][eq] (its answer held other "
                "external ids): read-backs page through the schema's records instead.",
                self.schema_id,
            )
        if not _more_after(first, len(records)):
            return None
        rest = self.hook.paginate(endpoint, key="records", params={"offset": len(records)})
        return _by_external_id(rest, external_id)

    def _value(self, column: str, ident: str, value: Any) -> Any:
        kind = self._types[ident]
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, dict):
            raise RecordRejected(column, f"an object cannot be the value of {kind} field {ident!r}")
        if kind in NUMBER_TYPES:
            number = _number(column, value)
            return int(number) if float(number).is_integer() and not isinstance(value, float) else number
        if kind in MULTI_TYPES:
            items = value if isinstance(value, list) else [part.strip() for part in str(value).split(",")]
            return [str(item) for item in items if str(item).strip()]
        if isinstance(value, list):
            raise RecordRejected(column, f"a list cannot be the value of {kind} field {ident!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise RecordRejected(column, f"{value!r} is not a value ActiveCampaign can store")
        if kind in DATE_TYPES:
            return _date(column, value).isoformat()
        if kind in DATETIME_TYPES:
            return _datetime(column, value).isoformat()
        if isinstance(value, bool):
            return value
        return str(value)


def _by_external_id(records: Iterable[Mapping[str, Any]], external_id: str) -> str | None:
    """The fingerprint of the first record whose ``externalId`` is ``external_id`` (reads no further)."""
    for record in records:
        if str(record.get("externalId")) == external_id:
            return _fingerprint(list(record.get("fields") or []), dict(record.get("relationships") or {}))
    return None


def _more_after(answer: Any, count: int) -> bool:
    """Whether a list holds records beyond the ``count`` its first page gave (SPEC ``meta.total``).

    Without a readable ``meta.total``, a full page means there may be more.
    """
    total = (answer.get("meta") or {}).get("total") if isinstance(answer, Mapping) else None
    try:
        return int(str(total)) > count
    except ValueError:  # no total (None), or not a number
        return count >= PAGE_SIZE


def _number(column: str, value: Any) -> float | int:
    if isinstance(value, bool):
        raise RecordRejected(column, "a boolean is not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RecordRejected(column, f"{str(value)[:80]!r} is not a number") from None
    if not math.isfinite(number):
        raise RecordRejected(column, f"{value!r} is not a number ActiveCampaign can store")
    return int(value) if isinstance(value, int) else number


def _date(column: str, value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise RecordRejected(column, f"{str(value)[:80]!r} is not a date (YYYY-MM-DD)") from None


def _datetime(column: str, value: Any) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise RecordRejected(column, f"{str(value)[:80]!r} is not an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # naive times are UTC, as for every other writer
    return moment


def _ids(column: str, value: Any) -> list[str]:
    items = value if isinstance(value, list | tuple) else str(value).replace(";", ",").split(",")
    ids = [str(item).strip() for item in items if str(item).strip()]
    bad = [item for item in ids if not item.isdigit()]
    if bad:
        raise RecordRejected(column, f"related ids must be numbers, got {', '.join(map(repr, bad[:3]))}")
    return ids


__all__ = ["WRITER", "CustomObjectUpserter"]
