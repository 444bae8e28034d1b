"""Unit tests of ImportPipeline with a fake hook and a fake clock: resends, trimming, poll scheduling."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_activecampaign.contacts import sync as contacts_sync
from airflow_provider_activecampaign.contacts.mapping import ContactBatch, PreparedContact, serialized_size
from airflow_provider_activecampaign.contacts.sync import (
    FailureLog,
    ImportPipeline,
    ProgressReporter,
    SyncTally,
)
from airflow_provider_activecampaign.exceptions import (
    ActiveCampaignAmbiguousWriteError,
    ActiveCampaignValidationError,
)
from airflow_provider_activecampaign.hooks import transport
from airflow_provider_activecampaign.hooks.transport import TransportSettings, handle_response, prepare_call

#: ActiveCampaign's documented limits: 5 requests a second, 100 imports a minute.
SETTINGS = TransportSettings(base_url="https://acct.api-us1.com", api_key="k" * 20)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += max(0.0, seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """A fake clock that the pipeline *and* the transport's rate limiters read."""
    fake = FakeClock()
    monkeypatch.setattr(transport, "_LIMITERS", {})
    monkeypatch.setattr(transport.time, "monotonic", fake)
    return fake


class FakeImporter:
    """A hook whose importer finishes each batch ``takes`` seconds after the previous one (FIFO)."""

    settings = SETTINGS

    def __init__(self, clock: FakeClock, takes: float = 2.0, answers: list[Any] | None = None) -> None:
        self.clock = clock
        self.takes = takes
        self.answers = list(answers or [])
        self.threads: set[str] = set()
        self.posted: list[list[str]] = []
        self.post_times: list[float] = []
        self.done_at: dict[str, float] = {}
        self.polls: list[tuple[float, str]] = []

    def limiters(self, method: str, endpoint: str) -> list[Any]:
        """The hook's limiters for a call (``ActiveCampaignHook.limiters``), on the fake clock."""
        return list(prepare_call(SETTINGS, method, endpoint).limiters)

    def _paced(self, method: str, endpoint: str) -> None:
        """Wait for the call's limiters, each request counted from its slot (answers take no time).

        Not the hook's book/confirm/settle cycle: the poll threads share this fake clock, so one
        thread's sleep moves everyone's time, and an open booking would look late to the others.
        tests/unit/test_ratelimit_rules.py covers that cycle.
        """
        call = prepare_call(SETTINGS, method, endpoint)
        self.clock.sleep(max(limiter.reserve() for limiter in call.limiters))

    def request(self, method: str, endpoint: str, *, json: Any = None, **_: Any) -> Any:
        assert (method, endpoint) == ("POST", "import/bulk_import")
        self._paced(method, endpoint)
        self.posted.append([c["email"] for c in json["contacts"]])
        self.post_times.append(self.clock.now)
        if self.answers:
            answer = self.answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
        batch_id = f"b{len(self.posted)}"
        previous = max(self.done_at.values(), default=0.0)
        self.done_at[batch_id] = max(self.clock.now, previous) + self.takes
        return {"success": 1, "batchId": batch_id, "queued_contacts": len(json["contacts"])}

    def get(self, endpoint: str, params: dict[str, Any]) -> Any:
        self._paced("GET", endpoint)
        self.threads.add(threading.current_thread().name)
        batch_id = params["batchId"]
        self.polls.append((self.clock.now, batch_id))
        if self.clock.now < self.done_at[batch_id]:
            return {"status": "active", "success": [], "failure": []}
        size = len(self.posted[int(batch_id[1:]) - 1])
        return {"status": "completed", "success": [str(n) for n in range(size)], "failure": []}


def batch(rows: range) -> ContactBatch:
    contacts = []
    for row in rows:
        body = {"email": f"user{row}@example.com"}
        contacts.append(PreparedContact(row, body["email"], body, serialized_size(body)))
    return ContactBatch(contacts)


def pipeline(
    hook: Any, clock: FakeClock, tmp_path: Path, **options: Any
) -> tuple[ImportPipeline, FailureLog]:
    failures = FailureLog(tmp_path / "failures.jsonl").open()
    tally = SyncTally()
    progress = ProgressReporter(tally, _NullLog(), failures=failures)
    options.setdefault("hook_factory", lambda: hook)
    pipe = ImportPipeline(hook, failures, tally, progress, clock=clock, sleep=clock.sleep, **options)
    return pipe, failures


class _NullLog:
    def info(self, *args: Any) -> None: ...

    def warning(self, *args: Any) -> None: ...


def test_an_ambiguous_import_is_resent_as_the_same_batch_with_backoff(
    tmp_path: Path, clock: FakeClock
) -> None:
    ambiguous = ActiveCampaignAmbiguousWriteError("dropped after sending")
    hook = FakeImporter(clock, answers=[ambiguous] * 6)  # six 5xx in a row, as seen in the field
    pipe, failures = pipeline(hook, clock, tmp_path)
    pipe.submit(batch(range(1, 4)))
    assert hook.posted == [hook.posted[0]] * 7
    assert pipe.tally.batch_ids == ["b7"]
    assert pipe.tally.submitted == 3
    assert failures.count == 0
    # Each resend waited longer than the last (exponential back-off, jittered between 50 and 100 %).
    gaps = [later - earlier for earlier, later in zip(hook.post_times, hook.post_times[1:], strict=False)]
    bases = [min(contacts_sync.MAX_RESUBMIT_BACKOFF, 2.0**n) for n in range(len(gaps))]  # 1, 2 … 30 s
    assert all(0.5 * base <= gap <= base + 0.1 for base, gap in zip(bases, gaps, strict=True)), gaps


def test_resending_gives_up_after_max_wait_and_says_how_often_it_sent(
    tmp_path: Path, clock: FakeClock
) -> None:
    answers: list[Any] = [ActiveCampaignAmbiguousWriteError("x")] * 1000
    hook = FakeImporter(clock, answers=answers)
    pipe, _ = pipeline(hook, clock, tmp_path)
    pipe.max_wait = 120.0
    started = clock.now
    with pytest.raises(ActiveCampaignAmbiguousWriteError) as raised:
        pipe.submit(batch(range(1, 4)))
    assert pipe.tally.submitted == 0
    assert clock.now - started <= 120.0 + 1.0
    sends = len(hook.posted)
    assert 5 <= sends < 20  # backed off, not hammered
    message = str(raised.value)
    assert f"was sent {sends} times over" in message
    assert "not sent again" not in message  # the old, untrue wording
    assert "Re-run the task" in message


class ValidatingImporter(FakeImporter):
    """An importer whose validation refuses ``refused`` emails, naming each by its index from ``base``.

    Where counting starts is undocumented (the emulator assumes 0: ``import_failure_index_zero_based``).
    """

    def __init__(self, clock: FakeClock, refused: set[str], base: int) -> None:
        super().__init__(clock)
        self.refused = refused
        self.base = base

    def request(self, method: str, endpoint: str, *, json: Any = None, **kwargs: Any) -> Any:
        emails = [c["email"] for c in json["contacts"]]
        named = [i + self.base for i, email in enumerate(emails) if email in self.refused]
        if named:
            self._paced(method, endpoint)
            self.posted.append(emails)
            raise handle_error(named)
        return super().request(method, endpoint, json=json, **kwargs)


def handle_error(named: list[int]) -> Exception:
    """The importer's validation 400, as the hook's transport turns it into an exception."""
    body = {
        "success": 0,
        "message": "JSON payload did not pass validation.",
        "failureReasons": [
            {"contact": index, "failureReason": "Field\u2018 email\u2019 incorrect format"} for index in named
        ],
    }
    call = prepare_call(SETTINGS, "POST", "import/bulk_import", json={"contacts": []})
    with pytest.raises(ActiveCampaignValidationError) as raised:
        handle_response(call, 400, {}, json.dumps(body))
    return raised.value


@pytest.mark.parametrize("base", [0, 1], ids=["counted-from-0", "counted-from-1"])
@pytest.mark.parametrize(
    "bad", [(10,), (11,), (12,), (11, 13)], ids=["first", "middle", "last", "two-in-the-middle"]
)
def test_contacts_the_importers_validation_names_are_rejected_and_the_rest_sent(
    tmp_path: Path, clock: FakeClock, base: int, bad: tuple[int, ...]
) -> None:
    """Whichever base the importer counts from, exactly the refused contacts are rejected and every
    other one is sent: a position that reads two ways sends the contacts it may mean alone."""
    refused = {f"user{row}@example.com" for row in bad}
    hook = ValidatingImporter(clock, refused, base)
    pipe, failures = pipeline(hook, clock, tmp_path)
    pipe.submit(batch(range(10, 15)))

    queued = sorted(
        email
        for index, emails in enumerate(hook.posted, 1)
        if f"b{index}" in hook.done_at
        for email in emails
    )
    assert queued == sorted(f"user{row}@example.com" for row in range(10, 15) if row not in bad)
    assert sorted((f["row"], f["stage"]) for f in failures.first) == [(row, "rejected") for row in bad]
    assert all(
        f["reason"]
        == "ActiveCampaign's importer refused the contact: Field\u2018 email\u2019 incorrect format"
        for f in failures.first
    )
    assert pipe.tally.submitted == 5 - len(bad)
    assert len(hook.posted) <= 2 + 2 * len(bad)  # one refusal, the rest, then at most the suspects alone


@pytest.mark.parametrize(
    "takes",
    [
        pytest.param(0.3, id="importer-faster-than-submissions"),
        pytest.param(1.0, id="importer-slower-queue-grows"),
    ],
)
def test_imports_go_at_the_importers_pace_and_polls_fill_the_gaps(
    tmp_path: Path, clock: FakeClock, takes: float
) -> None:
    hook = FakeImporter(clock, takes=takes)
    pipe, _ = pipeline(hook, clock, tmp_path, poll_interval=5.0, max_pending=1_000)
    for number in range(150):
        pipe.submit(batch(range(number * 10, number * 10 + 10)))
    waiting, drain_start, polls_before = len(pipe.pending), clock.now, len(hook.polls)
    pipe.drain()

    assert pipe.tally.confirmed == 1_500
    assert not pipe.pending
    # 100 imports a minute (the client keeps a 3% margin): each import after the 100th goes as soon
    # as the one 100 earlier leaves the window, so polling never delays a submission.
    sent = hook.post_times
    gaps = [sent[k] - sent[k - 100] for k in range(100, 150)]
    assert all(60.0 <= gap <= 61.8 + 0.25 for gap in gaps), [round(g, 2) for g in gaps]
    polled = [batch_id for _, batch_id in hook.polls]
    # Oldest first (batches polled together, at most 3, may answer in any order).
    numbers = [int(b[1:]) for b in polled]
    assert all(number >= max(numbers[: i + 1]) - 2 for i, number in enumerate(numbers))
    assert len(polled) <= 2 * 150  # about one poll per batch
    # The final wait polls at the account's full rate, at most twice per unfinished batch, and ends
    # as soon as the account's rate or the importer itself allows.
    drain_polls = len(hook.polls) - polls_before
    assert drain_polls <= 2 * waiting + 5
    assert clock.now <= max(max(hook.done_at.values()) + 1.0, drain_start + drain_polls * 0.21 + 1.0)


def test_a_429_on_an_import_does_not_stall_the_importers_minute(clock: FakeClock) -> None:
    call = prepare_call(SETTINGS, "POST", "import/bulk_import", json={"contacts": []})
    account, importer = call.limiters
    with pytest.raises(Exception, match="rate limit"):
        handle_response(call, 429, {"Retry-After": "1"}, '{"message": "Too Many Requests"}')
    assert account.delay() > 0  # the account's second is treated as full
    assert importer.delay() == 0  # the importer's per-minute window is not


def test_a_full_pipeline_resumes_as_soon_as_a_poll_frees_a_place(tmp_path: Path, clock: FakeClock) -> None:
    hook = FakeImporter(clock, takes=0.1)
    pipe, _ = pipeline(hook, clock, tmp_path, poll_interval=5.0, max_pending=1)
    for number in range(5):
        pipe.submit(batch(range(number * 10, number * 10 + 10)))
        assert len(pipe.pending) == 1
    pipe.drain()
    assert pipe.tally.confirmed == 50
    assert clock.now - 1_000.0 < 10.0  # five short waits, never an endless one


def test_batches_found_finished_late_are_polled_several_at_once(tmp_path: Path, clock: FakeClock) -> None:
    hook = FakeImporter(clock, takes=0.05)
    pipe, failures = pipeline(hook, clock, tmp_path, poll_interval=5.0, max_pending=1_000, poll_parallel=3)
    for number in range(60):  # a burst: the importer's window has room, so nothing is polled yet
        pipe.submit(batch(range(number * 10, number * 10 + 10)))
    waiting = len(pipe.pending)
    with pipe:
        pipe.drain()
    assert waiting > 30
    assert pipe.tally.confirmed == 600
    assert failures.count == 0
    assert sorted({b for _, b in hook.polls}, key=lambda b: int(b[1:])) == [f"b{i}" for i in range(1, 61)]
    assert any(name.startswith("ac-import-poll") for name in hook.threads)  # caught up in parallel
