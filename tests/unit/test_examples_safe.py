"""The example DAGs are safe to unpause on a real scheduler.

Asserted on the DAG objects the scheduler would get (the DAG files parsed by a ``DagBag``, their
timetables converted to the scheduler's own, as serialization does), at a fixed "now":

* unpausing any example creates at most one run, whatever its ``start_date`` (no catch-up of
  hundreds of past days);
* the newsletter's run on first unpause is for a past Tuesday, and its first task skips the whole
  run (nothing is refreshed, created or sent); runs started by a person (manual, backfill) and a
  scheduled run on time do go ahead.

tests/deployment/test_examples_on_a_scheduler.py checks the same guard with a real scheduler.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pendulum
import pytest

from tests.conftest import EXAMPLE_DAGS

NEWSLETTER_DAG = "activecampaign_weekly_newsletter"
#: A Friday afternoon: the newsletter's latest tick (Tuesday 09:00) is three days old.
FRIDAY = pendulum.datetime(2025, 6, 20, 15, 0, tz="UTC")


@pytest.fixture(scope="module")
def dags() -> dict[str, Any]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(EXAMPLE_DAGS))
    assert bag.import_errors == {}
    assert len(bag.dags) >= 3
    return dict(bag.dags)


class Clock:
    """What the scheduler's timetables see as now (``utcnow``), settable by the test."""

    def __init__(self, now: pendulum.DateTime) -> None:
        self.now = now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    import airflow.timetables.interval
    import airflow.timetables.trigger

    frozen = Clock(FRIDAY)
    for module in (airflow.timetables.trigger, airflow.timetables.interval):
        monkeypatch.setattr(module, "utcnow", lambda: frozen.now)
    return frozen


def runs_on_unpause(dag: Any, now: pendulum.DateTime, limit: int = 1000) -> list[Any]:
    """The runs the scheduler creates for a DAG unpaused at ``now`` (those due by then)."""
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import TimeRestriction

    timetable = coerce_to_core_timetable(dag.timetable)
    restriction = TimeRestriction(earliest=dag.start_date, latest=None, catchup=dag.catchup)
    runs: list[Any] = []
    last = None
    while len(runs) < limit:
        info = timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
        if info is None or info.run_after > now:
            break
        runs.append(info)
        last = info.data_interval
    return runs


def test_unpausing_any_example_starts_at_most_one_run(dags: dict[str, Any], clock: Clock) -> None:
    for dag_id, dag in dags.items():
        # Unpaused a year after its start date: a year of intervals it could catch up on.
        clock.now = max(FRIDAY, pendulum.instance(dag.start_date or FRIDAY)) + timedelta(days=365)
        runs = runs_on_unpause(dag, clock.now)
        assert len(runs) <= 1, f"{dag_id}: unpausing it would start {len(runs)} runs"


def _context(dag: Any, run_type: str, scheduled_for: Any) -> dict[str, Any]:
    return {
        "dag_run": SimpleNamespace(run_type=run_type),
        "data_interval_end": scheduled_for,
        "params": {name: param.value for name, param in dag.params.items()},
    }


def test_the_newsletter_does_not_send_for_a_past_week_on_first_unpause(
    dags: dict[str, Any], clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow.providers.standard.operators.python import ShortCircuitOperator

    dag = dags[NEWSLETTER_DAG]
    [first] = runs_on_unpause(dag, clock.now)
    assert first.data_interval.end == pendulum.datetime(2025, 6, 17, 9, tz="UTC")  # last Tuesday

    guard = dag.get_task("this_weeks_issue")
    assert isinstance(guard, ShortCircuitOperator)
    assert guard.ignore_downstream_trigger_rules is True  # skips everything after it, not one task
    # Every task that writes to ActiveCampaign waits for the guard.
    for task_id in ("refresh_audience", "send_newsletter", "wait_for_send"):
        assert "this_weeks_issue" in dag.get_task(task_id).get_flat_relative_ids(upstream=True), task_id
    assert dag.get_task("this_weeks_issue").upstream_task_ids == set()

    # That scheduled run, started on Friday (or any later day), sends nothing ...
    assert guard.python_callable(**_context(dag, "scheduled", first.data_interval.end)) is False
    assert "Not sending the issue for 2025-06-17 09:00" in capsys.readouterr().out
    # ... while a scheduled run on time, a manual run and a backfill send.
    on_time = pendulum.now("UTC") - timedelta(minutes=10)
    assert guard.python_callable(**_context(dag, "scheduled", on_time)) is True
    for run_type in ("manual", "backfill"):
        assert guard.python_callable(**_context(dag, run_type, first.data_interval.end)) is True


def test_the_newsletter_rule_itself() -> None:
    sys.path.insert(0, str(EXAMPLE_DAGS))
    try:
        from activecampaign_weekly_newsletter import newsletter_is_due
    finally:
        sys.path.remove(str(EXAMPLE_DAGS))
    tick = pendulum.datetime(2025, 6, 17, 9, tz="UTC")
    six_hours = timedelta(hours=6)
    assert newsletter_is_due("scheduled", tick, tick + timedelta(hours=5, minutes=59), six_hours)[0] is True
    assert newsletter_is_due("scheduled", tick, tick + timedelta(hours=6, minutes=1), six_hours)[0] is False
    assert newsletter_is_due("manual", tick, tick + timedelta(days=30), six_hours)[0] is True
    assert newsletter_is_due("asset_triggered", tick, tick + timedelta(days=30), six_hours)[0] is True
