"""The contact operators and sensor inside real DAG runs (``dag.test()``), deferrable paths included."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture

from airflow_provider_activecampaign.hooks import transport
from tests.integration.contacts_support import contacts, fast_seed, read_jsonl, use_emulator

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _fresh_limiters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "_LIMITERS", {})


def test_deferrable_sync_waits_in_the_trigger(
    emulator: EmulatorFixture, run_dag: Any, tmp_path: Path
) -> None:
    use_emulator(emulator, speed=10, seed=fast_seed())
    records = contacts(599, Company="ACME")
    records.insert(3, {"email": "broken.example.com"})
    # Last record: its failure can only be learnt after the task deferred (its batch is the last one).
    records.append({"email": "excluded@example.com", "Company": "ACME"})
    failures_path = tmp_path / "failures.jsonl"
    conf = {
        "contacts": records,
        "subscribe_lists": ["Newsletter"],
        "tags": ["imported"],
        "failures_path": str(failures_path),
    }

    dagrun = run_dag("contacts_sync_deferrable", conf=conf)

    assert run_dag.task_states(dagrun) == {"sync": "success"}
    result = run_dag.xcom(dagrun, "sync")
    assert (result["submitted"], result["succeeded"], result["failed"], result["rejected"]) == (
        600,
        599,
        1,
        1,
    )
    assert len(result["batch_ids"]) == 3
    assert [(f["row"], f["email"], f["stage"]) for f in result["failures"]] == [
        (4, "broken.example.com", "rejected"),
        (601, "excluded@example.com", "failed"),
    ]
    assert result["failures"][1]["batch_id"] == result["batch_ids"][-1]
    assert read_jsonl(failures_path) == result["failures"]
    state = emulator.state()
    assert len(state["contacts"]) == 599
    assert all(c["lists"]["1"]["subscribes"] == 1 and c["tags"] == ["imported"] for c in state["contacts"])


def test_bulk_import_sensor_in_poke_reschedule_and_deferrable_modes(
    emulator: EmulatorFixture, run_dag: Any, tmp_path: Path
) -> None:
    # Each batch stays in the importer's queue until the sensor first asks about it, then two seconds
    # more, so each sensor meets an import that has not started however long dag.test() takes from
    # one task to the next (1 s on Airflow 3.3, 3 s or more on 3.2 or on a busy machine).
    use_emulator(emulator, speed=1, seed=fast_seed(queue_delay_seconds=2, start_after_first_poll=True))
    conf = {
        "contacts_poke": contacts(30, start=0),
        "contacts_reschedule": [*contacts(30, start=100), {"email": "excluded@example.com"}],
        "contacts_deferrable": contacts(30, start=200),
        "failures_path": str(tmp_path / "failures"),
    }

    dagrun = run_dag("contacts_sensor_modes", conf=conf)

    states = run_dag.task_states(dagrun)
    assert set(states.values()) == {"success"}
    assert len(states) == 6
    state = emulator.state()
    first_poll: dict[str, float] = {}
    for entry in emulator.requests()["requests"]:
        if entry["path"] == "/api/3/import/info":
            first_poll.setdefault(entry["query"].split("batchId=")[1], entry["emulated_epoch"])
    started = {i["batchId"]: datetime.fromisoformat(i["start"]).timestamp() for i in state["imports"]}
    for name, succeeded, failed in (("poke", 30, 0), ("reschedule", 30, 1), ("deferrable", 30, 0)):
        submitted = run_dag.xcom(dagrun, f"submit_{name}")
        report = run_dag.xcom(dagrun, f"wait_{name}")
        (batch_id,) = submitted["batch_ids"]
        assert report["batch_ids"] == [batch_id]
        assert (report["succeeded"], report["failed"]) == (succeeded, failed)
        assert report["batches"][batch_id]["status"] == "completed"
        # The sensor's first look came before the importer started the batch: it had to wait.
        assert first_poll[batch_id] < started[batch_id]
    reschedule_report = run_dag.xcom(dagrun, "wait_reschedule")
    (reschedule_batch,) = reschedule_report["batch_ids"]
    assert reschedule_report["batches"][reschedule_batch]["failed_emails"] == ["excluded@example.com"]
    assert run_dag.reschedules(dagrun, "wait_reschedule") >= 1


def test_sync_from_sqlite_through_a_dag(
    emulator: EmulatorFixture, run_dag: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_emulator(emulator, speed=10, seed=fast_seed())
    database = tmp_path / "warehouse.db"
    with sqlite3.connect(database) as db:
        db.execute(
            "create table customers (internal_id int, customer_email text, first_name text, plan text)"
        )
        db.executemany(
            "insert into customers values (?, ?, ?, ?)",
            [
                (i, f"cust{i}@example.com", f"Cust{i}", "Enterprise" if i % 3 == 0 else "Pro")
                for i in range(700)
            ],
        )
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(database)}))
    conf = {
        "sql": 'select internal_id, customer_email, first_name, plan as "%PLAN%" '
        "from customers order by internal_id",
        "sql_conn_id": "warehouse",
        "failures_path": str(tmp_path / "failures.jsonl"),
    }

    dagrun = run_dag("contacts_sync_sql", conf=conf)

    result = run_dag.xcom(dagrun, "sync")
    assert (result["submitted"], result["succeeded"], len(result["batch_ids"])) == (700, 700, 3)
    state = emulator.state()
    assert len(state["contacts"]) == 700
    by_email = {c["email"]: c for c in state["contacts"]}
    assert by_email["cust3@example.com"]["fields_by_perstag"] == {"PLAN": "Enterprise"}
    assert by_email["cust4@example.com"]["firstName"] == "Cust4"
    assert all(c["lists"]["2"]["status"] == 1 for c in state["contacts"])


def test_daily_export_uses_the_runs_data_interval(
    emulator: EmulatorFixture, run_dag: Any, tmp_path: Path
) -> None:
    use_emulator(emulator, speed=10)
    day = datetime(2024, 3, 2, tzinfo=UTC)  # the run at 2024-03-03 covers this day
    moments = {
        "before@example.com": day - timedelta(hours=1),
        "overlap@example.com": day - timedelta(minutes=2),
        "morning@example.com": day + timedelta(hours=9),
        "evening@example.com": day + timedelta(hours=23, minutes=59),
        "next@example.com": day + timedelta(days=1, minutes=1),
    }
    emulator.seed(
        {
            "contacts": [
                {"email": email, "cdate": moment.isoformat(), "fields": {"PLAN": "Pro"}, "tags": ["vip"]}
                for email, moment in moments.items()
            ]
        }
    )
    output = tmp_path / "export" / "contacts.jsonl"

    dagrun = run_dag(
        "contacts_export_daily", conf={"output_path": str(output)}, logical_date=day + timedelta(days=1)
    )

    result = run_dag.xcom(dagrun, "export")
    rows = read_jsonl(output)
    assert [row["email"] for row in rows] == [
        "overlap@example.com",
        "morning@example.com",
        "evening@example.com",
    ]
    assert (result["count"], result["path"]) == (3, str(output))
    assert result["updated_after"] == "2024-03-01T23:55:00+00:00"
    assert result["updated_before"] == "2024-03-03T00:00:00+00:00"
    assert rows[0]["fields"] == {"Plan": "Pro"}
    assert rows[0]["tags"] == ["vip"]
    assert rows[0]["lists"] == []


def test_export_on_a_plain_cron_schedule_continues_from_the_last_successful_run(
    emulator: EmulatorFixture, run_dag: Any, tmp_path: Path
) -> None:
    use_emulator(emulator, speed=10)
    first_run = datetime(2024, 6, 1, tzinfo=UTC)
    second_run = first_run + timedelta(days=1)
    moments = {
        "old@example.com": first_run - timedelta(days=30),
        "day1@example.com": first_run - timedelta(hours=1),
        "day2@example.com": first_run + timedelta(hours=5),
        "later@example.com": second_run + timedelta(minutes=1),
    }
    emulator.seed({"contacts": [{"email": e, "cdate": m.isoformat()} for e, m in moments.items()]})

    first = run_dag(
        "contacts_export_cron", conf={"output_path": str(tmp_path / "1.jsonl")}, logical_date=first_run
    )
    second = run_dag(
        "contacts_export_cron", conf={"output_path": str(tmp_path / "2.jsonl")}, logical_date=second_run
    )

    # No earlier run: a full first export up to the tick; then from the previous tick onwards.
    assert [r["email"] for r in read_jsonl(tmp_path / "1.jsonl")] == ["old@example.com", "day1@example.com"]
    assert run_dag.xcom(first, "export")["updated_after"] is None
    assert [r["email"] for r in read_jsonl(tmp_path / "2.jsonl")] == ["day2@example.com"]
    assert run_dag.xcom(second, "export")["updated_after"] == "2024-05-31T23:55:00+00:00"
    assert run_dag.xcom(second, "export")["updated_before"] == "2024-06-02T00:00:00+00:00"
