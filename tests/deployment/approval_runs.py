"""Drive many plan -> approval -> apply runs at once, answering each at a chosen pace, as people do.

Used by tests/deployment/test_audience_approval.py (a sample, strict on PostgreSQL) and by
benchmarks/approval_paces.py (every pace x decision, printed as a table). The DAG is
tests/deployment/dags/shared/shared_audience_approval.py; each run has its own contacts and state.

Paces (how soon the "reviewer" answers, through the HITL REST API as the UI does):

- ``question``: the moment the question exists, even if the task has not parked yet;
- ``parked``: the moment the task is parked in ``awaiting_input``;
- ``late``: 5 s after it parked.

"Ends as decided": an approved run applied exactly its plan (apply ``success``, its digest the
plan's, every contact in ActiveCampaign); a rejected run applied nothing (no contact, no state).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.deployment.harness import FINISHED_RUN_STATES, Deployment, DeploymentError

DAG_ID = "shared_audience_approval"
PACES = ("question", "parked", "late")
LATE_AFTER = 5.0
DECISIONS = {"approve": "Approve", "reject": "Reject"}


@dataclass
class ApprovalRun:
    pace: str
    decision: str
    conf: dict[str, Any]
    emails: set[str]
    run_id: str = ""
    parked_at: float | None = None
    answered: bool = False
    state: str | None = None
    task_states: dict[str, str | None] = field(default_factory=dict)
    outcome: str = ""
    why: str = ""

    @property
    def as_decided(self) -> bool:
        return self.outcome == ("applied" if self.decision == "approve" else "nothing applied")


def new_run(
    pace: str, decision: str, folder: Path, records: list[dict[str, Any]] | None = None
) -> ApprovalRun:
    marker = uuid.uuid4().hex[:8]
    if records is None:
        records = [
            {"email": f"approval-{marker}-{n}@example.com", "first_name": f"User{n}"} for n in range(10)
        ]
    conf = {
        "contacts": records,
        "state_path": str(folder / f"{marker}.state"),
        "failures_path": str(folder / f"{marker}.failures.jsonl"),
    }
    return ApprovalRun(pace, decision, conf, {r["email"] for r in records})


def _open_questions(deployment: Deployment) -> dict[str, dict[str, Any]]:
    """Unanswered questions of the DAG's runs, by run id (one REST call for every run)."""
    body = deployment._json(
        "GET", f"/dags/{DAG_ID}/dagRuns/~/hitlDetails", params={"response_received": "false", "limit": 100}
    )
    return {d["task_instance"]["dag_run_id"]: d for d in body.get("hitl_details", [])}


def drive(deployment: Deployment, runs: list[ApprovalRun], timeout: float = 300.0) -> None:
    """Trigger every run, answer each at its pace, wait for all; fill in state and task states."""
    for run in runs:
        run.run_id = deployment.trigger(DAG_ID, conf=run.conf)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            deployment.check_alive()
            pending = [r for r in runs if not r.answered]
            if pending:
                questions = _open_questions(deployment)
                now = time.monotonic()
                for run in pending:
                    question = questions.get(run.run_id)
                    if question is None:
                        continue
                    parked = question["task_instance"]["state"] == "awaiting_input"
                    if parked and run.parked_at is None:
                        run.parked_at = now
                    due = (
                        run.pace == "question"
                        or (run.pace == "parked" and parked)
                        or (
                            run.pace == "late"
                            and run.parked_at is not None
                            and now - run.parked_at >= LATE_AFTER
                        )
                    )
                    if due:
                        deployment.answer(question, [DECISIONS[run.decision]])
                        run.answered = True
            unfinished = [r for r in runs if r.state not in FINISHED_RUN_STATES]
            for run in unfinished:
                if run.answered or run.state is None:
                    run.state = deployment.run_state(DAG_ID, run.run_id)
            if not [r for r in runs if r.state not in FINISHED_RUN_STATES]:
                return
            time.sleep(0.1 if pending else 1.0)
        raise DeploymentError(
            "approval runs not finished in time: "
            + ", ".join(f"{r.run_id}={r.state} answered={r.answered}" for r in runs)
        )
    finally:
        for run in runs:
            if run.state not in FINISHED_RUN_STATES:
                with contextlib.suppress(DeploymentError):  # nothing left waiting in a shared deployment
                    deployment.fail_run(DAG_ID, run.run_id)


def judge(deployment: Deployment, contacts: list[dict[str, Any]], run: ApprovalRun) -> None:
    """Set ``run.outcome``: ``applied`` (exactly its plan), ``nothing applied``, or what went wrong."""
    run.task_states = {ti.task_id: ti.state for ti in deployment.task_instances(DAG_ID, run.run_id)}
    present = {c["email"] for c in contacts} & run.emails
    applied_ok = run.task_states.get("apply") == "success"
    if applied_ok:
        plan = deployment.xcom(DAG_ID, run.run_id, "plan")
        result = deployment.xcom(DAG_ID, run.run_id, "apply")
        if result["plan_digest"] != plan["plan_digest"]:
            run.outcome, run.why = "wrong plan applied", f"{result['plan_digest']} != {plan['plan_digest']}"
        elif present == run.emails:
            run.outcome = "applied"
        else:
            run.outcome, run.why = "partly applied", f"{len(present)} of {len(run.emails)} contacts"
    elif present or Path(run.conf["state_path"]).exists():
        run.outcome, run.why = "applied without success", f"{len(present)} contacts, apply {run.task_states}"
    else:
        run.outcome = "nothing applied"
    if run.state != "success" and not run.why:
        run.why = f"run {run.state}: {run.task_states}"


def table(runs: list[ApprovalRun]) -> str:
    """pace x decision -> outcomes (``n/m as decided`` and what the others were)."""
    lines = [f"{'pace':<10} {'decision':<8} {'as decided':>10}  other outcomes / approve task states"]
    for pace in PACES:
        for decision in DECISIONS:
            cell = [r for r in runs if r.pace == pace and r.decision == decision]
            if not cell:
                continue
            good = sum(r.as_decided for r in cell)
            approve_states = sorted({str(r.task_states.get("approve")) for r in cell})
            others = "; ".join(f"{r.outcome} ({r.why})" for r in cell if not r.as_decided)
            lines.append(
                f"{pace:<10} {decision:<8} {good:>4}/{len(cell):<5}  approve: {','.join(approve_states)}"
                + (f"  {others}" if others else "")
            )
    return "\n".join(lines)
