"""The rate limiter shared by every process of the host: files, locking, recovery and fallback."""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import multiprocessing
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_activecampaign.hooks import transport
from airflow_provider_activecampaign.hooks.ratelimit import local as ratelimit
from airflow_provider_activecampaign.hooks.ratelimit.local import (
    RATELIMIT_DIR_ENV,
    SharedSlidingWindowLimiter,
    SlidingWindowLimiter,
)
from airflow_provider_activecampaign.hooks.ratelimit.local import new_local_limiter as new_limiter
from airflow_provider_activecampaign.hooks.transport import TransportSettings, limiters_for

#: How long a spawned sender may take to exit once its results are in. An interpreter that imported
#: Airflow spends about 0.5 s of CPU exiting (its exit handlers, finalization); on a saturated host
#: (CI: two test stages and two CPU burners on 2 cores) one sender took over 10 s. Only a sender
#: that never exits is a failure.
EXIT_WAIT = 120.0

ACCOUNT = "https://acct.api-us1.com"


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "windows"
    monkeypatch.setenv(RATELIMIT_DIR_ENV, str(directory))
    monkeypatch.setattr(transport, "_LIMITERS", {})
    monkeypatch.setattr(ratelimit, "_fallback_reported", False)
    return directory


def window_file(directory: Path, account: str = ACCOUNT, scope: str = "requests") -> Path:
    return directory / hashlib.sha256(f"{account}\n{scope}".encode()).hexdigest()


# --------------------------------------------------------------------------------------------------
# Two real processes
# --------------------------------------------------------------------------------------------------


def _hammer(directory: str, ready: Any, results: Any, seconds: float) -> None:
    """Send as fast as a shared 5-per-0.1 s window allows: ``[(booked slot, sent at)]`` in wall time."""
    os.environ[RATELIMIT_DIR_ENV] = directory
    limiter = SharedSlidingWindowLimiter(ACCOUNT, "requests", 5, 0.1)
    wall_minus_monotonic = (time.time_ns() - time.monotonic_ns()) / 1e9
    ready.wait(timeout=60)
    end = time.time() + seconds
    sends: list[tuple[float, float]] = []
    while time.time() < end:
        booking, wait = limiter.book()
        slot = booking.at + wall_minus_monotonic
        time.sleep(wait)
        sends.append((slot, time.time()))
        limiter.settle(booking)  # the "answer" came back
    results.put(sends)


def most_in_any_window(times: list[float], window: float) -> int:
    times = sorted(times)
    return max(sum(1 for t in times[i:] if t < start + window) for i, start in enumerate(times))


def test_two_processes_never_exceed_the_shared_window_together(state_dir: Path) -> None:
    context = multiprocessing.get_context("spawn")  # separate interpreters, separate monotonic clocks
    ready, queue = context.Barrier(2), context.Queue()
    workers = [context.Process(target=_hammer, args=(str(state_dir), ready, queue, 2.0)) for _ in range(2)]
    for worker in workers:
        worker.start()
    results: list[list[tuple[float, float]]] = [queue.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=EXIT_WAIT)
        assert worker.exitcode == 0, f"a sender had not exited {EXIT_WAIT:.0f} s after its results"
    slots = sorted(slot for sends in results for slot, _ in sends)
    sent = sorted(at for sends in results for _, at in sends)
    # Both processes took turns, and together they used the window: ~50/s for 2 s.
    assert all(len(sends) >= 10 for sends in results), [len(sends) for sends in results]
    assert 50 <= len(sent) <= 105
    # The limiter's own promise: no 6 booked slots within 0.1 s (it pads the window to 0.103 s).
    assert all(later - earlier >= 0.1 for earlier, later in zip(slots, slots[5:], strict=False))
    # What a server would see: at most 5 sends in any 0.1 s, give or take 20 ms of scheduler
    # lateness on a busy test machine. Unshared limiters would let each process send 5 per 0.1 s:
    # 10 together.
    assert most_in_any_window(sent, 0.08) <= 5


# --------------------------------------------------------------------------------------------------
# Same algorithm, shared state
# --------------------------------------------------------------------------------------------------


def _script(limiter: SlidingWindowLimiter) -> list[float]:
    """A fixed sequence of every operation, at explicit times; returns every wait it observed."""
    waits = []
    bookings = []
    for now in (0.0, 0.0, 0.01, 0.02, 0.02, 0.03, 0.05):
        booking, wait = limiter.book(now)
        bookings.append(booking)
        waits.append(wait)
    limiter.settle(bookings[1], at=0.4)
    waits.append(limiter.delay(0.41))
    waits.append(limiter.reserve(0.5))
    limiter.saturate(0.6)
    waits.append(limiter.delay(0.6))
    waits.append(limiter.reserve(1.0))
    return waits


def test_the_shared_limiter_runs_the_same_algorithm(state_dir: Path) -> None:
    shared = _script(SharedSlidingWindowLimiter(ACCOUNT, "requests", 5, 1.0))
    in_memory = _script(SlidingWindowLimiter(5, 1.0))
    assert shared == pytest.approx(in_memory, abs=1e-5)
    assert max(in_memory) > 0.5  # the script does reach a full window


def test_a_second_limiter_sees_the_first_ones_bookings(state_dir: Path) -> None:
    first = SharedSlidingWindowLimiter(ACCOUNT, "requests", 5, 1.0, margin=0.0)
    second = SharedSlidingWindowLimiter(ACCOUNT, "requests", 5, 1.0, margin=0.0)
    for _ in range(5):
        assert first.reserve(now=10.0) == 0.0
    assert second.reserve(now=10.2) == pytest.approx(0.8, abs=1e-3)
    other_scope = SharedSlidingWindowLimiter(ACCOUNT, "bulk_import", 5, 1.0, margin=0.0)
    assert other_scope.reserve(now=10.2) == 0.0


def test_settle_moves_the_booking_of_another_limiter_by_its_id(state_dir: Path) -> None:
    mine = SharedSlidingWindowLimiter(ACCOUNT, "requests", 5, 1.0, margin=0.0)
    theirs = SharedSlidingWindowLimiter(ACCOUNT, "requests", 5, 1.0, margin=0.0)
    booking, _ = mine.book(now=0.0)
    for _ in range(3):
        theirs.book(now=0.0, hold=0.0)  # counted from their slot, answered or not
    mine.settle(booking, at=0.05)
    entries = json.loads(window_file(state_dir).read_bytes())["slots"]
    assert len(entries) == 4  # moved, not copied
    assert sum(1 for _, key, _, _ in entries if key == booking.key) == 1
    assert theirs.delay(now=0.06) == 0.0  # four in the window: a fifth may go at once
    assert theirs.reserve(now=0.06) == 0.0
    assert mine.delay(now=0.06) == pytest.approx(0.94, abs=1e-3)  # now full until the 0.0 ones age out


def test_limiters_from_get_limiter_share_through_the_file(state_dir: Path) -> None:
    settings = TransportSettings(base_url=ACCOUNT, api_key="k" * 20)
    (limiter,) = limiters_for(settings, "GET", "contacts")
    assert isinstance(limiter, SharedSlidingWindowLimiter)
    for _ in range(5):
        limiter.reserve()
    transport._LIMITERS.clear()  # as in another process
    (fresh,) = limiters_for(settings, "GET", "contacts")
    assert fresh is not limiter
    assert fresh.delay() > 0.9


# --------------------------------------------------------------------------------------------------
# Files: location, permissions, recovery
# --------------------------------------------------------------------------------------------------


def test_the_env_var_moves_the_directory_and_files_are_private(state_dir: Path) -> None:
    SharedSlidingWindowLimiter(ACCOUNT, "requests", 5, 1.0).reserve()
    path = window_file(state_dir)
    assert path.is_file()
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(json.loads(path.read_bytes())["slots"]) == 1


def test_the_default_directory_is_under_the_temp_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RATELIMIT_DIR_ENV)
    monkeypatch.setattr(ratelimit.tempfile, "gettempdir", lambda: "/some/tmp")
    assert ratelimit.ratelimit_dir() == Path("/some/tmp/airflow-provider-activecampaign-ratelimit")


@pytest.mark.parametrize(
    "content",
    [
        b"not json{",
        b'{"slots": 3}',
        b'{"offset_ns": 0, "slots": [[1, 2]]}',
        b'{"offset_ns": 0, "slots": [["x", 1, 2]]}',
        b'{"offset_ns": "x", "slots": []}',
        b"[[1, 2, 3]]",
        b"\x00\xff",
    ],
)
def test_a_corrupt_file_counts_as_empty_and_is_rewritten(state_dir: Path, content: bytes) -> None:
    state_dir.mkdir(mode=0o700)
    window_file(state_dir).write_bytes(content)
    limiter = SharedSlidingWindowLimiter(ACCOUNT, "requests", 5, 1.0)
    assert limiter.reserve() == 0.0
    assert len(json.loads(window_file(state_dir).read_bytes())["slots"]) == 1


def test_entries_older_than_the_window_or_far_ahead_are_ignored(state_dir: Path) -> None:
    state_dir.mkdir(mode=0o700)
    # Written by a process whose monotonic clock is 1000 s ahead of wall-clock time.
    offset_ns, now = -1000 * 10**9, time.time() + 1000
    stale = [[now - 5.0, f"stale-{n}", 0, 0] for n in range(5)]
    stepped_clock = [[now + 2 * ratelimit.FUTURE_LIMIT, f"ahead-{n}", 0, 0] for n in range(5)]
    window_file(state_dir).write_text(json.dumps({"offset_ns": offset_ns, "slots": stale + stepped_clock}))
    limiter = SharedSlidingWindowLimiter(ACCOUNT, "requests", 5, 1.0)
    assert limiter.reserve() == 0.0
    assert len(json.loads(window_file(state_dir).read_bytes())["slots"]) == 1


def test_slots_of_another_process_are_shifted_into_this_ones_clock(state_dir: Path) -> None:
    state_dir.mkdir(mode=0o700)
    # Another process, whose monotonic clock reads 1000 s more than wall-clock time, filled the
    # window 0.2 s ago.
    offset_ns, now = -1000 * 10**9, time.time() + 1000
    full = [[now - 0.2, f"other-{n}", 0, 0] for n in range(5)]
    window_file(state_dir).write_text(json.dumps({"offset_ns": offset_ns, "slots": full}))
    limiter = SharedSlidingWindowLimiter(ACCOUNT, "requests", 5, 1.0, margin=0.0)
    assert limiter.delay() == pytest.approx(0.8, abs=0.05)


# --------------------------------------------------------------------------------------------------
# Fallback to a per-process window
# --------------------------------------------------------------------------------------------------


def _assert_per_process_fallback(
    caplog: pytest.LogCaptureFixture, make: Callable[[], SlidingWindowLimiter]
) -> None:
    with caplog.at_level(logging.DEBUG, logger=ratelimit.__name__):
        limiter = make()
        assert type(make()) is SlidingWindowLimiter
    assert type(limiter) is SlidingWindowLimiter
    assert len([r for r in caplog.records if "per process" in r.getMessage()]) == 1  # said once
    assert all(r.levelno == logging.DEBUG for r in caplog.records)
    for _ in range(5):
        assert limiter.reserve(now=0.0) == 0.0
    assert limiter.reserve(now=0.0) > 0.9  # still limits within the process


def test_without_fcntl_the_window_is_per_process(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(ratelimit, "fcntl", None)
    _assert_per_process_fallback(caplog, lambda: new_limiter(ACCOUNT, "requests", 5, 1.0))
    assert not state_dir.exists()


def test_an_unusable_directory_means_a_per_process_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(ratelimit, "_fallback_reported", False)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(RATELIMIT_DIR_ENV, str(blocker / "windows"))  # cannot be created, even by root
    _assert_per_process_fallback(caplog, lambda: new_limiter(ACCOUNT, "requests", 5, 1.0))


def test_a_directory_lost_later_keeps_limiting_in_process(
    state_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    limiter = new_limiter(ACCOUNT, "requests", 5, 1.0)
    assert isinstance(limiter, SharedSlidingWindowLimiter)
    for _ in range(3):
        assert limiter.reserve(now=0.0) == 0.0
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(RATELIMIT_DIR_ENV, str(blocker / "windows"))
    with caplog.at_level(logging.DEBUG, logger=ratelimit.__name__):
        for _ in range(2):
            assert limiter.reserve(now=0.0) == 0.0
        assert limiter.reserve(now=0.0) > 0.9  # the three shared bookings still count
    assert len(caplog.records) == 1


def test_a_file_system_without_locks_keeps_limiting_in_process(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    limiter = new_limiter(ACCOUNT, "requests", 5, 1.0)
    assert isinstance(limiter, SharedSlidingWindowLimiter)

    def no_locks(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")  # NFS without a lock manager

    monkeypatch.setattr(ratelimit.fcntl, "flock", no_locks)
    with caplog.at_level(logging.DEBUG, logger=ratelimit.__name__):
        for _ in range(5):
            assert limiter.reserve(now=0.0) == 0.0
        assert limiter.reserve(now=0.0) > 0.9
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]


# --------------------------------------------------------------------------------------------------
# Four processes on a busy host
# --------------------------------------------------------------------------------------------------


def _client(directory: str, ready: Any, results: Any, seconds: float) -> None:
    """Two threads sending as the hook does (book, wait, confirm, send, answer 5 ms later, settle)."""
    import threading

    os.environ[RATELIMIT_DIR_ENV] = directory
    limiter = SharedSlidingWindowLimiter(ACCOUNT, "requests", 5, 1.0)
    sends: list[float] = []
    lock = threading.Lock()
    ready.wait(timeout=60)
    end = time.time() + seconds

    def worker() -> None:
        while time.time() < end:
            booking, wait = limiter.book(hold=5.0)
            while wait > 0:
                time.sleep(wait)
                wait = limiter.confirm(booking)
            with lock:
                sends.append(time.time())  # the request leaves now
            time.sleep(0.005)
            limiter.settle(booking)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put(sends)


def _burn(seconds: float) -> None:
    end = time.time() + seconds
    while time.time() < end:
        sum(i * i for i in range(1000))


def test_four_processes_on_a_busy_host_never_put_six_in_any_second(state_dir: Path) -> None:
    seconds = 4.0
    context = multiprocessing.get_context("spawn")
    ready, queue = context.Barrier(4), context.Queue()
    burners = [context.Process(target=_burn, args=(seconds + 8,)) for _ in range(2)]  # both cores busy
    for burner in burners:
        burner.start()
    try:
        clients = [
            context.Process(target=_client, args=(str(state_dir), ready, queue, seconds)) for _ in range(4)
        ]
        for client in clients:
            client.start()
        results = [queue.get(timeout=90) for _ in clients]
        for client in clients:
            client.join(timeout=EXIT_WAIT)
            assert client.exitcode == 0, f"a sender had not exited {EXIT_WAIT:.0f} s after its results"
    finally:
        for burner in burners:
            burner.terminate()
            burner.join(timeout=10)
    sent = sorted(at for sends in results for at in sends)
    # Strict: no tolerance for scheduling lateness, measured against the nominal 1 s window.
    assert most_in_any_window(sent, 1.0) <= 5
    assert all(len(sends) >= 2 for sends in results), [len(sends) for sends in results]
    assert len(sent) >= 0.85 * (5 + 5 * (seconds - 0.2) / 1.03)  # and the budget is used
