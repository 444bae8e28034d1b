"""The status of bulk imports: one ``GET /import/info`` read (sync and async) and one unknown-batch rule.

Used by the contact sync's import pipeline, ``ActiveCampaignBulkImportSensor`` and
``ActiveCampaignBulkImportTrigger``, so all three read the answer the same way: the documented
``false`` status is "pending", a 404 / "No Result found" is a batch the importer does not know
*yet* (integrators report it right after submission), and a batch still unknown after
:data:`UNKNOWN_BATCH_GRACE` seconds fails with :class:`UnknownBatchError`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_activecampaign.exceptions import ActiveCampaignError, ActiveCampaignNotFoundError

if TYPE_CHECKING:
    from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
    from airflow_provider_activecampaign.hooks.activecampaign_async import ActiveCampaignAsyncHook

#: The endpoint that reports what a bulk import did (documented as "Bulk import status info").
IMPORT_INFO_ENDPOINT = "import/info"
#: ``GET /import/info`` statuses after which nothing more happens to the batch (DOC).
TERMINAL_IMPORT_STATUSES = frozenset({"completed", "failed", "interrupted"})
#: ``ImportInfo.status`` of a batch ``GET /import/info`` does not know (yet): 404 / "No Result found".
UNKNOWN_IMPORT_STATUS = "unknown"
#: How long a batch may stay unknown to ``GET /import/info`` before that counts as an error. Right
#: after submission the importer may not know a batch for a moment (integrators report it).
UNKNOWN_BATCH_GRACE = 120.0


class UnknownBatchError(ActiveCampaignError):
    """``GET /import/info`` still does not know a bulk import long after it was submitted."""


def check_unknown_batch(batch_id: str, unknown_for: float, grace: float = UNKNOWN_BATCH_GRACE) -> None:
    """Fail once a batch has been unknown to the importer for longer than ``grace`` seconds."""
    if unknown_for > grace:
        raise UnknownBatchError(
            f"ActiveCampaign's importer still does not know bulk import {batch_id} {unknown_for:.0f} s "
            "after it was submitted or first polled (GET /import/info answers 'No Result found').",
            hint="Its contacts may or may not have been imported; re-running the sync sends them again, "
            "which is safe (the importer upserts by email).",
        )


def _count(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


@dataclass(frozen=True)
class ImportInfo:
    """One ``GET /import/info?batchId=`` answer, normalised."""

    batch_id: str
    #: ``"pending"`` while the documented ``false`` status is returned, else the API's status text.
    status: str
    succeeded: int
    failed_emails: tuple[str, ...]

    @property
    def done(self) -> bool:
        return self.status in TERMINAL_IMPORT_STATUSES

    @property
    def unknown(self) -> bool:
        return self.status == UNKNOWN_IMPORT_STATUS

    @classmethod
    def not_known_yet(cls, batch_id: str) -> ImportInfo:
        """The answer for a batch the importer does not know (yet): still waiting, within the grace."""
        return cls(batch_id=batch_id, status=UNKNOWN_IMPORT_STATUS, succeeded=0, failed_emails=())

    @classmethod
    def parse(cls, batch_id: str, body: Mapping[str, Any]) -> ImportInfo:
        raw = body.get("status")
        status = "pending" if raw in (False, None, "", 0, "0", "false") else str(raw).lower()
        success = body.get("success") or []
        failure = body.get("failure") or []
        return cls(
            batch_id=batch_id,
            status=status,
            succeeded=len(success) if isinstance(success, list) else _count(success),
            failed_emails=tuple(str(email) for email in failure) if isinstance(failure, list) else (),
        )

    @classmethod
    def from_json(cls, batch_id: str, data: Mapping[str, Any]) -> ImportInfo:
        """Back from :meth:`to_json` (a trigger event, a deferred task's state)."""
        return cls(
            batch_id=batch_id,
            status=str(data.get("status")),
            succeeded=_count(data.get("succeeded", 0)),
            failed_emails=tuple(str(email) for email in data.get("failed_emails") or ()),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "succeeded": self.succeeded,
            "failed": len(self.failed_emails),
            "failed_emails": list(self.failed_emails),
        }


def _params(batch_id: str) -> dict[str, str]:
    return {"batchId": batch_id}


def read_import_info(hook: ActiveCampaignHook, batch_id: str) -> ImportInfo:
    """``GET /import/info`` for one batch; a batch the importer does not know yet is ``unknown``."""
    try:
        body = hook.get(IMPORT_INFO_ENDPOINT, params=_params(batch_id))
    except ActiveCampaignNotFoundError:
        return ImportInfo.not_known_yet(batch_id)
    return ImportInfo.parse(batch_id, body if isinstance(body, Mapping) else {})


async def aread_import_info(hook: ActiveCampaignAsyncHook, batch_id: str) -> ImportInfo:
    """The async twin of :func:`read_import_info`, for the triggerer."""
    try:
        body = await hook.get(IMPORT_INFO_ENDPOINT, params=_params(batch_id))
    except ActiveCampaignNotFoundError:
        return ImportInfo.not_known_yet(batch_id)
    return ImportInfo.parse(batch_id, body if isinstance(body, Mapping) else {})


@dataclass
class ImportWatch:
    """What a waiter (sensor or trigger) knows of a set of batches across its polls.

    The importer works through an account's batches in order, so a waiter polls the unfinished
    ones oldest first and stops at the first still running (:meth:`unfinished`); :meth:`observe`
    records each answer and applies the unknown-batch rule, timed from the first unknown answer.
    """

    batch_ids: list[str]
    clock: Callable[[], float] = time.monotonic
    #: ``{batch_id: ImportInfo.to_json()}`` of the batches known to be finished.
    finished: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: When each batch was first found unknown to the importer (see ``UNKNOWN_BATCH_GRACE``).
    unknown_since: dict[str, float] = field(default_factory=dict)

    def unfinished(self) -> Iterator[str]:
        return (batch_id for batch_id in self.batch_ids if batch_id not in self.finished)

    def observe(self, info: ImportInfo) -> ImportInfo:
        """Record one answer; raises :class:`UnknownBatchError` for a batch unknown past the grace."""
        if info.unknown:
            since = self.unknown_since.setdefault(info.batch_id, self.clock())
            check_unknown_batch(info.batch_id, self.clock() - since)
        if info.done:
            self.finished[info.batch_id] = info.to_json()
        return info

    def progress(self, info: ImportInfo) -> str:
        """``Bulk import 12 is running; 1 of 3 batches finished.``: what a waiter logs while it waits."""
        return (
            f"Bulk import {info.batch_id} is {info.status}; "
            f"{len(self.finished)} of {len(self.batch_ids)} batches finished."
        )

    def results(self, ids: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """The finished batches' results, in the order of ``ids`` (default: every batch)."""
        return {b: self.finished[b] for b in (self.batch_ids if ids is None else ids) if b in self.finished}
