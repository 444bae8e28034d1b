"""The failure report every writer keeps: one JSON object per rejected, failed or superseded record.

Contacts, deals, accounts, events and erasure all write the same file shape, so a DAG that reads a
report (or a person who opens one) reads every resource's the same way::

    {"row": 12, "email": "a@b.c", "stage": "rejected", "field": "Birthday", "reason": "..."}

``stage`` is ``rejected`` (never sent: the record is invalid), ``failed`` (sent, and ActiveCampaign
did not apply it) or ``duplicate`` (a later row with the same key superseded it: nothing was lost,
so it counts neither as failed nor as rejected). Only the first few entries are kept in memory,
for the task's return value; the file holds them all. The report's location goes in every
failure-ratio message (see :mod:`airflow_provider_activecampaign.records.ratio`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from airflow_provider_activecampaign.records.paths import JsonLinesFile

#: How many failures the task's return value repeats inline (the rest are only in the file).
INLINE_FAILURES = 20


class RecordRejected(ValueError):
    """A record that cannot be written as it is: the field at fault, why, and where it came from.

    The one rejection of the provider: the contact builder, the deal, account and event writers
    and the custom-field formatter raise it; the writer turns it into a ``rejected`` report line
    and goes on with the next record.
    """

    def __init__(
        self, field: str | None, reason: str, *, row: int | None = None, email: str | None = None
    ) -> None:
        self.field = field
        self.reason = reason
        self.row = row
        self.email = email
        where = f"row {row}: " if row is not None else ""
        super().__init__(f"{where}{field}: {reason}" if field else f"{where}{reason}")

    @classmethod
    def from_field_error(cls, error: Any, **where: Any) -> RecordRejected:
        """From a :class:`~airflow_provider_activecampaign.records.fields.FieldValueError`."""
        return cls(error.field, error.reason, **where)

    def as_failure(self) -> dict[str, Any]:
        """The report line's fields (``stage`` is added by the report)."""
        return {"row": self.row, "email": self.email, "field": self.field, "reason": self.reason}


class ReportEntry(Protocol):
    """Anything that can describe itself as one report line (e.g. a superseded duplicate row)."""

    def as_entry(self) -> dict[str, Any]: ...


class FailureReport:
    """Every rejected, failed or superseded record, one JSON object per line, at ``path``.

    ``path`` is any ObjectStoragePath (local, S3, GCS...). ``append=True`` adds to an existing
    report (a resumed or retried task); the counts passed in are the ones an earlier part of the
    run already wrote. Use as a context manager, or :meth:`open` then :meth:`close`.
    """

    def __init__(
        self, path: Any, *, append: bool = False, rejected: int = 0, failed: int = 0, duplicates: int = 0
    ) -> None:
        self.path = path
        self.rejected = rejected
        self.failed = failed
        self.duplicates = duplicates
        #: The first entries (up to :data:`INLINE_FAILURES` + 1), for the task's return value.
        self.first: list[dict[str, Any]] = []
        self._file = JsonLinesFile(path, append=append)

    @property
    def count(self) -> int:
        """Records lost to this run: rejected + failed (duplicates are not lost)."""
        return self.rejected + self.failed

    def open(self) -> FailureReport:
        self._file.open()
        return self

    def __enter__(self) -> FailureReport:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, entry: Mapping[str, Any]) -> None:
        """One rejected (``stage`` ``rejected``) or failed (any other stage) record."""
        record = {key: value for key, value in entry.items() if value is not None or key in ("row", "email")}
        if record.get("stage") == "rejected":
            self.rejected += 1
        else:
            self.failed += 1
        if len(self.first) <= INLINE_FAILURES:
            self.first.append(record)
        self._write(record)

    def add_rejected(self, error: RecordRejected, **identity: Any) -> None:
        """A :class:`RecordRejected` as a ``rejected`` line, with whatever identifies its record."""
        self.add({**error.as_failure(), **identity, "stage": "rejected"})

    def add_duplicate(self, duplicate: ReportEntry | Mapping[str, Any]) -> None:
        """A row a later row with the same key superseded: reported, but neither failed nor rejected."""
        self.duplicates += 1
        entry = dict(duplicate) if isinstance(duplicate, Mapping) else duplicate.as_entry()
        self._write(entry)

    def _write(self, entry: Mapping[str, Any]) -> None:
        self._file.write(entry)

    def describe_first(self, limit: int = 5) -> str:
        """``row 3 (a@b.c) [Birthday]: reason; ... and 7 more``: the first failures, for a message."""
        shown = "; ".join(describe_failure(entry) for entry in self.first[:limit])
        return shown + (f" and {self.count - limit:,} more" if self.count > limit else "")

    def close(self) -> None:
        self._file.close()


def describe_failure(entry: Mapping[str, Any]) -> str:
    """One report line in words: ``row 3 (a@b.c) [Birthday]: 'x' is not a date``."""
    where = f"row {entry.get('row')}" if entry.get("row") is not None else "a record"
    who = entry.get("email") or entry.get("key")
    ident = f" ({who})" if who else ""
    column = f" [{entry['field']}]" if entry.get("field") else ""
    return f"{where}{ident}{column}: {entry.get('reason')}"


#: The name the report had in ``contacts/sync.py``; the syncs and older code still use it.
FailureLog = FailureReport
