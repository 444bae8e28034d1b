"""The enrolment status rule, the "earlier try" window and the failure-ratio message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_activecampaign.automations.enrolments import (
    CLOCK_SKEW_MARGIN,
    COMPLETED,
    EXITED,
    RUNNING,
    UNKNOWN,
    describe_problems,
    describe_running,
    earlier_tries_since,
    enrolment_phase,
    parse_ac_timestamp,
    started_since,
    summarize,
)
from airflow_provider_activecampaign.records.ratio import enforce_failure_ratio


@pytest.mark.parametrize(
    ("row", "phase"),
    [
        ({"status": "1", "completed": 0}, RUNNING),  # GET shape
        ({"status": 1, "completed": 0}, RUNNING),  # POST 201 shape (numbers)
        ({"status": "2", "completed": 1}, COMPLETED),  # the reference's examples
        ({"status": "2", "completed": "0"}, EXITED),  # ended without completing
        ({"status": "5", "completed": 1}, COMPLETED),
        ({"status": "0", "completed": 0}, UNKNOWN),
        ({}, UNKNOWN),
    ],
)
def test_enrolment_phase(row: dict[str, Any], phase: str) -> None:
    assert enrolment_phase(row) == phase


def test_parse_ac_timestamp() -> None:
    assert parse_ac_timestamp("2018-09-28T13:50:41-05:00") == datetime(
        2018, 9, 28, 13, 50, 41, tzinfo=timezone(timedelta(hours=-5))
    )
    assert parse_ac_timestamp("0000-00-00 00:00:00") == datetime.min.replace(tzinfo=UTC)
    assert parse_ac_timestamp("2018-09-28 13:50:41") is None  # no offset: not guessed
    assert parse_ac_timestamp(None) is None
    assert parse_ac_timestamp("soon") is None


def test_started_since_counts_an_unreadable_date_as_recent() -> None:
    since = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert started_since({"adddate": "2024-05-01T08:00:00-04:00"}, since)  # 12:00 UTC exactly
    assert not started_since({"adddate": "2024-05-01T07:59:59-04:00"}, since)
    assert not started_since({"adddate": "0000-00-00"}, since)
    assert started_since({"adddate": None}, since)  # "do not enrol again" is the safe side


def _context(try_number: int, **dag_run: Any) -> dict[str, Any]:
    ti = SimpleNamespace(try_number=try_number, start_date=datetime(2024, 5, 2, tzinfo=UTC))
    return {"ti": ti, "dag_run": SimpleNamespace(**dag_run)}


def test_the_first_try_has_no_earlier_tries() -> None:
    assert earlier_tries_since(_context(1, run_after=datetime(2024, 5, 1, tzinfo=UTC))) is None


def test_a_later_try_looks_back_to_the_runs_creation_less_a_margin() -> None:
    run_after = datetime(2024, 5, 1, 6, 0, tzinfo=UTC)
    # A cleared run gets a new start_date; run_after stays, so earlier tries stay covered.
    context = _context(3, run_after=run_after, start_date=datetime(2024, 5, 3, tzinfo=UTC))

    assert earlier_tries_since(context) == run_after - CLOCK_SKEW_MARGIN


def test_summarize_and_describe() -> None:
    state = summarize(
        {
            "1": {"status": "2", "completed": 1},
            "2": {"status": "2", "completed": 0},
            "3": {"status": "1", "completed": 0, "contact": "30", "completeValue": 40},
            "4": None,
            "5": {"status": "9", "contact": "50"},
        }
    )
    assert (state.completed, state.exited, list(state.running), state.missing) == (
        ["1"],
        ["2"],
        ["3", "5"],
        ["4"],
    )
    assert not state.done
    assert describe_running(state.running) == (
        "2 enrolment(s) still running: 3 (contact 30, 40% done), 5 (contact 50, status '9')"
    )
    assert "4" in state.describe_missing()


def test_failure_summary() -> None:
    """Enrolment failures go through the one failure-ratio rule (records/ratio.py)."""
    problems = [{"contact": f"c{i}", "reason": "not found"} for i in range(7)]

    def check(count: int, total: int, limit: float) -> None:
        enforce_failure_ratio(
            count,
            total,
            limit,
            report="XCom 'enrolment_result'",
            task="Enrolling in 'Welcome'",
            what="contacts",
            happened="failed or were not found",
            first=describe_problems(problems[:count]),
        )

    check(7, 100, 0.07)  # at the limit: not above it
    with pytest.raises(AirflowFailException) as caught:
        check(7, 100, 0.05)
    message = str(caught.value)
    assert message.startswith(
        "Enrolling in 'Welcome': 7 of 100 contacts (7%) failed or were not found, above "
        "max_failure_ratio 0.05 (5%). "
    )
    assert "'c0': not found; 'c1': not found" in message
    assert "and 2 more" in message
    assert "Every one is listed in XCom 'enrolment_result'." in message
    check(0, 10, 0.0)


def test_progress_is_logged_every_n_contacts_with_rate_and_time_left() -> None:
    from airflow_provider_activecampaign.automations.enrolments import Progress

    lines: list[str] = []

    class Recorder:
        def info(self, msg: str, /, *args: Any) -> None:
            lines.append(msg % args)

        def warning(self, msg: str, /, *args: Any) -> None:  # pragma: no cover - not used
            lines.append(msg % args)

    progress = Progress(Recorder(), "Enrolling", total=250, every=100)
    for _ in range(250):
        progress.step()

    assert [line.split(" (")[0] for line in lines] == [
        "Enrolling: 100/250 contacts",
        "Enrolling: 200/250 contacts",
        "Enrolling: 250/250 contacts",
    ]
    assert lines[0].endswith("left")
    assert "/s), about " in lines[0]
    small = Progress(Recorder(), "Enrolling", total=5, every=100)
    for _ in range(5):
        small.step()
    assert len(lines) == 3  # a short list gets no progress lines


class _Quiet:
    def info(self, msg: str, /, *args: Any) -> None:
        return None

    def warning(self, msg: str, /, *args: Any) -> None:
        return None


def test_map_in_threads_keeps_order_and_stops_at_the_first_error() -> None:
    import time

    from airflow_provider_activecampaign.automations.enrolments import Progress, map_in_threads

    def slow_square(n: int) -> int:
        time.sleep(0.001 * (n % 3))
        return n * n

    assert map_in_threads(slow_square, list(range(40)), 3, Progress(_Quiet(), "x", 40, 10)) == [
        n * n for n in range(40)
    ]

    started: list[int] = []

    def fail_at_five(n: int) -> int:
        started.append(n)
        if n == 5:
            raise RuntimeError("boom")
        time.sleep(0.01)
        return n

    with pytest.raises(RuntimeError, match="boom"):
        map_in_threads(fail_at_five, list(range(1000)), 2, Progress(_Quiet(), "x", 1000, 10))
    assert len(started) < 20  # the queue stopped; it did not run the other 990
