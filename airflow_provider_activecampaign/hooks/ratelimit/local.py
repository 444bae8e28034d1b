"""The ``local`` backend: one window per account and scope, shared by every process of the host.

Several Airflow tasks running at once on one worker (LocalExecutor, Celery concurrency, mapped
tasks, the triggerer) must share the account's window. This backend keeps it in a small JSON file
per (account, scope) under ``$AIRFLOW_PROVIDER_ACTIVECAMPAIGN_RATELIMIT_DIR`` (default: a
directory in the temp dir). Each operation locks the file (``fcntl.flock``), reads it, runs the
rules of :mod:`.window` and writes it back. Times cross processes as wall-clock times, since
monotonic clocks differ between processes: the file holds bookings in its last writer's
``time.monotonic()`` plus that writer's wall-clock-minus-monotonic offset, and a reader shifts them
into its own monotonic time. The offset is taken when the limiter is created, so callers keep
monotonic semantics (and fake clocks in tests work).

Hosts do not share it: every machine (and every pod with its own disk) has its own window. Use the
Redis backend (:mod:`.redis`) when tasks of one account run on several machines.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from airflow_provider_activecampaign.hooks.ratelimit.window import (
    WINDOW_MARGIN,
    Booking,
    SlidingWindowLimiter,
    prune,
)

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

#: Moves the shared state directory (default: ``<tempdir>/airflow-provider-activecampaign-ratelimit``).
RATELIMIT_DIR_ENV = "AIRFLOW_PROVIDER_ACTIVECAMPAIGN_RATELIMIT_DIR"
#: A shared booking further ahead than this comes from a stepped clock or a fake one: ignored.
FUTURE_LIMIT = 3600.0

log = logging.getLogger(__name__)


def ratelimit_dir() -> Path:
    """Where shared windows live: ``$AIRFLOW_PROVIDER_ACTIVECAMPAIGN_RATELIMIT_DIR`` or a temp dir."""
    configured = os.environ.get(RATELIMIT_DIR_ENV)
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / "airflow-provider-activecampaign-ratelimit"


class SharedSlidingWindowLimiter(SlidingWindowLimiter):
    """A :class:`~.window.SlidingWindowLimiter` whose window every process of the host shares.

    Entries that can no longer count (or absurdly far ahead, after a clock step) are dropped; an
    unreadable file counts as empty and is rewritten. If the file cannot be opened, the operation
    runs on this process's last view of the window instead.
    """

    backend = "local"

    def __init__(
        self, account: str, scope: str, max_events: int, period: float, margin: float = WINDOW_MARGIN
    ) -> None:
        #: Wall-clock minus monotonic time, in integer nanoseconds (a float of the wall-clock time
        #: only resolves 0.24 µs): converts other processes' bookings into this one's time.
        self._offset_ns = time.time_ns() - round(time.monotonic() * 1e9)
        self._name = hashlib.sha256(f"{account}\n{scope}".encode()).hexdigest()
        self._warned = False
        super().__init__(max_events, period, margin)

    @contextmanager
    def _window(self, now: float | None, changes: bool = True) -> Iterator[float]:
        with self._lock:
            fd = self._lock_file()
            if fd is None:  # this process's last view of the window will do
                now = time.monotonic() if now is None else now
                self._slots = prune(self._slots, now, self.period)
                yield now
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
            # Bookings written with this limiter's offset come back bit for bit; others shift by
            # the difference between the writer's clocks and ours.
            shift = (int(state["offset_ns"]) - self._offset_ns) / 1e9
            slots = [Booking.from_json(item, shift) for item in state["slots"]]
        except (ValueError, TypeError, KeyError):
            return []  # corrupt, or written by another version: start empty, the write-back repairs it
        latest = now + FUTURE_LIMIT
        return prune([slot for slot in slots if slot.at <= latest], now, self.period)

    def _store(self, fd: int) -> None:
        state = {"offset_ns": self._offset_ns, "slots": [slot.to_json() for slot in self._slots]}
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


def new_local_limiter(account: str, scope: str, max_events: int, period: float) -> SlidingWindowLimiter:
    """A limiter shared by the host's processes if possible, else one for this process only."""
    if shared_limiter_available():
        return SharedSlidingWindowLimiter(account, scope, max_events, period)
    return SlidingWindowLimiter(max_events, period)
