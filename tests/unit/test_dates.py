"""``parse_ac_datetime``: dates as ActiveCampaign writes them, and nothing else.

The spellings are the official reference's own (SPEC examples): ISO 8601 with an offset, the
naive ``2018-11-06 02:26:07`` of the custom-field endpoints, milliseconds, and the one-digit hour
of the ``ecomOrders`` example (``2019-09-06T2:10:00-05:00``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from airflow_provider_activecampaign.records.dates import UnparseableDateError, parse_ac_datetime

MINUS_5 = timezone(timedelta(hours=-5))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # SPEC POST /ecomOrders, response example: a one-digit hour.
        ("2019-09-06T2:10:00-05:00", datetime(2019, 9, 6, 2, 10, tzinfo=MINUS_5)),
        ("2019-04-29T07:51:31-05:00", datetime(2019, 4, 29, 7, 51, 31, tzinfo=MINUS_5)),
        ("2016-09-15T15:37:46.000-05:00", datetime(2016, 9, 15, 15, 37, 46, tzinfo=MINUS_5)),
        # SPEC GET /customObjects/records/{schemaId}: nanoseconds, read to the microsecond.
        ("2021-04-16T16:12:22.222685095Z", datetime(2021, 4, 16, 16, 12, 22, 222685, tzinfo=UTC)),
        ("2019-09-06T02:10:00Z", datetime(2019, 9, 6, 2, 10, tzinfo=UTC)),
        ("2019-09-06T02:10:00+0000", datetime(2019, 9, 6, 2, 10, tzinfo=UTC)),
        # SPEC GET /dealCustomFieldData: naive, in the account's zone.
        ("2018-11-06 02:26:07", datetime(2018, 11, 6, 2, 26, 7)),
        ("2019-09-06 2:10:00", datetime(2019, 9, 6, 2, 10)),
        ("2020-01-31", datetime(2020, 1, 31)),
    ],
)
def test_the_references_spellings_parse(text: str, expected: datetime) -> None:
    assert parse_ac_datetime(text) == expected
    assert parse_ac_datetime(text).utcoffset() == expected.utcoffset()  # type: ignore[union-attr]


def test_naive_times_take_the_given_zone() -> None:
    parsed = parse_ac_datetime("2018-11-06 02:26:07", default_tz="America/Chicago")
    assert parsed is not None
    assert parsed.astimezone(UTC) == datetime(2018, 11, 6, 8, 26, 7, tzinfo=UTC)


@pytest.mark.parametrize("empty", [None, "", "  ", "0000-00-00", "0000-00-00 00:00:00"])
def test_no_date_is_none(empty: str | None) -> None:
    assert parse_ac_datetime(empty) is None


@pytest.mark.parametrize(
    "bad", ["yesterday", "2019-13-01", "06/09/2019", "2019-09-06T25:00:00", "5", "March 2019"]
)
def test_anything_else_is_refused_with_the_value(bad: str) -> None:
    with pytest.raises(UnparseableDateError, match="not a date ActiveCampaign writes") as caught:
        parse_ac_datetime(bad)
    assert repr(bad) in str(caught.value)
