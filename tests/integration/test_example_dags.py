"""The example DAGs in dags_examples/: they load, and each runs end to end against the emulator.

Every DAG runs through ``dag.test()`` (the ``run_dag`` fixture) on the test session's SQLite
metadata database, with the emulator's clock sped up so that the waits (a welcome series, a
campaign send) take seconds. The waits are the DAGs' deferrable sensors, and each test checks that
they did defer, then checks the emulated account: what was created, subscribed, tagged, enrolled
and sent, and that nothing happened twice. The last test runs ``scripts/run_example.py`` (the
README's main command without its install step) as a subprocess.
"""

from __future__ import annotations

import csv
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from activecampaign_emulator.seed import default_seed

from tests.conftest import EXAMPLE_DAGS, ROOT

pytestmark = pytest.mark.integration

SYNC_DAG = "activecampaign_sync_and_welcome"
NEWSLETTER_DAG = "activecampaign_weekly_newsletter"
EXPORT_DAG = "activecampaign_daily_export"
CUSTOMERS_CSV = EXAMPLE_DAGS / "data" / "customers.csv"
SUBSCRIBERS_CSV = EXAMPLE_DAGS / "data" / "newsletter_subscribers.csv"

#: Emulated seconds per real second (the DAGs' waits take emulated minutes).
SPEED = 600
#: The welcome series: 1 real second, counted from the wait's first look at each enrolment (the
#: emulator control ``complete_after_first_poll``), so the wait meets it running and defers however
#: long dag.test() takes to start that task on a busy machine: no race with the clock.
WELCOME_SECONDS = 600
#: The emulated account shows times at UTC-5 all year (default seed).
ACCOUNT_TIMEZONE = "Etc/GMT+5"
#: The sync DAG's run for 2025-06-14 (dag.test's logical date is the end of the interval).
SIGNUP_DAY_RUN = datetime(2025, 6, 15, tzinfo=UTC)
#: The rows of customers.csv the sync must reject: (row, email, column).
REJECTED = [
    (27, "jamie.oconnor@example", "email"),
    (31, "evelyn.berezin@example.com", "plan"),
    (43, "priya.shah at example.com", "email"),
]
#: Valid customers who signed up on 2025-06-14 (priya.shah, the sixth, has a malformed email).
SIGNED_UP_ON_0614 = {
    "joan.clarke@example.co.uk",
    "marvin.minsky@example.com",
    "rosalind.picard@example.com",
    "tony.hoare@example.co.uk",
    "kathleen.booth@example.com",
}


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def valid_customers() -> list[dict[str, str]]:
    rejected = {email for _, email, _ in REJECTED}
    return [row for row in read_csv(CUSTOMERS_CSV) if row["email"] not in rejected]


@pytest.fixture
def account(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Reset the emulator to the default account with ``changes`` applied; fast clock, fast waits."""
    monkeypatch.setenv("AIRFLOW__ACTIVECAMPAIGN_EXAMPLES__POLL_SECONDS", "0.1")
    monkeypatch.setenv("AIRFLOW__ACTIVECAMPAIGN_EXAMPLES__RETRY_DELAY_SECONDS", "0")

    def reset(**changes: Any) -> Any:
        seed = default_seed()
        welcome = next(a for a in seed["automations"] if a["name"] == "Welcome series")
        welcome["duration_seconds"] = WELCOME_SECONDS
        welcome["complete_after_first_poll"] = True
        seed.update(changes)
        emulator.client.reset(seed)
        emulator.configure(speed=SPEED)
        emulator.export_connection(imports_per_minute=100 * SPEED, account_timezone=ACCOUNT_TIMEZONE)
        return emulator

    return reset


def task_instances(dagrun: Any) -> dict[str, Any]:
    """``{task_id: TaskInstance}`` of a finished ``dag.test()`` run."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (
            session.query(TaskInstance)
            .filter(TaskInstance.dag_id == dagrun.dag_id, TaskInstance.run_id == dagrun.run_id)
            .all()
        )
        session.expunge_all()
    return {ti.task_id: ti for ti in rows}


def state_of(ti: Any) -> str:
    return str(getattr(ti.state, "value", ti.state))


def assert_succeeded_first_try(dagrun: Any, skipped: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Every task succeeded on its first try (no retry hid a failure); ``skipped`` were skipped."""
    tis = task_instances(dagrun)
    states = {task_id: state_of(ti) for task_id, ti in tis.items()}
    assert str(getattr(dagrun.state, "value", dagrun.state)) == "success", states
    assert states == {task_id: "skipped" if task_id in skipped else "success" for task_id in tis}
    assert {task_id: ti.try_number for task_id, ti in tis.items() if task_id not in skipped} == dict.fromkeys(
        set(tis) - skipped, 1
    )
    return tis


def trigger_classpath(ti: Any) -> str | None:
    """The trigger a task instance deferred to (Airflow keeps the link after it resumes), or None."""
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session

    if ti.trigger_id is None:
        return None
    with create_session() as session:
        trigger = session.get(Trigger, ti.trigger_id)
        return None if trigger is None else str(trigger.classpath)


def contacts_by_email(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {contact["email"]: contact for contact in state["contacts"]}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# --------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------


def test_example_dags_load_without_errors_or_api_calls(account: Callable[..., Any], airflow_db: Path) -> None:
    emulator = account()
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(EXAMPLE_DAGS))

    assert bag.import_errors == {}
    assert {SYNC_DAG, NEWSLETTER_DAG, EXPORT_DAG} <= set(bag.dag_ids)
    # Parsing happens all the time: it must not touch ActiveCampaign.
    assert emulator.requests()["requests"] == []
    for dag_id, dag in bag.dags.items():
        assert dag.doc_md, f"{dag_id} has no module docstring as doc_md"
        assert len(dag.doc_md) > 200, dag_id
        assert "activecampaign" in dag.tags
        # The connection id is named in one place per file, and every ActiveCampaign task uses it
        # (an example without ActiveCampaign tasks, e.g. one driven by webhooks, names none).
        source = Path(dag.fileloc).read_text(encoding="utf-8")
        conn_ids = {t.activecampaign_conn_id for t in dag.tasks if hasattr(t, "activecampaign_conn_id")}
        if dag_id in {SYNC_DAG, NEWSLETTER_DAG, EXPORT_DAG} or conn_ids:
            assert source.count('"activecampaign_default"') == 1, dag.fileloc
            assert conn_ids == {"activecampaign_default"}, dag_id


# --------------------------------------------------------------------------------------------------
# activecampaign_sync_and_welcome
# --------------------------------------------------------------------------------------------------


def assert_customers_synced(state: dict[str, Any]) -> None:
    """Every valid row of customers.csv is a contact with its fields, list and tags; nothing else is."""
    contacts = contacts_by_email(state)
    expected = valid_customers()
    assert set(contacts) == {row["email"].lower() for row in expected}
    for row in expected:
        contact = contacts[row["email"].lower()]
        assert (contact["firstName"], contact["lastName"], contact["phone"]) == (
            row["first_name"],
            row["last_name"],
            row["phone"],
        )
        fields = contact["fields_by_perstag"]
        for column, perstag in (
            ("company", "COMPANY"),
            ("plan", "PLAN"),
            ("interests", "INTERESTS"),
            ("birthday", "BIRTHDAY"),
        ):
            assert fields.get(perstag) == (row[column] or None), (row["email"], perstag)
        assert float(fields["LIFETIME_VALUE"]) == float(row["lifetime_value"])
        assert "SIGNUP_DATE" not in fields
        assert sorted(contact["tags"]) == sorted({"customer", *filter(None, [row["tags"]])})
        assert {lid: m["status"] for lid, m in contact["lists"].items()} == {"2": 1}  # Customers only
        # One import row each: nothing was written twice.
        assert contact["counters"]["import_rows"] == 1, row["email"]


def assert_welcomed(state: dict[str, Any], emails: set[str]) -> list[str]:
    """``emails`` (and nobody else) were enrolled once in the welcome series and completed it."""
    by_id = {contact["id"]: contact["email"] for contact in state["contacts"]}
    enrolments = [e for e in state["enrolments"] if e["automation"] == "1"]
    assert {by_id[e["contact"]] for e in enrolments} == emails
    assert [e for e in enrolments if e["status"] != "completed" or e["source"] != "api"] == []
    assert set(state["enrolment_counts"].values()) == {1}
    assert len(state["enrolment_counts"]) == len(emails)
    return sorted(e["id"] for e in enrolments)


def test_sync_and_welcome_from_the_csv(account: Callable[..., Any], run_dag: Any, tmp_path: Path) -> None:
    emulator = account()

    dagrun = run_dag(SYNC_DAG, conf={"reports_base": tmp_path.as_uri()}, logical_date=SIGNUP_DAY_RUN)

    tis = assert_succeeded_first_try(dagrun, skipped=frozenset({"sync_from_sql"}))
    sync = run_dag.xcom(dagrun, "sync_from_csv")
    assert (sync["submitted"], sync["succeeded"], sync["failed"], sync["rejected"]) == (47, 47, 0, 3)
    # The rejection report: where the DAG says, one line per bad row, naming row, column and reason.
    report = tmp_path / SYNC_DAG / dagrun.run_id / "rejected_customers.jsonl"
    assert sync["failures_path"] == f"{tmp_path.as_uri()}/{SYNC_DAG}/{dagrun.run_id}/rejected_customers.jsonl"
    rejected = read_jsonl(report)
    assert [(r["row"], r["email"], r["field"], r["stage"]) for r in rejected] == [
        (*item, "rejected") for item in REJECTED
    ]
    assert "'Gold' is not an option of field 'Plan'" in rejected[1]["reason"]

    state = emulator.state()
    assert_customers_synced(state)
    lists = {item["name"]: item["subscribed"] for item in state["lists"]}
    assert lists == {"Customers": 47, "Newsletter": 0, "Product updates": 0}
    assert {t["tag"]: t["contacts"] for t in state["tags"]}["vip"] == 10

    # The new customers (signed up in the data interval and synced) were enrolled and finished.
    assert sorted(run_dag.xcom(dagrun, "select_new_customers")) == sorted(SIGNED_UP_ON_0614)
    enrolled = run_dag.xcom(dagrun, "enroll_in_welcome_series")
    assert set(enrolled["enrolled"]) == SIGNED_UP_ON_0614
    assert (enrolled["not_found"], enrolled["failed"], enrolled["skipped_already_active"]) == ([], [], [])
    enrolment_ids = assert_welcomed(state, SIGNED_UP_ON_0614)
    assert sorted(enrolled["enrolled"].values()) == enrolment_ids
    waited = run_dag.xcom(dagrun, "wait_for_welcome_series")
    assert (sorted(waited["completed"]), waited["exited"]) == (enrolment_ids, [])
    # The wait ran in the triggerer (deferred), as the DAG asks.
    assert trigger_classpath(tis["wait_for_welcome_series"]) == (
        "airflow_provider_activecampaign.triggers.automations.ActiveCampaignAutomationCompletedTrigger"
    )
    # No request was refused (a 429 is retried and allowed here: pacing is tested with the hook).
    statuses = {key: key.rsplit(" ", 1)[1] for key in emulator.requests()["counts"]}
    assert [key for key, status in statuses.items() if status[0] in "45" and status != "429"] == []


def test_sync_and_welcome_from_a_sql_table(
    account: Callable[..., Any], run_dag: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same customers in a SQLite table (empty cells as NULL): the same account, the same welcomes."""
    emulator = account()
    database = tmp_path / "warehouse.db"
    rows = read_csv(CUSTOMERS_CSV)
    columns = list(rows[0])
    types = {"lifetime_value": "REAL"}
    with sqlite3.connect(database) as conn:
        definitions = ", ".join(f"{column} {types.get(column, 'TEXT')}" for column in columns)
        conn.execute(f"CREATE TABLE crm_customers ({definitions})")
        conn.executemany(
            f"INSERT INTO crm_customers VALUES ({', '.join('?' * len(columns))})",
            [[row[c] or None for c in columns] for row in rows],
        )
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(database)}))

    dagrun = run_dag(
        SYNC_DAG,
        conf={
            "sql_conn_id": "warehouse",
            "customers_table": "crm_customers",
            "reports_base": tmp_path.as_uri(),
        },
        logical_date=SIGNUP_DAY_RUN,
    )

    assert_succeeded_first_try(dagrun, skipped=frozenset({"sync_from_csv"}))
    sync = run_dag.xcom(dagrun, "sync_from_sql")
    assert (sync["submitted"], sync["rejected"]) == (47, 3)
    report = tmp_path / SYNC_DAG / dagrun.run_id / "rejected_customers.jsonl"
    assert sync["failures_path"] == f"{tmp_path.as_uri()}/{SYNC_DAG}/{dagrun.run_id}/rejected_customers.jsonl"
    assert [(r["row"], r["email"], r["field"]) for r in read_jsonl(report)] == REJECTED
    state = emulator.state()
    assert_customers_synced(state)
    assert_welcomed(state, SIGNED_UP_ON_0614)


# --------------------------------------------------------------------------------------------------
# activecampaign_weekly_newsletter
# --------------------------------------------------------------------------------------------------

#: A Tuesday: the newsletter's logical date, and so its campaign name.
NEWSLETTER_RUN = datetime(2025, 6, 17, 9, tzinfo=UTC)
#: Slow enough that the send is still going when the sensor first looks (so it defers): 28 copies
#: at 0.0015 a second (emulated; 0.9 a second real) take about 30 s.
SLOW_SENDING = {"campaign_settings": {"send_rate": 0.0015}}


def test_weekly_newsletter_sends_once_and_stores_the_report(
    account: Callable[..., Any], run_dag: Any, tmp_path: Path
) -> None:
    emulator = account(**SLOW_SENDING)
    subscribers = {row["email"] for row in read_csv(SUBSCRIBERS_CSV)}
    conf = {"reports_base": tmp_path.as_uri(), "headline": "Pipelines, finally boring"}

    dagrun = run_dag(NEWSLETTER_DAG, conf=conf, logical_date=NEWSLETTER_RUN)

    tis = assert_succeeded_first_try(dagrun)
    state = emulator.state()
    # The audience: every subscriber on the Newsletter list, and no welcome series started.
    contacts = contacts_by_email(state)
    assert set(contacts) == subscribers
    assert all(c["lists"]["1"]["status"] == 1 for c in contacts.values())
    assert state["enrolments"] == []
    # One campaign, sent once, one copy per subscriber, with the body rendered from the template.
    [campaign] = state["campaigns"]
    assert (campaign["name"], campaign["status_name"], campaign["sends"]) == (
        "Weekly newsletter 2025-06-17",
        "completed",
        1,
    )
    assert copies_by_email(state) == dict.fromkeys(subscribers, 1)
    [message] = [m for m in state["messages"] if m["id"] in campaign["messages"]]
    assert message["subject"] == "Pipelines, finally boring"
    assert "<h1>Pipelines, finally boring</h1>" in message["html"]
    assert "the week to 2025-06-17" in message["html"]
    assert "%FIRSTNAME%" in message["html"]  # left for ActiveCampaign to fill in
    assert "%UNSUBSCRIBELINK%" in message["html"]
    assert "{{" not in message["html"]
    assert "{#" not in message["html"]
    # The report: what the sensor returned, stored under the templated base path.
    report = run_dag.xcom(dagrun, "wait_for_send")
    stored = tmp_path / NEWSLETTER_DAG / "2025-06-17" / "campaign_report.json"
    assert run_dag.xcom(dagrun, "store_report") == stored.as_uri()
    assert json.loads(stored.read_text(encoding="utf-8")) == report
    assert (report["campaign_id"], report["sends"], report["status"]) == (campaign["id"], 28, "completed")
    assert trigger_classpath(tis["wait_for_send"]) == (
        "airflow_provider_activecampaign.triggers.campaigns.ActiveCampaignCampaignSentTrigger"
    )

    # Running the same week again (a re-run, a cleared DAG run) does not send a second newsletter.
    again = run_dag(NEWSLETTER_DAG, conf=conf, logical_date=NEWSLETTER_RUN)

    assert_succeeded_first_try(again)
    assert run_dag.xcom(again, "send_newsletter")["created"] is False
    state = emulator.state()
    assert [(c["id"], c["sends"]) for c in state["campaigns"]] == [(campaign["id"], 1)]
    assert copies_by_email(state) == dict.fromkeys(subscribers, 1)


def copies_by_email(state: dict[str, Any]) -> dict[str, int]:
    """Copies of any campaign each contact received."""
    return {item["email"]: item["total"] for item in state["campaign_deliveries"].values()}


def test_weekly_newsletter_max_recipients_guard_sends_nothing(
    account: Callable[..., Any], run_dag: Any, tmp_path: Path
) -> None:
    emulator = account()

    dagrun = run_dag(
        NEWSLETTER_DAG,
        conf={"reports_base": tmp_path.as_uri(), "max_recipients": 10},
        logical_date=NEWSLETTER_RUN,
    )

    tis = task_instances(dagrun)
    assert str(getattr(dagrun.state, "value", dagrun.state)) == "failed"
    assert state_of(tis["refresh_audience"]) == "success"
    assert state_of(tis["send_newsletter"]) == "failed"
    assert tis["send_newsletter"].try_number == 1  # refused for good, not retried
    state = emulator.state()
    assert state["campaigns"] == []
    assert [m["id"] for m in state["messages"]] == ["1"]  # not even a message was created
    assert state["campaign_deliveries"] == {}


# --------------------------------------------------------------------------------------------------
# activecampaign_daily_export
# --------------------------------------------------------------------------------------------------


def _seeded(email: str, cdate: str, **extra: Any) -> dict[str, Any]:
    return {"email": email, "firstName": email.split("@")[0].title(), "cdate": cdate, **extra}


#: Contacts last changed at these times (account time is UTC-5): two on 06-13, three on 06-14 (one
#: three minutes before midnight UTC), one just after midnight UTC on 06-15.
EXPORT_CONTACTS = [
    _seeded("before@example.com", "2025-06-13T10:00:00-05:00"),
    _seeded("also.before@example.com", "2025-06-13T18:30:00-05:00"),
    _seeded(
        "vip@example.com",
        "2025-06-14T08:00:00-05:00",
        fields={"PLAN": "Pro", "INTERESTS": "||Python||Data||"},
        lists={"2": 1},
        tags=["vip"],
    ),
    _seeded("monday@example.com", "2025-06-14T12:00:00-05:00"),
    _seeded("late@example.com", "2025-06-14T18:57:00-05:00"),
    _seeded("next.day@example.com", "2025-06-14T19:02:00-05:00"),
]


def test_daily_export_backfills_one_idempotent_file_per_day(
    account: Callable[..., Any], run_dag: Any, tmp_path: Path
) -> None:
    account(
        account={**default_seed()["account"], "start_time": "2025-06-16T09:00:00-05:00"},
        contacts=EXPORT_CONTACTS,
    )
    conf = {"export_base": tmp_path.as_uri()}
    day = tmp_path / EXPORT_DAG

    # A backfill of two days (each dag.test() logical date is the end of that day's interval).
    first = run_dag(EXPORT_DAG, conf=conf, logical_date=datetime(2025, 6, 15, tzinfo=UTC))
    second = run_dag(EXPORT_DAG, conf=conf, logical_date=datetime(2025, 6, 16, tzinfo=UTC))

    assert_succeeded_first_try(first)
    assert_succeeded_first_try(second)
    june14 = day / "date=2025-06-14" / "contacts.jsonl"
    june15 = day / "date=2025-06-15" / "contacts.jsonl"
    assert sorted(p.relative_to(day).as_posix() for p in day.rglob("*.jsonl")) == [
        "date=2025-06-14/contacts.jsonl",
        "date=2025-06-15/contacts.jsonl",
    ]
    exported_14 = read_jsonl(june14)
    # The 06-14 window, started 5 minutes early: 06-14's contacts, each once, in id order.
    assert [c["email"] for c in exported_14] == ["vip@example.com", "monday@example.com", "late@example.com"]
    # The 06-15 window overlaps the last 5 minutes of 06-14: the late contact is in both files.
    assert [c["email"] for c in read_jsonl(june15)] == ["late@example.com", "next.day@example.com"]
    vip = exported_14[0]
    assert vip["fields"]["Plan"] == "Pro"
    assert sorted(vip["fields"]["Interests"]) == ["Data", "Python"]
    assert vip["tags"] == ["vip"]
    assert [(item["name"], item["status"]) for item in vip["lists"]] == [("Customers", "active")]
    assert run_dag.xcom(first, "export_changed_contacts")["count"] == 3

    # Re-running a day rewrites that day's file with the same content; no second file appears.
    before = june14.read_bytes()
    again = run_dag(EXPORT_DAG, conf=conf, logical_date=datetime(2025, 6, 15, tzinfo=UTC))

    assert_succeeded_first_try(again)
    assert june14.read_bytes() == before
    assert len(list(day.rglob("*.jsonl"))) == 2


# --------------------------------------------------------------------------------------------------
# scripts/run_example.py: the README's main command
# --------------------------------------------------------------------------------------------------


@pytest.mark.long
def test_run_example_script_runs_both_dags_and_reports_the_account(tmp_path: Path) -> None:
    work = tmp_path / "work"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}

    result = subprocess.run(
        # x20, not the script's default x60: at x60 an emulated second is 17 ms of real time, and a
        # loaded machine's scheduling jitter alone can put six requests in one (a 429). At x20 the
        # same pacing has three times the slack; "0 answered 429" still proves the pacing.
        [sys.executable, str(ROOT / "scripts" / "run_example.py"), "--work-dir", str(work), "--speed", "20"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=240,
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for expected in (
        "47 created from 50 CSV rows",
        "rejected, not sent: 3 rows",
        "row 31 'evelyn.berezin@example.com', plan: 'Gold' is not an option",
        "5 new customers enrolled, 5 completed it; 0 enrolled twice",
        "28 on the Newsletter list (8 new contacts, 20 existing customers)",
        "0 new enrolments",
        "'Weekly newsletter 2025-06-17': completed, sent to 28 recipients, started sending 1 time(s), "
        "each recipient got exactly one copy",
        "0 answered 429",
    ):
        assert expected in output, f"{expected!r} not in:\n{output}"
    # Its files are where it says: a fresh Airflow home, logs, and the two reports.
    assert (work / "airflow-home" / "airflow.db").is_file()
    assert {p.name for p in (work / "logs").iterdir()} == {
        "db-migrate.log",
        f"{SYNC_DAG}.log",
        f"{NEWSLETTER_DAG}.log",
    }
    assert len(list((work / "reports").rglob("rejected_customers.jsonl"))) == 1
    assert len(list((work / "reports").rglob("campaign_report.json"))) == 1
    # The emulator subprocess was stopped: its port no longer answers.
    url = re.search(r"http://127\.0\.0\.1:(\d+)", output)
    assert url is not None, output
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", int(url.group(1)))) != 0
