"""Which records belong to a run: the window, the API's date filter around it, and record times.

A window is half-open, ``start <= updated < end``, so consecutive data intervals share no record:
one updated at 23:59:59 belongs to that day, one updated at 00:00:00 to the next.

``filters[updated_after]`` is declared ``format: date`` (SPEC ``GET /contacts``, ``GET /deals``),
counted from the date's midnight in the account's time zone, which the API does not tell us.
``GET /deals`` keeps records "greater than or equal to" the after-date and "less than" the
before-date; ``GET /contacts`` says only "after" and "before" (strict or inclusive is unknown).
So the filter is sent as the day *before* the window's start and a day past its end *plus the
latest offset on Earth* (+14 h), which covers the window for any account offset (-12 h to +14 h)
and either comparison, and the records are then kept exactly by their own update time. (A day past
the end alone is not enough: at +14 h the next UTC day's midnight falls 14 hours *before* UTC
midnight, inside a window that ends late in the UTC day.) A first page holding records far outside
that range means the filter was ignored (integrators report it of ``GET /contactLists``): the
caller warns and relies on the local filter alone.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

import pendulum

from airflow_provider_activecampaign.records.dates import UnparseableDateError, parse_ac_datetime

#: How much wider than the window the API's date filter is sent, on each side (the end's side
#: also moves by :data:`LATEST_UTC_OFFSET`).
FILTER_OVERLAP = timedelta(days=1)
#: The latest account offset on Earth (the earliest is -12 h): a filter's date starts at its
#: midnight in the account's zone.
LATEST_UTC_OFFSET = timedelta(hours=14)
#: A record this far outside the window cannot have passed a date filter that was applied: the
#: after-date's midnight at +14 h is at most 2 days 14 hours before the window's start, the
#: before-date's midnight at -12 h at most 2 days 2 hours after its end.
IGNORED_FILTER_MARGIN = timedelta(days=3)
#: How many records make the first page (where an ignored filter shows) and how many unreadable
#: dates are warned about one by one.
FIRST_PAGE = 100
MAX_DATE_WARNINGS = 20


class NoWindowError(ValueError):
    """The run has no data interval and no explicit bounds: refusing to guess what to export."""


@dataclass(frozen=True)
class Window:
    """``start <= t < end``; a missing bound is open."""

    start: datetime | None
    end: datetime | None

    def contains(self, moment: datetime | None) -> bool:
        if self.start is None and self.end is None:
            return True
        if moment is None:
            return False  # no update time: cannot be placed in a window
        if self.start is not None and moment < self.start:
            return False
        return self.end is None or moment < self.end

    @property
    def is_open(self) -> bool:
        return self.start is None and self.end is None

    def far_outside(self, moment: datetime | None) -> bool:
        """Outside the window by more than a date filter with overlap could let through."""
        if moment is None:
            return False
        if self.start is not None and moment < self.start - IGNORED_FILTER_MARGIN:
            return True
        return self.end is not None and moment >= self.end + IGNORED_FILTER_MARGIN

    def as_dict(self) -> dict[str, str | None]:
        return {
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
        }


def as_utc(moment: datetime | str, default_tz: tzinfo | str = "UTC") -> datetime:
    """A timezone-aware datetime in UTC; naive values are in ``default_tz``.

    Strings are read by the one date rule (``records/dates.py``): ISO 8601 as Airflow renders it
    (``2024-03-01``, ``2024-03-01T00:00:00+00:00``) and every spelling ActiveCampaign writes.

    :raises ValueError: not a date (``UnparseableDateError``, naming the value) or an empty one.
    """
    zone = pendulum.timezone(default_tz) if isinstance(default_tz, str) else default_tz
    if isinstance(moment, str):
        parsed = parse_ac_datetime(moment, default_tz=zone)
        if parsed is None:
            raise ValueError(f"{moment!r} is not a date or datetime")
        moment = parsed
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(pendulum.UTC)


def record_time(value: Any, default_tz: tzinfo | str = "UTC") -> datetime | None:
    """A record's timestamp, in UTC, as ActiveCampaign writes it; ``None`` when it has none.

    ``"2019-04-29T07:51:31-05:00"``, ``"2019-09-06T2:10:00-05:00"``, ``"2018-11-06 02:26:07"``:
    naive times (the custom-field endpoints' ``createdTimestamp``) are in ``default_tz``; the
    ``0000-00-00`` of old rows is ``None``.

    :raises UnparseableDateError: the value is not a date (the caller counts and reports it).
    """
    parsed = parse_ac_datetime(value, default_tz=default_tz)
    return parsed.astimezone(pendulum.UTC) if parsed is not None else None


def api_date_filter(window: Window) -> tuple[str | None, str | None]:
    """``(updated_after, updated_before)`` dates to send: wider than the window at any account offset.

    The after-date is the day before the start's UTC date: its midnight at the latest (-12 h) is
    12 hours before the start, so a strict ``>`` keeps a record stamped at the start. The
    before-date is the day after the UTC date of ``end + 14 h``: its midnight at the earliest
    (+14 h) is after the end, so even a strict ``<`` keeps every record before the end. For a
    window ending at UTC midnight that is the day after the end's date, as for a daily run.
    """
    after = (window.start - FILTER_OVERLAP).date().isoformat() if window.start else None
    before = None
    if window.end:
        before = ((window.end + LATEST_UTC_OFFSET).date() + FILTER_OVERLAP).isoformat()
    return after, before


def resolve_window(
    context: Mapping[str, Any],
    *,
    updated_after: datetime | str | None = None,
    updated_before: datetime | str | None = None,
    use_data_interval: bool = True,
    log: Any = None,
) -> tuple[datetime | str | None, datetime | str | None]:
    """The window's bounds: explicit ones first, the rest from the run's data interval.

    Airflow 3 cron schedules (``"@daily"``) give runs a zero-length interval at the tick; then the
    window continues from where the last successful run's ended (or from the beginning on the
    first run: a full first export). A run with no interval and no bounds raises
    :class:`NoWindowError`.
    """
    after: Any = updated_after or None
    before: Any = updated_before or None
    if use_data_interval and (after is None or before is None):
        start = context.get("data_interval_start")
        end = context.get("data_interval_end")
        if start is None and end is None and after is None and before is None:
            raise NoWindowError(
                "This run has no data interval (e.g. a manual run of an unscheduled DAG). Pass "
                "updated_after/updated_before, or use_data_interval=False to export everything."
            )
        if start is not None and end is not None and start == end:
            previous = context.get("prev_data_interval_end_success")
            start = previous if previous and previous < end else None
            if log is not None:
                log.info(
                    "The run's data interval is empty; exporting from %s.",
                    f"the previous successful run's end ({start})"
                    if start is not None
                    else "the beginning (no earlier successful run: a full first export)",
                )
        after = after if after is not None else start
        before = before if before is not None else end
    return after, before


def window_of(after: datetime | str | None, before: datetime | str | None) -> Window:
    start = as_utc(after) if after is not None else None
    end = as_utc(before) if before is not None else None
    if start is not None and end is not None and end < start:
        raise ValueError(f"The window ends ({end.isoformat()}) before it starts ({start.isoformat()}).")
    return Window(start, end)


class WindowCut:
    """The exact cut of a window on each record's own update time: a ``keep`` filter for readers.

    The one rule of every export (the contacts export operator and the export runner, for
    contacts and every other collection), used where the API's date filter is wider than the
    window (:func:`api_date_filter`) or absent. A record whose update time cannot be read is kept
    (never silently dropped), counted and, the first :data:`MAX_DATE_WARNINGS` times, warned about.
    Called from reader threads.

    :param window: The exact window.
    :param field: The record's update-time field (``udate``, ``mdate``, …).
    :param default_tz: Zone of naive timestamps.
    :param log: Where unreadable dates are warned about.
    :param name: What the warnings call a record (``deals 12: ...``); default ``Record 12: ...``.
    :param id_field: The record's id, named in the warnings.
    :param filter_sent: An API date filter was sent: a first page holding records far outside the
        window then means the API ignored it (:attr:`filter_ignored`). Without one, such records
        are expected and nothing is flagged.
    """

    def __init__(
        self,
        window: Window,
        field: str,
        *,
        default_tz: tzinfo | str = "UTC",
        log: Any = None,
        name: str | None = None,
        id_field: str = "id",
        filter_sent: bool = True,
    ) -> None:
        self.window = window
        self.field = field
        self.default_tz = default_tz
        self.log = log
        self.name = name
        self.id_field = id_field
        self.filter_sent = filter_sent
        self.read = 0
        self.outside = 0
        self.unreadable = 0
        #: Among the first page's records, one far outside the window: the API ignored its filter.
        self.filter_ignored = False
        self._lock = threading.Lock()

    def __call__(self, record: Mapping[str, Any]) -> bool:
        return self.place(record)[0]

    def place(self, record: Mapping[str, Any]) -> tuple[bool, datetime | None]:
        """``(in the window?, the record's update time in UTC or None)``; counts the record."""
        try:
            moment, unreadable = record_time(record.get(self.field), self.default_tz), False
        except UnparseableDateError as error:
            moment, unreadable = None, True
            self._warn(record, error)
        inside = unreadable or self.window.contains(moment)
        with self._lock:
            self.read += 1
            if self.filter_sent and self.read <= FIRST_PAGE and self.window.far_outside(moment):
                self.filter_ignored = True
            if not inside:
                self.outside += 1
        return inside, moment

    def _warn(self, record: Mapping[str, Any], error: UnparseableDateError) -> None:
        with self._lock:
            self.unreadable += 1
            first = self.unreadable <= MAX_DATE_WARNINGS
        if not first or self.log is None:
            return
        if self.name is None:
            self.log.warning(
                "Record %s: %s %s; it is exported whatever the window (check the value in ActiveCampaign).",
                record.get(self.id_field),
                self.field,
                error,
            )
        else:
            self.log.warning(
                "%s %s: %s %s; the record is exported whatever the window (check the value in "
                "ActiveCampaign).",
                self.name,
                record.get(self.id_field),
                self.field,
                error,
            )
