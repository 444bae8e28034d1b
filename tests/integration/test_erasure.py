"""Erasure in a DAG: a dry run changes nothing, the cap holds, the audit is complete, bystanders untouched."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture

from tests.integration.writes_support import fresh_crm

pytestmark = pytest.mark.integration

SUBJECTS = ["forget.me@example.com", "also.me@example.com", "third@example.com"]
#: Contacts whose addresses look like the subjects' (a fuzzy match would catch them).
BYSTANDERS = ["forget.me@example.co", "xforget.me@example.com", "also.me@example.com.au", "keep@example.com"]


@pytest.fixture
def account(emulator: EmulatorFixture) -> EmulatorFixture:
    fresh_crm(emulator, contacts=[{"email": e} for e in SUBJECTS + BYSTANDERS])
    emulator.configure(speed=50)
    return emulator


def emails(emulator: EmulatorFixture) -> set[str]:
    return {c["email"] for c in emulator.state()["contacts"]}


def audit(path: Path) -> list[dict[str, Any]]:
    """The audit's outcome records (each DELETE's intent line, ``deleting``, comes first: see below)."""
    return [line for line in audit_lines(path) if line["result"] != "deleting"]


def audit_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_dry_run_changes_nothing(account: EmulatorFixture, run_dag: Any, tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    before = emails(account)
    dagrun = run_dag(
        "writes_erasure",
        conf={"emails": [*SUBJECTS, "never@example.com"], "audit_path": str(path), "dry_run": True},
    )

    assert run_dag.task_states(dagrun) == {"erase": "success"}
    assert emails(account) == before
    assert not any(line.startswith("DELETE") for line in account.requests()["counts"])
    assert [(a["subject"], a["result"]) for a in audit(path)] == [
        *((e, "would_delete") for e in SUBJECTS),
        ("never@example.com", "not_found"),
    ]


def test_the_cap_holds_the_audit_is_complete_and_bystanders_are_untouched(
    account: EmulatorFixture, run_dag: Any, tmp_path: Path
) -> None:
    path = tmp_path / "audit.jsonl"
    conf = {"emails": [*SUBJECTS, "never@example.com"], "audit_path": str(path), "max_deletes": 2}

    capped = run_dag("writes_erasure", conf=conf)

    assert run_dag.task_states(capped) == {"erase": "failed"}  # one subject left: a person must know
    left = emails(account)
    assert left == {SUBJECTS[2], *BYSTANDERS}
    records = audit(path)
    assert [(a["subject"], a["result"]) for a in records] == [
        (SUBJECTS[0], "deleted"),
        (SUBJECTS[1], "deleted"),
        (SUBJECTS[2], "skipped_cap"),
        ("never@example.com", "not_found"),
    ]  # one try only: the cap is not retried around
    for record in records:
        assert (record["dag_id"], record["task_id"], record["run_id"]) == (
            "writes_erasure",
            "erase",
            capped.run_id,
        )
        assert record["try_number"] == 1
        assert record["at"].endswith("+00:00")
    counts: dict[str, int] = account.requests()["counts"]
    assert counts["DELETE /api/3/contacts/{id} 200"] == 2
    assert counts.get("GET /api/3/contacts/{id} 404") == 2  # each deletion verified

    # Re-run with the cap raised: idempotent (the erased are not_found), the rest is erased.
    again = run_dag("writes_erasure", conf={**conf, "max_deletes": 10})
    assert run_dag.task_states(again) == {"erase": "success"}
    assert emails(account) == set(BYSTANDERS)
    assert [(a["subject"], a["result"]) for a in audit(path)[4:]] == [
        (SUBJECTS[0], "not_found"),
        (SUBJECTS[1], "not_found"),
        (SUBJECTS[2], "deleted"),
        ("never@example.com", "not_found"),
    ]


KILLED_TRY = """
import sys
from airflow_provider_activecampaign.operators.erasure import ActiveCampaignEraseContactsOperator
from tests.integration.contacts_support import run_operator
emails, audit_path = sys.argv[2:], sys.argv[1]
run_operator(ActiveCampaignEraseContactsOperator(task_id="erase", emails=emails, audit_path=audit_path))
"""


def test_a_try_killed_after_its_delete_applied_leaves_evidence_the_retry_confirms(
    account: EmulatorFixture, tmp_path: Path
) -> None:
    """SIGKILL while the DELETE's answer is held (applied by the server), then try 2 of the task."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from airflow_provider_activecampaign.operators.erasure import ActiveCampaignEraseContactsOperator
    from tests.integration.contacts_support import run_operator

    path = tmp_path / "audit.jsonl"
    subject = sorted(emails(account))[0]
    account.add_fault("DELETE", "/api/3/contacts/{id}", "slow", when="after", delay=120, times=1)
    root = Path(__file__).resolve().parents[2]
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_TRY, str(path), subject], cwd=root, env=dict(os.environ)
    )
    try:
        deadline = time.monotonic() + 120
        while subject in emails(account) and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.05)
        assert subject not in emails(account), "the DELETE was not applied in time"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    account.clear_faults()
    assert [line["result"] for line in audit_lines(path)] == ["deleting"]  # the evidence the kill left

    result = run_operator(
        ActiveCampaignEraseContactsOperator(task_id="erase", emails=[subject], audit_path=str(path))
    )

    assert (result["deleted"], result["not_found"]) == (1, 0)
    lines = audit_lines(path)
    assert [line["result"] for line in lines] == ["deleting", "deleted"]
    assert lines[0]["contact_id"] == lines[1]["contact_id"]
    assert "earlier try" in lines[1]["reason"]
    assert "404" in lines[1]["reason"]
