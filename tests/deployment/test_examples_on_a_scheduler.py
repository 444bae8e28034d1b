"""The weekly newsletter example does not send for a past week when a real scheduler unpauses it.

DAGs: tests/deployment/dags/shared/shared_examples_newsletter_guard.py (the example's guard, read
from its source). Nothing triggers them: the scheduler of the shared deployment starts each one's
latest run by itself, as it does when a user unpauses the example.
"""

from __future__ import annotations

import time

import pytest

from tests.deployment.conftest import SharedDeployment

pytestmark = pytest.mark.deployment


def _scheduled_run(shared: SharedDeployment, dag_id: str, timeout: float = 120.0) -> dict[str, str]:
    """The first run the scheduler starts on its own, once finished: ``{task_id: state}``."""
    deployment = shared.deployment
    deployment.wait_for_dag(dag_id, timeout=timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = deployment._json("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 10})["dag_runs"]
        if runs:
            # The first one (a new hour may add a second: the schedule follows the hour).
            run = min(runs, key=lambda r: r["run_after"])
            assert run["run_type"] == "scheduled", run
            state = deployment.wait_for_run(
                dag_id, run["dag_run_id"], timeout=max(1.0, deadline - time.monotonic())
            )
            states = {t.task_id: str(t.state) for t in deployment.task_instances(dag_id, run["dag_run_id"])}
            assert state == "success", (
                f"{dag_id} {run['dag_run_id']}: {state} {states}\n{_task_logs(shared, dag_id)}"
                f"\n{deployment.log_tails()}"
            )
            return states
        time.sleep(0.5)
    raise AssertionError(f"the scheduler started no run of {dag_id} in {timeout:.0f} s")


def _task_logs(shared: SharedDeployment, dag_id: str) -> str:
    logs = sorted((shared.deployment.home / "task-logs").rglob(f"*{dag_id}*/**/attempt=*.log"))
    return "\n".join(f"== {path}\n{path.read_text(errors='replace')[-3000:]}" for path in logs)


def test_a_stale_week_is_skipped_and_this_weeks_issue_sends(shared_deployment: SharedDeployment) -> None:
    assert _scheduled_run(shared_deployment, "shared_examples_newsletter_stale") == {
        "this_weeks_issue": "success",
        "send": "skipped",
    }
    assert _scheduled_run(shared_deployment, "shared_examples_newsletter_on_time") == {
        "this_weeks_issue": "success",
        "send": "success",
    }
