"""The readers of ActiveCampaign's dates on the one rule of ``records/dates.py``, edge case by edge case.

Each reader kept its own meaning of "no date", "no offset" and "unreadable" (listed per test);
what changed is that the spellings ActiveCampaign writes all read, e.g. the one-digit hour of the
reference's ``ecomOrders`` example (``2019-09-06T2:10:00-05:00``), which ``datetime.fromisoformat``
refused, and that an unreadable value is warned about instead of vanishing.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_activecampaign.automations.enrolments import parse_ac_timestamp, started_since
from airflow_provider_activecampaign.campaigns import api as campaigns
from airflow_provider_activecampaign.exports import parquet
from airflow_provider_activecampaign.exports.windows import Window, WindowCut, api_date_filter
from airflow_provider_activecampaign.operators.contacts import ActiveCampaignExportContactsOperator

MINUS_5 = timezone(timedelta(hours=-5))
NOON_UTC = datetime(2025, 3, 9, 12, tzinfo=UTC)

# -- campaigns/api.py: sdate, cdate ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-03-09T08:00:00-04:00", NOON_UTC),  # as before
        ("2025-03-09T8:00:00-04:00", NOON_UTC),  # fixed: was None (fromisoformat refuses it)
        ("2025-03-09T12:00:00Z", NOON_UTC),
        ("2025-03-09T07:00:00.000-05:00", NOON_UTC),
        ("2025-03-09 08:00:00", None),  # no offset: not placed in time, as before
        ("0000-00-00 00:00:00", None),  # no date, as before
        ("0000-00-00T00:00:00-05:00", None),  # no date with the account's offset
        ("", None),
        (None, None),
        (5, None),
    ],
)
def test_campaign_dates(text: Any, expected: datetime | None) -> None:
    assert campaigns.parse_api_datetime(text) == expected


def test_an_unreadable_campaign_date_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=campaigns.__name__):
        assert campaigns.parse_api_datetime("next Tuesday") is None
    assert "'next Tuesday' is not a date ActiveCampaign writes" in caplog.text


def test_campaign_offset_check_reads_one_digit_hours() -> None:
    new_york = campaigns.resolve_timezone("America/New_York")
    # In July New York is at -04:00: a -05:00 stamp disagrees (was no verdict: unreadable).
    problem = campaigns.timezone_disagreement("2025-07-15T9:00:00-05:00", new_york)
    assert problem is not None
    assert "-05:00" in problem
    assert campaigns.timezone_disagreement("2025-07-15T9:00:00-04:00", new_york) is None
    mismatch = campaigns.sdate_mismatch({"sdate": "2025-03-09T8:00:00-05:00"}, NOON_UTC)
    assert mismatch is not None
    assert "account_timezone" in mismatch


# -- automations/enrolments.py: adddate ----------------------------------------------------------


def test_enrolment_dates(caplog: pytest.LogCaptureFixture) -> None:
    assert parse_ac_timestamp("2018-09-28T1:50:41-05:00") == datetime(2018, 9, 28, 1, 50, 41, tzinfo=MINUS_5)
    assert parse_ac_timestamp("0000-00-00T00:00:00-05:00") == datetime.min.replace(tzinfo=UTC)
    assert parse_ac_timestamp("2018-09-28 1:50:41") is None  # no offset: not guessed, as before
    with caplog.at_level(logging.WARNING, logger="airflow_provider_activecampaign.automations.enrolments"):
        assert parse_ac_timestamp("28/09/2018") is None
    assert "'28/09/2018' is not a date ActiveCampaign writes" in caplog.text


def test_an_enrolment_with_a_one_digit_hour_is_placed_in_time() -> None:
    since = datetime(2024, 5, 1, 12, tzinfo=UTC)
    # 07:59:59 at -04:00 is before `since`: was "unreadable, so recent", which kept a re-run from
    # enrolling a contact whose only enrolment was older than the run.
    assert not started_since({"adddate": "2024-05-01T7:59:59-04:00"}, since)
    assert started_since({"adddate": "2024-05-01T8:00:00-04:00"}, since)
    assert started_since({"adddate": "not a date"}, since)  # unreadable: still the safe side


# -- the contacts export's window (was contacts/export.py's filter_time) -------------------------


def window_of_operator(**options: Any) -> Window:
    operator = ActiveCampaignExportContactsOperator(task_id="export", output_path="/tmp/x.jsonl", **options)
    return operator._window({})


def test_contacts_export_window_bounds() -> None:
    window = window_of_operator(updated_after="2024-03-02T2:10:00-05:00", updated_before="2024-03-03")
    assert window.start == datetime(2024, 3, 2, 7, 5, tzinfo=UTC)  # 07:10 UTC less 5 minutes of overlap
    assert window.end == datetime(2024, 3, 3, tzinfo=UTC)  # naive: UTC, as before
    # What the API is sent: dates, a day wider (SPEC GET /contacts: format: date).
    assert api_date_filter(window) == ("2024-03-01", "2024-03-04")
    exact = window_of_operator(
        updated_after=datetime(2024, 3, 2, tzinfo=UTC), overlap=0, use_data_interval=False
    )
    assert exact == Window(datetime(2024, 3, 2, tzinfo=UTC), None)


@pytest.mark.parametrize("name", ["updated_after", "updated_before"])
def test_contacts_export_names_a_bound_that_is_not_a_date(name: str) -> None:
    with pytest.raises(AirflowFailException, match=rf"{name}='yesterday' is not a date or datetime"):
        window_of_operator(**{name: "yesterday"}, use_data_interval=False)


def test_window_cut_keeps_the_exact_window_and_unreadable_dates(caplog: pytest.LogCaptureFixture) -> None:
    window = Window(datetime(2024, 3, 2, tzinfo=UTC), datetime(2024, 3, 3, tzinfo=UTC))
    cut = WindowCut(window, "udate", log=logging.getLogger("test.cut"))
    with caplog.at_level(logging.WARNING, logger="test.cut"):
        kept = [
            cut({"id": "1", "udate": "2024-03-01T18:59:59-05:00"}),  # 23:59:59 UTC: a second early
            cut({"id": "2", "udate": "2024-03-01T19:00:00-05:00"}),  # the window's first second
            cut({"id": "3", "udate": "2024-03-02T3:00:00-05:00"}),  # one-digit hour
            cut({"id": "4", "udate": "2024-03-02T19:00:00-05:00"}),  # the window's end: outside
            cut({"id": "5", "udate": "garbled"}),  # kept, counted, warned
        ]
    assert kept == [False, True, True, False, True]
    assert (cut.read, cut.outside, cut.unreadable, cut.filter_ignored) == (5, 2, 1, False)
    assert "Record 5: udate 'garbled'" in caplog.text
    cut({"id": "6", "udate": "2023-01-01T00:00:00-05:00"})  # far outside, on the first page
    assert cut.filter_ignored


# -- exports/parquet.py: the time columns' type ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-01T07:00:00-05:00", datetime(2024, 3, 1, 12, tzinfo=UTC)),  # as before
        ("2018-11-06 02:26:07", datetime(2018, 11, 6, 2, 26, 7, tzinfo=UTC)),  # naive is UTC, as before
        ("2024-03-01T7:00:00-05:00", datetime(2024, 3, 1, 12, tzinfo=UTC)),  # was a string column
        ("2021-04-16T16:12:22.222685095Z", datetime(2021, 4, 16, 16, 12, 22, 222685, tzinfo=UTC)),  # idem
        ("0000-00-00 00:00:00", None),  # no date: null (was a string column)
        ("", None),
        (None, None),
    ],
)
def test_parquet_time_columns(text: str | None, expected: datetime | None) -> None:
    assert parquet._timestamp(text) == expected


def test_a_parquet_time_value_that_is_no_date_makes_a_string_column() -> None:
    with pytest.raises(ValueError, match="not a date ActiveCampaign writes"):
        parquet._timestamp("soon")
