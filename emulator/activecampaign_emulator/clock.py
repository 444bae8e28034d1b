"""Emulated time.

The emulator runs on its own clock so tests can compress hours of ActiveCampaign behaviour
(import queues, automation runs, rate-limit windows) into a fraction of a second:

    emulated_now = start + speed * (real seconds since start) + manual advances

Everything time-based inside the emulator reads this clock.  Only ``Retry-After`` is converted
back to *real* seconds (see :meth:`EmulatedClock.real_seconds`), because that header tells a
client how long to sleep on its own wall clock.
"""

from __future__ import annotations

import math
import re
import threading
import time
from datetime import UTC, date, datetime, timedelta, timezone

_OFFSET_RE = re.compile(r"^([+-])(\d{2}):?(\d{2})$")


def parse_offset(text: str) -> timezone:
    """Turn ``"-05:00"`` (the account's UTC offset, as AC prints it) into a ``timezone``."""
    if text in ("Z", "UTC", "+00:00"):
        return UTC
    match = _OFFSET_RE.match(text)
    if not match:
        raise ValueError(f"timezone offset must look like '-05:00', got {text!r}")
    sign = -1 if match.group(1) == "-" else 1
    minutes = int(match.group(2)) * 60 + int(match.group(3))
    return timezone(sign * timedelta(minutes=minutes))


class EmulatedClock:
    """A monotonic clock that runs ``speed`` times faster than real time and can jump forward."""

    def __init__(self, speed: float = 1.0, start: float | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self._lock = threading.Lock()
        self._speed = float(speed)
        self._base_emulated = time.time() if start is None else float(start)
        self._base_real = time.monotonic()

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> float:
        """Emulated time as a Unix timestamp (seconds)."""
        return self._base_emulated + self._speed * (time.monotonic() - self._base_real)

    def set_speed(self, speed: float) -> None:
        """Change the speed without making emulated time jump."""
        if speed <= 0:
            raise ValueError("speed must be > 0")
        with self._lock:
            self._rebase()
            self._speed = float(speed)

    def advance(self, seconds: float) -> float:
        """Jump forward (never backward: time-ordered state such as rate windows relies on it)."""
        if seconds < 0:
            raise ValueError("the emulated clock cannot go backwards")
        with self._lock:
            self._rebase()
            self._base_emulated += seconds
        return self.now()

    def real_seconds(self, emulated_seconds: float) -> int:
        """Whole real seconds a client must wait for ``emulated_seconds`` to pass (ceil, min 1)."""
        return max(1, math.ceil(emulated_seconds / self._speed - 1e-9))

    def _rebase(self) -> None:
        real = time.monotonic()
        self._base_emulated += self._speed * (real - self._base_real)
        self._base_real = real


def iso(ts: float, tz: timezone) -> str:
    """AC's timestamp format: ISO-8601 to the second with the account's offset."""
    return datetime.fromtimestamp(ts, tz).isoformat(timespec="seconds")


def wall(ts: float, tz: timezone) -> str:
    """AC's ``*_utc_timestamp``/``*_timestamp`` format (``YYYY-MM-DD HH:MM:SS``)."""
    return datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M:%S")


def day(ts: float, tz: timezone) -> str:
    """The account-local calendar date of ``ts``."""
    return datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d")


def parse_timestamp(text: str, tz: timezone) -> float:
    """Parse a filter/seed date or datetime; values without an offset are account-local.

    Accepts ``2024-05-01``, ``2024-05-01 10:00:00``, ``2024-05-01T10:00:00`` and the same with
    ``Z`` or ``+hh:mm``.  Raises ``ValueError`` for anything else.
    """
    value = text.strip()
    if len(value) == 10:
        parsed_date = date.fromisoformat(value)
        return datetime(parsed_date.year, parsed_date.month, parsed_date.day, tzinfo=tz).timestamp()
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.timestamp()
