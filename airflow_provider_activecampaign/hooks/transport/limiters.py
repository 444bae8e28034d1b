"""The limiter registries: one limiter per account and scope per process, and its round-trip floor."""

from __future__ import annotations

import math
import threading
from collections import deque
from typing import TYPE_CHECKING

from airflow_provider_activecampaign.hooks.ratelimit import WINDOW_MARGIN, RateLimiter, new_limiter

if TYPE_CHECKING:
    from airflow_provider_activecampaign.hooks.transport.settings import TransportSettings

#: ActiveCampaign counts requests per second; we never burst more than this many at once.
ACCOUNT_BURST = 5
#: The bulk importer counts requests per minute.
IMPORT_BURST = 100


_LIMITERS: dict[tuple[str, str, str], RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def window_size(events_per_period: float, period: float, burst: int, share: float = 1.0) -> tuple[int, float]:
    """``(max_events, window seconds)`` for ``events_per_period`` per ``period``, of which we use ``share``.

    The server counts at most ``burst`` events in a sliding ``period`` (5 a second, 100 a minute).
    A higher rate shrinks the window (an emulator running faster than real time); a rate or a
    share below it lowers the count in the server's window, rounded *down* to whole events, so that
    shares add up within any one window: with a share of 1/3, three hosts send at most 3 in any
    second, never 6. Below one event per window, the window grows instead.
    """
    if events_per_period >= burst:
        server_events, server_window = float(burst), period * burst / events_per_period
    else:
        server_events, server_window = events_per_period, period
    target = server_events * share
    events = max(1, math.floor(target + 1e-9))
    return events, server_window * max(1.0, events / target)


def get_limiter(
    account: str,
    scope: str,
    events_per_period: float,
    period: float,
    burst: int,
    *,
    share: float = 1.0,
    backend: str = "local",
) -> RateLimiter:
    """The limiter of one account and scope on ``backend``, shared by every hook and trigger.

    One object per process; its window lives where the backend keeps it (a file every process of
    the host shares, or Redis for every host; see :mod:`airflow_provider_activecampaign.hooks.ratelimit`).
    """
    max_events, window = window_size(events_per_period, period, burst, share)
    key = (backend, account, scope)
    with _LIMITERS_LOCK:
        limiter = _LIMITERS.get(key)
        if limiter is None:
            limiter = _LIMITERS[key] = new_limiter(backend, account, scope, max_events, window)
        elif limiter.max_events != max_events or abs(limiter.period - window * (1 + WINDOW_MARGIN)) > 1e-9:
            limiter.configure(max_events, window)
        return limiter


def limiters_for(settings: TransportSettings, method: str, endpoint: str) -> list[RateLimiter]:
    """Every limiter a call must pass: the account's, plus the importer's for bulk imports."""
    share, backend = settings.budget_share, settings.rate_limit_backend
    limiters = [
        get_limiter(
            settings.base_url,
            "requests",
            settings.requests_per_second,
            1.0,
            ACCOUNT_BURST,
            share=share,
            backend=backend,
        )
    ]
    if method == "POST" and endpoint == "import/bulk_import":
        limiters.append(
            get_limiter(
                settings.base_url,
                "bulk_import",
                settings.imports_per_minute,
                60.0,
                IMPORT_BURST,
                share=share,
                backend=backend,
            )
        )
    return limiters


class RoundTrips:
    """The fastest recent round trips to one account, as seen from this process.

    The limiter counts an answered request from ``answer - floor`` (see
    :mod:`airflow_provider_activecampaign.hooks.ratelimit.window`). The floor is a fraction of the
    fastest of the last few answers: a latency that drops shows at once, one that rises only once
    the fast answers have aged out, so the floor errs low (safe) rather than high.
    """

    #: How many recent answers the floor is taken from.
    SAMPLES = 50
    #: The share of the fastest recent round trip that counts as the floor (the rest is head-room).
    FRACTION = 1.0

    def __init__(self) -> None:
        self._samples: deque[float] = deque(maxlen=self.SAMPLES)
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        if seconds >= 0:
            with self._lock:
                self._samples.append(seconds)

    def floor(self) -> float:
        with self._lock:
            return self.FRACTION * min(self._samples) if self._samples else 0.0


_ROUND_TRIPS: dict[str, RoundTrips] = {}


def round_trips(account: str) -> RoundTrips:
    with _LIMITERS_LOCK:
        tracker = _ROUND_TRIPS.get(account)
        if tracker is None:
            tracker = _ROUND_TRIPS[account] = RoundTrips()
        return tracker
