"""The sent sensor against the emulator: waits, fails on dead campaigns, reports what happened."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

pytestmark = pytest.mark.integration

MEMBERS = [f"fan{i}@example.com" for i in range(40)]
#: High rates so every report number is non-zero with 40 recipients.
RATES = {"bounce": 0.25, "open": 0.7, "click": 0.5, "forward": 0.3, "reply": 0.3, "unsubscribe": 0.1}
REPORT_FIELDS = {  # sensor report key -> emulator state report key(s)
    "opens": ("opens",),
    "unique_opens": ("uniqueopens",),
    "clicks": ("linkclicks",),
    "unique_clicks": ("uniquelinkclicks",),
    "bounces": ("hardbounces", "softbounces"),
    "hard_bounces": ("hardbounces",),
    "soft_bounces": ("softbounces",),
    "unsubscribes": ("unsubscribes",),
    "forwards": ("forwards",),
    "unique_forwards": ("uniqueforwards",),
    "replies": ("replies",),
    "unique_replies": ("uniquereplies",),
}


@pytest.fixture
def account(emulator: Any) -> Any:
    emulator.configure(speed=50)
    emulator.export_connection(account_timezone="Etc/GMT+5")
    emulator.seed(
        {
            "contacts": [{"email": e, "lists": {"1": 1}} for e in MEMBERS],
            "campaign_settings": {"rates": RATES, "send_rate": 20},
        }
    )
    return emulator


def campaign_in_state(emulator: Any, campaign_id: str) -> dict[str, Any]:
    return next(c for c in emulator.state()["campaigns"] if c["id"] == campaign_id)


def assert_report_matches(report: dict[str, Any], campaign: dict[str, Any]) -> None:
    assert report["status"] == "completed"
    assert report["sends"] == campaign["send_amt"] == len(MEMBERS)
    assert report["recipients"] == campaign["total_amt"] == len(MEMBERS)
    for ours, theirs in REPORT_FIELDS.items():
        assert report[ours] == sum(campaign["report"][key] for key in theirs), ours
        assert report[ours] > 0, ours  # the comparison is not 0 == 0


def advance_after_first_read(emulator: Any, seconds: float) -> threading.Thread:
    """Jump the emulated clock once the sensor has seen the campaign unfinished (the fast clock)."""

    def watch() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            answered = emulator.requests()["requests"]
            if any(r["template"] == "/api/3/campaigns/{id}" and r["status"] for r in answered):
                emulator.advance(seconds)
                return
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("dag_id", ["campaigns_sensor", "campaigns_sensor_deferred"])
def test_sensor_waits_for_a_scheduled_campaign_and_reports_it(
    account: Any, run_dag: Any, dag_id: str, capfd: Any
) -> None:
    now = account.client.clock()["emulated_epoch"]
    sdate = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 3600))
    campaign = {"id": 70, "name": "Soon", "status": 1, "lists": [1], "messages": [1], "sdate": sdate}
    account.seed({"campaigns": [campaign]})
    watcher = advance_after_first_read(account, 2 * 3600)
    dagrun = run_dag(dag_id, conf={"campaign_id": "70"})
    watcher.join(5)
    report = run_dag.xcom(dagrun, "sent")
    assert report["campaign_id"] == "70"
    assert report["name"] == "Soon"
    assert_report_matches(report, campaign_in_state(account, "70"))
    deferred = "Pausing task as DEFERRED" in "".join(capfd.readouterr())
    assert deferred is (dag_id == "campaigns_sensor_deferred")


def test_sensor_reports_a_campaign_seeded_mid_send(account: Any, run_dag: Any) -> None:
    account.seed({"campaigns": [{"id": 72, "name": "In flight", "status": 2, "lists": [1], "messages": [1]}]})
    assert campaign_in_state(account, "72")["status_name"] == "sending"
    dagrun = run_dag("campaigns_sensor", conf={"campaign_id": "72"})
    report = run_dag.xcom(dagrun, "sent")
    assert_report_matches(report, campaign_in_state(account, "72"))


@pytest.mark.parametrize("status", [4, 6])
@pytest.mark.parametrize("dag_id", ["campaigns_sensor", "campaigns_sensor_deferred"])
def test_sensor_fails_on_a_stopped_or_disabled_campaign(
    account: Any, run_dag: Any, dag_id: str, status: int
) -> None:
    account.seed(
        {
            "campaigns": [
                {"id": 71, "name": "Dead", "status": status, "lists": [1], "messages": [1], "send_amt": 3}
            ]
        }
    )
    dagrun = run_dag(dag_id, conf={"campaign_id": "71"})
    assert run_dag.task_states(dagrun)["sent"] == "failed"


def test_sensor_fails_on_an_unknown_campaign(account: Any, run_dag: Any) -> None:
    dagrun = run_dag("campaigns_sensor", conf={"campaign_id": "999"})
    assert run_dag.task_states(dagrun)["sent"] == "failed"


def test_newsletter_pipeline_sends_the_html_file_and_keeps_the_report(account: Any, run_dag: Any) -> None:
    dagrun = run_dag("campaigns_newsletter", conf={"issue": "7"})
    assert run_dag.task_states(dagrun) == {"send": "success", "report": "success"}
    sent = run_dag.xcom(dagrun, "send")
    report = run_dag.xcom(dagrun, "report")
    campaign = campaign_in_state(account, sent["campaign_id"])
    assert_report_matches(report, campaign)

    state = account.state()
    [message_id] = campaign["messages"]
    message = next(m for m in state["messages"] if m["id"] == message_id)
    assert message["subject"] == "Newsletter #7"
    assert "<h1>Newsletter #7</h1>" in message["html"]  # the .html file, rendered with Jinja
    assert "rendered for campaigns_newsletter" in message["html"]
    assert "%FIRSTNAME%" in message["html"]  # ActiveCampaign's own tags pass through
