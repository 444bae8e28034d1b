"""Plan -> a real ApprovalOperator -> apply, driven by the shared deployment's scheduler (issue #14).

The scheduler parks the approval task in ``awaiting_input``; the test answers through the
api-server's HITL REST API, as a reviewer's click in the Required Actions page does, and the
scheduler resumes the run. A rejected plan applies nothing; an approved one applies exactly it.
(What a second day's plan holds, only the changed rows and the mirror's removals, is tested under
``dag.test()`` in tests/integration/test_audience_sync.py.)
DAG: tests/deployment/dags/shared/shared_audience_approval.py. The emulator and Airflow are shared:
this test uses its own contacts and checks only them.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.deployment.conftest import SharedDeployment
from tests.deployment.harness import FINISHED_RUN_STATES, DeploymentError

pytestmark = pytest.mark.deployment

DAG_ID = "shared_audience_approval"
ANSWER_WITHIN = 180.0  # seconds for the plan task to run and its question to appear


def _answer(shared: SharedDeployment, run_id: str, choice: str) -> dict[str, Any]:
    """Wait for the run's open question, answer ``choice``; return what the reviewer saw."""
    deployment = shared.deployment
    deadline = time.monotonic() + ANSWER_WITHIN
    while time.monotonic() < deadline:
        deployment.check_alive()
        if deployment.run_state(DAG_ID, run_id) in FINISHED_RUN_STATES:
            tis = deployment.task_instances(DAG_ID, run_id)
            raise AssertionError(f"{run_id} ended before its approval question: {tis}")
        waiting = deployment.open_questions(DAG_ID, run_id)
        if waiting:
            deployment.answer(waiting[0], [choice])
            return waiting[0]
        time.sleep(0.5)
    raise AssertionError(f"no approval question in {run_id} within {ANSWER_WITHIN:.0f} s")


def _run(shared: SharedDeployment, choice: str, conf: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    deployment = shared.deployment
    run_id = deployment.trigger(DAG_ID, conf=conf)
    try:
        seen = _answer(shared, run_id, choice)
        assert deployment.wait_for_run(DAG_ID, run_id, timeout=180) == "success", _states(shared, run_id)
    except BaseException:
        with contextlib.suppress(DeploymentError):  # never leave a run waiting in the shared deployment
            deployment.fail_run(DAG_ID, run_id)
        raise
    return run_id, seen


def _states(shared: SharedDeployment, run_id: str) -> dict[str, str | None]:
    return {ti.task_id: ti.state for ti in shared.deployment.task_instances(DAG_ID, run_id)}


def _ours(shared: SharedDeployment, emails: set[str]) -> list[dict[str, Any]]:
    return [c for c in shared.emulator.client.state()["contacts"] if c["email"] in emails]


@pytest.mark.xfail(
    strict=False,
    reason=(
        "Airflow 3.3.2, LocalExecutor on SQLite: seen twice on clean clones, the scheduler marks a "
        "HITL task FAILED about 0.3 s after it parked in awaiting_input (its process exiting is "
        "reported as a failure), so the run fails before anyone answers. Open; see docs/troubleshooting."
    ),
)
def test_rejected_plan_applies_nothing_and_approved_plan_applies_exactly_it(
    shared_deployment: SharedDeployment, tmp_path: Path
) -> None:
    marker = uuid.uuid4().hex[:8]
    records = [{"email": f"approval-{marker}-{n}@example.com", "first_name": f"User{n}"} for n in range(25)]
    emails = {r["email"] for r in records}
    conf = {
        "contacts": records,
        "state_path": str(tmp_path / "audience.state"),
        "failures_path": str(tmp_path / "failures.jsonl"),
    }
    deployment = shared_deployment.deployment

    rejected, seen = _run(shared_deployment, "Reject", conf)
    assert _states(shared_deployment, rejected) == {
        "plan": "success",
        "approve": "success",
        "apply": "skipped",
    }
    assert "'creates': 25" in str(seen.get("body"))  # the reviewer saw the plan's counts
    assert _ours(shared_deployment, emails) == []
    assert not Path(conf["state_path"]).exists()

    approved, _ = _run(shared_deployment, "Approve", conf)
    assert _states(shared_deployment, approved) == {
        "plan": "success",
        "approve": "success",
        "apply": "success",
    }
    plan = deployment.xcom(DAG_ID, approved, "plan")
    result = deployment.xcom(DAG_ID, approved, "apply")
    assert result["plan_digest"] == plan["plan_digest"]
    assert result["succeeded"] == 25
    assert sorted(c["email"] for c in _ours(shared_deployment, emails)) == sorted(emails)
