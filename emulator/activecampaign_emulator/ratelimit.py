"""Sliding-window rate limiting on the emulated clock.

ActiveCampaign documents "5 requests per second per account" without saying whether the
second is a fixed bucket or a sliding window.  A sliding log is the stricter reading: a client
that sends 5 requests at t=0.9 and 5 more at t=1.1 passes a fixed-bucket server but fails
here, so a client that is green against the emulator is green against either implementation.

Only *admitted* requests enter the log.  Counting rejected ones too would lock a client that
retries steadily out forever, which no documented behaviour suggests.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one :meth:`SlidingWindowLimiter.acquire` call."""

    allowed: bool
    limit: int
    remaining: int
    #: Emulated seconds until a slot frees up (0 when allowed).
    wait: float


class SlidingWindowLimiter:
    """At most ``limit`` admissions in any ``window`` emulated seconds."""

    __slots__ = ("_hits", "limit", "window")

    def __init__(self, limit: int, window: float) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self.limit = int(limit)
        self.window = float(window)
        self._hits: deque[float] = deque()

    def acquire(self, now: float) -> Decision:
        """Admit one request at emulated time ``now`` if the window has room."""
        hits = self._hits
        horizon = now - self.window
        while hits and hits[0] <= horizon:
            hits.popleft()
        if len(hits) >= self.limit:
            wait = hits[len(hits) - self.limit] - horizon
            return Decision(False, self.limit, 0, max(wait, 0.0))
        hits.append(now)
        return Decision(True, self.limit, self.limit - len(hits), 0.0)

    def clear(self) -> None:
        self._hits.clear()
