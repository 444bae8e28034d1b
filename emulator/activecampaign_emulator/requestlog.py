"""The log of API requests the emulator received, for assertions such as "sent once" or
"never more than 5 requests in any emulated second".

Control calls (``/_emulator/...``) are not logged: the log describes what a client did to
"ActiveCampaign".  The entry list is bounded (oldest entries drop first) so a long benchmark
cannot exhaust memory; the per-key counts are exact regardless.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
from datetime import timezone
from typing import Any

from activecampaign_emulator.clock import iso

MAX_ENTRIES = 100_000


@dataclass(slots=True)
class LogEntry:
    seq: int
    real_time: float
    emulated_time: float
    method: str
    path: str
    template: str
    query: str
    status: int | None = None
    #: The fault kind that answered instead of the emulator, if any.
    fault: str | None = None
    #: "client_disconnected" when the client left before an answer was sent.
    note: str | None = None

    @property
    def key(self) -> str:
        return f"{self.method} {self.template} {self.status if self.status is not None else 'none'}"

    def to_json(self, tz: timezone) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "real_time": self.real_time,
            "emulated_time": iso(self.emulated_time, tz),
            "emulated_epoch": self.emulated_time,
            "method": self.method,
            "path": self.path,
            "template": self.template,
            "query": self.query,
            "status": self.status,
            "fault": self.fault,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class ObservedRequest:
    """One API request as a client sent it (for checking it against the official reference)."""

    method: str
    path: str
    query: str
    #: Header names lower-cased; a repeated header keeps its last value.
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class Reliance:
    """An answer that depended on an *assumed* behaviour (one the reference does not document)."""

    behaviour: str
    method: str
    path: str
    query: str
    user_agent: str

    def describe(self) -> str:
        query = f"?{self.query}" if self.query else ""
        return f"{self.method} {self.path}{query} relied on {self.behaviour!r}"


class RequestLog:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: deque[LogEntry] = deque(maxlen=max_entries)
        self._counts: Counter[str] = Counter()
        self._seq = 0

    def start(
        self, real_time: float, emulated_time: float, method: str, path: str, template: str, query: str
    ) -> LogEntry:
        self._seq += 1
        return LogEntry(self._seq, real_time, emulated_time, method, path, template, query)

    def finish(self, entry: LogEntry) -> None:
        self._entries.append(entry)
        self._counts[entry.key] += 1

    def clear(self) -> None:
        self._entries.clear()
        self._counts.clear()

    def entries(self) -> list[LogEntry]:
        return list(self._entries)

    def counts(self) -> dict[str, int]:
        """``{"POST /api/3/contact/sync 201": 3, ...}`` (status ``none`` = no HTTP answer)."""
        return dict(sorted(self._counts.items()))

    def max_in_window(self, window: float = 1.0) -> int:
        """Most requests that arrived within any ``window`` emulated seconds (half-open)."""
        times = sorted(e.emulated_time for e in self._entries)
        best = 0
        left = 0
        for right, t in enumerate(times):
            while times[left] <= t - window:
                left += 1
            best = max(best, right - left + 1)
        return best
