"""One failure-ratio rule for every writer (records/ratio.py), on the emulator through the real operators.

Before the records floor, deals, accounts, events and automations raised ``AirflowException`` (which
Airflow retries, failing the same records again) and the contact sync ``AirflowFailException``.
Each test here gives a writer one bad record among good ones, with the default
``max_failure_ratio`` 0, and checks: exactly ``AirflowFailException``, the counts (lost of given,
the denominator being every record given), and where every failure is listed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture
from airflow.sdk.exceptions import AirflowFailException

from tests.integration.contacts_support import contacts, fast_seed, run_operator, run_sync, use_emulator
from tests.integration.writes_support import fresh_crm

pytestmark = pytest.mark.integration

PEOPLE = [f"person{i}@example.com" for i in range(3)]


def _fails(operator: Any) -> str:
    """The message of the exception ``operator`` fails with, which must be ``AirflowFailException``."""
    with pytest.raises(AirflowFailException) as caught:
        run_operator(operator)
    assert type(caught.value) is AirflowFailException
    return str(caught.value)


def _report(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_contacts_sync(emulator: EmulatorFixture, tmp_path: Path) -> None:
    use_emulator(emulator, speed=20, seed=fast_seed())
    with pytest.raises(AirflowFailException) as caught:
        run_sync(tmp_path, contacts=[*contacts(3), {"email": "nope"}])
    assert type(caught.value) is AirflowFailException
    message = str(caught.value)
    assert "1 of 4 records (25%) failed or were rejected (0 failed, 1 rejected)" in message
    assert f"Every one is listed in {tmp_path / 'failures.jsonl'}" in message


def test_deals(emulator: EmulatorFixture, tmp_path: Path) -> None:
    from airflow_provider_activecampaign.operators.deals import ActiveCampaignSyncDealsOperator

    fresh_crm(emulator)
    emulator.configure(speed=50)
    good = {"title": "Invoice", "value": 1000, "account": "Acme Inc 1", "stage": "Qualified"}
    records = [{**good, "external_id": f"ratio-{i}"} for i in range(3)]
    records.append({**good, "external_id": "ratio-bad", "stage": "Nope"})
    path = tmp_path / "deals.jsonl"
    message = _fails(
        ActiveCampaignSyncDealsOperator(
            task_id="deals",
            deals=records,
            key_field="External key",
            pipeline="Sales",
            failures_path=str(path),
        )
    )
    assert message.startswith(
        "1 of 4 deal records (25%) failed or were rejected (0 failed, 1 rejected), "
        "above max_failure_ratio 0 (0%)."
    )
    assert "First: row 4 (ratio-bad) [stage]: no stage 'Nope'" in message
    assert f"Every one is listed in {path}." in message
    assert [line["key"] for line in _report(path)] == ["ratio-bad"]


def test_accounts(emulator: EmulatorFixture, tmp_path: Path) -> None:
    from airflow_provider_activecampaign.operators.accounts import ActiveCampaignSyncAccountsOperator

    fresh_crm(emulator, contacts=[{"email": e} for e in PEOPLE])
    emulator.configure(speed=50)
    path = tmp_path / "accounts.jsonl"
    records = [{"name": f"Ratio Co {i}"} for i in range(3)] + [{"name": "  "}]
    message = _fails(
        ActiveCampaignSyncAccountsOperator(task_id="accounts", accounts=records, failures_path=str(path))
    )
    assert message.startswith("1 of 4 account records (25%) failed or were rejected (0 failed, 1 rejected)")
    assert "[name]: the account name is empty" in message
    assert f"Every one is listed in {path}." in message


def test_events(emulator: EmulatorFixture, tmp_path: Path) -> None:
    from airflow_provider_activecampaign.operators.events import ActiveCampaignTrackEventsOperator

    fresh_crm(
        emulator,
        contacts=[{"email": e} for e in PEOPLE],
        event_tracking={"enabled": True, "actid": "1234", "key": "ratio-event-key", "events": ["paid"]},
    )
    emulator.configure(speed=100)
    emulator.export_connection(
        event_tracking_actid="1234",
        event_tracking_secret="ratio-event-key",
        event_tracking_url=emulator.url + "/event",
    )
    path = tmp_path / "events.jsonl"
    records = [{"email": e, "event": "paid"} for e in PEOPLE] + [{"email": "not-an-email", "event": "paid"}]
    message = _fails(
        ActiveCampaignTrackEventsOperator(task_id="events", events=records, failures_path=str(path))
    )
    assert message.startswith(
        "1 of 4 events (25%) were not recorded for sure (0 failed, 1 rejected, 0 unknown), "
        "above max_failure_ratio 0"
    )
    assert f"Every one is listed in {path}." in message
    assert "ratio-event-key" not in message


def test_tag_removal(emulator: EmulatorFixture) -> None:
    from airflow_provider_activecampaign.operators.contacts import ActiveCampaignRemoveTagsOperator

    seed = fast_seed()
    seed["contacts"] = [{"id": i + 1, "email": e, "tags": ["customer"]} for i, e in enumerate(PEOPLE)]
    use_emulator(emulator, speed=50, seed=seed)
    message = _fails(
        ActiveCampaignRemoveTagsOperator(
            task_id="untag", contacts=[*PEOPLE, "not-an-email"], tags=["Customer"]
        )
    )
    assert "1 of 4 contacts (25%) failed or were invalid, above max_failure_ratio 0 (0%)" in message
    assert "not-an-email" in message
