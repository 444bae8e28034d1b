"""The send operator against the emulator, through dag.test(): what gets sent, to whom, when."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from activecampaign_emulator.seed import default_seed

from airflow_provider_activecampaign.campaigns.api import ActiveCampaignCampaignError, check_emails

pytestmark = pytest.mark.integration

#: The emulator's default account shows times at -05:00 all year; Etc/GMT+5 is that zone.
EMULATOR_TZ = "Etc/GMT+5"
ACTIVE_NEWSLETTER = [f"reader{i}@example.com" for i in range(6)]
CONTACTS: list[dict[str, Any]] = [
    *({"email": email, "lists": {"1": 1}} for email in ACTIVE_NEWSLETTER),
    {"email": "gone1@example.com", "lists": {"1": 2}},
    {"email": "gone2@example.com", "lists": {"1": 2}},
    {"email": "both@example.com", "lists": {"1": 1, "2": 1}},
    {"email": "buyer1@example.com", "lists": {"2": 1}},
    {"email": "buyer2@example.com", "lists": {"2": 1}},
]
NEWSLETTER_ACTIVE = [*ACTIVE_NEWSLETTER, "both@example.com"]


@pytest.fixture
def account(emulator: Any) -> Any:
    emulator.configure(speed=20)
    emulator.export_connection(account_timezone=EMULATOR_TZ)
    emulator.seed({"contacts": CONTACTS})
    return emulator


def named(state: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [c for c in state["campaigns"] if c["name"] == name]


def copies_by_email(state: dict[str, Any]) -> dict[str, int]:
    return {d["email"]: d["total"] for d in state["campaign_deliveries"].values()}


def wait_for_completion(emulator: Any, name: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = named(emulator.state(), name)
        if found and found[0]["status_name"] == "completed":
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"campaign {name!r} did not complete: {named(emulator.state(), name)}")


def test_create_and_send_from_parts(account: Any, run_dag: Any) -> None:
    dagrun = run_dag("campaigns_send", conf={"subject": "Spring sale", "html": "<p>Sale!</p>"})
    result = run_dag.xcom(dagrun, "send")
    name = f"campaigns_send.send {dagrun.run_id}"
    assert result["name"] == name
    assert result["created"] is True
    assert result["recipients"] == len(NEWSLETTER_ACTIVE)
    assert result["status"] in {"scheduled", "sending", "completed"}

    campaign = wait_for_completion(account, name)
    assert campaign["id"] == result["campaign_id"]
    assert campaign["sends"] == 1
    assert campaign["lists"] == ["1"]
    state = account.state()
    message = next(m for m in state["messages"] if m["id"] in campaign["messages"])
    assert (message["subject"], message["html"], message["fromemail"]) == (
        "Spring sale",
        "<p>Sale!</p>",
        "news@example.com",
    )
    assert message["reply2"] == "news@example.com"  # reply_to defaults to the sender
    # Only active members of the list, each exactly once; unsubscribed and other lists get nothing.
    assert copies_by_email(state) == dict.fromkeys(NEWSLETTER_ACTIVE, 1)


def test_lists_by_name_and_id_are_sent_once_per_contact(account: Any, run_dag: Any) -> None:
    dagrun = run_dag("campaigns_send", conf={"name": "Two lists", "lists": "newsletter, 2"})
    result = run_dag.xcom(dagrun, "send")
    # The guard counts per list, an upper bound ("both" twice); ActiveCampaign sends one copy per contact.
    assert result["recipients"] == len(NEWSLETTER_ACTIVE) + 3
    campaign = wait_for_completion(account, "Two lists")
    assert campaign["lists"] == ["1", "2"]
    expected = dict.fromkeys([*NEWSLETTER_ACTIVE, "buyer1@example.com", "buyer2@example.com"], 1)
    assert copies_by_email(account.state()) == expected


def test_send_an_existing_draft(account: Any, run_dag: Any) -> None:
    account.seed(
        {
            "campaigns": [
                {
                    "id": 40,
                    "name": "Weekly template",
                    "status": 0,
                    "lists": [2],
                    "messages": [1],
                    "segmentid": 3,
                }
            ]
        }
    )
    dagrun = run_dag("campaigns_send_draft", conf={"campaign_id": "40", "lists": "", "name": "Weekly #1"})
    result = run_dag.xcom(dagrun, "send")
    assert result["created"] is True
    assert result["campaign_id"] != "40"

    sent = wait_for_completion(account, "Weekly #1")
    assert sent["lists"] == ["2"]
    assert sent["messages"] == {"1": 100}
    assert sent["segmentid"] == "3"  # the draft's segment is kept: dropping it would widen the audience
    state = account.state()
    template = next(c for c in state["campaigns"] if c["id"] == "40")
    assert (template["status_name"], template["sends"]) == ("draft", 0)  # the template is kept
    assert copies_by_email(state) == dict.fromkeys(
        ["both@example.com", "buyer1@example.com", "buyer2@example.com"], 1
    )


def test_a_campaign_that_is_not_a_draft_is_refused(account: Any, run_dag: Any) -> None:
    account.seed({"campaigns": [{"id": 41, "name": "Old", "status": 5, "lists": [1], "messages": [1]}]})
    dagrun = run_dag("campaigns_send_draft", conf={"campaign_id": "41", "lists": "", "name": "Copy of old"})
    assert run_dag.task_states(dagrun)["send"] == "failed"
    state = account.state()
    assert named(state, "Copy of old") == []
    assert copies_by_email(state) == {}


def _advance_after_reads(emulator: Any, reads: int, seconds: float, seen: list[str]) -> threading.Thread:
    """Jump the emulated clock once the task has read the campaign ``reads`` times (the fast clock).

    The operator reads the campaign once right after creating it and once more when it starts
    waiting, so with ``reads=2`` the task is already waiting (or deferred) when time jumps.
    """

    def watch() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            gets = [
                r
                for r in emulator.requests()["requests"]
                if r["method"] == "GET" and r["template"] == "/api/3/campaigns/{id}" and r["status"]
            ]
            if len(gets) >= reads:
                seen.extend(c["status_name"] for c in emulator.state()["campaigns"])
                emulator.advance(seconds)
                return
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("dag_id", ["campaigns_send_wait", "campaigns_send_deferred"])
def test_schedule_for_later_and_wait(account: Any, run_dag: Any, dag_id: str, capfd: Any) -> None:
    now = account.client.clock()["emulated_epoch"]
    send_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 6 * 3600))
    seen: list[str] = []
    watcher = _advance_after_reads(account, 2, 7 * 3600, seen)
    dagrun = run_dag(dag_id, conf={"name": "Later", "send_at": send_at})
    watcher.join(5)

    assert seen == ["scheduled"]  # it waited for its time, it did not send at once
    result = run_dag.xcom(dagrun, "send")
    assert result["status"] == "completed"
    assert result["scheduled_for"] == send_at.replace("Z", "+00:00")
    assert result["report"]["sends"] == result["recipients"] == len(NEWSLETTER_ACTIVE)
    assert result["created"] is True
    campaign = named(account.state(), "Later")[0]
    assert campaign["sends"] == 1
    deferred = "Pausing task as DEFERRED" in "".join(capfd.readouterr())
    assert deferred is (dag_id == "campaigns_send_deferred")


def test_dry_run_sends_test_copies_only(account: Any, run_dag: Any) -> None:
    conf = {"name": "Preview", "test_emails": "qa@example.com, Boss@Example.com"}
    dagrun = run_dag("campaigns_send", conf=conf)
    result = run_dag.xcom(dagrun, "send")
    assert result["dry_run"] is True
    assert result["status"] == "test_sent"
    assert result["test_emails"] == ["qa@example.com", "boss@example.com"]
    assert result["recipients"] == len(NEWSLETTER_ACTIVE)

    state = account.state()
    assert sorted(t["email"] for t in state["campaign_test_sends"]) == ["boss@example.com", "qa@example.com"]
    assert copies_by_email(state) == {}  # the lists received nothing
    [draft] = named(state, "Preview [test]")
    assert (draft["status_name"], draft["sends"]) == ("draft", 0)
    assert named(state, "Preview") == []


@pytest.mark.parametrize("field", ["test_emails", "from_email"])
def test_addresses_follow_the_providers_one_email_rule(account: Any, run_dag: Any, field: str) -> None:
    """emails.py, as for contacts: a..b@ is refused before anything is written (and o'brien@ is fine)."""
    dagrun = run_dag("campaigns_send", conf={"name": f"Bad {field}", field: "a..b@example.com"})
    assert run_dag.task_states(dagrun)["send"] == "failed"
    assert [r for r in account.requests()["requests"] if r["method"] == "POST"] == []
    assert account.state()["campaigns"] == []

    with pytest.raises(ActiveCampaignCampaignError) as error:
        check_emails(["a..b@example.com"], field)
    assert str(error.value).startswith(
        f"{field} has addresses that are not valid: "
        "'a..b@example.com' is not a valid email address: it cannot have two periods in a row."
    )
    assert check_emails(["o'brien@example.com"], field) == ["o'brien@example.com"]


def test_max_recipients_refuses_before_anything_is_written(account: Any, run_dag: Any) -> None:
    dagrun = run_dag("campaigns_send", conf={"name": "Too many", "max_recipients": "5"})
    assert run_dag.task_states(dagrun)["send"] == "failed"
    state = account.state()
    assert state["campaigns"] == []
    assert [m["id"] for m in state["messages"]] == ["1"]  # not even a message was created
    assert copies_by_email(state) == {}
    creates = [r for r in account.requests()["requests"] if r["method"] == "POST"]
    assert creates == []


def test_max_recipients_allows_an_audience_within_the_limit(account: Any, run_dag: Any) -> None:
    dagrun = run_dag("campaigns_send", conf={"name": "Fits", "max_recipients": str(len(NEWSLETTER_ACTIVE))})
    assert run_dag.xcom(dagrun, "send")["created"] is True


def test_unconfigured_timezone_is_refused_when_the_account_is_not_utc(emulator: Any, run_dag: Any) -> None:
    emulator.configure(speed=20)
    emulator.seed({"contacts": CONTACTS})  # connection without account_timezone: UTC assumed
    dagrun = run_dag("campaigns_send", conf={"name": "Wrong clock"})
    assert run_dag.task_states(dagrun)["send"] == "failed"
    assert named(emulator.state(), "Wrong clock") == []
    assert copies_by_email(emulator.state()) == {}


def test_send_time_across_a_dst_change(emulator: Any, run_dag: Any) -> None:
    """New York springs forward on 2025-03-09; 12:00Z that day is 08:00 EDT, not 07:00."""
    seed = default_seed()
    seed["account"]["start_time"] = "2025-03-08T12:00:00Z"  # 07:00 EST, the day before
    seed["campaign_settings"] = {"timezone": "America/New_York"}
    seed["contacts"] = CONTACTS
    emulator.reset(seed)
    emulator.configure(speed=20)
    emulator.export_connection(account_timezone="America/New_York")

    dagrun = run_dag("campaigns_send", conf={"name": "After DST", "send_at": "2025-03-09T12:00:00Z"})
    result = run_dag.xcom(dagrun, "send")
    assert result["scheduled_for"] == "2025-03-09T12:00:00+00:00"
    [campaign] = named(emulator.state(), "After DST")
    assert campaign["sdate"] == "2025-03-09T08:00:00-04:00"
    assert campaign["status_name"] == "scheduled"

    emulator.advance(24 * 3600)
    assert wait_for_completion(emulator, "After DST")["sends"] == 1


def test_extra_link_points_at_the_campaign(account: Any, run_dag: Any) -> None:
    account.export_connection(account_timezone=EMULATOR_TZ, app_url="https://acme.activehosted.com/")
    dagrun = run_dag("campaigns_send", conf={"name": "Linked"})
    campaign_id = run_dag.xcom(dagrun, "send")["campaign_id"]
    expected = f"https://acme.activehosted.com/report/#/campaign/{campaign_id}/overview"
    assert run_dag.xcom(dagrun, "send", key="campaign_url") == expected
    assert run_dag.xcom(dagrun, "send", key="_link_ActiveCampaignCampaignLink") == expected


def test_api_key_stays_out_of_xcom_logs_and_urls(account: Any, run_dag: Any, capfd: Any) -> None:
    dagrun = run_dag("campaigns_send", conf={"name": "Secret", "test_emails": "qa@example.com"})
    output = "".join(capfd.readouterr())
    assert "Dry run: test copies of campaign" in output  # the task log was captured
    assert account.api_key not in output
    assert account.api_key not in repr(run_dag.xcom(dagrun, "send"))
    requests = account.requests()["requests"]
    assert any(r["path"] == "/admin/api.php" for r in requests)
    assert all(account.api_key not in repr(r) for r in requests)
