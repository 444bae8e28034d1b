"""The write journal: an intent made durable before a write that could act twice, its outcome after.

ActiveCampaign has no idempotency keys. A ``POST`` whose answer is lost (a timeout, a 5xx, a
dropped connection, a task process killed while waiting) may have been applied, and may even be
applied *seconds after* the client gave up. So every writer that could act twice asks the journal
before it sends:

1. :meth:`WriteJournal.resolve` the item's key. Earlier intents of the same scope (an earlier try
   of this task in this DAG run, or this try) that have no outcome are read back through the
   writer's ``read_back``. Found: *applied* (recorded, never sent again). Not found: it counts as
   *not applied* only when the read-back happens after the original request's deadline plus
   ``write_settle_seconds``; before that the item is ``unknown``: not sent again in this try, and
   resolved by the next run's read-back. A writer whose writes cannot be read back (event tracking)
   passes no ``read_back``: an open intent stays ``unknown`` for good ("possibly sent", never resent).
2. :meth:`WriteJournal.intent` (durable before the request leaves), then the request, then
   :meth:`WriteJournal.outcome` with what the answer said.

Scope: one journal per task instance of a DAG run — ``dag_id / run_id / task_id[.map_index]`` —
so it survives a retry (same run id, try 2) and a re-run (the task cleared: same run id, a new
try), and a new DAG run starts empty (its writes are new writes; writers with natural keys, such
as deals by external key, still find what earlier runs created by reading the keys).

Storage: segment files on any :class:`~airflow.sdk.ObjectStoragePath`. Each journal session (one
task try) owns its own segment, so concurrent writers never interleave bytes and no lock or
compare-and-swap is needed across machines. On a local disk a segment is one file, appended one
JSON line per record with a single ``O_APPEND`` write; intents are also ``fsync``-ed before the
request leaves (outcomes are not: a lost outcome only leaves its intent open, which the next
read-back resolves). A torn last line, from a machine crash, is skipped. Object stores (S3, GCS,
Azure) cannot append, so there each record is its own small object, written whole: an object
store's ``PUT`` is atomic. Nothing secret is stored: the payload is kept only as a fingerprint.
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow.sdk import ObjectStoragePath

#: Config section and options (``AIRFLOW__ACTIVECAMPAIGN__WRITE_JOURNAL_PATH`` and so on).
CONFIG_SECTION = "activecampaign"
PATH_OPTION = "write_journal_path"
SETTLE_OPTION = "write_settle_seconds"
#: How long after a write's request deadline a read-back must wait before "not found" may count as
#: "not applied": ActiveCampaign may apply a timed-out write seconds later (issue 21 saw 3 to 10 s).
DEFAULT_SETTLE_SECONDS = 60.0
FORMAT_VERSION = 1
_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]")


class Outcome(enum.StrEnum):
    """What the answer (or a read-back) said about one intent."""

    #: ActiveCampaign answered and the write took effect (or a read-back found it).
    APPLIED = "applied"
    #: ActiveCampaign answered and refused it (4xx, ``success: 0``): nothing was written.
    REFUSED = "refused"
    #: The answer was lost or was a 5xx: it may have been applied. The intent stays open.
    AMBIGUOUS = "ambiguous"
    #: A settled read-back did not find it: it was not applied (the item may be sent again).
    NOT_APPLIED = "not_applied"


#: Outcomes that close an intent.
CLOSED = frozenset({Outcome.APPLIED, Outcome.REFUSED, Outcome.NOT_APPLIED})


class Resolution(enum.StrEnum):
    """What a writer may do with an item, after the journal resolved its earlier intents."""

    #: No earlier intent, or every one proven not applied: send it.
    SEND = "send"
    #: An earlier intent applied: do not send it again.
    APPLIED = "applied"
    #: An earlier intent may have applied and cannot be settled yet: do not send it in this try.
    UNKNOWN = "unknown"


@dataclass
class Intent:
    """One write about to be sent (or sent): the journal's unit."""

    id: str
    writer: str
    key: str
    fingerprint: str
    sent_at: float
    #: When the request, and any retry of it by the transport, is given up at the latest.
    deadline: float
    session: str
    #: What the write acts on, when known before sending (e.g. the contact a DELETE removes).
    target: str | None = None
    #: Outcome records, oldest first (``ambiguous`` may come before a closing one).
    outcomes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def outcome(self) -> Outcome | None:
        """The last outcome recorded, if any."""
        return Outcome(self.outcomes[-1]["outcome"]) if self.outcomes else None

    @property
    def closed(self) -> bool:
        return self.outcome in CLOSED

    @property
    def ref(self) -> str | None:
        """The id of what the write created (when known)."""
        for record in reversed(self.outcomes):
            if record.get("ref") is not None:
                return str(record["ref"])
        return self.target


@dataclass(frozen=True)
class Decision:
    """:meth:`WriteJournal.resolve`'s answer: what to do, how often it was sent, and why."""

    resolution: Resolution
    #: How many times earlier tries (or this one) sent this item.
    sent: int = 0
    #: The id of the object an applied write created, when known.
    ref: str | None = None
    #: For ``unknown``: the moment a read-back may count "not found" as "not applied".
    settles_at: float | None = None


class WriteUnknown(Exception):
    """A write that was sent and may have been applied, and that no read-back can settle yet.

    It is not sent again in this try (the journal keeps its intent open); the next run's read-back,
    once the write has settled, says whether it applied. ``sent`` counts the sends so far.
    """

    def __init__(self, reason: str, *, sent: int) -> None:
        self.reason = reason
        self.sent = sent
        super().__init__(reason)


@dataclass(frozen=True)
class Sent:
    """What :func:`send_once` did: the answer (``None`` when an earlier send was found instead)."""

    answer: Any
    #: The created object's id, when known.
    ref: str | None
    #: How many times the item has been sent, in all tries of the scope.
    sent: int
    #: Found by a read-back (an earlier send had applied): not sent again now.
    recovered: bool = False


#: The longest a try waits for an ambiguous write to settle before it reports it ``unknown``.
MAX_SETTLE_WAIT = 10.0
#: The longest a try waits for the writes an earlier (killed) try left open to settle.
MAX_EARLIER_SETTLE_WAIT = DEFAULT_SETTLE_SECONDS


def settle(
    journal: WriteJournal,
    writer: str,
    key: str,
    read_back: Callable[[Intent], str | bool | None] | None,
    *,
    sleep: Callable[[float], None] = time.sleep,
    max_wait: float = MAX_SETTLE_WAIT,
) -> Decision:
    """:meth:`WriteJournal.resolve`, waiting for the item to settle when worth it (``worth_waiting``)."""
    decision = journal.resolve(writer, key, read_back)
    settles_at = decision.settles_at
    if (
        decision.resolution is Resolution.UNKNOWN
        and settles_at is not None
        and read_back is not None
        and journal.worth_waiting(writer, key, settles_at, max_wait)
    ):
        sleep(max(0.0, settles_at - journal.clock()))
        decision = journal.resolve(writer, key, read_back)
    return decision


def send_once(
    journal: WriteJournal,
    writer: str,
    key: str,
    payload: Any,
    send: Callable[[], Any],
    *,
    read_back: Callable[[Intent], str | bool | None] | None,
    deadline_seconds: float,
    what: str,
    ref_of: Callable[[Any], Any] = lambda answer: None,
    max_attempts: int = 2,
    sleep: Callable[[float], None] = time.sleep,
) -> Sent:
    """Send a write that could act twice at most once, through the journal.

    Earlier intents of ``key`` are resolved first (found: not sent again). Then intent, ``send()``,
    outcome. A lost answer is read back; not found before it settles raises :class:`WriteUnknown`;
    proven not applied, it is sent again, ``max_attempts`` sends in a try at most. Refusals and
    errors from ``send()`` are recorded (not applied) and re-raised. ``what`` names the write in
    messages (``"POST /accounts for 'Acme'"``).
    """
    from airflow_provider_activecampaign.exceptions import (
        ActiveCampaignAmbiguousWriteError,
        ActiveCampaignError,
    )

    decision = settle(journal, writer, key, read_back, sleep=sleep)
    if decision.resolution is Resolution.APPLIED:
        return Sent(None, decision.ref, decision.sent, recovered=True)
    if decision.resolution is Resolution.UNKNOWN:
        raise WriteUnknown(unknown_reason(what, decision.sent, None), sent=decision.sent)
    sent = decision.sent
    error: Exception | None = None
    for _ in range(max_attempts):
        intent = journal.intent(writer, key, payload, deadline_seconds=deadline_seconds)
        sent += 1
        try:
            answer = send()
        except ActiveCampaignAmbiguousWriteError as lost:
            error = lost
            journal.outcome(intent, Outcome.AMBIGUOUS)
            decision = settle(journal, writer, key, read_back, sleep=sleep)
            if decision.resolution is Resolution.APPLIED:
                return Sent(None, decision.ref, sent, recovered=True)
            if decision.resolution is Resolution.UNKNOWN:
                raise WriteUnknown(unknown_reason(what, sent, lost), sent=sent) from None
            continue  # proven not applied after it settled: sending it again is not a resend
        except ActiveCampaignError:
            # Answered with a refusal, or never sent (the transport tells these apart): not applied.
            journal.outcome(intent, Outcome.REFUSED)
            raise
        # Anything else (the task killed or timed out while waiting for the answer, a bug) leaves the
        # intent open: it may have been applied, and the next read-back says whether it was.
        ref = ref_of(answer)
        journal.outcome(intent, Outcome.APPLIED, ref=ref)
        return Sent(answer, None if ref is None else str(ref), sent)
    raise WriteUnknown(
        f"{what} was sent {times(sent)}; each answer was lost and read-backs after it settled found "
        f"nothing, so it was not sent again. {lost_answer(error)}.",
        sent=sent,
    )


def unknown_reason(what: str, sent: int, error: Any) -> str:
    """The message of a write that may still apply (sent, not found yet, not resent)."""
    cause = f"; {lost_answer(error)}" if error is not None else " (no answer was recorded for it)"
    return (
        f"{what} was sent {times(sent)}{cause}; it is not found yet and ActiveCampaign may still apply "
        "it, so it was not sent again. The next run reads it back once it has settled "
        "(write_settle_seconds) and sends it only if it is still missing."
    )


def fingerprint(payload: Any) -> str:
    """A short digest of ``payload`` (canonical JSON): proves what was sent without storing it."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def settle_seconds() -> float:
    """``[activecampaign] write_settle_seconds`` (default 60)."""
    from airflow.sdk import conf

    return max(0.0, conf.getfloat(CONFIG_SECTION, SETTLE_OPTION, fallback=DEFAULT_SETTLE_SECONDS))


def journal_root() -> ObjectStoragePath:
    """``[activecampaign] write_journal_path`` (default ``$AIRFLOW_HOME/activecampaign/journal``)."""
    from airflow.sdk import conf

    configured = conf.get(CONFIG_SECTION, PATH_OPTION, fallback=None)
    if not configured:
        home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
        configured = os.path.join(home, "activecampaign", "journal")
    return ObjectStoragePath(configured)


def task_scope(context: Mapping[str, Any]) -> str:
    """``dag_id/run_id/task_id[.map_index]``: the same for every try and re-run of a task instance."""
    ti = context["ti"]
    run_id = getattr(ti, "run_id", None) or context.get("run_id")
    map_index = getattr(ti, "map_index", -1)
    task = ti.task_id if map_index in (None, -1) else f"{ti.task_id}.{map_index}"
    return "/".join(_safe(part) for part in (ti.dag_id, str(run_id), task))


def _safe(part: str) -> str:
    """A path segment that cannot climb out of the journal's root."""
    cleaned = _UNSAFE.sub("_", part).strip(".") or "_"
    return cleaned[:200]


class WriteJournal:
    """Intents and outcomes of one scope's writes; one session (segment) per instance.

    :param root: Where journals live (any ``ObjectStoragePath`` URI or local path).
    :param scope: The scope's relative path (see :func:`task_scope`).
    :param settle: ``write_settle_seconds`` (default from the Airflow config).
    :param fsync: Flush each intent to the disk before the write is sent (a machine crash keeps it).
    """

    def __init__(
        self,
        root: ObjectStoragePath | str,
        scope: str,
        *,
        settle: float | None = None,
        fsync: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = root if isinstance(root, ObjectStoragePath) else ObjectStoragePath(root)
        self.scope = scope
        self.directory = self.root / scope
        self.settle = settle_seconds() if settle is None else max(0.0, float(settle))
        self.fsync = fsync
        self.clock = clock
        self.session = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.started = clock()
        self._lock = threading.Lock()
        self._seq = 0
        self._fd: int | None = None
        self._intents: dict[str, Intent] | None = None
        self._by_key: dict[str, list[Intent]] = {}
        #: Bytes this session appended (for the cost benchmark).
        self.bytes_written = 0

    @classmethod
    def for_task(cls, context: Mapping[str, Any], **kwargs: Any) -> WriteJournal:
        """The journal of the running task instance, under the configured root."""
        return cls(journal_root(), task_scope(context), **kwargs)

    # ----------------------------------------------------------------------------------------------
    # Reading
    # ----------------------------------------------------------------------------------------------

    def load(self) -> dict[str, Intent]:
        """Every intent of the scope, with its outcomes (read once; this session's are added live)."""
        if self._intents is not None:
            return self._intents
        intents: dict[str, Intent] = {}
        late: list[dict[str, Any]] = []
        for record in self._records():
            if record.get("op") == "intent":
                try:
                    intents[record["id"]] = Intent(
                        id=record["id"],
                        writer=record["writer"],
                        key=record["key"],
                        fingerprint=record.get("fp", ""),
                        sent_at=float(record["sent_at"]),
                        deadline=float(record["deadline"]),
                        session=record.get("session", ""),
                        target=record.get("target"),
                    )
                except (KeyError, TypeError, ValueError):
                    continue
            elif record.get("op") == "outcome":
                late.append(record)
        for record in sorted(late, key=lambda r: float(r.get("at", 0))):
            intent = intents.get(str(record.get("id")))
            if intent is not None and record.get("outcome") in Outcome._value2member_map_:
                intent.outcomes.append(record)
        self._intents = intents
        self._by_key = {}
        for intent in sorted(intents.values(), key=lambda i: i.sent_at):
            self._by_key.setdefault(self._index(intent.writer, intent.key), []).append(intent)
        return intents

    def _records(self) -> Iterator[dict[str, Any]]:
        if not self.directory.exists():
            return
        for path in sorted(self.directory.iterdir(), key=lambda p: p.name):
            if not path.name.endswith(".jsonl"):
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                continue
            for line in text.splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # a line torn by a crash: its item stays unresolved (unknown)
                if isinstance(record, dict):
                    yield record

    def history(self, writer: str, key: str) -> list[Intent]:
        """The intents of one item, oldest first."""
        self.load()
        return list(self._by_key.get(self._index(writer, key), []))

    @staticmethod
    def _index(writer: str, key: str) -> str:
        return f"{writer}\x1f{key}"

    def settles_at(self, intent: Intent) -> float:
        """When a read-back that finds nothing may count the intent as not applied.

        The request's deadline is the latest moment it could still be in flight: the ``deadline``
        recorded with the intent, or, if the answer was lost, the moment it was (recorded), or, for
        an intent of an earlier session without an outcome (a killed try), the start of this session
        (Airflow starts a try only after the previous one ended). Plus the settle period.
        """
        deadline = intent.deadline
        for record in intent.outcomes:
            if record.get("outcome") == Outcome.AMBIGUOUS.value:
                deadline = min(deadline, float(record.get("at", deadline)))
        if intent.session != self.session:
            deadline = min(deadline, self.started)
        return deadline + self.settle

    def worth_waiting(self, writer: str, key: str, settles_at: float, max_wait: float) -> bool:
        """Whether a try should wait until ``settles_at`` rather than report the item ``unknown``.

        Yes within ``max_wait``; and yes when every open intent of the item is an earlier try's (a
        killed one) and settles within :data:`MAX_EARLIER_SETTLE_WAIT`: those settle at most
        ``settle`` seconds after this session began, so waiting for them costs a try at most one
        settle period in all, where reporting ``unknown`` would cost a whole retry (and a retry that
        starts sooner than ``write_settle_seconds`` after the killed try, as with a short
        ``retry_delay``, would never settle anything).
        """
        wait = settles_at - self.clock()
        if wait <= max_wait:
            return True
        pending = [intent for intent in self.history(writer, key) if not intent.closed]
        earlier = bool(pending) and all(intent.session != self.session for intent in pending)
        return earlier and wait <= MAX_EARLIER_SETTLE_WAIT and settles_at <= self.started + self.settle

    # ----------------------------------------------------------------------------------------------
    # Deciding
    # ----------------------------------------------------------------------------------------------

    def resolve(
        self,
        writer: str,
        key: str,
        read_back: Callable[[Intent], str | bool | None] | None = None,
    ) -> Decision:
        """Resolve the item's open intents; say whether it may be sent.

        ``read_back(intent)`` looks for the write: a truthy value (the created object's id, or
        ``True``) means found; ``None``/``False`` not found. Without it, an open intent is
        ``unknown`` for good (the write cannot be read back).
        """
        intents = self.history(writer, key)
        sent = len(intents)
        for intent in intents:
            if intent.outcome is Outcome.APPLIED:
                return Decision(Resolution.APPLIED, sent=sent, ref=intent.ref)
        pending = [intent for intent in intents if not intent.closed]
        if not pending:
            return Decision(Resolution.SEND, sent=sent)
        if read_back is None:
            return Decision(Resolution.UNKNOWN, sent=sent)
        latest_settle = 0.0
        for intent in pending:
            # Read after the settle time is taken: a late apply before the read is then found.
            settled = self.clock() >= self.settles_at(intent)
            found = read_back(intent)
            if found:
                ref = found if isinstance(found, str) else None
                self.outcome(intent, Outcome.APPLIED, ref=ref, note="found by a read-back")
                return Decision(Resolution.APPLIED, sent=sent, ref=ref or intent.ref)
            if settled:
                self.outcome(intent, Outcome.NOT_APPLIED, note="not found by a read-back after it settled")
            else:
                latest_settle = max(latest_settle, self.settles_at(intent))
        if latest_settle:
            return Decision(Resolution.UNKNOWN, sent=sent, settles_at=latest_settle)
        return Decision(Resolution.SEND, sent=sent)

    def open_intents(self, writer: str | None = None) -> list[Intent]:
        """Intents without a closing outcome (of one writer, or all)."""
        return [
            intent
            for intent in self.load().values()
            if not intent.closed and (writer is None or intent.writer == writer)
        ]

    # ----------------------------------------------------------------------------------------------
    # Writing
    # ----------------------------------------------------------------------------------------------

    def intent(
        self, writer: str, key: str, payload: Any, *, deadline_seconds: float, target: Any = None
    ) -> Intent:
        """Record, durably, that ``payload`` is about to be sent for ``key``; call just before sending.

        ``target``: the id of what the write acts on, when known (kept so a retry can check it).
        """
        self.load()
        now = self.clock()
        intent = Intent(
            id=uuid.uuid4().hex,
            writer=writer,
            key=key,
            fingerprint=fingerprint(payload),
            sent_at=now,
            deadline=now + max(0.0, float(deadline_seconds)),
            session=self.session,
            target=None if target is None else str(target),
        )
        record: dict[str, Any] = {
            "v": FORMAT_VERSION,
            "op": "intent",
            "id": intent.id,
            "writer": writer,
            "key": key,
            "fp": intent.fingerprint,
            "sent_at": intent.sent_at,
            "deadline": intent.deadline,
            "session": self.session,
        }
        if intent.target is not None:
            record["target"] = intent.target
        self._append(record, sync=True)
        assert self._intents is not None
        self._intents[intent.id] = intent
        self._by_key.setdefault(self._index(writer, key), []).append(intent)
        return intent

    def outcome(self, intent: Intent, outcome: Outcome, *, ref: Any = None, note: str | None = None) -> None:
        """Record what the answer (or a read-back) said about ``intent``."""
        record: dict[str, Any] = {
            "v": FORMAT_VERSION,
            "op": "outcome",
            "id": intent.id,
            "outcome": outcome.value,
            "at": self.clock(),
            "session": self.session,
        }
        if ref is not None:
            record["ref"] = str(ref)
        if note:
            record["note"] = note
        # Not fsynced: a lost outcome leaves the intent open, which a read-back resolves (or which
        # stays "unknown" and is not resent): the safe direction, at half the cost.
        self._append(record, sync=False)
        intent.outcomes.append(record)

    def _append(self, record: dict[str, Any], *, sync: bool) -> None:
        line = (json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
        with self._lock:
            if self._is_local():
                self._append_local(line, sync=sync and self.fsync)
            else:
                # An object store cannot append: each record is one object, written whole (atomic).
                self._seq += 1
                self.directory.mkdir(parents=True, exist_ok=True)
                (self.directory / f"{self.session}.{self._seq:08d}.jsonl").write_bytes(line)
            self.bytes_written += len(line)

    def _is_local(self) -> bool:
        from fsspec.implementations.local import LocalFileSystem

        return isinstance(self.directory.fs, LocalFileSystem)

    def _append_local(self, line: bytes, *, sync: bool) -> None:
        if self._fd is None:
            local = self.directory.path
            os.makedirs(local, exist_ok=True)
            self._fd = os.open(
                os.path.join(local, f"{self.session}.jsonl"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600
            )
        os.write(self._fd, line)  # one write of the whole line: O_APPEND keeps it in one piece
        if sync:
            os.fsync(self._fd)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> WriteJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def request_deadline_seconds(hook: Any) -> float:
    """The latest a write through ``hook`` can still be in flight after it was handed to the transport.

    Pacing and throttling may hold a call back for up to ``max_wait`` before it leaves, and one
    attempt waits at most twice the timeout (connect + read) plus slack. A lost answer, or a later
    try finding the intent open (the earlier process is gone), narrows it (see ``settles_at``).
    """
    settings = getattr(hook, "settings", None)
    if settings is None:  # a stand-in hook (tests): the transport's defaults
        from airflow_provider_activecampaign.hooks.transport import DEFAULT_MAX_WAIT, DEFAULT_TIMEOUT

        return float(DEFAULT_MAX_WAIT) + 2 * float(DEFAULT_TIMEOUT) + 5.0
    return float(settings.max_wait) + 2 * float(settings.timeout) + 5.0


def lost_answer(error: Any) -> str:
    """What is known about a write whose answer did not say whether it applied (for messages)."""
    status = getattr(error, "status", None)
    if status is not None:
        return f"ActiveCampaign answered HTTP {status}, which does not say whether it was applied"
    return "no answer came back (timeout or dropped connection), so whether it was applied is not known"


def times(count: int) -> str:
    """``once``, ``twice``, ``3 times``: how often something was sent, for messages."""
    return {0: "never", 1: "once", 2: "twice"}.get(count, f"{count} times")
