"""The sliding-window booking algorithm every limiter backend runs, and its in-memory form.

ActiveCampaign counts a request when it *arrives*, in a sliding window ("5 per second"). A client
only knows when it sent a request and when the answer came back. The algorithm books requests
first come, first served, and keeps each booking honest through its life:

1. **book**: the caller gets the next free slot and how long to wait for it. The booking is
   *open*: its request has not been answered yet.
2. **confirm** (only after waiting): just before sending, the booking is checked against the
   window as it is *now*. Other bookings may have moved later since it was made (a sender that
   was descheduled, an answer that was slow), so a booking that no longer fits moves to when the
   window has room (keeping its place in the queue) and the caller waits again. This is what keeps
   several processes on a busy host strict: a slot handed out a second ago is never trusted blindly.
3. **settle**: the answer came back at ``R``. The request reached the server between its send
   and ``R``; every request also spends at least the caller's fastest round trip (its *floor*:
   the network both ways and the server's least work) in flight, so the booking moves to
   ``R - floor``, never earlier than it was sent. Comparing ``R - floor`` with the next
   request's *send* time is the same comparison as between the two arrivals (each pays at least
   the one-way floor), so the window is measured at the server's side without waiting out a
   whole round trip per slot: at 300 ms of latency the account's budget is still used fully.
   Until it is settled, an open booking counts as ``max(at, now - floor)``: a slow answer
   pushes it later as time passes, as its arrival may be.

A booking's ``open_until`` bounds how long an open booking can hold a slot, so the booking of a
process killed mid-request cannot block the window for long.

Sliding windows are the strictest reading of "N per second": a server counting any other way
(token bucket, fixed windows) accepts whatever this lets through. :class:`SlidingWindowLimiter`
keeps the window in memory; the file (:mod:`.local`) and Redis (:mod:`.redis`) backends run the
same rules on a window shared by processes and hosts.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

#: Head-room kept in every limiter window, so clock jitter between us and the server never shows as a 429.
WINDOW_MARGIN = 0.03
#: Longest an unanswered booking holds its slot by default (a request's timeout plus slack).
DEFAULT_HOLD = 120.0

#: Unique across the processes of every host: a random token per process, plus a sequence.
_PROCESS_TOKEN = uuid.uuid4().hex[:12]
_SEQUENCE = itertools.count(1)


def new_key() -> str:
    """A booking id unique across hosts and processes (``<process token>-<pid>-<sequence>``)."""
    return f"{_PROCESS_TOKEN}-{os.getpid()}-{next(_SEQUENCE)}"


@dataclass(eq=False)
class Booking:
    """One request booked in a limiter window (times in the window's clock)."""

    #: When the request counts as sent; only ever moves later.
    at: float
    key: str = field(default_factory=new_key)
    #: While the request is unanswered: the latest it can still count from. ``0.0`` once settled.
    open_until: float = 0.0
    #: The caller's fastest round trip to the server (see the module docstring).
    floor: float = 0.0
    #: The limiter that made it (a Redis limiter books on its local fallback while Redis is down).
    owner: Any = field(default=None, repr=False, compare=False)

    def effective(self, now: float) -> float:
        """When this booking counts, as seen at ``now``."""
        if not self.open_until:
            return self.at
        return max(self.at, min(now, self.open_until) - self.floor)

    def to_json(self) -> list[float | str]:
        return [self.at, self.key, self.open_until, self.floor]

    @classmethod
    def from_json(cls, item: Sequence[object], shift: float = 0.0) -> Booking:
        at, key, open_until, floor = item
        until = float(open_until)  # type: ignore[arg-type]
        return cls(
            float(at) + shift,  # type: ignore[arg-type]
            str(key),
            until + shift if until else 0.0,
            float(floor),  # type: ignore[arg-type]
        )


# --------------------------------------------------------------------------------------------------
# The rules, on a plain list of bookings (sorted by ``at``)
# --------------------------------------------------------------------------------------------------


def next_slot(slots: Sequence[Booking], now: float, max_events: int, period: float) -> float:
    """The earliest time a new booking fits: after every booking made before it, and in the window."""
    slot = now
    if slots:
        slot = max(slot, max(booking.at for booking in slots))  # first come, first served
    counted = sorted(booking.effective(now) for booking in slots)
    if len(counted) >= max_events:
        slot = max(slot, counted[-max_events] + period)
    return slot


def free_at(slots: Sequence[Booking], booking: Booking, now: float, max_events: int, period: float) -> float:
    """When ``booking`` can go, from ``now`` on: once fewer than ``max_events`` others count in its window.

    Only bookings that count by ``now`` are considered: later ones are checked when they go.
    """
    counted = sorted(
        effective
        for other in slots
        if other.key != booking.key and (effective := other.effective(now)) <= now
    )
    if len(counted) < max_events:
        return now
    return max(now, counted[-max_events] + period)


def prune(slots: list[Booking], now: float, period: float) -> list[Booking]:
    """Drop bookings that can no longer count in any window that starts from now on."""
    horizon = now - period
    kept = [booking for booking in slots if booking.effective(now) > horizon]
    kept.sort(key=lambda booking: booking.at)
    return kept


def saturated(slots: list[Booking], now: float, max_events: int) -> list[Booking]:
    """``slots`` plus a full window of settled bookings at the latest time booked (or now)."""
    latest = max([now, *(booking.at for booking in slots)])
    return [*slots, *(Booking(latest) for _ in range(max_events))]


# --------------------------------------------------------------------------------------------------
# In memory
# --------------------------------------------------------------------------------------------------


class SlidingWindowLimiter:
    """At most ``max_events`` requests in any ``period`` seconds, for one process; thread-safe, never blocks.

    ``book()`` returns how long the caller must wait, so the same limiter serves ``time.sleep``
    (the hook) and ``asyncio.sleep`` (triggers). Subclasses share the window with other processes
    by overriding :meth:`_window`, which loads the window before an operation and stores it after.
    """

    #: Names the backend in logs and messages.
    backend = "memory"

    def __init__(self, max_events: int, period: float, margin: float = WINDOW_MARGIN) -> None:
        self._lock = threading.Lock()
        self._slots: list[Booking] = []
        self.configure(max_events, period, margin)

    @contextmanager
    def _window(self, now: float | None, changes: bool = True) -> Iterator[float]:
        """Hold the window for one operation (``changes`` it or only reads it); yields its ``now``."""
        with self._lock:
            now = time.monotonic() if now is None else now
            self._slots = prune(self._slots, now, self.period)
            yield now

    def configure(self, max_events: int, period: float, margin: float = WINDOW_MARGIN) -> None:
        self.max_events = max(1, int(max_events))
        self.period = float(period) * (1.0 + margin)

    def book(
        self, now: float | None = None, *, hold: float = DEFAULT_HOLD, floor: float = 0.0
    ) -> tuple[Booking, float]:
        """Book the next free slot: ``(booking, seconds to wait before sending)``.

        :param hold: How long the request may stay unanswered (its timeout, plus slack).
        :param floor: The caller's fastest round trip to the server so far (0 when unknown).
        """
        with self._window(now) as now:
            slot = next_slot(self._slots, now, self.max_events, self.period)
            booking = Booking(slot, open_until=slot + hold, floor=max(0.0, floor), owner=self)
            self._slots.append(booking)
            return booking, max(0.0, slot - now)

    def reserve(self, now: float | None = None) -> float:
        """Book the next free slot, counted from when it is due; return how long to wait.

        For callers that do not :meth:`settle` (the booking holds no open time).
        """
        return self.book(now, hold=0.0)[1]

    def confirm(self, booking: Booking, now: float | None = None) -> float:
        """About to send after waiting: 0.0 if it may go now, else how long to wait (then confirm again)."""
        with self._window(now) as now:
            mine = self._find(booking)
            if mine is not None and now < mine.at:  # woken early: keep the place, wait for it
                return mine.at - now
            hold = booking.open_until - booking.at if booking.open_until else DEFAULT_HOLD
            if mine is None:  # lost (a window reset, a pruned file): book again
                slot = next_slot(self._slots, now, self.max_events, self.period)
                booking.at, booking.open_until = slot, slot + hold
                self._slots.append(Booking(booking.at, booking.key, booking.open_until, booking.floor))
                return max(0.0, slot - now)
            # The window as it is now: move to when it has room (usually a few milliseconds), keeping
            # the place in the queue rather than going to its back.
            slot = free_at(self._slots, mine, now, self.max_events, self.period)
            mine.at, mine.open_until = slot, slot + hold
            booking.at, booking.open_until = mine.at, mine.open_until
            return slot - now

    def settle(self, booking: Booking, at: float | None = None) -> None:
        """The request of ``booking`` was answered at ``at`` (default: now): count it from ``at - floor``."""
        with self._window(at) as at:
            counted = max(booking.at, at - booking.floor)
            mine = self._find(booking)
            booking.at, booking.open_until = counted, 0.0
            if mine is not None:
                self._slots.remove(mine)
            self._slots.append(Booking(counted, booking.key, 0.0, booking.floor))
            self._slots.sort(key=lambda slot: slot.at)

    def cancel(self, booking: Booking, now: float | None = None) -> None:
        """The request of ``booking`` will not be sent (the caller gave up waiting)."""
        with self._window(now):
            mine = self._find(booking)
            if mine is not None:
                self._slots.remove(mine)

    def delay(self, now: float | None = None) -> float:
        """How long a booking made now would wait, without booking anything.

        Lets a caller with other work (polling earlier bulk imports) do it instead of sleeping.
        """
        with self._window(now, changes=False) as now:
            return max(0.0, next_slot(self._slots, now, self.max_events, self.period) - now)

    def saturate(self, now: float | None = None) -> None:
        """Treat the window as full from now on: the server told us we are over its limit."""
        with self._window(now) as now:
            self._slots = saturated(self._slots, now, self.max_events)

    def _find(self, booking: Booking) -> Booking | None:
        for slot in self._slots:
            if slot.key == booking.key:
                return slot
        return None
