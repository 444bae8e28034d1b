"""Bounded echo: a huge value is quoted cut, with its original length, never whole.

The reported case: a 10 MB invalid email was echoed whole into an exception (removal) and into the
erasure audit file. Against the emulator over a real socket where a request is involved.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture
from airflow.sdk import ObjectStoragePath
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_activecampaign.contacts.emails import InvalidEmailError, check_email
from airflow_provider_activecampaign.contacts.erasure import AuditLog, ContactEraser
from airflow_provider_activecampaign.exceptions import ActiveCampaignError
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.hooks.transport.redaction import bounded
from airflow_provider_activecampaign.operators.contacts import ActiveCampaignRemoveTagsOperator

pytestmark = pytest.mark.integration

HUGE = "x" * (10 * 1024 * 1024) + "@example.com"  # 10 MB and 12 characters: not a valid address


def test_bounded_cuts_and_states_the_length() -> None:
    assert bounded("short") == "'short'"
    text = bounded(HUGE)
    assert len(text) < 260
    assert text.startswith("'xxxx")
    assert text.endswith(f"…' ({len(HUGE)} characters)")
    assert bounded({"a": 1}) == "{'a': 1}"
    assert bounded("y" * 50, limit=10) == "'yyyyyyyyyy…' (50 characters)"


def test_an_invalid_huge_email_is_quoted_cut() -> None:
    with pytest.raises(InvalidEmailError) as raised:
        check_email(HUGE)
    assert len(str(raised.value)) < 600
    assert f"({len(HUGE)} characters)" in str(raised.value)


def test_the_erasure_audit_line_of_a_huge_invalid_email_is_bounded(
    emulator: EmulatorFixture, tmp_path: Path
) -> None:
    audit_path = tmp_path / "audit.jsonl"
    with AuditLog(ObjectStoragePath(f"file://{audit_path}")) as log:
        eraser = ContactEraser(ActiveCampaignHook(), audit=log, who={"dag_id": "d"})
        assert eraser.erase(HUGE) == "invalid"
    assert audit_path.stat().st_size < 2000
    record = json.loads(audit_path.read_text().splitlines()[0])
    assert record["result"] == "invalid"
    assert record["subject"].endswith(f"({len(HUGE)} characters)")
    assert emulator.requests()["requests"] == []  # an invalid address is never looked up


def test_a_huge_invalid_email_in_a_removal_is_quoted_cut(emulator: EmulatorFixture) -> None:
    operator = ActiveCampaignRemoveTagsOperator(
        task_id="untag", contacts=[{"email": HUGE}, "ok@example.com"], tags=["vip"]
    )
    with pytest.raises(AirflowFailException) as raised:
        operator.execute({})
    text = str(raised.value)
    assert len(text) < 5000
    assert f"({len(HUGE)} characters)" in text


def test_a_huge_query_value_in_an_error_is_quoted_cut(emulator: EmulatorFixture) -> None:
    emulator.add_fault("GET", "/api/3/contacts", "http_500", times=None)
    hook = ActiveCampaignHook()
    hook.settings  # noqa: B018 - read the connection, then allow no retries for this test
    with pytest.raises(ActiveCampaignError) as raised:
        hook.request("GET", "contacts", params={"email": "z" * 200_000}, idempotent=False)
    text = str(raised.value)
    assert len(text) < 5000
    assert "(200000 characters)" in text
