"""The examples on a real scheduler: unpausing them is safe, and the newsletter skips a past week.

DAGs: tests/deployment/dags/shared/shared_examples_newsletter_guard.py (the example's guard, read
from its source). Nothing triggers them: the scheduler of the shared deployment starts each one's
latest run by itself, as it does when a user unpauses the example.

The last test unpauses *every* example of dags_examples/ on a deployment of its own (paused at
creation, as on a fresh install; the emulator's clock 60 times faster): each time-scheduled example
starts at most one run and that run succeeds (the audience sync's plan is approved when it asks),
with no Amazon provider and no setting beyond the connection, the webhook URL Variable and the
account's host (the webhook examples' ``[activecampaign_examples] account_host``).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deployment.conftest import SharedDeployment, skip_or_fail
from tests.deployment.harness import Deployment, missing_requirements

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


# --------------------------------------------------------------------------------------------------
# Unpausing every example on a real scheduler
# --------------------------------------------------------------------------------------------------

#: The emulated clock's speed for the examples (the welcome series and the newsletter send take
#: emulated minutes); the DAGs' poll and retry pauses are scaled the same way, as run_example.py does.
EXAMPLES_SPEED = 60.0
EXAMPLES = Path(__file__).resolve().parents[2] / "dags_examples"


@pytest.fixture(scope="module")
def examples_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Deployment, Any]]:
    """Every example DAG, paused at creation as on a fresh install, with the emulator as the account."""
    database = os.environ.get("AC_DEPLOYMENT_DATABASE", "sqlite")
    missing = missing_requirements("local", database)
    if missing:
        skip_or_fail("A real Airflow deployment needs " + "; ".join(missing))
    from activecampaign_emulator.testing import connection_json, start_emulator_process

    home = tmp_path_factory.mktemp("examples-airflow")
    dags = home / "dags"
    shutil.copytree(EXAMPLES, dags, ignore=shutil.ignore_patterns("__pycache__"))
    # The examples keep their outputs and the audience sync's state under /tmp/activecampaign-examples:
    # this deployment gets its own folder, so a state left by an earlier run on the machine (which
    # would make the first plan empty and the approval never asked) cannot leak in.
    outputs = home / "examples-output"
    for dag_file in dags.glob("*.py"):
        text = dag_file.read_text(encoding="utf-8")
        if "/tmp/activecampaign-examples" in text:
            dag_file.write_text(text.replace("/tmp/activecampaign-examples", str(outputs)), encoding="utf-8")
    with start_emulator_process(speed=EXAMPLES_SPEED, rate_limit=True) as emulator:
        connection = connection_json(
            emulator.url,
            emulator.api_key,
            requests_per_second=5 * EXAMPLES_SPEED,
            imports_per_minute=100 * EXAMPLES_SPEED,
            webhook_token="examples-webhooks-test-token-0123456789",
        )
        deployment = Deployment(
            dags_folder=dags,
            executor="local",
            database=database,
            connections={"activecampaign_default": connection},
            env={
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                "AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL": "1",
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "True",
                "AIRFLOW__ACTIVECAMPAIGN_EXAMPLES__POLL_SECONDS": f"{60.0 / EXAMPLES_SPEED:g}",
                "AIRFLOW__ACTIVECAMPAIGN_EXAMPLES__RETRY_DELAY_SECONDS": f"{300.0 / EXAMPLES_SPEED:g}",
                "AIRFLOW__ACTIVECAMPAIGN_EXAMPLES__EXPORT_BASE": (home / "exports").as_uri(),
                # The webhook examples' assets are named after the account's host: the emulator's.
                "AIRFLOW__ACTIVECAMPAIGN_EXAMPLES__ACCOUNT_HOST": emulator.url.split("://", 1)[1].rstrip("/"),
            },
            home=home / "airflow",
        )
        # The webhook registration example needs this Airflow's public address: its own api-server.
        deployment.extra_env["AIRFLOW_VAR_ACTIVECAMPAIGN_WEBHOOK_PUBLIC_URL"] = deployment.url
        with deployment:
            yield deployment, emulator


def _dag_ids(deployment: Deployment) -> dict[str, bool]:
    """``{dag_id: has a time schedule}`` of every parsed example (asset-scheduled: ``False``)."""
    dags = deployment._json("GET", "/dags", params={"limit": 100})["dags"]
    return {d["dag_id"]: "asset" not in str(d.get("timetable_summary")).lower() for d in dags}


def test_unpausing_every_example_starts_at_most_one_run_each_and_every_run_succeeds(
    examples_deployment: tuple[Deployment, Any],
) -> None:
    deployment, _ = examples_deployment
    example_files = sorted(EXAMPLES.glob("activecampaign_*.py"))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(_dag_ids(deployment)) < len(example_files):
        time.sleep(1.0)
    dag_ids = _dag_ids(deployment)
    errors = deployment._json("GET", "/importErrors")
    assert errors.get("total_entries", 0) == 0, errors
    assert len(dag_ids) >= len(example_files), dag_ids
    for dag_id in dag_ids:
        deployment._json("PATCH", f"/dags/{dag_id}", json={"is_paused": False}, conflict_ok=True)

    finished: dict[str, tuple[str, dict[str, str]]] = {}
    answered: set[str] = set()
    deadline = time.monotonic() + 420
    scheduled = {dag_id for dag_id, timed in dag_ids.items() if timed}
    while time.monotonic() < deadline and set(finished) != scheduled:
        deployment.check_alive()
        for dag_id in scheduled - set(finished):
            runs = deployment._json("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 10})["dag_runs"]
            assert len(runs) <= 1 or dag_id == "activecampaign_reconcile_webhooks", (dag_id, runs)
            if not runs:
                continue
            run = min(runs, key=lambda r: r["run_after"])
            # The audience sync waits for a reviewer: approve its plan, as a person would.
            for question in deployment.open_questions(dag_id, run["dag_run_id"]):
                if run["dag_run_id"] not in answered:
                    deployment.answer(question, ["Approve"])
                    answered.add(run["dag_run_id"])
            if run["state"] in ("success", "failed"):
                states = {
                    t.task_id: str(t.state) for t in deployment.task_instances(dag_id, run["dag_run_id"])
                }
                finished[dag_id] = (run["state"], states)
        time.sleep(1.0)
    print({dag_id: state for dag_id, (state, _) in finished.items()})
    assert set(finished) == scheduled, f"no finished run of {scheduled - set(finished)}"
    failed = {dag_id: states for dag_id, (state, states) in finished.items() if state != "success"}
    assert not failed, failed
    assert len(answered) == 1  # the audience sync's first plan waited for approval, then applied
