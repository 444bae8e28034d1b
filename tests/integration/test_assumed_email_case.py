"""The operators that match contacts by email, whether the account stores emails lower-cased or not.

Lower-casing is *assumed* (switch ``contact_email_lowercased``): the reference shows only
lower-case examples. Off, a contact keeps ``Ann.Lee@Example.COM`` as it was sent; the sync, the
tag removal and the erasure must still find it from any spelling (they compare ``email_key``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture

from airflow_provider_activecampaign.hooks import transport
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.operators.contacts import ActiveCampaignRemoveTagsOperator
from airflow_provider_activecampaign.operators.erasure import ActiveCampaignEraseContactsOperator
from tests.integration.contacts_support import fast_seed, run_operator, run_sync, use_emulator

pytestmark = pytest.mark.integration

SENT = "Ann.Lee@Example.COM"
MODES = pytest.mark.parametrize("lowercased", [True, False], ids=["lowercased", "case-kept"])


@pytest.fixture(autouse=True)
def _fresh_limiters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "_LIMITERS", {})


def _account_with_ann(emulator: EmulatorFixture, lowercased: bool) -> str:
    """Ann created through the API (tagged ``vip``) in the given mode; returns her id."""
    use_emulator(emulator, speed=100, seed=fast_seed())
    emulator.set_assumed(contact_email_lowercased=lowercased)
    hook = ActiveCampaignHook()
    contact = hook.post("contact/sync", json={"contact": {"email": SENT, "firstName": "Ann"}})["contact"]
    vip = next(t["id"] for t in hook.get("tags", params={"search": "vip"})["tags"] if t["tag"] == "vip")
    hook.post("contactTags", json={"contactTag": {"contact": contact["id"], "tag": vip}})
    assert contact["email"] == (SENT.lower() if lowercased else SENT)
    return str(contact["id"])


@MODES
def test_sync_updates_the_contact_whatever_case_it_is_stored_in(
    emulator: EmulatorFixture, tmp_path: Path, lowercased: bool
) -> None:
    ann = _account_with_ann(emulator, lowercased)
    result = run_sync(tmp_path, contacts=[{"email": "ann.lee@example.com", "last_name": "Lee"}])
    assert result["failed"] == 0
    contacts = emulator.state()["contacts"]
    assert [(c["id"], c["lastName"]) for c in contacts if c["email"].lower() == SENT.lower()] == [
        (ann, "Lee")
    ]
    assert emulator.state()["counters"]["contacts_created"] == 1


@MODES
def test_tag_removal_finds_the_contact_whatever_case_it_is_stored_in(
    emulator: EmulatorFixture, lowercased: bool
) -> None:
    _account_with_ann(emulator, lowercased)
    result = run_operator(
        ActiveCampaignRemoveTagsOperator(task_id="untag", contacts=["ann.lee@example.com"], tags=["vip"])
    )
    assert (result["untagged"], result["failed"]) == (1, 0)
    assert emulator.state()["contacts"][-1]["tags"] == []


@MODES
def test_erasure_finds_the_contact_whatever_case_it_is_stored_in(
    emulator: EmulatorFixture, tmp_path: Path, lowercased: bool
) -> None:
    ann = _account_with_ann(emulator, lowercased)
    audit = tmp_path / "audit.jsonl"
    run_operator(
        ActiveCampaignEraseContactsOperator(
            task_id="erase", emails=["ANN.LEE@example.com"], audit_path=str(audit)
        )
    )
    outcomes: list[dict[str, Any]] = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [(o["contact_id"], o["result"]) for o in outcomes if o["result"] != "deleting"] == [
        (ann, "deleted")
    ]
    assert all(c["id"] != ann for c in emulator.state()["contacts"])
