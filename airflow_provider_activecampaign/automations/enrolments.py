"""Automation enrolments (``contactAutomations``): when one is running, and how to add or remove
contacts so that no contact is ever enrolled twice by a task, its retries or its re-runs.

The operators in ``operators/automations.py`` are thin wrappers of :class:`Enroller` and
:class:`Remover`; the sensor and the trigger share :func:`summarize`. The design is explained in
``docs/operators/automations.md`` ("Never twice"); in short:

1. Before enrolling a contact, read its enrolments (``GET /contacts/{id}/contactAutomations``).
   A contact already running through the automation is skipped (unless ``allow_reentry``); with
   ``skip_completed``, so is a contact with any earlier enrolment in it (running or finished), at
   no extra request: it is the same read.
2. On a retry or re-run of the task (try number > 1), any enrolment in the automation that started
   since the DAG run was created counts as made by an earlier try and is reported, not repeated,
   whatever its status and whatever ``allow_reentry`` says. ActiveCampaign's own data is the
   ledger: it survives worker crashes, XCom clearing and a POST whose answer was lost.
3. Every POST goes through the write journal (``records/journal.py``): its intent is on storage
   before the request leaves, its outcome after. A POST that fails ambiguously
   (``ActiveCampaignAmbiguousWriteError``) is read back at once; not found, the contact waits (at
   most ``read_back_delay`` seconds) until the request's deadline plus ``write_settle_seconds`` has
   passed, because ActiveCampaign may apply a timed-out write seconds later. Only a read-back after
   that counts as "not enrolled" and lets the POST go once more; otherwise the contact is reported
   ``unknown`` and not sent again in that try. A later try (a retry after a kill, a re-run) first
   resolves the intents earlier tries left open the same way.
4. On a first try with ``allow_reentry`` the read before the POST decides nothing, so it is
   skipped; an ambiguous POST is then recognised on read-back by its start time.
"""

from __future__ import annotations

import logging
import math
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol, TypeVar

from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_activecampaign.exceptions import (
    ActiveCampaignAmbiguousWriteError,
    ActiveCampaignError,
    ActiveCampaignNotFoundError,
    ActiveCampaignValidationError,
)
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.records.dates import UnparseableDateError, parse_ac_datetime
from airflow_provider_activecampaign.records.journal import Intent, Outcome, WriteJournal, lost_answer, times
from airflow_provider_activecampaign.records.journal import Resolution as WriteResolution
from airflow_provider_activecampaign.records.names import resolve_ids
from airflow_provider_activecampaign.records.refs import (
    FATAL_ERRORS,
    ContactResolver,
    ParsedContacts,
    Resolution,
    failure_reason,
)

log = logging.getLogger(__name__)


def resolve_automation(hook: ActiveCampaignHook, automation: str | int) -> str:
    """The automation's id from its id or exact name; unknown or ambiguous names raise, listing candidates."""
    wanted = str(automation).strip()
    if not wanted:
        raise AirflowFailException("automation is empty: pass the automation's id or exact name.")
    return resolve_ids(hook, "automations", key="automations", wanted=[wanted], kind="automation")[wanted]


class Logger(Protocol):
    """What we log through: a stdlib logger or an operator's ``self.log``."""

    def info(self, msg: str, /, *args: Any) -> Any: ...

    def warning(self, msg: str, /, *args: Any) -> Any: ...


# --------------------------------------------------------------------------------------------------
# Status rules
# --------------------------------------------------------------------------------------------------

RUNNING = "running"
COMPLETED = "completed"
EXITED = "exited"
UNKNOWN = "unknown"
FINISHED = frozenset({COMPLETED, EXITED})


#: The write journal's name for enrolments (key: ``automation id:contact id``).
WRITER = "automation_enrolments"
#: A POST's deadline when the operator does not give one (one attempt at the default timeout).
DEFAULT_DEADLINE_SECONDS = 65.0

#: How far before the DAG run's ``run_after`` an enrolment may have started and still count as made by
#: an earlier try of the task: room for the difference between Airflow's and ActiveCampaign's clocks.
CLOCK_SKEW_MARGIN = timedelta(minutes=5)

#: Page sizes after which ``/contacts/{id}/contactAutomations`` may have more rows (the endpoint
#: documents no paging; 20 is the API's default page size, 100 its maximum).
_FULL_PAGES = frozenset({20, 100})


def enrolment_phase(row: Mapping[str, Any]) -> str:
    """``running``, ``completed``, ``exited`` or ``unknown`` for one contactAutomation.

    The rule (inferred from the reference's examples, which document no status values): status
    ``1`` with ``completed`` 0 is running; status ``2`` has ended, ``completed`` 1 meaning it ran to
    the end and 0 that the contact left early. ``completed`` 1 alone also counts as completed. Any
    other status is ``unknown``, which every caller treats like running: waiting longer, or not
    enrolling again, is the safe side.
    """
    status = str(row.get("status", "")).strip()
    completed = str(row.get("completed", "0")).strip().lower() in {"1", "true"}
    if status == "1" and not completed:
        return RUNNING
    if status == "2":
        return COMPLETED if completed else EXITED
    if completed:
        return COMPLETED
    return UNKNOWN


def is_running(row: Mapping[str, Any]) -> bool:
    return enrolment_phase(row) not in FINISHED


def parse_ac_timestamp(text: Any) -> datetime | None:
    """An ActiveCampaign date (``2018-09-28T13:50:41-05:00``, ``2018-09-28T1:50:41-05:00``) as an
    aware datetime, read by the one rule of ``records/dates.py``.

    ``0000-00-00…`` (old rows) is the distant past; ``None`` means absent, without an offset (we
    cannot place it in time, so we do not guess) or unreadable (warned about here; the callers
    then take the safe side).
    """
    if not isinstance(text, str) or not text.strip():
        return None
    value = text.strip()
    if value.startswith("0000-00-00"):
        return datetime.min.replace(tzinfo=UTC)
    try:
        parsed = parse_ac_datetime(value)
    except UnparseableDateError as error:
        log.warning(
            "An enrolment date cannot be read: %s; it counts as recent (nothing is enrolled twice).", error
        )
        return None
    if parsed is None or parsed.tzinfo is None or parsed.utcoffset() is None:
        return None
    return parsed


def started_since(row: Mapping[str, Any], since: datetime) -> bool:
    """Whether the enrolment started at or after ``since``; an unreadable ``adddate`` counts as yes.

    Counting an unreadable date as recent means "do not enrol again", the safe side.
    """
    added = parse_ac_timestamp(row.get("adddate"))
    return added is None or added >= since


def earlier_tries_since(context: Mapping[str, Any]) -> datetime | None:
    """Since when enrolments may come from earlier tries of this task in this DAG run.

    ``None`` on the first try: nothing of this task instance can exist yet. From the second try on
    (an Airflow retry, or the task cleared and run again) it is the run's ``run_after`` (the
    earliest any try can have started; unchanged when a run is cleared), less a margin for clock
    differences.
    """
    ti = context.get("ti")
    try_number = int(getattr(ti, "try_number", 1) or 1)
    if try_number <= 1:
        return None
    dag_run = context.get("dag_run")
    candidates = [
        getattr(dag_run, "run_after", None),
        getattr(dag_run, "start_date", None),
        getattr(ti, "start_date", None),
    ]
    known = [c for c in candidates if isinstance(c, datetime)]
    base = min(known) if known else datetime.now(UTC)
    if base.tzinfo is None:
        base = base.replace(tzinfo=UTC)
    return base - CLOCK_SKEW_MARGIN


# --------------------------------------------------------------------------------------------------
# Reading enrolments
# --------------------------------------------------------------------------------------------------


def read_contact_enrolments(
    hook: ActiveCampaignHook, contact_id: str, automation_id: str | None = None
) -> list[dict[str, Any]]:
    """Every enrolment of one contact (in one automation, if given), oldest first.

    Raises ``ActiveCampaignNotFoundError`` when the contact does not exist. The endpoint documents
    no paging; should a page come back full, the next offset is read too, until a page brings
    nothing new (an endpoint that ignores ``offset`` repeats itself and ends the loop).
    """
    rows: dict[str, dict[str, Any]] = {}
    offset = 0
    while True:
        body = hook.get(f"contacts/{contact_id}/contactAutomations", params={"limit": 100, "offset": offset})
        page = [row for row in (body.get("contactAutomations") or []) if isinstance(row, Mapping)]
        new = [row for row in page if str(row.get("id")) not in rows]
        for row in new:
            rows[str(row.get("id"))] = dict(row)
        if not new or len(page) not in _FULL_PAGES:
            break
        offset += len(page)
    selected = [
        row
        for row in rows.values()
        if automation_id is None or str(row.get("automation") or row.get("seriesid")) == automation_id
    ]
    return sorted(selected, key=_id_order)


def _id_order(row: Mapping[str, Any]) -> tuple[int, str]:
    ident = str(row.get("id", ""))
    return (int(ident), "") if ident.isdigit() else (0, ident)


def read_enrolment(hook: ActiveCampaignHook, contact_automation_id: str) -> dict[str, Any] | None:
    """One enrolment by id, or ``None`` when ActiveCampaign no longer has it."""
    try:
        body = hook.get(f"contactAutomations/{contact_automation_id}")
    except ActiveCampaignNotFoundError:
        return None
    return dict(body.get("contactAutomation") or {})


def parse_contact_automation_ids(value: Any, *, parameter: str = "contact_automation_ids") -> list[str]:
    """Enrolment ids from a list, a comma-separated string, or the add operator's result.

    From the add operator's result, the ids of ``enrolled`` are used: the operator reports those it
    skipped by contact, so wait for them with ``automation`` + ``contacts`` instead.
    """
    import ast
    import json

    if value is None:
        raise TypeError(f"{parameter} is required.")
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in "[{(":
            for loader in (json.loads, ast.literal_eval):
                try:
                    return parse_contact_automation_ids(loader(text), parameter=parameter)
                except (ValueError, SyntaxError, TypeError):
                    continue
        items: Iterable[Any] = [part for part in text.replace(";", ",").replace(" ", ",").split(",") if part]
    elif isinstance(value, Mapping):
        if "enrolled" in value and isinstance(value["enrolled"], Mapping):
            items = value["enrolled"].values()
        elif "contact_automation_ids" in value:
            items = value["contact_automation_ids"] or []
        else:
            raise TypeError(
                f"{parameter} is a dict with keys {', '.join(repr(k) for k in list(value)[:10])}; expected "
                "a list of contactAutomation ids or the result of "
                "ActiveCampaignAddContactsToAutomationOperator."
            )
    elif isinstance(value, int):
        items = [value]
    elif isinstance(value, Iterable):
        items = value
    else:
        raise TypeError(f"{parameter} must be a list of contactAutomation ids, got {type(value).__name__}.")
    ids: list[str] = []
    for item in items:
        text = str(item).strip()
        if isinstance(item, bool) or not text.isdigit() or int(text) <= 0:
            raise TypeError(f"{parameter} contains {text[:50]!r}, which is not a contactAutomation id.")
        if str(int(text)) not in ids:
            ids.append(str(int(text)))
    return ids


# --------------------------------------------------------------------------------------------------
# Completion
# --------------------------------------------------------------------------------------------------


@dataclass
class CompletionState:
    """Where a set of enrolments stands: finished (completed or exited), running, or gone."""

    completed: list[str] = field(default_factory=list)
    exited: list[str] = field(default_factory=list)
    running: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return not self.running and not self.missing

    def as_result(self) -> dict[str, list[str]]:
        return {"completed": list(self.completed), "exited": list(self.exited)}

    def describe_running(self, limit: int = 20) -> str:
        return describe_running(self.running, limit)

    def describe_missing(self) -> str:
        shown = ", ".join(self.missing[:20]) + (
            f" and {len(self.missing) - 20} more" if len(self.missing) > 20 else ""
        )
        return (
            f"{len(self.missing)} enrolment(s) no longer exist in ActiveCampaign: {shown}. They were "
            "removed from the automation (or the ids are wrong), so they can never complete."
        )


def describe_running(running: Mapping[str, Mapping[str, Any]], limit: int = 20) -> str:
    """``3 still running: 12 (contact 5, 40% done), …`` for error messages."""
    parts = []
    for ident, row in list(running.items())[:limit]:
        bits = [f"contact {row.get('contact')}"] if row.get("contact") is not None else []
        if row.get("completeValue") is not None:
            bits.append(f"{row.get('completeValue')}% done")
        if enrolment_phase(row) == UNKNOWN:
            bits.append(f"status {row.get('status')!r}")
        parts.append(f"{ident} ({', '.join(bits)})" if bits else ident)
    more = f" and {len(running) - limit} more" if len(running) > limit else ""
    return f"{len(running)} enrolment(s) still running: {', '.join(parts)}{more}"


def summarize(rows: Mapping[str, Mapping[str, Any] | None]) -> CompletionState:
    """Classify enrolments read by id (``None`` = no longer exists), keeping the given order."""
    state = CompletionState()
    for ident, row in rows.items():
        if row is None:
            state.missing.append(ident)
            continue
        phase = enrolment_phase(row)
        if phase == COMPLETED:
            state.completed.append(ident)
        elif phase == EXITED:
            state.exited.append(ident)
        else:
            state.running[ident] = dict(row)
    return state


def refresh_unfinished(
    hook: ActiveCampaignHook,
    ids: Sequence[str],
    rows: dict[str, dict[str, Any] | None],
    max_workers: int = 2,
) -> CompletionState:
    """Read every enrolment of ``ids`` not known to be finished into ``rows``; summarize them all.

    Finished enrolments never change again, so each call costs one request per running one.
    """

    def unfinished(ident: str) -> bool:
        if ident not in rows:
            return True
        row = rows[ident]
        return row is not None and is_running(row)  # None: gone for good, nothing to re-read

    pending = [ident for ident in ids if unfinished(ident)]
    progress = Progress(log, "Checking enrolments", len(pending), 10**9)
    fresh = map_in_threads(lambda ident: read_enrolment(hook, ident), pending, max_workers, progress)
    rows.update(zip(pending, fresh, strict=True))
    return summarize({ident: rows.get(ident) for ident in ids})


def wait_until_finished(
    hook: ActiveCampaignHook,
    ids: Sequence[str],
    *,
    poll_interval: float,
    timeout: float,
    logger: Logger | None = None,
) -> CompletionState:
    """Poll until every enrolment has finished; raise with what is still running at ``timeout``."""
    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    logger = logger or log
    deadline = time.monotonic() + timeout
    rows: dict[str, dict[str, Any] | None] = {}
    while True:
        state = refresh_unfinished(hook, ids, rows)
        if state.missing:
            # Removed while we waited: not retried, since a retry could not see the removed
            # enrolment and would enrol the contact again.
            raise AirflowFailException(state.describe_missing())
        if state.done:
            return state
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AirflowException(
                f"Timed out after {timeout:.0f} s waiting for the automation to finish: "
                f"{state.describe_running()}."
            )
        logger.info(
            "%d of %d enrolment(s) finished; %s",
            len(ids) - len(state.running),
            len(ids),
            state.describe_running(limit=5),
        )
        time.sleep(min(poll_interval, remaining))


# --------------------------------------------------------------------------------------------------
# Progress and concurrency
# --------------------------------------------------------------------------------------------------


class Progress:
    """Log ``done/total``, the rate and the time left every ``every`` items (thread-safe)."""

    def __init__(self, logger: Logger, what: str, total: int, every: int) -> None:
        self.logger = logger
        self.what = what
        self.total = total
        self.every = max(1, every)
        self.done = 0
        self.started = time.monotonic()
        self._lock = threading.Lock()

    def step(self) -> None:
        with self._lock:
            self.done += 1
            done = self.done
        if done % self.every and done != self.total:
            return
        if self.total < self.every:
            return  # small lists: the summary line says it all
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = done / elapsed
        left = (self.total - done) / rate if rate > 0 else math.inf
        self.logger.info(
            "%s: %d/%d contacts (%.1f/s), about %s left", self.what, done, self.total, rate, _duration(left)
        )


def _duration(seconds: float) -> str:
    if math.isinf(seconds):
        return "unknown time"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, whole = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{whole:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


_In = TypeVar("_In")
_Out = TypeVar("_Out")


def map_in_threads(
    func: Callable[[_In], _Out], items: Sequence[_In], max_workers: int, progress: Progress
) -> list[_Out]:
    """``[func(item) …]`` in input order, ``max_workers`` at a time (the hook's limiter paces them).

    Only a few items are queued ahead, so memory stays flat for long lists, and an exception (or
    the task being killed) stops everything at once: queued items never start, running ones end.
    """

    def run(item: _In) -> _Out:
        result = func(item)
        progress.step()
        return result

    if max_workers <= 1 or len(items) <= 1:
        return [run(item) for item in items]
    results: list[Any] = [None] * len(items)
    in_flight: dict[Future[_Out], int] = {}
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="activecampaign") as pool:
        try:
            for index, item in enumerate(items):
                in_flight[pool.submit(run, item)] = index
                if len(in_flight) >= 2 * max_workers:
                    done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    for future in done:
                        results[in_flight.pop(future)] = future.result()
            for future in as_completed(list(in_flight)):
                results[in_flight.pop(future)] = future.result()
        except BaseException:
            for future in in_flight:
                future.cancel()
            raise
    return results


# --------------------------------------------------------------------------------------------------
# Enrolling
# --------------------------------------------------------------------------------------------------

OutcomeKind = Literal["enrolled", "skipped", "skipped_previous", "not_found", "failed", "unconfirmed"]


@dataclass
class _Outcome:
    kind: OutcomeKind
    enrolment_id: str | None = None
    reason: str | None = None
    #: The enrolment was made earlier in this DAG run (an earlier try), not by this call.
    earlier: bool = False
    #: For ``unconfirmed``: the contact's enrolment ids before the POST (``None``: not read, see
    #: ``Enroller._enrol``), and when it failed.
    known_ids: frozenset[str] | None = None
    failed_at: float = 0.0
    #: POSTs sent for the contact in this try.
    sends: int = 0


@dataclass
class EnrolmentReport:
    """The add operator's result (``as_result``), plus what it needs to wait for the contacts."""

    enrolled: dict[str, str] = field(default_factory=dict)
    skipped_already_active: list[str] = field(default_factory=list)
    #: Contacts with only finished enrolments in the automation, skipped under ``skip_completed``.
    skipped_previously_enrolled: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    #: Running enrolment of each skipped contact, by contact key (waited for with the enrolled ones).
    active_ids: dict[str, str] = field(default_factory=dict)
    #: Contacts whose enrolment an earlier try of the task made (subset of ``enrolled``).
    from_earlier_tries: list[str] = field(default_factory=list)
    created_contacts: list[str] = field(default_factory=list)
    total: int = 0

    def as_result(self) -> dict[str, Any]:
        return {
            "enrolled": dict(self.enrolled),
            "skipped_already_active": list(self.skipped_already_active),
            "skipped_previously_enrolled": list(self.skipped_previously_enrolled),
            "not_found": list(self.not_found),
            "failed": [dict(item) for item in self.failed],
        }

    def ids_to_wait_for(self) -> list[str]:
        ids: list[str] = []
        for ident in [*self.enrolled.values(), *self.active_ids.values()]:
            if ident not in ids:
                ids.append(ident)
        return ids


class Enroller:
    """Add contacts to one automation, never twice (see the module docstring for the rules).

    :param hook: The sync hook; its limiter paces every call, whatever ``max_workers`` is.
    :param automation_id: The automation's id (resolve names first).
    :param allow_reentry: Enrol contacts even when they are running through the automation now.
    :param skip_completed: Never enrol a contact that has ever been in the automation (running,
        completed or exited); contradicts ``allow_reentry``.
    :param earlier_tries_since: From :func:`earlier_tries_since`; enrolments started since then were
        made by an earlier try and are never repeated.
    :param read_back_delay: The longest this try waits for an ambiguous enrolment to settle (its
        request's deadline plus ``write_settle_seconds``) before reporting it ``unknown``.
    :param max_workers: Contacts handled at once (round trips overlap; the rate limit is unchanged).
    :param progress_every: Log progress every this many contacts.
    :param journal: The write journal (the operator's per-task one). Without it, a throwaway one
        whose settle period is ``read_back_delay``.
    :param deadline_seconds: The latest a POST can still be in flight (``request_deadline_seconds``).
    """

    def __init__(
        self,
        hook: ActiveCampaignHook,
        automation_id: str,
        *,
        create_missing: bool = False,
        allow_reentry: bool = False,
        skip_completed: bool = False,
        earlier_tries_since: datetime | None = None,
        read_back_delay: float = 60.0,
        max_workers: int = 2,
        progress_every: int = 100,
        logger: Logger | None = None,
        journal: WriteJournal | None = None,
        deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.hook = hook
        self.automation_id = str(automation_id)
        self.resolver = ContactResolver(hook, create_missing=create_missing)
        check_reentry_options(allow_reentry=allow_reentry, skip_completed=skip_completed)
        self.allow_reentry = allow_reentry
        self.skip_completed = skip_completed
        self.since = earlier_tries_since
        self.read_back_delay = max(0.0, float(read_back_delay))
        self.journal = journal or WriteJournal(
            tempfile.mkdtemp(prefix="ac-journal-"), WRITER, settle=self.read_back_delay
        )
        self.deadline_seconds = float(deadline_seconds)
        self.sleep = sleep
        self.max_workers = max(1, int(max_workers))
        self.progress_every = progress_every
        self.log = logger or log
        #: The contact's enrolment ids read just before each of this try's POSTs (by intent id).
        self._known_ids: dict[str, frozenset[str]] = {}

    def run(self, parsed: ParsedContacts) -> EnrolmentReport:
        report = EnrolmentReport(total=parsed.total)
        self.hook.get_conn()  # build the session once, before threads share it
        self.journal.load()  # read once, before threads share it
        resolutions = resolve_all(self.resolver, parsed, self.max_workers, self.progress_every, self.log)
        contact_ids = _distinct_contacts(resolutions)
        progress = Progress(
            self.log, f"Enrolling in automation {self.automation_id}", len(contact_ids), self.progress_every
        )
        enrolled = map_in_threads(self._enrol, contact_ids, self.max_workers, progress)
        outcomes = dict(zip(contact_ids, enrolled, strict=True))
        for contact_id, outcome in outcomes.items():
            if outcome.kind == "unconfirmed":
                outcomes[contact_id] = self._confirm(contact_id, outcome)
        for resolution in resolutions:  # in the caller's order
            if resolution.contact_id is not None:
                outcome = outcomes[resolution.contact_id]
                if resolution.created:
                    report.created_contacts.append(resolution.ref.key)
            elif resolution.not_found:
                outcome = _Outcome("not_found")
            else:
                outcome = _Outcome("failed", reason=resolution.reason)
            _record(report, resolution.ref.key, outcome)
        report.failed.extend(dict(item) for item in parsed.invalid)
        return report

    # One contact ------------------------------------------------------------------------------

    def _key(self, contact_id: str) -> str:
        return f"{self.automation_id}:{contact_id}"

    def _enrol(self, contact_id: str) -> _Outcome:
        if self.journal.history(WRITER, self._key(contact_id)):
            settled = self._resolve_earlier_sends(contact_id)
            if settled is not None:
                return settled
        if self.allow_reentry and self.since is None:
            # First try, re-entry allowed: nothing of this task can exist yet and running enrolments
            # do not matter, so the read would only serve to recognise our enrolment after an
            # ambiguous failure, which its start time does as well. One request saved per contact.
            return self._post(contact_id, None)
        try:
            rows = read_contact_enrolments(self.hook, contact_id, self.automation_id)
        except ActiveCampaignNotFoundError:
            return _Outcome("not_found")
        except FATAL_ERRORS:
            raise
        except ActiveCampaignError as error:
            return _Outcome(
                "failed", reason=f"could not read the contact's enrolments: {failure_reason(error)}"
            )
        if self.since is not None:
            earlier = [row for row in rows if started_since(row, self.since)]
            if earlier:
                return _Outcome("enrolled", enrolment_id=str(earlier[-1]["id"]), earlier=True)
        running = [row for row in rows if is_running(row)]
        if running and not self.allow_reentry:
            return _Outcome("skipped", enrolment_id=str(running[-1]["id"]))
        if rows and self.skip_completed:
            # Only finished enrolments are left: nothing to wait for, so no id is kept.
            return _Outcome("skipped_previous")
        return self._post(contact_id, frozenset(str(row.get("id")) for row in rows))

    def _resolve_earlier_sends(self, contact_id: str) -> _Outcome | None:
        """What the journal says about POSTs an earlier try sent for the contact (``None``: go on)."""
        try:
            decision = self.journal.resolve(WRITER, self._key(contact_id), self._read_back(contact_id))
        except FATAL_ERRORS:
            raise
        except ActiveCampaignError as error:
            return _Outcome("unconfirmed", reason=failure_reason(error), failed_at=time.monotonic())
        if decision.resolution is WriteResolution.APPLIED and decision.ref is not None:
            return _Outcome("enrolled", enrolment_id=decision.ref, earlier=True)
        if decision.resolution is WriteResolution.UNKNOWN:
            # Sent by an earlier try, not found yet and not settled: wait for it with the others.
            return _Outcome("unconfirmed", failed_at=time.monotonic())
        return None  # proven not applied (or applied without a known id: the read below finds it)

    def _post(self, contact_id: str, known_ids: frozenset[str] | None, sends: int = 0) -> _Outcome:
        body = {"contactAutomation": {"contact": contact_id, "automation": self.automation_id}}
        key = self._key(contact_id)
        intent = self.journal.intent(WRITER, key, body, deadline_seconds=self.deadline_seconds)
        if known_ids is not None:
            self._known_ids[intent.id] = known_ids
        try:
            created = self.hook.post("contactAutomations", body)
        except ActiveCampaignAmbiguousWriteError as error:
            self.journal.outcome(intent, Outcome.AMBIGUOUS)
            self.log.warning(
                "Enrolling contact %s may or may not have worked (%s); reading back before anything else.",
                contact_id,
                error.summary,
            )
            try:
                decision = self.journal.resolve(WRITER, key, self._read_back(contact_id))
            except FATAL_ERRORS:
                raise
            except ActiveCampaignError as read_error:
                self.log.warning("Reading back contact %s failed: %s", contact_id, read_error.summary)
            else:
                if decision.resolution is WriteResolution.APPLIED:
                    self.log.info(
                        "Contact %s was enrolled after all (enrolment %s).", contact_id, decision.ref
                    )
                    return _Outcome("enrolled", enrolment_id=decision.ref, sends=sends + 1)
            return _Outcome(
                "unconfirmed",
                reason=lost_answer(error),
                known_ids=known_ids,
                failed_at=time.monotonic(),
                sends=sends + 1,
            )
        except ActiveCampaignError as error:
            # Answered with a refusal (or never sent: the transport tells these apart): not applied.
            self.journal.outcome(intent, Outcome.REFUSED)
            if isinstance(error, FATAL_ERRORS):
                raise
            if isinstance(error, ActiveCampaignValidationError):
                running = self._running_after_refusal(contact_id)
                if running is not None:
                    return running
                return _Outcome(
                    "failed", reason=f"ActiveCampaign refused the enrolment: {failure_reason(error)}"
                )
            return _Outcome("failed", reason=failure_reason(error))
        enrolment = created.get("contactAutomation") or {}
        self.journal.outcome(intent, Outcome.APPLIED, ref=enrolment.get("id"))
        return _Outcome("enrolled", enrolment_id=str(enrolment.get("id")), sends=sends + 1)

    def _running_after_refusal(self, contact_id: str) -> _Outcome | None:
        """A refused POST for a contact that is running through the automation: already active.

        The reference does not say what adding a contact that is already in an automation does
        (it may enrol again, be ignored, or be refused with the one documented refusal, 403
        ``Could not create SubscriberSeries``). Refused, the contact is where the caller wants it
        (running, and waited for like any other), so it is reported with those skipped as already
        active, not as a failure; only ``allow_reentry`` (or an enrolment made elsewhere meanwhile)
        gets here. ``None``: not running, so the refusal stands.
        """
        try:
            rows = read_contact_enrolments(self.hook, contact_id, self.automation_id)
        except FATAL_ERRORS:
            raise
        except ActiveCampaignError:
            return None
        running = [row for row in rows if is_running(row)]
        if not running:
            return None
        self.log.warning(
            "ActiveCampaign refused to enrol contact %s again while it runs through automation %s "
            "(enrolment %s); it is reported as already active.",
            contact_id,
            self.automation_id,
            running[-1]["id"],
        )
        return _Outcome("skipped", enrolment_id=str(running[-1]["id"]))

    def _read_back(self, contact_id: str) -> Callable[[Intent], str | None]:
        """The journal's read-back: an enrolment in the automation that the intent's POST made.

        For this try's POSTs, one whose id was not there just before the POST; for an earlier try's
        (or a POST sent without a prior read), one that started since the POST was sent, less the
        clock margin. A failed read raises: it never counts as "not enrolled".
        """

        def read_back(intent: Intent) -> str | None:
            rows = read_contact_enrolments(self.hook, contact_id, self.automation_id)
            known = self._known_ids.get(intent.id)
            if known is not None:
                new = [row for row in rows if str(row.get("id")) not in known]
            else:
                since = datetime.fromtimestamp(intent.sent_at, UTC) - CLOCK_SKEW_MARGIN
                new = [row for row in rows if started_since(row, since)]
            return str(new[-1]["id"]) if new else None

        return read_back

    def _confirm(self, contact_id: str, outcome: _Outcome) -> _Outcome:
        """An unconfirmed POST: wait (at most ``read_back_delay``) until it settled, read back, and
        only if it was not applied send it once more (two sends in a try at most)."""
        key = self._key(contact_id)
        open_intents = [intent for intent in self.journal.history(WRITER, key) if not intent.closed]
        if open_intents:
            # Wait first, then read once: a read before it settled would prove nothing.
            settles_at = max(self.journal.settles_at(intent) for intent in open_intents)
            wait = settles_at - self.journal.clock()
            if wait > 0 and self.journal.worth_waiting(WRITER, key, settles_at, self.read_back_delay):
                self.log.info("Waiting %.1f s for contact %s's enrolment to settle.", wait, contact_id)
                self.sleep(wait)
        try:
            decision = self.journal.resolve(WRITER, key, self._read_back(contact_id))
        except FATAL_ERRORS:
            raise
        except ActiveCampaignError as error:
            return _Outcome(
                "failed", reason=self._unknown(key, f"the read-back failed: {failure_reason(error)}")
            )
        if decision.resolution is WriteResolution.APPLIED:
            self.log.info("Contact %s was enrolled after all (enrolment %s).", contact_id, decision.ref)
            return _Outcome("enrolled", enrolment_id=decision.ref, earlier=outcome.sends == 0)
        if decision.resolution is WriteResolution.UNKNOWN:
            return _Outcome("failed", reason=self._unknown(key, outcome.reason))
        if outcome.sends >= 2:
            return _Outcome(
                "failed",
                reason=(
                    f"the enrolment was sent {times(outcome.sends)} in this try, each without an answer "
                    f"({outcome.reason}), and read-backs after it settled found nothing; it was not sent "
                    "again. A retry of the task enrols the contact if it is still missing."
                ),
            )
        self.log.info(
            "Contact %s is not enrolled after the POST settled; sending the enrolment once more.", contact_id
        )
        retried = self._post(contact_id, outcome.known_ids, sends=outcome.sends)
        if retried.kind != "unconfirmed":
            return retried
        return self._confirm(contact_id, retried)

    def _unknown(self, key: str, cause: str | None) -> str:
        sent = len(self.journal.history(WRITER, key))
        because = f" ({cause})" if cause else ""
        return (
            f"unknown: the enrolment was sent {times(sent)}{because} and is not found yet; ActiveCampaign "
            "may still apply it, so it was not sent again. The next try or run reads it back once it "
            "has settled (write_settle_seconds) and enrols the contact only if it is still missing."
        )


def check_reentry_options(*, allow_reentry: bool, skip_completed: bool) -> None:
    """Refuse ``allow_reentry`` together with ``skip_completed``: one enrols contacts again, the
    other never does."""
    if allow_reentry and skip_completed:
        raise ValueError(
            "allow_reentry=True and skip_completed=True contradict each other: allow_reentry enrols "
            "contacts again while they are running through the automation, skip_completed never enrols "
            "a contact who has ever been in it. Set at most one of them."
        )


def resolve_all(
    resolver: ContactResolver,
    parsed: ParsedContacts,
    max_workers: int,
    progress_every: int,
    logger: Logger,
) -> list[Resolution]:
    """Resolve every reference, in input order; only emails cost a request (a lookup, plus an
    upsert when creating), ids are taken as given."""
    email_refs = [ref for ref in parsed.refs if ref.contact_id is None]
    progress = Progress(logger, "Looking up contacts by email", len(email_refs), progress_every)
    looked_up = map_in_threads(resolver.resolve, email_refs, max_workers, progress)
    by_key = {resolution.ref.key: resolution for resolution in looked_up}
    return [
        by_key[ref.key] if ref.contact_id is None else Resolution(ref, contact_id=ref.contact_id)
        for ref in parsed.refs
    ]


def _distinct_contacts(resolutions: Iterable[Resolution]) -> list[str]:
    """The contact ids to act on, once each (an email and an id can name the same contact)."""
    ids: dict[str, None] = {}
    for resolution in resolutions:
        if resolution.contact_id is not None:
            ids.setdefault(resolution.contact_id)
    return list(ids)


def _record(report: EnrolmentReport, key: str, outcome: _Outcome) -> None:
    if outcome.kind == "enrolled" and outcome.enrolment_id is not None:
        report.enrolled[key] = outcome.enrolment_id
        if outcome.earlier:
            report.from_earlier_tries.append(key)
    elif outcome.kind == "skipped":
        report.skipped_already_active.append(key)
        if outcome.enrolment_id is not None:
            report.active_ids[key] = outcome.enrolment_id
    elif outcome.kind == "skipped_previous":
        report.skipped_previously_enrolled.append(key)
    elif outcome.kind == "not_found":
        report.not_found.append(key)
    else:
        report.failed.append({"contact": key, "reason": outcome.reason or "unknown error"})


# --------------------------------------------------------------------------------------------------
# Removing
# --------------------------------------------------------------------------------------------------


@dataclass
class RemovalReport:
    """The remove operator's result."""

    removed: dict[str, list[str]] = field(default_factory=dict)
    not_enrolled: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    total: int = 0

    def as_result(self) -> dict[str, Any]:
        return {
            "removed": {key: list(ids) for key, ids in self.removed.items()},
            "not_enrolled": list(self.not_enrolled),
            "not_found": list(self.not_found),
            "failed": [dict(item) for item in self.failed],
        }


@dataclass
class _Removal:
    removed: list[str] = field(default_factory=list)
    not_found: bool = False
    reason: str | None = None


class Remover:
    """Remove contacts from one automation: ``DELETE /contactAutomations/{id}`` per enrolment.

    Only running enrolments are removed unless ``include_completed`` (finished ones are history).
    A contact with nothing to remove is reported in ``not_enrolled``; an enrolment that vanished
    between the read and the DELETE (the API's 403 "No Result found") counts as removed.
    """

    def __init__(
        self,
        hook: ActiveCampaignHook,
        automation_id: str,
        *,
        include_completed: bool = False,
        max_workers: int = 2,
        progress_every: int = 100,
        logger: Logger | None = None,
    ) -> None:
        self.hook = hook
        self.automation_id = str(automation_id)
        self.resolver = ContactResolver(hook, create_missing=False)
        self.include_completed = include_completed
        self.max_workers = max(1, int(max_workers))
        self.progress_every = progress_every
        self.log = logger or log

    def run(self, parsed: ParsedContacts) -> RemovalReport:
        report = RemovalReport(total=parsed.total)
        self.hook.get_conn()
        resolutions = resolve_all(self.resolver, parsed, self.max_workers, self.progress_every, self.log)
        contact_ids = _distinct_contacts(resolutions)
        progress = Progress(
            self.log, f"Removing from automation {self.automation_id}", len(contact_ids), self.progress_every
        )
        removals = dict(
            zip(
                contact_ids,
                map_in_threads(self._remove, contact_ids, self.max_workers, progress),
                strict=True,
            )
        )
        for resolution in resolutions:  # in the caller's order
            key = resolution.ref.key
            if resolution.contact_id is None:
                removal = _Removal(not_found=resolution.not_found, reason=resolution.reason)
            else:
                removal = removals[resolution.contact_id]
            if removal.removed:
                report.removed[key] = list(removal.removed)
            if removal.not_found:
                report.not_found.append(key)
            elif removal.reason is not None:
                report.failed.append({"contact": key, "reason": removal.reason})
            elif not removal.removed:
                report.not_enrolled.append(key)
        report.failed.extend(dict(item) for item in parsed.invalid)
        return report

    def _remove(self, contact_id: str) -> _Removal:
        try:
            rows = read_contact_enrolments(self.hook, contact_id, self.automation_id)
        except ActiveCampaignNotFoundError:
            return _Removal(not_found=True)
        except FATAL_ERRORS:
            raise
        except ActiveCampaignError as error:
            return _Removal(reason=f"could not read the contact's enrolments: {failure_reason(error)}")
        targets = rows if self.include_completed else [row for row in rows if is_running(row)]
        removal = _Removal()
        for row in targets:
            ident = str(row.get("id"))
            try:
                self.hook.delete(f"contactAutomations/{ident}")
            except ActiveCampaignNotFoundError:
                self.log.info("Enrolment %s of contact %s was already gone.", ident, contact_id)
            except FATAL_ERRORS:
                raise
            except ActiveCampaignError as error:
                removal.reason = f"could not remove enrolment {ident}: {failure_reason(error)}"
                continue
            removal.removed.append(ident)
        return removal


# --------------------------------------------------------------------------------------------------
# Failure ratio
# --------------------------------------------------------------------------------------------------


def describe_problems(problems: Sequence[Mapping[str, str]], limit: int = 5) -> str:
    """``'a@b.c': not found; '12': ...; and 3 more``: the first contacts that failed, for a message."""
    shown = "; ".join(f"{item['contact']!r}: {item['reason']}" for item in problems[:limit])
    return shown + (f"; and {len(problems) - limit} more" if len(problems) > limit else "")
