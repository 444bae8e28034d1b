"""Never twice: re-runs and retries after every step of a send, asserted on the emulator's counts.

A "re-run" runs the same DAG run again (same logical date and run_after, so the same run_id and
the same deterministic campaign name; dag.test() replaces the old run and its XComs), as clearing a
task in the UI does. A "retry" is Airflow's own next
try after a failed one (the DAGs have ``retries=1``). Every case ends with the same proof: one
campaign with the name, sent once, and one copy per active list member.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

pytestmark = pytest.mark.integration

EMULATOR_TZ = "Etc/GMT+5"
MEMBERS = [f"member{i}@example.com" for i in range(5)]


@pytest.fixture
def account(emulator: Any) -> Any:
    emulator.configure(speed=20)
    emulator.export_connection(account_timezone=EMULATOR_TZ)
    emulator.seed(
        {
            "contacts": [
                *({"email": e, "lists": {"1": 1}} for e in MEMBERS),
                {"email": "left@example.com", "lists": {"1": 2}},
            ]
        }
    )
    return emulator


def sent_once(emulator: Any, name: str) -> dict[str, Any]:
    """Finish every send, then prove the campaign exists once, started once, one copy each."""
    emulator.advance(3600)
    state = emulator.state()
    campaigns = [c for c in state["campaigns"] if c["name"] == name]
    assert len(campaigns) == 1, campaigns
    [campaign] = campaigns
    assert campaign["sends"] == 1
    assert campaign["status_name"] == "completed"
    copies = {d["email"]: d["total"] for d in state["campaign_deliveries"].values()}
    assert copies == dict.fromkeys(MEMBERS, 1)
    assert state["counters"]["campaigns_sent"] == 1
    return campaign


def tries(dagrun: Any) -> int:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = (
            session.query(TaskInstance)
            .filter_by(dag_id=dagrun.dag_id, run_id=dagrun.run_id, task_id="send")
            .one()
        )
        return int(ti.try_number)


def test_rerun_after_completion_does_not_send_again(account: Any, run_dag: Any) -> None:
    logical_date = datetime(2025, 1, 6, tzinfo=UTC)
    first = run_dag("campaigns_send", logical_date=logical_date, run_after=logical_date)
    account.advance(3600)
    second = run_dag("campaigns_send", logical_date=logical_date, run_after=logical_date)
    assert first.run_id == second.run_id  # the same DAG run, cleared and run again
    result = run_dag.xcom(second, "send")
    assert result["created"] is False
    assert result["status"] == "completed"
    campaign = sent_once(account, f"campaigns_send.send {first.run_id}")
    assert result["campaign_id"] == campaign["id"]


def test_a_new_dag_run_sends_a_new_campaign(account: Any, run_dag: Any) -> None:
    week1, week2 = datetime(2025, 1, 6, tzinfo=UTC), datetime(2025, 1, 13, tzinfo=UTC)
    first = run_dag("campaigns_send", logical_date=week1, run_after=week1)
    second = run_dag("campaigns_send", logical_date=week2, run_after=week2)
    assert run_dag.xcom(first, "send")["campaign_id"] != run_dag.xcom(second, "send")["campaign_id"]
    account.advance(3600)
    copies = {d["email"]: d["total"] for d in account.state()["campaign_deliveries"].values()}
    assert copies == dict.fromkeys(MEMBERS, 2)  # one per week, as intended


def test_retry_after_the_message_was_created(
    account: Any, run_dag: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """campaign_create fails before ActiveCampaign acts: read back finds nothing, the retry sends once."""
    # The DAG retries at once; a real retry comes after retry_delay (5 min by default), past the
    # settle period. Settling at once stands for that (the settle rule itself: test_journal.py).
    monkeypatch.setenv("AIRFLOW__ACTIVECAMPAIGN__WRITE_SETTLE_SECONDS", "0")
    account.add_fault("POST", "/admin/api.php", "http_500", when="before", times=1)
    dagrun = run_dag("campaigns_send", conf={"name": "After message"})
    assert run_dag.task_states(dagrun)["send"] == "success"
    assert tries(dagrun) == 2
    assert run_dag.xcom(dagrun, "send")["created"] is True
    sent_once(account, "After message")
    # The first try's message is left unused (documented); it was never sent.
    assert account.state()["counters"]["messages_created"] == 2


@pytest.mark.parametrize("kind", ["http_502", "drop"])
def test_ambiguous_create_that_was_applied_is_read_back(account: Any, run_dag: Any, kind: str) -> None:
    """campaign_create is applied, then the answer is lost: read back by name, never create again."""
    account.add_fault("POST", "/admin/api.php", kind, when="after", times=1)
    dagrun = run_dag("campaigns_send", conf={"name": "Applied"})
    assert run_dag.task_states(dagrun)["send"] == "success"
    assert tries(dagrun) == 1
    result = run_dag.xcom(dagrun, "send")
    assert result["created"] is True
    campaign = sent_once(account, "Applied")
    assert result["campaign_id"] == campaign["id"]
    creates = [
        r for r in account.requests()["requests"] if r["method"] == "POST" and r["path"] == "/admin/api.php"
    ]
    assert len(creates) == 1


def test_retry_after_the_campaign_was_scheduled(account: Any, run_dag: Any) -> None:
    """The task fails right after scheduling (reading the campaign back); the retry finds it."""
    account.configure(rate_limit=False)
    account.export_connection(account_timezone=EMULATOR_TZ, max_retries=0)
    account.add_fault("GET", "/api/3/campaigns/{id}", "http_500", times=1)
    dagrun = run_dag("campaigns_send", conf={"name": "After schedule"})
    assert run_dag.task_states(dagrun)["send"] == "success"
    assert tries(dagrun) == 2
    assert run_dag.xcom(dagrun, "send")["created"] is False
    sent_once(account, "After schedule")


def test_rerun_mid_send_does_not_send_again(account: Any, run_dag: Any) -> None:
    account.configure(speed=1)
    account.seed({"campaign_settings": {"send_rate": 0.05}})  # one copy per 20 emulated seconds
    logical_date = datetime(2025, 2, 3, tzinfo=UTC)
    run_dag("campaigns_send", conf={"name": "Slow"}, logical_date=logical_date, run_after=logical_date)
    [campaign] = [c for c in account.state()["campaigns"] if c["name"] == "Slow"]
    assert campaign["status_name"] in {"scheduled", "sending"}
    assert campaign["send_amt"] < len(MEMBERS)

    again = run_dag(
        "campaigns_send", conf={"name": "Slow"}, logical_date=logical_date, run_after=logical_date
    )
    result = run_dag.xcom(again, "send")
    assert result["created"] is False
    assert result["status"] in {"scheduled", "sending"}
    sent_once(account, "Slow")


def test_rerun_mid_send_waits_for_the_first_send(account: Any, run_dag: Any) -> None:
    account.seed({"campaign_settings": {"send_rate": 0.5}})
    logical_date = datetime(2025, 2, 10, tzinfo=UTC)
    run_dag("campaigns_send", conf={"name": "Waited"}, logical_date=logical_date, run_after=logical_date)
    again = run_dag(
        "campaigns_send_wait", conf={"name": "Waited"}, logical_date=logical_date, run_after=logical_date
    )
    result = run_dag.xcom(again, "send")
    assert result["created"] is False
    assert result["status"] == "completed"
    assert result["report"]["sends"] == len(MEMBERS)
    sent_once(account, "Waited")


def test_a_draft_with_the_name_blocks_the_send(account: Any, run_dag: Any) -> None:
    account.seed({"campaigns": [{"name": "Taken", "status": 0, "lists": [1], "messages": [1]}]})
    dagrun = run_dag("campaigns_send", conf={"name": "Taken"})
    assert run_dag.task_states(dagrun)["send"] == "failed"
    assert tries(dagrun) == 1  # a refusal is final: no retry
    state = account.state()
    assert [c["status_name"] for c in state["campaigns"]] == ["draft"]
    assert state["campaign_deliveries"] == {}
