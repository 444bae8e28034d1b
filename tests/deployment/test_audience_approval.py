"""Plan -> approval -> apply on a real scheduler: every run ends as the reviewer decided (issue #23).

Twelve runs at once (three answer paces x approve/reject x 2), answered through the api-server's
HITL REST API as a reviewer's click in *Required actions* is, then a second day with changes and
departures. Whatever the scheduler does with the approval task in between (Airflow 3.3 can mark it
FAILED right after the answer: apache/airflow#72716), an approved plan is applied exactly, a
rejected one not at all, and apply never runs without an approval of the same plan digest.
The driver is tests/deployment/approval_runs.py; benchmarks/approval_paces.py prints the table.
DAG: tests/deployment/dags/shared/shared_audience_approval.py. The emulator and Airflow are shared:
these tests use their own contacts and check only them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.deployment.approval_runs import DAG_ID, DECISIONS, PACES, drive, judge, new_run, table
from tests.deployment.conftest import SharedDeployment

pytestmark = pytest.mark.deployment

#: Runs per pace x decision (2 -> 12 runs); benchmarks/approval_paces.py runs more.
PER_CELL = int(os.environ.get("AC_APPROVAL_RUNS_PER_CELL", "2"))


def test_every_approval_run_ends_as_the_reviewer_decided(
    shared_deployment: SharedDeployment, tmp_path: Path
) -> None:
    runs = [
        new_run(pace, decision, tmp_path) for _ in range(PER_CELL) for pace in PACES for decision in DECISIONS
    ]
    drive(shared_deployment.deployment, runs)
    contacts = shared_deployment.emulator.client.state()["contacts"]
    for run in runs:
        judge(shared_deployment.deployment, contacts, run)
    print(f"\n{shared_deployment.deployment.database}:\n{table(runs)}")
    assert all(run.as_decided for run in runs), table(runs)
    for run in runs:  # the run itself ends well: apply is its last task and ended as decided
        assert run.state == "success", (run.run_id, run.task_states)
        assert run.task_states["plan"] == "success"
        assert run.task_states["apply"] == ("success" if run.decision == "approve" else "skipped")


def test_a_second_day_applies_only_the_changes_and_departures_that_were_approved(
    shared_deployment: SharedDeployment, tmp_path: Path
) -> None:
    deployment = shared_deployment.deployment
    first = new_run("parked", "approve", tmp_path)
    records = first.conf["contacts"]
    drive(deployment, [first])
    judge(deployment, shared_deployment.emulator.client.state()["contacts"], first)
    assert first.as_decided, (first.outcome, first.why)

    departed = {records[1]["email"], records[4]["email"], records[7]["email"]}
    changed = {records[0]["email"], records[2]["email"]}
    day_two = [
        {**r, "first_name": "Renamed"} if r["email"] in changed else r
        for r in records
        if r["email"] not in departed
    ]
    rejected = new_run("parked", "reject", tmp_path, day_two)
    rejected.conf["state_path"] = first.conf["state_path"]
    drive(deployment, [rejected])
    assert deployment.task_instances(DAG_ID, rejected.run_id)[0].state == "skipped"  # apply
    mine = {c["email"]: c for c in shared_deployment.emulator.client.state()["contacts"]}
    assert all(mine[e]["tags"] for e in departed)  # nothing removed on a rejection
    assert all(mine[e]["firstName"] != "Renamed" for e in changed)

    second = new_run("late", "approve", tmp_path, day_two)
    second.conf["state_path"] = first.conf["state_path"]
    drive(deployment, [second])
    plan = deployment.xcom(DAG_ID, second.run_id, "plan")
    result = deployment.xcom(DAG_ID, second.run_id, "apply")
    assert (plan["counts"]["updates"], plan["counts"]["departed"], plan["counts"]["creates"]) == (2, 3, 0)
    assert result["plan_digest"] == plan["plan_digest"]
    assert (result["removals"]["untagged"], result["removals"]["unsubscribed"]) == (3, 3)
    mine = {c["email"]: c for c in shared_deployment.emulator.client.state()["contacts"]}
    for email in first.emails:
        assert (mine[email]["tags"] == []) is (email in departed), email
        assert (mine[email]["firstName"] == "Renamed") is (email in changed), email
