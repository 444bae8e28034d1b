"""Accounts upserted twice leave the same state; contacts move between accounts only when asked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture

from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from tests.integration.contacts_support import run_operator
from tests.integration.writes_support import fresh_crm

pytestmark = pytest.mark.integration

PEOPLE = [f"person{i}@example.com" for i in range(4)]


@pytest.fixture
def account(emulator: EmulatorFixture) -> EmulatorFixture:
    fresh_crm(emulator, contacts=[{"email": e} for e in PEOPLE])
    emulator.configure(speed=50)
    return emulator


def snapshot() -> dict[str, Any]:
    """Accounts named Zeta*/Yota*, their field values and every association, through the API."""
    hook = ActiveCampaignHook()
    accounts = {
        a["id"]: a for a in hook.paginate("accounts", key="accounts") if a["name"][:4] in ("Zeta", "Yota")
    }
    values = sorted(
        (
            accounts[str(d.get("accountId") or d.get("customerAccountId"))]["name"],
            str(d["customFieldId"]),
            d["fieldValue"],
        )
        for d in hook.paginate("accountCustomFieldData", key="accountCustomFieldData")
        if str(d.get("accountId") or d.get("customerAccountId")) in accounts
    )
    contacts = {str(c["id"]): c["email"] for c in hook.paginate("contacts", key="contacts")}
    links = sorted(
        (contacts.get(str(link["contact"])), accounts[str(link["account"])]["name"])
        for link in hook.paginate("accountContacts", key="accountContacts")
        if str(link["account"]) in accounts
    )
    named = sorted((a["name"], a.get("accountUrl")) for a in accounts.values())
    return {"accounts": named, "values": values, "links": links}


RECORDS: list[dict[str, Any]] = [
    {
        "name": "Zeta Corp",
        "url": "https://zeta.example",
        "Industry": "Retail",
        "contacts": f"{PEOPLE[0]};{PEOPLE[1]}",
    },
    {"name": "Yota Ltd", "Company size": "11-50", "contacts": [PEOPLE[2]]},
]


def test_upserting_twice_leaves_the_same_state(
    account: EmulatorFixture, run_dag: Any, tmp_path: Path
) -> None:
    conf = {"accounts": RECORDS, "failures_path": str(tmp_path / "failures.jsonl")}
    first = run_dag("writes_accounts", conf=conf)
    state = snapshot()
    writes = {k: n for k, n in account.requests()["counts"].items() if not k.startswith("GET")}
    second = run_dag("writes_accounts", conf=conf)

    assert run_dag.task_states(first) == run_dag.task_states(second) == {"accounts": "success"}
    assert run_dag.xcom(first, "accounts")["created"] == 2
    again = run_dag.xcom(second, "accounts")
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)
    assert again["contacts"]["already_linked"] == 3
    assert snapshot() == state
    assert state["accounts"] == [("Yota Ltd", None), ("Zeta Corp", "https://zeta.example")]
    assert ("Zeta Corp", "2", "Retail") in state["values"]
    assert state["links"] == [(PEOPLE[0], "Zeta Corp"), (PEOPLE[1], "Zeta Corp"), (PEOPLE[2], "Yota Ltd")]
    # The second run wrote nothing at all.
    assert {k: n for k, n in account.requests()["counts"].items() if not k.startswith("GET")} == writes


def test_a_contact_moves_between_accounts_only_when_asked(account: EmulatorFixture, tmp_path: Path) -> None:
    from airflow_provider_activecampaign.operators.accounts import ActiveCampaignSyncAccountsOperator

    def sync(records: list[dict[str, Any]], move: bool, name: str) -> dict[str, Any]:
        return run_operator(
            ActiveCampaignSyncAccountsOperator(
                task_id=name,
                accounts=records,
                move_contacts=move,
                failures_path=str(tmp_path / f"{name}.jsonl"),
            )
        )

    sync(RECORDS, False, "setup")
    stay = sync([{"name": "Yota Ltd", "contacts": [PEOPLE[0], "ghost@example.com"]}], False, "stay")
    assert stay["contacts"] == {
        "linked": 0,
        "already_linked": 0,
        "moved": 0,
        "left_in_other_account": 1,
        "not_found": 1,
        "failed": 0,
        "unknown": 0,
    }
    report = [json.loads(line) for line in (tmp_path / "stay.jsonl").read_text().splitlines()]
    assert [(r["email"], r["stage"]) for r in report] == [
        (PEOPLE[0], "left_in_other_account"),
        ("ghost@example.com", "not_found"),
    ]
    assert "move_contacts=True" in report[0]["reason"]
    assert (PEOPLE[0], "Zeta Corp") in snapshot()["links"]

    moved = sync([{"name": "Yota Ltd", "contacts": [PEOPLE[0]]}], True, "move")
    assert moved["contacts"]["moved"] == 1
    links = snapshot()["links"]
    assert (PEOPLE[0], "Yota Ltd") in links
    assert (PEOPLE[0], "Zeta Corp") not in links
    assert [email for email, _ in links].count(PEOPLE[0]) == 1


def test_a_dict_as_a_name_is_rejected_with_its_field_and_the_other_rows_go(
    account: EmulatorFixture, tmp_path: Path
) -> None:
    from airflow_provider_activecampaign.operators.accounts import ActiveCampaignSyncAccountsOperator

    result = run_operator(
        ActiveCampaignSyncAccountsOperator(
            task_id="accounts",
            accounts=[{"name": {"a": 1}}, {"name": "Zeta Corp"}],
            failures_path=str(tmp_path / "failures.jsonl"),
            max_failure_ratio=1,
        )
    )

    assert (result["created"], result["rejected"]) == (1, 1)
    (line,) = [json.loads(text) for text in (tmp_path / "failures.jsonl").read_text().splitlines()]
    assert (line["row"], line["field"]) == (1, "name")
    assert "is a dict, not text" in line["reason"]
    assert snapshot()["accounts"] == [("Zeta Corp", None)]
    assert not any("{'a': 1}" in a["name"] for a in ActiveCampaignHook().paginate("accounts", key="accounts"))


@pytest.mark.parametrize("writer", ["accounts", "deals", "events"])
def test_an_empty_source_is_a_run_with_nothing_to_do_in_every_writer(
    emulator: EmulatorFixture, tmp_path: Path, writer: str
) -> None:
    """Not a bare ValueError (which Airflow would retry): zero records, nothing written, success."""
    from airflow_provider_activecampaign.operators.accounts import ActiveCampaignSyncAccountsOperator
    from airflow_provider_activecampaign.operators.deals import ActiveCampaignSyncDealsOperator
    from airflow_provider_activecampaign.operators.events import ActiveCampaignTrackEventsOperator

    fresh_crm(emulator, event_tracking={"enabled": True, "actid": "1", "key": "k" * 40, "events": []})
    emulator.export_connection(
        event_tracking_actid="1", event_tracking_secret="k" * 40, event_tracking_url=emulator.url + "/event"
    )
    failures = str(tmp_path / "failures.jsonl")
    operator = {
        "accounts": lambda: ActiveCampaignSyncAccountsOperator(
            task_id="w", accounts=[], failures_path=failures
        ),
        "deals": lambda: ActiveCampaignSyncDealsOperator(
            task_id="w", deals=[], key_field="External key", failures_path=failures
        ),
        "events": lambda: ActiveCampaignTrackEventsOperator(task_id="w", events=[], failures_path=failures),
    }[writer]()

    result = run_operator(operator)

    assert result["records"] == 0
    counts: dict[str, int] = emulator.requests()["counts"]
    assert not any(not line.startswith("GET ") for line in counts)
