"""The contact sync's bulk path whether a contact that fails in part is written in part or not at all.

The reference lists why an imported contact fails (a list it unsubscribed from, an unknown field or
list, ...) but not whether its other changes are kept. The emulator assumes nothing of it is
written (switch ``import_contact_failure_atomic``, on); off, its other changes are written and only
the failing parts skipped. Either way the sync must report the contact failed, never re-subscribe
it, let the other contacts through, and claim nothing about the contact's other changes that is
untrue in the other world; a re-run must change nothing more.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture

from airflow_provider_activecampaign.contacts.sync import IMPORT_FAILURE_REASON
from airflow_provider_activecampaign.hooks import transport
from tests.integration.contacts_support import contacts, fast_seed, run_sync, use_emulator

pytestmark = pytest.mark.integration

MODES = pytest.mark.parametrize("atomic", [True, False], ids=["nothing-written", "rest-written"])


@pytest.fixture(autouse=True)
def _fresh_limiters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "_LIMITERS", {})


@MODES
def test_a_contact_that_left_a_list_is_reported_failed_and_never_resubscribed(
    emulator: EmulatorFixture, tmp_path: Path, atomic: bool
) -> None:
    use_emulator(emulator, speed=20, seed=fast_seed())
    emulator.set_assumed(import_contact_failure_atomic=atomic)
    emulator.seed(
        {"contacts": [{"email": "left@example.com", "lists": {"1": 2}, "fields": {"COMPANY": "Old"}}]}
    )
    records = contacts(5, Company="New")
    records[2] = {"email": "left@example.com", "Company": "New"}  # unsubscribed from Newsletter
    options = {
        "contacts": records,
        "subscribe_lists": ["Newsletter"],
        "tags": ["synced"],
        "sync_below": 0,  # the bulk importer
        "max_failure_ratio": 0.5,
    }

    first = run_sync(tmp_path / "first", **options)
    after_first = emulator.contact("left@example.com")
    second = run_sync(tmp_path / "second", **options)

    for result in (first, second):
        assert (result["failed"], result["succeeded"]) == (1, 4)
        [failure] = result["failures"]
        assert (failure["row"], failure["email"], failure["stage"]) == (3, "left@example.com", "failed")
        assert failure["reason"] == IMPORT_FAILURE_REASON
        assert "check the contact" in failure["reason"]  # true in both worlds
    left = emulator.contact("left@example.com")
    assert left is not None
    assert left["lists"]["1"]["status"] == 2
    assert left["lists"]["1"]["subscribes"] == 0  # never re-subscribed, in either world
    company = left["fields_by_perstag"]["COMPANY"]
    assert company == ("Old" if atomic else "New")
    # The re-run changed nothing more (the request counters aside: the importer saw her again).
    assert after_first is not None
    for key in ("udate", "fields_by_perstag", "lists", "tags", "automations"):
        assert left[key] == after_first[key], key
    assert left["tags"] == ([] if atomic else ["synced"])
    for index in (0, 1, 3, 4):
        other = emulator.contact(f"user{index}@example.com")
        assert other is not None
        assert other["fields_by_perstag"]["COMPANY"] == "New"
        assert other["lists"]["1"]["status"] == 1
