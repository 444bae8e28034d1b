"""What the deal, account and event writers share: the record loop, contact lookup, the tally.

A run resolves names (pipelines, stages, users, accounts) with
:class:`~airflow_provider_activecampaign.records.names.NameIndex`; a name that matches nothing, or
more than one object, rejects its record (row, field, what exists) and the other records still go.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from airflow_provider_activecampaign.records.emails import InvalidEmailError, check_email, email_key
from airflow_provider_activecampaign.records.failures import RecordRejected
from airflow_provider_activecampaign.records.journal import WriteUnknown
from airflow_provider_activecampaign.records.names import NameIndex, split_names
from airflow_provider_activecampaign.records.sources import BadRecord

__all__ = [
    "ContactLookup",
    "NameIndex",
    "RecordRejected",
    "UpsertTally",
    "empty",
    "map_columns",
    "mapped_columns",
    "names",
    "run_records",
]

#: The one name-list reader (:func:`~airflow_provider_activecampaign.records.names.split_names`).
names = split_names


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

    def describe(self) -> str:
        """The counts as every records task's summary line says them."""
        return (
            f"{self.records:,} records, {self.created:,} created ({self.recovered:,} found by a "
            f"read-back after a lost answer, not resent), {self.updated:,} updated, "
            f"{self.unchanged:,} unchanged, {self.rejected:,} rejected, {self.failed:,} failed, "
            f"{self.unknown:,} unknown (sent once, may still apply; not resent)"
        )


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
