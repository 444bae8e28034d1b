"""The weekly newsletter example's guard (``this_weeks_issue``), on a real scheduler.

The guard's code is not copied: it is read from dags_examples/activecampaign_weekly_newsletter.py
(the ``# [START newsletter_is_due]`` and ``# [START this_weeks_issue]`` sections the docs quote),
without importing that file, so the example DAG itself is not added to the shared deployment.

Two DAGs, unpaused on creation, each with a weekly schedule computed when the file is parsed:

* ``shared_examples_newsletter_stale``: its latest tick was two days ago, as when the example is
  unpaused on a Thursday. The scheduler starts that run at once (``catchup=False``); the guard must
  skip ``send``.
* ``shared_examples_newsletter_on_time``: its latest tick was at the start of this hour (under the
  example's 6 hours); ``send`` runs.
"""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import CronTriggerTimetable, dag, task

EXAMPLE = Path(__file__).resolve().parents[4] / "dags_examples" / "activecampaign_weekly_newsletter.py"


def _section(name: str) -> str:
    text = EXAMPLE.read_text(encoding="utf-8")
    start, end = f"# [START {name}]", f"# [END {name}]"
    return textwrap.dedent(text[text.index(start) + len(start) : text.index(end)])


def _guard() -> Any:
    """The example's ``this_weeks_issue`` task function, defined from the example's own source."""
    namespace: dict[str, Any] = {"task": task, "pendulum": pendulum, "timedelta": timedelta, "Any": Any}
    exec("from datetime import datetime, timedelta\n" + _section("newsletter_is_due"), namespace)
    exec(_section("this_weeks_issue"), namespace)
    return namespace["this_weeks_issue"]


def _weekly_tick(days_ago: int) -> str:
    """A weekly cron whose latest tick is the start of this hour, ``days_ago`` days back.

    Whole hours, so that the dag-processor's re-parses within the hour give the same schedule.
    """
    tick = pendulum.now("UTC").start_of("hour").subtract(days=days_ago)
    return f"0 {tick.hour} * * {tick.isoweekday() % 7}"  # cron: Sunday is 0


def _newsletter_like(dag_id: str, days_ago: int) -> None:
    @dag(
        dag_id=dag_id,
        schedule=CronTriggerTimetable(_weekly_tick(days_ago), timezone="UTC"),
        start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
        catchup=False,
        is_paused_upon_creation=False,
        # Unpaused on creation, the run may start while the shared deployment's api-server is
        # still coming up (the task cannot reach the execution API): retry that, briefly.
        default_args={"retries": 5, "retry_delay": timedelta(seconds=3)},
        params={"send_within_hours": 6},
        tags=["shared", "examples"],
    )
    def newsletter() -> None:
        @task
        def send() -> str:
            return "sent"

        _guard()() >> send()

    newsletter()


_newsletter_like("shared_examples_newsletter_stale", days_ago=2)
_newsletter_like("shared_examples_newsletter_on_time", days_ago=0)
