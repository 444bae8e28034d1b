"""Plan -> a real ApprovalOperator -> apply, in ``dag.test()``, answered through Airflow's REST API.

``dag.test()`` keeps a run whose task waits for human input alive until a response is recorded
"from outside" (the Required Actions UI or the HITL REST API of an api-server sharing the
metadata database). Here a thread answers through the real core API app (in process, same
SQLite database), exactly as a reviewer's click would.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_activecampaign.emulator.pytest_plugin import EmulatorFixture
from tests.integration.contacts_support import contacts, fast_seed, use_emulator

pytestmark = pytest.mark.integration

DAG_ID = "audience_plan_approve_apply"
# dag.test() waits for a HITL answer without end (no scheduler enforces a response timeout), so
# a reviewer that cannot answer by then fails the waiting task: the run ends, the test fails.
REVIEW_DEADLINE_SECONDS = 240


_CLIENT: list[Any] = []


def _api_client() -> Any:
    """The core REST API app (built once: building it takes seconds), with a test client."""
    if not _CLIENT:
        from airflow.api_fastapi.app import create_app
        from fastapi.testclient import TestClient

        _CLIENT.append(TestClient(create_app("core")))
    return _CLIENT[0]


class Reviewer(threading.Thread):
    """Waits for the approval task's HITL request, then answers ``choice`` through the REST API."""

    def __init__(self, choice: str) -> None:
        super().__init__(daemon=True)
        self.choice = choice
        self.answered: dict[str, Any] | None = None
        self.seen_counts: Any = None
        self.error: BaseException | None = None
        self._halt = threading.Event()

    def run(self) -> None:
        # Transient failures (SQLite "database is locked" while the run's own session writes)
        # are retried: a reviewer that gave up would leave ``dag.test()`` waiting for ever.
        client = _api_client()
        deadline = time.monotonic() + REVIEW_DEADLINE_SECONDS
        while not self._halt.is_set() and time.monotonic() < deadline:
            try:
                listing = client.get(f"/api/v2/dags/{DAG_ID}/dagRuns/~/hitlDetails")
                listing.raise_for_status()
                waiting = [
                    d for d in listing.json().get("hitl_details", []) if not d.get("response_received")
                ]
                if waiting:
                    detail = waiting[0]
                    ti = detail["task_instance"]
                    answer = client.patch(
                        f"/api/v2/dags/{DAG_ID}/dagRuns/{ti['dag_run_id']}/taskInstances/"
                        f"{ti['task_id']}/{ti['map_index']}/hitlDetails",
                        json={"chosen_options": [self.choice], "params_input": {}},
                    )
                    answer.raise_for_status()
                    self.seen_counts = detail.get("body")
                    self.answered = answer.json()
                    self.error = None
                    return
            except Exception as error:  # kept for the test's message; tried again
                self.error = error
            time.sleep(0.2)
        if self.answered is None and not self._halt.is_set():
            self.error = TimeoutError(
                f"no answer recorded within {REVIEW_DEADLINE_SECONDS}s; last error: {self.error!r}"
            )
            self._fail_waiting_tasks(client)

    def _fail_waiting_tasks(self, client: Any) -> None:
        """Fails every task parked on a question until the run has ended, so ``dag.test()`` returns."""
        while not self._halt.is_set():
            try:
                listing = client.get(f"/api/v2/dags/{DAG_ID}/dagRuns/~/hitlDetails")
                for detail in listing.json().get("hitl_details", []):
                    if not detail.get("response_received"):
                        ti = detail["task_instance"]
                        client.patch(
                            f"/api/v2/dags/{DAG_ID}/dagRuns/{ti['dag_run_id']}/taskInstances/{ti['task_id']}",
                            json={"new_state": "failed"},
                        )
            except Exception:  # the run's own writes may hold the database; tried again
                pass
            time.sleep(0.5)

    def stop(self) -> None:
        self._halt.set()


def _run(run_dag: Any, choice: str, conf: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    _api_client()  # built before the run, not while its first task starts
    reviewer = Reviewer(choice)
    reviewer.start()
    try:
        dagrun = run_dag(DAG_ID, conf=conf)
    finally:
        reviewer.stop()
        reviewer.join(10)
    assert reviewer.answered is not None, f"the reviewer never answered: {reviewer.error!r}"
    assert reviewer.answered["chosen_options"] == [choice]
    return dagrun, reviewer


def test_rejected_plan_applies_nothing_and_approved_plan_applies_exactly_it(
    emulator: EmulatorFixture, run_dag: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_emulator(emulator, speed=50, seed=fast_seed())
    conf = {
        "contacts": contacts(25),
        "state_path": str(tmp_path / "audience.state"),
        "failures_path": str(tmp_path / "failures.jsonl"),
    }

    rejected, reviewer = _run(run_dag, "Reject", conf, monkeypatch)
    assert run_dag.task_states(rejected) == {"plan": "success", "approve": "success", "apply": "skipped"}
    assert "'creates': 25" in str(reviewer.seen_counts)  # the reviewer saw the plan's counts
    assert emulator.state()["contacts"] == []
    assert not Path(conf["state_path"]).exists()

    approved, _ = _run(run_dag, "Approve", conf, monkeypatch)
    assert run_dag.task_states(approved) == {"plan": "success", "approve": "success", "apply": "success"}
    plan = run_dag.xcom(approved, "plan")
    result = run_dag.xcom(approved, "apply")
    assert result["plan_digest"] == plan["plan_digest"]
    assert result["succeeded"] == 25
    assert sorted(c["email"] for c in emulator.state()["contacts"]) == sorted(
        r["email"] for r in conf["contacts"]
    )

    # Second day: 2 contacts left the source and 1 changed; the approved plan does exactly that.
    day2 = [
        dict(r, last_name="Changed") if r["email"] == "user5@example.com" else r for r in conf["contacts"][2:]
    ]
    emulator.client.clear_requests()
    approved2, _ = _run(run_dag, "Approve", {**conf, "contacts": day2}, monkeypatch)
    plan2 = run_dag.xcom(approved2, "plan")
    counts = plan2["counts"]
    assert (counts["updates"], counts["departed"], counts["untags"], counts["unsubscribes"]) == (1, 2, 2, 2)
    applied = run_dag.xcom(approved2, "apply")
    assert applied["plan_digest"] == plan2["plan_digest"]
    assert (applied["submitted"], applied["removals"]["untagged"], applied["removals"]["unsubscribed"]) == (
        1,
        2,
        2,
    )
    writes = {k: n for k, n in emulator.requests()["counts"].items() if not k.startswith("GET ")}
    assert writes == {
        "POST /api/3/contact/sync 200": 1,
        "DELETE /api/3/contactTags/{id} 200": 2,
        "POST /api/3/contactLists 200": 2,
    }
