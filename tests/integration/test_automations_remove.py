"""ActiveCampaignRemoveContactsFromAutomationOperator against the emulator, through dag.test()."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers.automations import RE_ENGAGEMENT, count, enrol, enrolments, seed_automation, seed_contacts

pytestmark = pytest.mark.integration


def test_removing_twice_removes_once_and_then_reports_nothing_to_do(emulator: Any, run_dag: Any) -> None:
    emulator.configure(speed=20)
    ids = seed_contacts(emulator, ["ann@example.com", "bob@example.com", "cid@example.com"])
    ann = enrol(ids["ann@example.com"], RE_ENGAGEMENT)
    bob = enrol(ids["bob@example.com"], RE_ENGAGEMENT)
    contacts = ["ann@example.com", ids["bob@example.com"], "cid@example.com", "ghost@example.com"]

    first = run_dag("automations_remove", conf={"automation": "Re-engagement", "contacts": contacts})
    second = run_dag("automations_remove", conf={"automation": "Re-engagement", "contacts": contacts})

    assert run_dag.task_states(first)["remove"] == run_dag.task_states(second)["remove"] == "success"
    assert run_dag.xcom(first, "remove") == {
        "removed": {"ann@example.com": [ann], ids["bob@example.com"]: [bob]},
        "not_enrolled": ["cid@example.com"],
        "not_found": ["ghost@example.com"],
        "failed": [],
    }
    assert run_dag.xcom(second, "remove") == {
        "removed": {},
        "not_enrolled": ["ann@example.com", ids["bob@example.com"], "cid@example.com"],
        "not_found": ["ghost@example.com"],
        "failed": [],
    }
    assert {row["id"]: row["status"] for row in enrolments(emulator, RE_ENGAGEMENT)} == {
        ann: "removed",
        bob: "removed",
    }
    assert count(emulator, "DELETE", "/api/3/contactAutomations/{id}") == 2


def test_finished_enrolments_are_left_alone_by_default(emulator: Any, run_dag: Any) -> None:
    emulator.configure(speed=20)
    instant = seed_automation(emulator, "Instant", 0)
    ids = seed_contacts(emulator, ["ann@example.com"])
    finished = enrol(ids["ann@example.com"], instant)

    dagrun = run_dag("automations_remove", conf={"automation": instant, "contacts": ["ann@example.com"]})

    assert run_dag.xcom(dagrun, "remove")["not_enrolled"] == ["ann@example.com"]
    assert [row["status"] for row in enrolments(emulator, instant)] == ["completed"]
    assert finished
    assert count(emulator, "DELETE", "/api/3/contactAutomations/{id}") == 0


def test_a_failed_delete_is_retried_and_then_reported(emulator: Any, run_dag: Any) -> None:
    emulator.configure(speed=20)
    ids = seed_contacts(emulator, ["ann@example.com"])
    enrol(ids["ann@example.com"], RE_ENGAGEMENT)
    # DELETE is idempotent: the transport retries a 503 by itself
    emulator.add_fault("DELETE", "/api/3/contactAutomations/{id}", "http_503", times=1)

    dagrun = run_dag(
        "automations_remove", conf={"automation": "Re-engagement", "contacts": ["ann@example.com"]}
    )

    assert run_dag.task_states(dagrun)["remove"] == "success"
    assert list(run_dag.xcom(dagrun, "remove")["removed"]) == ["ann@example.com"]
    assert count(emulator, "DELETE", "/api/3/contactAutomations/{id}", status=503) == 1
    assert count(emulator, "DELETE", "/api/3/contactAutomations/{id}", status=200) == 1
