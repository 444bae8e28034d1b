"""Sliding-window rate limiters: one in memory, one shared by every process on the host.

ActiveCampaign counts requests per *account*, so several Airflow tasks running at once on one
worker (LocalExecutor, Celery concurrency, mapped tasks) must share one window. The shared limiter
keeps it in a small JSON file per (account, scope), under
``$AIRFLOW_PROVIDER_ACTIVECAMPAIGN_RATELIMIT_DIR`` (default: a directory in the temp dir). Each
operation locks the file (``fcntl.flock``), reads it, runs the in-memory algorithm and writes it
back. Slot times cross processes as wall-clock times, since monotonic clocks differ between
processes: the file holds slots in its last writer's ``time.monotonic()`` plus that writer's
wall-clock-minus-monotonic offset (``{"offset_ns": …, "slots": [[at, pid, sequence], …]}``), and a
reader shifts them into its own monotonic time. The offset is taken when the limiter is created, so
callers keep monotonic semantics (and fake clocks in tests work), and a limiter reads its own slots
back bit for bit.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

#: Head-room kept in every limiter window, so clock jitter between us and the server never shows as a 429.
WINDOW_MARGIN = 0.03
#: Moves the shared state directory (default: ``<tempdir>/airflow-provider-activecampaign-ratelimit``).
RATELIMIT_DIR_ENV = "AIRFLOW_PROVIDER_ACTIVECAMPAIGN_RATELIMIT_DIR"
#: A shared slot further ahead than this comes from a stepped clock or a fake one: ignored.
FUTURE_LIMIT = 3600.0

log = logging.getLogger(__name__)

_SEQUENCE = itertools.count(1)


def _new_key() -> tuple[int, int]:
    """A booking id unique across the processes of the host: ``(pid, sequence)``."""
    return os.getpid(), next(_SEQUENCE)


@dataclass(eq=False)
class Booking:
    """One send booked in a :class:`SlidingWindowLimiter`."""

    #: When the request counts as sent (``time.monotonic()``); only ever moves later.
    at: float
    #: Identifies the booking in a window shared by several processes.
    key: tuple[int, int] = field(default_factory=_new_key)


class SlidingWindowLimiter:
    """At most ``max_events`` sends in any ``period`` seconds; thread-safe, never blocks.

    ``reserve()`` books the next free slot and returns how long the caller must wait before
    sending, so the same limiter serves ``time.sleep`` (hook) and ``asyncio.sleep`` (triggers).
    Sliding windows are the strictest reading of "N per second": a server counting any other way
    (token bucket, fixed windows) accepts whatever this lets through.

    The server counts a request when it *arrives*, which can be well after we sent it (the first
    request on a new connection waits for the TCP and TLS handshakes). ``settle()`` moves a
    booking to when its answer came back, the latest moment the server can have counted it, so
    the next window is measured from there and a slow first request never lets a sixth one in.

    This class keeps its window in memory (one process); :class:`SharedSlidingWindowLimiter`
    runs the same algorithm on a window shared by every process of the host.
    """

    def __init__(self, max_events: int, period: float, margin: float = WINDOW_MARGIN) -> None:
        self._lock = threading.Lock()
        #: The latest ``max_events`` bookings, in time order.
        self._slots: list[Booking] = []
        self.configure(max_events, period, margin)

    @contextmanager
    def _window(self, now: float | None, changes: bool = True) -> Iterator[float]:
        """Hold the window for one operation (``changes`` it or only reads it); yields its ``now``."""
        with self._lock:
            yield time.monotonic() if now is None else now

    def configure(self, max_events: int, period: float, margin: float = WINDOW_MARGIN) -> None:
        with self._lock:
            self.max_events = max(1, int(max_events))
            self.period = float(period) * (1.0 + margin)
            self._prune()

    def _next_slot(self, now: float) -> float:
        slot = now
        if len(self._slots) >= self.max_events:
            slot = max(slot, self._slots[-self.max_events].at + self.period)
        if self._slots:
            slot = max(slot, self._slots[-1].at)  # first come, first served
        return slot

    def _prune(self) -> None:
        excess = len(self._slots) - self.max_events
        if excess > 0:
            del self._slots[:excess]

    def book(self, now: float | None = None) -> tuple[Booking, float]:
        """Book the next free slot: ``(booking, seconds to wait before sending)``."""
        with self._window(now) as now:
            booking = Booking(self._next_slot(now))
            self._slots.append(booking)
            self._prune()
            return booking, max(0.0, booking.at - now)

    def reserve(self, now: float | None = None) -> float:
        """Book the next free slot; return how long to wait before sending."""
        return self.book(now)[1]

    def settle(self, booking: Booking, at: float | None = None) -> None:
        """The request booked as ``booking`` reached the server no later than ``at`` (default: now)."""
        if at is not None and at <= booking.at:
            return
        with self._window(at) as at:
            if at <= booking.at:
                return
            for index, slot in enumerate(self._slots):
                if slot.key == booking.key:
                    del self._slots[index]
                    break
            booking.at = at
            bisect.insort(self._slots, Booking(at, booking.key), key=lambda slot: slot.at)
            self._prune()

    def delay(self, now: float | None = None) -> float:
        """How long a ``reserve()`` made now would wait, without booking anything.

        Lets a caller with other work (polling earlier bulk imports) do it instead of sleeping.
        """
        with self._window(now, changes=False) as now:
            return max(0.0, self._next_slot(now) - now)

    def saturate(self, now: float | None = None) -> None:
        """Treat the window as full from now on: the server told us we are over its limit."""
        with self._window(now) as now:
            latest = max([now, *(slot.at for slot in self._slots)])
            self._slots = [Booking(latest) for _ in range(self.max_events)]


def ratelimit_dir() -> Path:
    """Where shared windows live: ``$AIRFLOW_PROVIDER_ACTIVECAMPAIGN_RATELIMIT_DIR`` or a temp dir."""
    configured = os.environ.get(RATELIMIT_DIR_ENV)
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / "airflow-provider-activecampaign-ratelimit"


class SharedSlidingWindowLimiter(SlidingWindowLimiter):
    """A :class:`SlidingWindowLimiter` whose window every process of the host shares.

    Each operation takes an exclusive ``flock`` on the window's file, loads it, runs the in-memory
    algorithm and writes the result back. Entries older than the window (or absurdly far ahead,
    after a clock step) are dropped; an unreadable file counts as empty and is rewritten. If the
    file cannot be opened, the operation runs on this process's last view of the window instead.
    """

    def __init__(
        self, account: str, scope: str, max_events: int, period: float, margin: float = WINDOW_MARGIN
    ) -> None:
        #: Wall-clock minus monotonic time, in integer nanoseconds (a float of the wall-clock time
        #: only resolves 0.24 µs): converts other processes' slots into this one's time.
        self._offset_ns = time.time_ns() - round(time.monotonic() * 1e9)
        self._name = hashlib.sha256(f"{account}\n{scope}".encode()).hexdigest()
        self._warned = False
        super().__init__(max_events, period, margin)

    @contextmanager
    def _window(self, now: float | None, changes: bool = True) -> Iterator[float]:
        with self._lock:
            fd = self._lock_file()
            if fd is None:  # this process's last view of the window will do
                yield time.monotonic() if now is None else now
                return
            try:
                now = time.monotonic() if now is None else now
                try:
                    self._slots = self._load(fd, now)
                except OSError as error:  # unreadable: this process's last view will do
                    self._report(error)
                yield now
                if not changes:
                    return
                try:
                    self._store(fd)
                except OSError as error:  # e.g. disk full: the other processes miss this change
                    self._report(error)
            finally:
                os.close(fd)  # also releases the lock

    def _lock_file(self) -> int | None:
        """The window's file, open and locked; ``None`` if it cannot be (e.g. NFS without locks)."""
        try:
            directory = ratelimit_dir()
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
            fd = os.open(directory / self._name, flags, 0o600)
        except OSError as error:
            self._report(error)
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as error:
            os.close(fd)
            self._report(error)
            return None
        return fd

    def _report(self, error: OSError) -> None:
        if not self._warned:
            self._warned = True
            log.debug("Rate limit window not shared with other processes: %s", error)

    def _load(self, fd: int, now: float) -> list[Booking]:
        raw = b""
        while chunk := os.read(fd, 65536):
            raw += chunk
        try:
            state: Any = json.loads(raw) if raw else {"offset_ns": self._offset_ns, "slots": []}
            # Slots written with this limiter's offset come back bit for bit; others shift by the
            # difference between the writer's clocks and ours.
            shift = (int(state["offset_ns"]) - self._offset_ns) / 1e9
            slots = [Booking(float(at) + shift, (int(pid), int(seq))) for at, pid, seq in state["slots"]]
        except (ValueError, TypeError, KeyError):
            return []  # corrupt: start empty, the write-back repairs the file
        oldest, latest = now - self.period, now + FUTURE_LIMIT
        slots = [slot for slot in slots if oldest <= slot.at <= latest]
        slots.sort(key=lambda slot: slot.at)
        return slots

    def _store(self, fd: int) -> None:
        state = {"offset_ns": self._offset_ns, "slots": [[slot.at, *slot.key] for slot in self._slots]}
        data = json.dumps(state, separators=(",", ":")).encode()
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, data)
        os.ftruncate(fd, len(data))


def _shared_unavailable_because() -> str | None:
    if fcntl is None:
        return "fcntl is not available on this platform"
    directory = ratelimit_dir()
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        return f"cannot create {directory} ({error})"
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"{directory} is not writable"
    return None


#: Whether this process already said that its windows are not shared (said once, at debug level).
_fallback_reported = False


def shared_limiter_available() -> bool:
    """Whether windows can be shared here: ``fcntl`` exists and the directory is writable."""
    global _fallback_reported
    reason = _shared_unavailable_because()
    if reason is not None and not _fallback_reported:
        _fallback_reported = True
        log.debug("Rate limit windows are per process, not shared by the host: %s", reason)
    return reason is None


def new_limiter(account: str, scope: str, max_events: int, period: float) -> SlidingWindowLimiter:
    """A limiter shared by the host's processes if possible, else one for this process only."""
    if shared_limiter_available():
        return SharedSlidingWindowLimiter(account, scope, max_events, period)
    return SlidingWindowLimiter(max_events, period)
