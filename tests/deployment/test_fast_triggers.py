"""Deferrable tasks whose triggers fire at once, on a real Airflow deployment (not ``dag.test()``).

On Airflow 3.3.2 with a real triggerer, a trigger that fires within a second or two of the deferral
can make the scheduler see the executor's "try 1 finished" report *after* it has already queued
the resumed task: it logs "reported that the task instance ... finished with state success, but
the task instance's state attribute is queued" and marks the task ``up_for_retry``
(apache/airflow#72716). A retried sync sends every contact again; the provider must not let that
happen. Here the emulator's importer finishes a batch in well under a second, so every trigger
fires on its first poll, and several runs with 3 syncs and 3 sensors each make the race likely.

Runs on the session's shared deployment (tests/deployment/conftest.py) with an emulator process of
its own (its importer holds batches, and its clock jumps), reached through a connection the test
adds: the shared emulator's clock and settings stay as the other tests expect them. DAG:
tests/deployment/dags/shared/shared_fast_triggers.py.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deployment.conftest import SharedDeployment
from tests.deployment.harness import Deployment

pytestmark = pytest.mark.deployment

DAG_ID = "shared_fast_triggers"
CONN_ID = "activecampaign_fast_triggers"  # keep in step with the DAG file
RUNS = 3
PAIRS = 3  # keep in step with the DAG file
CONTACTS = 400  # two bulk imports (250 + 150) per task
BATCHES_PER_TASK = 2


HOLD_SECONDS = 3600  # emulated seconds a batch waits in the importer's queue until released


@pytest.fixture
def held_importer(shared_deployment: SharedDeployment) -> Iterator[Any]:
    """An emulator whose importer holds batches, as connection ``CONN_ID``; yields its client."""
    from activecampaign_emulator.seed import default_seed
    from activecampaign_emulator.testing import connection_json, start_emulator_process

    seed = default_seed()
    # Batches wait in the queue until the test moves the emulator's clock, then take a fraction of
    # a second: a deferred task's imports finish right after it deferred, whatever the machine's load.
    seed["importer"] = {**seed["importer"], "queue_delay_seconds": HOLD_SECONDS, "contacts_per_second": 5000}
    deployment = shared_deployment.deployment
    with start_emulator_process(seed=seed, speed=1, rate_limit=True) as emulator:
        connection = connection_json(
            emulator.url, emulator.api_key, requests_per_second=5, imports_per_minute=100
        )
        deployment.add_connection(CONN_ID, connection)
        try:
            yield emulator.client
        finally:
            deployment.delete_connection(CONN_ID)


_NOT_YET_DEFERRED = frozenset({None, "scheduled", "queued", "running", "up_for_reschedule", "restarting"})


class _ReleaseOnDeferral(threading.Thread):
    """Whenever a task instance is deferred, finish every import submitted so far (clock jump).

    The sensor's first poke (in the worker) therefore always meets a waiting import and defers,
    and every trigger finds its imports finished on its first poll: it fires within a second or
    two of the deferral — the case of apache/airflow#72716.
    """

    def __init__(self, deployment: Deployment, emulator_client: object) -> None:
        super().__init__(daemon=True)
        self.deployment = deployment
        self.client = emulator_client
        self.stopped = threading.Event()
        self.releases = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stopped.wait(0.1):
                states = self.deployment.current_states(DAG_ID)
                # Not while a sensor has yet to poke: its first poke must meet a waiting import
                # (a release finishes every batch submitted so far).
                if any(state == "deferred" for _, state in states) and not any(
                    task_id.startswith("wait_") and state in _NOT_YET_DEFERRED for task_id, state in states
                ):
                    self.client.advance(HOLD_SECONDS + 60)  # type: ignore[attr-defined]
                    self.releases += 1
        except BaseException as error:
            if not self.stopped.is_set():
                self.error = error

    def stop(self) -> None:
        self.stopped.set()
        self.join(10)


def _contacts(prefix: str) -> list[dict[str, str]]:
    return [{"email": f"{prefix}.{n}@example.com", "first_name": f"N{n}"} for n in range(CONTACTS)]


def test_fast_triggers_never_cause_a_retry_or_a_resubmission(
    shared_deployment: SharedDeployment, held_importer: Any, tmp_path: Path
) -> None:
    deployment = shared_deployment.deployment
    expected: list[str] = []
    run_ids = []
    for run in range(RUNS):
        conf = {
            "sync": [_contacts(f"sync{run}-{i}") for i in range(PAIRS)],
            "submit": [_contacts(f"submit{run}-{i}") for i in range(PAIRS)],
            "failures_dir": str(tmp_path / "failures"),
        }
        expected += [c["email"] for group in conf["sync"] + conf["submit"] for c in group]
        run_ids.append(deployment.trigger(DAG_ID, conf=conf))

    releaser = _ReleaseOnDeferral(deployment, held_importer)
    releaser.start()
    try:
        final = deployment.wait_for_runs(DAG_ID, run_ids, timeout=240)
    finally:
        releaser.stop()
    assert releaser.error is None, releaser.error
    reports = {run_id: deployment.task_instances(DAG_ID, run_id) for run_id in run_ids}
    spurious = deployment.spurious_finish_reports(DAG_ID)
    deferrals = deployment.deferral_count(DAG_ID)
    wait_reports = {
        run_id: [deployment.xcom(DAG_ID, run_id, f"wait_{i}") for i in range(PAIRS)] for run_id in run_ids
    }
    state = held_importer.state()
    counts = held_importer.requests()["counts"]

    summary = "\n".join(
        f"{run_id}: {final[run_id]}: " + ", ".join(f"{ti.label}={ti.state}/try {ti.try_number}" for ti in tis)
        for run_id, tis in reports.items()
    )
    print(f"\n{summary}\n{deferrals} deferrals, {releaser.releases} import releases")
    print("\n".join(spurious))
    retried = [
        f"{run_id} {ti.label}" for run_id, tis in reports.items() for ti in tis if ti.ever_up_for_retry
    ]
    assert not retried, (
        f"{len(retried)} task instances went through up_for_retry: {retried}\n{summary}\n"
        "Scheduler:\n" + "\n".join(spurious)
    )
    assert not spurious, "the scheduler marked tasks for retry:\n" + "\n".join(spurious)
    assert all(ti.state == "success" and ti.try_number == 1 for tis in reports.values() for ti in tis), (
        summary
    )
    assert set(final.values()) == {"success"}, summary
    assert deferrals >= RUNS * PAIRS, f"only {deferrals} deferrals: the race was not exercised"
    assert all(len(tis) == 3 * PAIRS for tis in reports.values()), summary

    for run_id, waits in wait_reports.items():
        for report in waits:
            assert report["succeeded"] == CONTACTS, (run_id, report)
            assert report["failed"] == 0, (run_id, report)
            assert len(report["batch_ids"]) == BATCHES_PER_TASK, (run_id, report)

    emails = Counter(contact["email"] for contact in state["contacts"])
    assert sorted(emails) == sorted(expected)
    assert max(emails.values()) == 1
    imports = RUNS * 2 * PAIRS * BATCHES_PER_TASK
    assert len(state["imports"]) == imports, f"{len(state['imports'])} bulk imports, expected {imports}"
    assert counts.get("POST /api/3/import/bulk_import 200", 0) == imports, counts
