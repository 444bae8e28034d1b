"""Dates as ActiveCampaign writes them, read by one parser.

The official reference writes dates several ways: ISO 8601 with an offset
(``2019-04-29T07:51:31-05:00``), with milliseconds, naive in the account's zone
(``2018-11-06 02:26:07``, the custom-field endpoints), ``0000-00-00`` for "never", and with a
one-digit hour (``2019-09-06T2:10:00-05:00``, SPEC ``POST /ecomOrders``), which strict ISO 8601
parsers refuse, and with nanoseconds (``2021-04-16T16:12:22.222685095Z``, SPEC
``GET /customObjects/records/{schemaId}``), which Python's own parser refuses. A record whose date
a reader cannot parse must not vanish silently, so anything that is not one of these shapes
raises :class:`UnparseableDateError` for the caller to count and report; "no date" is ``None``.

The shape is checked here; the parsing itself is ``dateutil``'s (shipped with Airflow), which
accepts one-digit fields but, on its own, also guesses at free text ("March 2019").
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo

import pendulum
from dateutil import parser as dateutil_parser

#: ``YYYY-M-D``, optionally ``[T ]H:M[:S[.fff]]`` and an offset (``Z``, ``-05:00``, ``+0000``); the
#: custom-object endpoints write nanoseconds (``2021-04-16T16:12:22.222685095Z``), read to the microsecond.
_SHAPE = re.compile(
    r"\d{4}-\d{1,2}-\d{1,2}"
    r"(?:[T ]\d{1,2}:\d{1,2}(?::\d{1,2}(?:\.\d{1,9})?)?)?"
    r"(?:\s*(?:Z|[+-]\d{2}(?::?\d{2})?))?"
)
#: ActiveCampaign's "no date" (old rows, never-set fields), also with the account's offset.
_NO_DATE = re.compile(r"0000-00-00(?:[T ]00:00:00(?:\s*(?:Z|[+-]\d{2}(?::?\d{2})?))?)?")


class UnparseableDateError(ValueError):
    """A value where ActiveCampaign writes a date, in none of the shapes it writes dates in."""


def parse_ac_datetime(text: object, *, default_tz: tzinfo | str | None = None) -> datetime | None:
    """``text`` as a datetime; ``None`` for no date (empty, ``0000-00-00``).

    A naive value stays naive unless ``default_tz`` (the account's zone) is given.

    :raises UnparseableDateError: ``text`` is not a date in a shape ActiveCampaign writes.
    """
    if text is None:
        return None
    value = str(text).strip()
    if not value or _NO_DATE.fullmatch(value):
        return None
    if not _SHAPE.fullmatch(value):
        raise UnparseableDateError(f"{_shown(value)} is not a date ActiveCampaign writes")
    try:
        parsed = dateutil_parser.parse(value)
    except (ValueError, OverflowError) as exc:
        raise UnparseableDateError(f"{_shown(value)} is not a date ActiveCampaign writes ({exc})") from None
    if parsed.tzinfo is None and default_tz is not None:
        zone = pendulum.timezone(default_tz) if isinstance(default_tz, str) else default_tz
        parsed = parsed.replace(tzinfo=zone)
    return parsed


def _shown(value: str, limit: int = 60) -> str:
    """The value, quoted and cut (a date field could hold anything)."""
    return repr(value) if len(value) <= limit else f"{value[:limit]!r}... ({len(value)} characters)"
