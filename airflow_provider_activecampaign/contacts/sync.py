"""Sending prepared contacts to ActiveCampaign and following them until ActiveCampaign is done.

Three pieces, used by ``ActiveCampaignSyncContactsOperator``:

* :class:`~airflow_provider_activecampaign.records.failures.FailureReport` (here ``FailureLog``)
  writes every rejected or failed record (row, email, reason) as JSON Lines.
* :class:`ImportPipeline` submits bulk-import batches at the importer's pace (100 requests a
  minute, within the account's 5 requests a second) and, in the gaps the importer's limit leaves,
  polls ``GET /import/info`` for batches that can plausibly be finished, oldest first.
* :class:`SmallBatchWriter` writes batches too small for the importer through ``contact/sync``,
  ``contactLists`` and ``contactTags``, with the same rules as the importer (never re-subscribe
  a contact who unsubscribed).

Why re-submitting a bulk import is safe
---------------------------------------
The importer is an upsert keyed on the email address: a contact imported twice ends with the
same fields, the same tags (a tag is attached once) and the same list status (subscribing an
active member changes nothing, so no automation starts twice), and it is never created twice.
So when a bulk-import POST fails after it may have reached ActiveCampaign (the transport raises
``ActiveCampaignAmbiguousWriteError`` and does not resend it), sending the same batch again is
correct: whatever the first request did, the account ends as if it had been applied once. This
is the one POST where the provider resends after an ambiguous failure; every other write reads
back first.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import random
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_activecampaign.contacts.import_status import (
    ImportInfo,
    check_unknown_batch,
    read_import_info,
)
from airflow_provider_activecampaign.contacts.mapping import ContactBatch, PreparedContact, find_tag_id
from airflow_provider_activecampaign.exceptions import (
    ActiveCampaignAmbiguousWriteError,
    ActiveCampaignError,
    ActiveCampaignValidationError,
)
from airflow_provider_activecampaign.hooks import metrics
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.records.failures import (  # noqa: F401  (re-exported for older imports)
    INLINE_FAILURES,
    FailureLog,
)
from airflow_provider_activecampaign.records.journal import (
    WriteJournal,
    WriteUnknown,
    request_deadline_seconds,
    send_once,
)

#: The write journal's name for tag creates (key: the tag name, lower case).
TAG_WRITER = "tags"

#: The first pause before a bulk-import batch whose send failed ambiguously is sent again (it doubles).
RESUBMIT_BACKOFF = 1.0
#: Longest pause between two sends of such a batch.
MAX_RESUBMIT_BACKOFF = 30.0
#: How often a batch is trimmed of contacts the importer's validation named, before giving up.
MAX_VALIDATION_ROUNDS = 3

#: Why a contact listed under ``failure`` failed. It names no outcome for the contact's other
#: changes: ActiveCampaign does not say whether a contact that fails in part (a list it left) keeps
#: its other fields, tags and lists, so neither "nothing written" nor "the rest written" is claimed.
IMPORT_FAILURE_REASON = (
    "ActiveCampaign's importer did not import this contact as sent (GET /import/info lists it "
    "under 'failure' without a reason). Documented causes: the address is on the account's "
    "exclusion or bounce list, it is malformed, the contact unsubscribed from a list it was to be "
    "subscribed to, or the account reached its contact limit. ActiveCampaign does not say whether "
    "the contact's other changes were kept; check the contact before relying on either."
)

Clock = Callable[[], float]
Sleep = Callable[[float], None]


# --------------------------------------------------------------------------------------------------
# Tally
# --------------------------------------------------------------------------------------------------


@dataclass
class SyncTally:
    """What happened so far: counts, batch ids, and progress bookkeeping."""

    total: int | None = None
    submitted: int = 0
    confirmed: int = 0
    batch_ids: list[str] = field(default_factory=list)
    batches: int = 0
    small_batches: int = 0
    started: float = field(default_factory=time.monotonic)
    last_progress: float = field(default_factory=time.monotonic)

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "submitted": self.submitted,
            "confirmed": self.confirmed,
            "batch_ids": list(self.batch_ids),
            "batches": self.batches,
            "small_batches": self.small_batches,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SyncTally:
        return cls(
            total=data.get("total"),
            submitted=int(data.get("submitted", 0)),
            confirmed=int(data.get("confirmed", 0)),
            batch_ids=list(data.get("batch_ids") or []),
            batches=int(data.get("batches", 0)),
            small_batches=int(data.get("small_batches", 0)),
        )


class ProgressReporter:
    """Logs ``sent / total, rate, time left`` every few batches or every ``every_seconds``."""

    def __init__(
        self,
        tally: SyncTally,
        logger: Any,
        *,
        failures: FailureLog | None = None,
        every_batches: int = 10,
        every_seconds: float = 30.0,
    ) -> None:
        self.tally = tally
        self.failures = failures
        self._last_key: tuple[int, ...] = ()
        self.log = logger
        self.every_batches = every_batches
        self.every_seconds = every_seconds

    def sent(self, pending: int, clock: Clock = time.monotonic) -> None:
        tally = self.tally
        now = clock()
        batches = tally.batches + tally.small_batches
        if batches % self.every_batches and now - tally.last_progress < self.every_seconds:
            return
        tally.last_progress = now
        self._log(pending, now)

    def finished_sending(self, pending: int) -> None:
        """The last progress line, unless the one just logged says the same."""
        self._log(pending, time.monotonic())

    def _log(self, pending: int, now: float) -> None:
        rejected = self.failures.rejected if self.failures is not None else 0
        key = (self.tally.submitted, rejected, self.tally.confirmed, pending)
        if key != self._last_key:
            self._last_key = key
            self.log.info(self.line(pending, now))
            metrics.record_bulk_imports_pending(pending)

    def line(self, pending: int, now: float) -> str:
        tally = self.tally
        elapsed = max(now - tally.started, 1e-9)
        rejected = self.failures.rejected if self.failures is not None else 0
        done = tally.submitted + rejected
        rate = done / elapsed
        if tally.total:
            remaining = max(0, tally.total - done)
            left = f"; about {_duration(remaining / rate)} left" if rate > 0 and remaining else ""
            head = f"{done:,} of {tally.total:,} records ({100.0 * done / tally.total:.1f}%)"
        else:
            left = ""
            head = f"{done:,} records (total not known in advance)"
        return (
            f"Processed {head}: {tally.submitted:,} sent in {tally.batches:,} bulk imports and "
            f"{tally.small_batches:,} small batches, {rejected:,} rejected; {rate:,.0f} records/s{left}. "
            f"{tally.confirmed:,} contacts confirmed, {pending:,} imports still running."
        )


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "an unknown time"
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


# --------------------------------------------------------------------------------------------------
# Results of one bulk import
# --------------------------------------------------------------------------------------------------


def record_import_result(
    info: ImportInfo, rows: Sequence[Sequence[Any]], failures: FailureLog
) -> tuple[int, int]:
    """Write the failures of a finished batch; return (succeeded, failed) counted by row.

    ``failure`` lists email addresses, so they are matched back to the rows they came from. A
    batch that ended ``failed`` or ``interrupted`` does not say which of its other contacts were
    imported; they are reported as unconfirmed (re-running the task resends them, harmlessly).
    """
    by_email: dict[str, list[int]] = {}
    for row, email in rows:
        by_email.setdefault(str(email).strip().lower(), []).append(int(row))
    failed_rows: set[int] = set()
    for email in info.failed_emails:
        matched: list[int | None] = list(by_email.get(email.strip().lower(), [])) or [None]
        for row in matched:
            failures.add(
                {
                    "row": row,
                    "email": email,
                    "stage": "failed",
                    "batch_id": info.batch_id,
                    "reason": IMPORT_FAILURE_REASON,
                }
            )
            if row is not None:
                failed_rows.add(row)
    # Every contact sent ends confirmed or reported: when the importer's counts do not add up (a
    # batch that ended early, or one "completed" with fewer successes than contacts), the rows it
    # neither confirmed nor failed cannot be told apart, so none of them is counted as imported.
    unconfirmed = len(rows) - len(failed_rows) - info.succeeded
    if unconfirmed > 0:
        if info.status == "completed":
            how = (
                f"The import batch was reported completed, but ActiveCampaign confirmed only "
                f"{info.succeeded} of its {len(rows)} contacts and listed {len(info.failed_emails)} as "
                f"failed, without naming the other {unconfirmed}"
            )
        else:
            how = (
                f"The import batch ended with status {info.status!r} after importing {info.succeeded} "
                f"of its {len(rows)} contacts, without saying which"
            )
        for row, email in rows:
            if int(row) in failed_rows:
                continue
            failures.add(
                {
                    "row": int(row),
                    "email": email,
                    "stage": "failed",
                    "batch_id": info.batch_id,
                    "reason": f"{how}; this one is not confirmed. Re-run the task to send it again "
                    "(safe: the importer upserts by email).",
                }
            )
            failed_rows.add(int(row))
    return len(rows) - len(failed_rows), len(failed_rows)


# --------------------------------------------------------------------------------------------------
# The bulk-import pipeline
# --------------------------------------------------------------------------------------------------


@dataclass
class PendingBatch:
    batch_id: str
    rows: list[tuple[int, str]]
    submitted_at: float
    next_poll_at: float
    polls: int = 0
    #: When a poll last found it unfinished (a lower bound of when it finished).
    last_miss: float | None = None
    #: When it was expected to finish, from the importer's pace (set when it becomes the oldest).
    expected: float = math.inf
    #: Whether ``expected`` came from the previous batch's finish (a queue) or its own submission.
    queued: bool = False
    #: The final status, when learnt while an earlier batch was still running, and when.
    info: ImportInfo | None = None
    seen_at: float = 0.0


class ImportTimeoutError(ActiveCampaignError):
    """ActiveCampaign did not finish importing within ``wait_timeout``."""


class ImportPipeline:
    """Submits batches at the importer's pace and polls earlier ones in between.

    The importer allows 100 requests a minute; the account 5 requests a second. A submitter that
    just called the API would sleep most of each minute inside the rate limiter; this one asks
    the limiter how long the next submission must wait and spends that time polling batches
    that can plausibly be finished. A poll goes only when it fits before the importer's next
    free slot, so submissions are never delayed by polls. Polls follow the oldest batch first
    (the importer works through an account's batches in order) and are timed from how long
    earlier batches took, so most batches are polled once.
    """

    def __init__(
        self,
        hook: ActiveCampaignHook,
        failures: FailureLog,
        tally: SyncTally,
        progress: ProgressReporter,
        *,
        track: bool = True,
        poll_interval: float = 5.0,
        max_pending: int = 100,
        wait_timeout: float = 6 * 3600.0,
        poll_parallel: int = 3,
        hook_factory: Callable[[], ActiveCampaignHook] | None = None,
        logger: Any = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.hook = hook
        self.poll_parallel = max(1, int(poll_parallel))
        self.hook_factory = hook_factory or (lambda: ActiveCampaignHook(hook.activecampaign_conn_id))
        self._pool: ThreadPoolExecutor | None = None
        self._thread_hooks = threading.local()
        self.failures = failures
        self.tally = tally
        self.progress = progress
        self.track = track
        self.poll_interval = max(0.01, float(poll_interval))
        self.max_pending = max(1, int(max_pending))
        self.wait_timeout = float(wait_timeout)
        #: How long one batch may keep failing ambiguously before the sync gives up.
        self.max_wait = hook.settings.max_wait
        self.log = logger or logging.getLogger(__name__)
        self.clock = clock
        self.sleep = sleep
        self.pending: deque[PendingBatch] = deque()
        settings = hook.settings
        # Polls use at most the requests the importer's pace leaves free (never below 1/s).
        self._account, self._importer = hook.limiters("POST", "import/bulk_import")
        #: Shortest pause between two polls (the account's own limiter paces them further).
        self.poll_gap = 1.0 / settings.requests_per_second
        #: A poll goes only if the importer's next slot is at least this far: by then the poll has
        #: left the account's window and cannot take the slot the import needs.
        self.poll_threshold = self._account.period
        # The importer, as seen from here: a batch finishes ``latency`` after its submission when
        # nothing is ahead of it, else ``duration`` after the batch ahead. Both are learnt from
        # polls that bracket a finish (found running, then finished); the first guesses only
        # time the first polls.
        self.latency = min(self.poll_interval, 1.0)
        self.duration = 0.0
        self._last_done = -math.inf
        self._last_bracketed = False
        self._last_poll = -math.inf

    # -- submitting ---------------------------------------------------------------------------

    def submit(self, batch: ContactBatch) -> None:
        """Send one batch once the importer has room, polling earlier batches while waiting.

        Contacts the importer's validation named ambiguously (see :func:`_named_contacts`) are
        taken out of the batch and sent after it, each alone, where its refusal names it for sure.
        """
        groups = [batch.contacts]
        while groups:
            self._wait_for_room()
            batch_id, contacts, alone = self._post(groups.pop(0))
            groups[:0] = [[contact] for contact in alone]
            if batch_id is not None:
                self._track(batch_id, contacts)

    def _wait_for_room(self) -> None:
        """Return once the importer and the account have room, polling earlier batches meanwhile."""
        while True:
            blocked = self.track and len(self.pending) >= self.max_pending
            import_wait = self._importer.delay()
            send_wait = max(import_wait, self._account.delay())
            if not blocked and send_wait <= 0:
                break
            until_poll = math.inf
            # Poll only when the poll cannot delay the next import: imports come first.
            if self.pending and (blocked or import_wait >= self.poll_threshold):
                if self._poll_due():
                    continue  # time has passed and batches may have finished: look again
                until_poll = self._next_poll_time() - self.clock()
            if blocked:
                self._check_timeout(self.clock())
            wait = min(until_poll, math.inf if blocked else send_wait)
            if math.isfinite(wait):
                self.sleep(max(0.005, wait))

    def _track(self, batch_id: str, contacts: list[PreparedContact]) -> None:
        """Count a queued batch and, when tracking, wait for it with the others."""
        now = self.clock()
        self.tally.batch_ids.append(batch_id)
        self.tally.batches += 1
        self.tally.submitted += len(contacts)
        if self.track:
            self.pending.append(
                PendingBatch(
                    batch_id,
                    [(c.row, c.email) for c in contacts],
                    submitted_at=now,
                    next_poll_at=math.inf,  # set from the importer's pace when it reaches the head
                )
            )
        self.progress.sent(len(self.pending), self.clock)

    def _post(
        self, contacts: list[PreparedContact]
    ) -> tuple[str | None, list[PreparedContact], list[PreparedContact]]:
        """POST one batch; returns its batchId, the contacts it holds (validation may trim it), and
        the contacts taken out to be sent alone (named by the validation, but ambiguously).

        A send that fails after it may have reached ActiveCampaign (a 5xx, a dropped connection) is
        sent again, backing off with jitter, for as long as the connection's ``max_wait`` allows
        (safe: the importer upserts by email; see the module docstring).
        """
        sends = 0
        first_send = self.clock()
        rounds = 0
        alone: list[PreparedContact] = []
        while contacts:
            body = {"contacts": [contact.body for contact in contacts]}
            sends += 1
            try:
                answer = self.hook.request("POST", "import/bulk_import", json=body)
            except ActiveCampaignAmbiguousWriteError as error:
                elapsed = self.clock() - first_send
                pause = random.uniform(0.5, 1.0) * min(
                    MAX_RESUBMIT_BACKOFF, RESUBMIT_BACKOFF * 2.0 ** (sends - 1)
                )
                if elapsed + pause > self.max_wait:
                    raise _resubmits_exhausted(error, contacts, sends, elapsed) from None
                self.log.warning(
                    "The bulk import of %d contacts (rows %d-%d) failed after it was sent (send %d, %.0f s "
                    "so far): %s. Sending the same batch again in %.1f s: the importer upserts by "
                    "email, so a batch applied twice leaves the same contacts as one applied once.",
                    len(contacts),
                    contacts[0].row,
                    contacts[-1].row,
                    sends,
                    elapsed,
                    _what_failed(error),
                    pause,
                )
                self.sleep(pause)
                continue
            except ActiveCampaignValidationError as error:
                rounds += 1
                named, suspects = _named_contacts(error, len(contacts))
                if not (named or suspects) or rounds > MAX_VALIDATION_ROUNDS:
                    raise
                if suspects:
                    self.log.warning(
                        "The importer's validation named %d of %d contacts by a position that reads "
                        "two ways (its base is undocumented); sending the other %d, then each of the "
                        "%d it may mean alone.",
                        len(error.field_errors),
                        len(contacts),
                        len(contacts) - len(suspects) - len(named),
                        len(suspects),
                    )
                    alone.extend(contacts[index] for index in sorted(suspects))
                for index, reason in named.items():
                    contact = contacts[index]
                    self.failures.add(
                        {
                            "row": contact.row,
                            "email": contact.email,
                            "stage": "rejected",
                            "reason": f"ActiveCampaign's importer refused the contact: {reason}",
                        }
                    )
                if named:
                    self.log.warning(
                        "The importer's validation refused %d of %d contacts; sending the other %d.",
                        len(named),
                        len(contacts),
                        len(contacts) - len(named) - len(suspects),
                    )
                contacts = [c for i, c in enumerate(contacts) if i not in named and i not in suspects]
                continue
            batch_id = answer.get("batchId") if isinstance(answer, Mapping) else None
            if not batch_id:
                raise ActiveCampaignError(
                    "ActiveCampaign accepted a bulk import without returning a batchId.",
                    method="POST",
                    url="import/bulk_import",
                    response_body=json.dumps(answer, default=str)[:2000],
                    expected='{"success": 1, "batchId": "..."}',
                )
            queued = answer.get("queued_contacts")
            if queued is not None and str(queued) != str(len(contacts)):
                self.log.warning(
                    "Bulk import %s queued %s contacts of the %d sent.", batch_id, queued, len(contacts)
                )
            return str(batch_id), contacts, alone
        return None, contacts, alone

    # -- polling ------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the threads that poll alongside the main one (if any were started)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __enter__(self) -> ImportPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def drain(self, until: float | None = None) -> None:
        """Poll until every submitted batch has finished (or ``wait_timeout`` passes).

        :param until: Stop polling at this time of :attr:`clock` even if batches are still running.
        """
        while self.pending:
            self._poll_due()
            if not self.pending:
                return
            now = self.clock()
            self._check_timeout(now)
            pause = max(0.005, self._next_poll_time() - now)
            if until is not None:
                if now >= until:
                    return
                pause = min(pause, until - now)
            self.sleep(pause)

    def _next_poll_time(self) -> float:
        head = self.pending[0]
        if head.polls == 0:
            # The importer takes an account's batches in order: this one can be finished a
            # latency after it was submitted, or a duration after the one ahead, whichever is later.
            by_submission = head.submitted_at + self.latency
            by_queue = self._last_done + self.duration
            head.queued = by_queue > by_submission
            head.expected = max(by_submission, by_queue)
            head.next_poll_at = head.expected
        return max(head.next_poll_at, self._last_poll + self.poll_gap)

    def _poll_due(self) -> bool:
        """Poll the oldest batch while it is due; move on as long as batches turn out finished.

        When the oldest turns out finished, so may the ones after it: batches expected to be
        finished by now are polled together (up to ``poll_parallel`` at once), so catching up
        after a burst of submissions is not held back by one round trip per batch. Returns
        whether anything was polled.
        """
        polled = False
        while self.pending:
            head = self.pending[0]
            if head.info is not None:  # learnt while an earlier batch was still running
                self.pending.popleft()
                self._finished(head, head.info, head.seen_at)
                continue
            now = self.clock()
            if now < self._next_poll_time():
                return polled
            polled = True
            group = self._due_group(head, now)
            self._last_poll = now
            answers = self._poll_many(group)
            now = self.clock()
            for batch, info in zip(group, answers, strict=True):
                batch.polls += 1
                if info.unknown:
                    check_unknown_batch(batch.batch_id, now - batch.submitted_at)
                if info.done:
                    batch.info, batch.seen_at = info, now
                    continue
                batch.last_miss = now
                pace = self.duration if batch.queued else self.latency
                step = 0.25 * max(pace, self.poll_gap) * batch.polls
                batch.next_poll_at = now + min(self.poll_interval, max(self.poll_gap, step))
            if head.info is None:
                self._check_timeout(now)
                return polled
        return polled

    def _due_group(self, head: PendingBatch, now: float) -> list[PendingBatch]:
        """The oldest batch, plus those after it that should be finished by ``now`` too.

        Only while catching up (the last batch was already finished when first polled): on time,
        the batches after the oldest are still running and polling them would be wasted.
        """
        group = [head]
        if self._last_bracketed or head.polls:
            return group
        expected = head.expected
        for batch in itertools.islice(self.pending, 1, None):
            if len(group) >= self.poll_parallel:
                break
            if batch.info is not None:
                continue
            if batch.polls == 0:
                by_submission = batch.submitted_at + self.latency
                by_queue = expected + self.duration
                batch.queued = by_queue > by_submission
                batch.expected = batch.next_poll_at = max(by_submission, by_queue)
            expected = batch.expected
            if batch.next_poll_at > now:
                break
            group.append(batch)
        return group

    def _poll_many(self, group: list[PendingBatch]) -> list[ImportInfo]:
        if len(group) == 1:
            return [self._poll(self.hook, group[0].batch_id)]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.poll_parallel, thread_name_prefix="ac-import-poll")
        futures = [self._pool.submit(self._poll_in_thread, batch.batch_id) for batch in group]
        return [future.result() for future in futures]

    def _poll_in_thread(self, batch_id: str) -> ImportInfo:
        hook = getattr(self._thread_hooks, "hook", None)
        if hook is None:
            hook = self._thread_hooks.hook = self.hook_factory()  # one HTTP session per thread
        return self._poll(hook, batch_id)

    @staticmethod
    def _poll(hook: ActiveCampaignHook, batch_id: str) -> ImportInfo:
        return read_import_info(hook, batch_id)  # unknown right after submission: not ready yet

    def _finished(self, batch: PendingBatch, info: ImportInfo, now: float) -> None:
        succeeded, failed = record_import_result(info, batch.rows, self.failures)
        self.tally.confirmed += succeeded
        # When it finished: between the last poll that found it running and this one. Found
        # finished at the first look, it finished by the time expected, maybe earlier: aim lower.
        bracketed = batch.last_miss is not None
        if bracketed:
            done = (batch.last_miss + now) / 2  # type: ignore[operator]
            if not batch.queued:
                self.latency = 0.7 * self.latency + 0.3 * max(done - batch.submitted_at, 1e-3)
            elif self._last_bracketed:
                self.duration = 0.7 * self.duration + 0.3 * max(done - self._last_done, 0.0)
        else:
            done = min(now, batch.expected)
            if batch.queued:
                self.duration *= 0.9
            else:
                self.latency *= 0.9
        self._last_done = done
        self._last_bracketed = bracketed
        if failed:
            self.log.info(
                "Bulk import %s finished (%s): %d imported, %d failed.",
                info.batch_id,
                info.status,
                succeeded,
                failed,
            )

    def _check_timeout(self, now: float) -> None:
        if not self.pending:
            return
        oldest = self.pending[0]
        if now - oldest.submitted_at <= self.wait_timeout:
            return
        ids = ", ".join(batch.batch_id for batch in list(self.pending)[:10])
        raise ImportTimeoutError(
            f"ActiveCampaign has not finished {len(self.pending)} bulk imports after "
            f"{_duration(self.wait_timeout)} (batch ids: {ids}"
            f"{' …' if len(self.pending) > 10 else ''}).",
            hint="The contacts were submitted; wait for them with ActiveCampaignBulkImportSensor and the "
            "batch_ids, or raise wait_timeout.",
        )

    def pending_state(self) -> dict[str, list[list[Any]]]:
        """``{batch_id: [[row, email], ...]}`` of unfinished batches (for a deferred task)."""
        self._poll_due_finished()
        return {batch.batch_id: [[row, email] for row, email in batch.rows] for batch in self.pending}

    def _poll_due_finished(self) -> None:
        """Record the batches already known to be finished that are now the oldest."""
        while self.pending and self.pending[0].info is not None:
            head = self.pending.popleft()
            assert head.info is not None
            self._finished(head, head.info, head.seen_at)


def _what_failed(error: ActiveCampaignAmbiguousWriteError) -> str:
    """The error's summary without the transport's "so it was not sent again" (the importer resends)."""
    return error.summary.split(". The write may have been applied")[0].split("; the write may")[0].rstrip(".")


def _resubmits_exhausted(
    error: ActiveCampaignAmbiguousWriteError, contacts: Sequence[PreparedContact], sends: int, elapsed: float
) -> ActiveCampaignAmbiguousWriteError:
    """The error for a batch that kept failing ambiguously: says how often it was really sent."""
    return ActiveCampaignAmbiguousWriteError(
        f"The bulk import of {len(contacts)} contacts (rows {contacts[0].row}-{contacts[-1].row}) was sent "
        f"{sends} times over {elapsed:.0f} s, and every send failed after it may have reached "
        f"ActiveCampaign (the last: {_what_failed(error)}). Whether ActiveCampaign "
        "imported it is unknown.",
        method=error.method,
        url=error.url,
        status=error.status,
        request_body=error.request_body,
        response_body=error.response_body,
        expected=error.expected,
        hint="Re-run the task once ActiveCampaign answers again: it sends every record again, which is "
        "safe (the importer upserts by email). Raise the connection's max_wait to wait longer.",
    )


def _named_contacts(error: ActiveCampaignValidationError, count: int) -> tuple[dict[int, str], set[int]]:
    """The contacts the importer's 400 names: ``({0-based position: reason}, suspects)``.

    ``failureReasons`` name a contact by its position in the request, but the reference does not
    say whether it counts from 0 or 1 (the emulator assumes 0). Read the wrong way, a valid contact
    would be rejected and the invalid one sent again. So the base is decided only when the answer
    proves it (a position of ``count`` exists only counting from 1, a position 0 only counting
    from 0) or does not matter (a batch of one); otherwise every contact either reading may mean is
    a *suspect*, to be sent alone, where a refusal can name only that contact.
    """
    positions: list[tuple[int, str]] = []
    for item in error.field_errors:
        index = item.get("contact_index")
        if index is None:
            continue
        try:
            position = int(index)
        except (TypeError, ValueError):
            continue
        positions.append((position, str(item.get("title") or "refused")))
    from_zero = {p: reason for p, reason in positions if 0 <= p < count}
    from_one = {p - 1: reason for p, reason in positions if 1 <= p <= count}
    if count == 1:
        reasons = [*from_zero.values(), *from_one.values()]
        return ({0: reasons[0]} if reasons else {}), set()
    if any(p == count for p, _ in positions):
        return from_one, set()
    if any(p == 0 for p, _ in positions):
        return from_zero, set()
    return {}, set(from_zero) | set(from_one)


# --------------------------------------------------------------------------------------------------
# Small batches: contact/sync
# --------------------------------------------------------------------------------------------------

ACTIVE = "1"
UNSUBSCRIBED = "2"


class SmallBatchWriter:
    """Writes a few contacts through ``contact/sync``, ``contactLists`` and ``contactTags``.

    ActiveCampaign asks for the normal contact endpoints instead of the importer for a handful of
    contacts. The result matches the importer's: fields upserted by email, tags attached once,
    lists subscribed or unsubscribed, and a contact who unsubscribed from a list is never
    re-subscribed to it. ``POST /contactLists`` *would* re-subscribe them, so the memberships are
    read first and such a contact is reported as failed without writing anything, exactly as
    the importer fails it.
    """

    def __init__(
        self,
        hook: ActiveCampaignHook,
        failures: FailureLog,
        tally: SyncTally,
        progress: ProgressReporter,
        *,
        list_names: Mapping[str, str],
        logger: Any = None,
        journal: WriteJournal | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.hook = hook
        self.failures = failures
        self.tally = tally
        self.progress = progress
        self.list_names = dict(list_names)
        self.log = logger or logging.getLogger(__name__)
        #: Tag creates go through the write journal (the task's; a throwaway one outside a task).
        self.journal = journal or WriteJournal(tempfile.mkdtemp(prefix="ac-journal-"), TAG_WRITER)
        self.sleep = sleep
        self._tag_ids: dict[str, str] = {}

    def write(self, batch: ContactBatch) -> None:
        for contact in batch.contacts:
            if self._write_one(contact):
                self.tally.confirmed += 1
            self.tally.submitted += 1
        self.tally.small_batches += 1
        self.progress.sent(0)

    def _fail(self, contact: PreparedContact, reason: str) -> None:
        self.failures.add({"row": contact.row, "email": contact.email, "stage": "failed", "reason": reason})

    def _write_one(self, contact: PreparedContact) -> bool:
        memberships: dict[str, str] = {}
        new_contact = False
        if contact.subscribe or contact.unsubscribe:
            existing = self.hook.get_contact_by_email(contact.email)
            new_contact = existing is None
            if existing is not None:
                memberships = self._memberships(str(existing["id"]))
            blocked = [list_id for list_id in contact.subscribe if memberships.get(list_id) == UNSUBSCRIBED]
            if blocked:
                names = ", ".join(f"{self.list_names.get(i, i)!r} (id {i})" for i in blocked)
                self._fail(
                    contact,
                    f"The contact unsubscribed from {names}; it is not re-subscribed and nothing was "
                    "written (the bulk importer fails such a contact too).",
                )
                return False
        try:
            answer = self.hook.request("POST", "contact/sync", json=contact.sync_payload())
        except ActiveCampaignValidationError as error:
            self._fail(contact, f"ActiveCampaign refused the contact: {error.summary}")
            return False
        contact_id = str(answer["contact"]["id"])
        for list_id in contact.subscribe:
            if memberships.get(list_id) != ACTIVE and not self._set_list(
                contact, contact_id, list_id, ACTIVE
            ):
                return False
        for list_id in contact.unsubscribe:
            if memberships.get(list_id) == ACTIVE and not self._set_list(
                contact, contact_id, list_id, UNSUBSCRIBED
            ):
                return False
        if contact.tags:
            have = set() if new_contact else self._contact_tag_ids(contact_id)
            for name in contact.tags:
                try:
                    tag_id = self._tag_id(name)
                except WriteUnknown as unknown:
                    self._fail(
                        contact, f"unknown: tag {name!r} could not be created for sure: {unknown.reason}"
                    )
                    return False
                if tag_id not in have:
                    self._add_tag(contact_id, tag_id)
                    have.add(tag_id)
        return True

    # -- lists ------------------------------------------------------------------------------

    def _memberships(self, contact_id: str) -> dict[str, str]:
        body = self.hook.get(f"contacts/{contact_id}/contactLists")
        return {str(m.get("list")): str(m.get("status")) for m in body.get("contactLists") or []}

    def _set_list(self, contact: PreparedContact, contact_id: str, list_id: str, status: str) -> bool:
        """Set one list status; after an ambiguous failure, read back and send again only if needed."""
        payload = {"contactList": {"list": int(list_id), "contact": int(contact_id), "status": int(status)}}
        try:
            self.hook.request("POST", "contactLists", json=payload)
            return True
        except ActiveCampaignAmbiguousWriteError:
            current = self._memberships(contact_id).get(list_id)
        if current == status:
            return True
        if status == ACTIVE and current == UNSUBSCRIBED:
            self._fail(
                contact,
                f"The contact unsubscribed from {self.list_names.get(list_id, list_id)!r} while the sync "
                "ran; it is not re-subscribed.",
            )
            return False
        self.hook.request("POST", "contactLists", json=payload)  # read back: not applied, so send once more
        return True

    # -- tags -------------------------------------------------------------------------------

    def _contact_tag_ids(self, contact_id: str) -> set[str]:
        body = self.hook.get(f"contacts/{contact_id}/contactTags")
        return {str(t.get("tag")) for t in body.get("contactTags") or []}

    def _find_tag(self, name: str) -> str | None:
        return find_tag_id(self.hook, name)

    def _tag_id(self, name: str) -> str:
        """The id of the tag named ``name`` (any case); created when missing, as the importer does."""
        key = name.strip().lower()
        if key not in self._tag_ids:
            found = self._find_tag(name) or self._create_tag(name)
            self._tag_ids[key] = found
        return self._tag_ids[key]

    def _create_tag(self, name: str) -> str:
        """Create a tag at most once (write journal): a lost answer is read back by name, and "not
        found" counts only once the create has settled; before that :class:`WriteUnknown`."""
        payload = {"tag": {"tag": name, "tagType": "contact", "description": ""}}
        try:
            sent = send_once(
                self.journal,
                TAG_WRITER,
                name.strip().lower(),
                payload,
                lambda: self.hook.request("POST", "tags", json=payload),
                read_back=lambda intent: self._find_tag(name),
                deadline_seconds=request_deadline_seconds(self.hook),
                what=f"POST /tags for {name!r}",
                ref_of=lambda answer: ((answer or {}).get("tag") or {}).get("id"),
                sleep=self.sleep,
            )
        except ActiveCampaignValidationError:
            # Created by someone else meanwhile (a duplicate name): use theirs.
            found = self._find_tag(name)
            if found is None:
                raise
            return found
        if sent.ref is None:
            raise ActiveCampaignError(f"POST /tags for {name!r} answered without a tag id.")
        return sent.ref

    def _add_tag(self, contact_id: str, tag_id: str) -> None:
        """Tag the contact; after an ambiguous failure, read back and send again only if needed.

        The reference does not say what tagging a contact twice answers (emulator switch
        ``contact_tag_repeat_returns_existing``): the existing row, or a refusal. A repeat happens
        when an earlier send lands late, after the read-back, or another writer tags the contact
        meanwhile; so a refusal is read back too, and a contact that has the tag is done.
        """
        payload = {"contactTag": {"contact": contact_id, "tag": tag_id}}
        try:
            self._post_tag(contact_id, tag_id, payload)
            return
        except ActiveCampaignAmbiguousWriteError:
            if tag_id in self._contact_tag_ids(contact_id):
                return
        self._post_tag(contact_id, tag_id, payload)  # read back: not applied, so send once more

    def _post_tag(self, contact_id: str, tag_id: str, payload: dict[str, Any]) -> None:
        try:
            self.hook.request("POST", "contactTags", json=payload)
        except ActiveCampaignValidationError:
            if tag_id not in self._contact_tag_ids(contact_id):
                raise  # truly refused


def list_names(hook: ActiveCampaignHook, list_ids: Iterable[str]) -> dict[str, str]:
    """``{id: name}`` of the given lists (for messages), from one read of ``/lists``."""
    wanted = set(list_ids)
    if not wanted:
        return {}
    return {
        str(item["id"]): str(item.get("name"))
        for item in hook.paginate("lists", key="lists")
        if str(item["id"]) in wanted
    }
