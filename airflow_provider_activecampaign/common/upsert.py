"""What the deal and account upserts share: names to ids, per-record rejections, the tally.

A run resolves names (pipelines, stages, users, accounts) from collections it reads once; a name
that matches nothing, or more than one object, rejects its record (row, field, what exists) and
the other records still go.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from airflow_provider_activecampaign.common.customfields import FieldValueError
from airflow_provider_activecampaign.contacts.emails import InvalidEmailError, check_email, email_key
from airflow_provider_activecampaign.records.journal import WriteUnknown


class RecordRejected(ValueError):
    """A record that cannot be written as it is; ``field`` names the column at fault."""

    def __init__(self, field: str | None, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)

    @classmethod
    def from_field_error(cls, error: FieldValueError) -> RecordRejected:
        return cls(error.field, error.reason)


class NameIndex:
    """Objects of one collection by id and by name (exact, case-insensitive, on any of ``name_fields``)."""

    def __init__(self, objects: Iterable[Mapping[str, Any]], name_fields: Sequence[str], kind: str) -> None:
        self.kind = kind
        self.name_fields = tuple(name_fields)
        self.objects = [dict(obj) for obj in objects]
        self.by_id = {str(obj.get("id")): obj for obj in self.objects}
        self.by_name: dict[str, list[dict[str, Any]]] = {}
        for obj in self.objects:
            self._index(obj)

    def _index(self, obj: dict[str, Any]) -> None:
        for name_field in self.name_fields:
            name = obj.get(name_field)
            if name not in (None, ""):
                bucket = self.by_name.setdefault(str(name).strip().lower(), [])
                if all(other.get("id") != obj.get("id") for other in bucket):
                    bucket.append(obj)

    def add(self, obj: Mapping[str, Any]) -> None:
        """Remember an object this run created (so a later record finds it by name)."""
        item = dict(obj)
        self.objects.append(item)
        self.by_id[str(item.get("id"))] = item
        self._index(item)

    def find(self, name: Any) -> dict[str, Any] | None:
        """The one object named (or with id) ``name``; ``None`` if none; ambiguous names raise."""
        text = str(name).strip()
        matches = self.by_name.get(text.lower(), [])
        if len(matches) > 1:
            shown = ", ".join(f"{m.get(self.name_fields[0])!r} (id {m.get('id')})" for m in matches[:10])
            raise RecordRejected(self.kind, f"{text!r} is ambiguous: {shown}; give the id instead")
        if matches:
            return matches[0]
        return self.by_id.get(text)

    def get(self, name: Any) -> dict[str, Any]:
        """Like :meth:`find`, but an unknown name is a rejection listing what exists."""
        found = self.find(name)
        if found is None:
            existing = sorted({str(obj.get(self.name_fields[0])) for obj in self.objects})
            shown = ", ".join(repr(n) for n in existing[:20]) or "none"
            more = f" and {len(existing) - 20} more" if len(existing) > 20 else ""
            raise RecordRejected(self.kind, f"no {self.kind} {str(name).strip()!r}; existing: {shown}{more}")
        return found


def names(value: Any, separator: str = ",") -> list[str]:
    """A list of names from a list, one value, or a ``separator``-separated string."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(separator) if part.strip()]
    if isinstance(value, list | tuple | set):
        return [str(item).strip() for item in value if str(item).strip()]
    return [str(value).strip()]


def empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


@dataclass
class UpsertTally:
    """How a run's records ended: written (created / updated), already right, refused, failed."""

    records: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    failed: int = 0
    #: Creates that failed ambiguously and were found by a read-back (applied once, not resent).
    recovered: int = 0
    #: Sent, may have been applied, not settled yet: not sent again in this try (see the journal).
    unknown: int = 0

    def to_json(self) -> dict[str, int]:
        return asdict(self)


class ContactLookup:
    """Contact ids by email (``GET /contacts?email=``), each address asked once per run.

    An email that resolves to no contact is not found: never a fuzzy match, never created here.
    """

    def __init__(self, hook: Any) -> None:
        self.hook = hook
        self._ids: dict[str, str | None] = {}
        self.requests = 0

    def find(self, email: Any, field: str = "contact") -> str | None:
        try:
            address = check_email(str(email))
        except InvalidEmailError as error:
            raise RecordRejected(field, error.problem if error.address else str(error)) from None
        key = email_key(address)
        if key not in self._ids:
            self.requests += 1
            contact = self.hook.get_contact_by_email(address)
            self._ids[key] = str(contact["id"]) if contact else None
        return self._ids[key]

    def get(self, email: Any, field: str = "contact") -> str:
        found = self.find(email, field)
        if found is None:
            raise RecordRejected(
                field, f"no contact with the email {str(email).strip()!r}; sync the contact first"
            )
        return found


def map_columns(record: Mapping[str, Any], field_map: Mapping[str, str | None] | None) -> dict[str, Any]:
    """``record`` with its columns renamed by ``field_map`` (a column mapped to ``None`` is dropped)."""
    if not field_map:
        return dict(record)
    mapped: dict[str, Any] = {}
    for column, value in record.items():
        target = field_map.get(column, column)
        if target is not None:
            mapped[str(target)] = value
    return mapped


def mapped_columns(columns: Iterable[str], field_map: Mapping[str, str | None] | None) -> list[str]:
    if not field_map:
        return list(columns)
    out = [field_map.get(column, column) for column in columns]
    return [str(column) for column in out if column is not None]


def run_records(
    source: Iterable[tuple[int, Any]],
    write: Callable[[dict[str, Any]], Any],
    failures: Any,
    tally: UpsertTally,
    *,
    field_map: Mapping[str, str | None] | None = None,
    identify: Callable[[Mapping[str, Any]], dict[str, Any]] = lambda record: {},
    refused: tuple[type[BaseException], ...] = (),
) -> None:
    """Write every record of ``source`` with ``write``; each bad or refused record becomes a report line.

    ``RecordRejected`` (and a source's unreadable rows) are ``rejected``: nothing was sent. The
    API's 4xx answers about one record (validation, not found) and the ``refused`` errors are
    ``failed``. A :class:`WriteUnknown` is ``unknown`` (sent, may have applied, not resent). Anything
    else (auth, an outage outlasting max_wait) stops the run: retrying the task is safe, every write
    goes through the write journal.
    """
    from airflow_provider_activecampaign.contacts.sources import BadRecord
    from airflow_provider_activecampaign.exceptions import (
        ActiveCampaignNotFoundError,
        ActiveCampaignValidationError,
    )

    refusals: tuple[type[BaseException], ...] = (
        ActiveCampaignValidationError,
        ActiveCampaignNotFoundError,
        *refused,
    )
    for row, raw in source:
        tally.records += 1
        if isinstance(raw, BadRecord):
            tally.rejected += 1
            failures.add({"row": row, "stage": "rejected", "reason": raw.reason})
            continue
        record = map_columns(raw, field_map)
        try:
            write(record)
        except RecordRejected as error:
            tally.rejected += 1
            failures.add(
                {
                    "row": row,
                    **identify(record),
                    "stage": "rejected",
                    "field": error.field,
                    "reason": error.reason,
                }
            )
        except WriteUnknown as error:
            tally.unknown += 1
            failures.add(
                {
                    "row": row,
                    **identify(record),
                    "stage": "unknown",
                    "sent": error.sent,
                    "reason": error.reason,
                }
            )
        except refusals as error:
            tally.failed += 1
            summary = getattr(error, "summary", str(error))
            failures.add({"row": row, **identify(record), "stage": "failed", "reason": summary})
