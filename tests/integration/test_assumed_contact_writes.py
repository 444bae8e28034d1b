"""The contact operators under each contact behaviour the reference leaves open, both ways.

Switches (``activecampaign_emulator/assumed.py``, docs/emulator.md "Assumed behaviours"):

* ``contact_sync_update_200``: ``POST /contact/sync`` answers an update with 200 (on) or 201, as
  its create (off). The contacts sync and the automations' ``create_missing`` read the body only:
  the same contacts, counts and enrolments either way.
* ``contact_udate_ignores_list_and_tag_changes``: whether subscribing, unsubscribing or tagging a
  contact moves its ``udate``. The contacts export cuts its window on ``udate``, so a contact whose
  only change is a list or a tag is in the window's file only when it does; the ``contact_lists``
  export (cut on the membership's own ``udate``) and ``contact_tags`` (a full snapshot) hold the
  change either way: that is what the operator's docs send such readers to.
* ``contact_list_unknown_404``: ``POST /contactLists`` for a contact deleted since it was found
  answers 404 (on) or the reference's ``400 {}`` (off). List removal reads a refusal back: the
  contact is gone, so nothing is left to do and nothing fails, either way.
* ``contact_tag_repeat_returns_existing``: tagging a contact twice answers the existing row (on)
  or a 422 (off). The contacts sync's resend after a lost answer can be such a repeat (the lost
  one landing between the read-back and the resend): the contact is tagged once, nothing fails.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture

from airflow_provider_activecampaign.contacts.removal import RemovalApplier, RemovalFinder
from airflow_provider_activecampaign.hooks import transport
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.operators.contacts import ActiveCampaignExportContactsOperator
from airflow_provider_activecampaign.operators.export import ActiveCampaignExportOperator
from tests.helpers.pacing import without_throttled
from tests.integration.contacts_support import api_counts, fast_seed, read_jsonl, run_sync, use_emulator

pytestmark = pytest.mark.integration

ON_OFF = ["assumed-on", "reference-only"]


@pytest.fixture(autouse=True)
def _fresh_limiters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "_LIMITERS", {})


def api(emulator: EmulatorFixture) -> httpx.Client:
    return httpx.Client(base_url=f"{emulator.url}/api/3", headers={"Api-Token": emulator.api_key}, timeout=10)


def statuses(emulator: EmulatorFixture, method: str, path: str) -> dict[str, int]:
    """``{status: count}`` of the requests the emulator logged for ``method path``, without 429s
    (refused by the account's rate limit on a busy machine: not applied, and sent again)."""
    prefix = f"{method} {path} "
    answered = without_throttled(api_counts(emulator))
    return {key[len(prefix) :]: n for key, n in answered.items() if key.startswith(prefix)}


# -- contact_sync_update_200 ---------------------------------------------------------------------


@pytest.mark.parametrize("update_200", [True, False], ids=ON_OFF)
def test_the_contacts_sync_updates_the_same_whatever_an_update_answers(
    emulator: EmulatorFixture, tmp_path: Path, update_200: bool
) -> None:
    """Two existing contacts and one new one through ``contact/sync``; then the same run again."""
    seed = fast_seed()
    seed["contacts"] = [
        {"email": "ann@example.com", "firstName": "Ann"},
        {"email": "bob@example.com", "firstName": "Bob"},
    ]
    use_emulator(emulator, speed=20, seed=seed)
    emulator.set_assumed(contact_sync_update_200=update_200)
    records = [
        {"email": "ann@example.com", "first_name": "Annie", "Company": "ACME"},
        {"email": "bob@example.com", "first_name": "Bob", "Company": "Initech"},
        {"email": "cat@example.com", "first_name": "Cat", "Company": "Hooli"},
    ]
    first = run_sync(tmp_path, contacts=records, sync_below=100, tags=["vip"], subscribe_lists=["Newsletter"])
    again = run_sync(tmp_path, contacts=records, sync_below=100, tags=["vip"], subscribe_lists=["Newsletter"])

    for result in (first, again):
        assert (result["succeeded"], result["failed"]) == (3, 0)
    assert statuses(emulator, "POST", "/api/3/contact/sync") == (
        {"201": 1, "200": 5} if update_200 else {"201": 6}
    )
    for email, name, company in (
        ("ann@example.com", "Annie", "ACME"),
        ("bob@example.com", "Bob", "Initech"),
        ("cat@example.com", "Cat", "Hooli"),
    ):
        contact = emulator.contact(email)
        assert contact is not None
        assert contact["firstName"] == name
        assert company in str(contact["fields"])
        assert contact["tags"] == ["vip"]
        assert {k: v["status"] for k, v in contact["lists"].items()} == {"1": 1}
    # The re-run added no tag and no membership.
    memberships = sum(statuses(emulator, "POST", "/api/3/contactTags").values()) + sum(
        statuses(emulator, "POST", "/api/3/contactLists").values()
    )
    assert memberships == 6  # 3 tags and 3 subscriptions, all in the first run


# -- contact_udate_ignores_list_and_tag_changes ------------------------------------------------------


def _now(emulator: EmulatorFixture) -> datetime:
    return datetime.fromisoformat(str(emulator.advance(0)["now"])).astimezone(UTC)


@pytest.mark.parametrize("ignored", [True, False], ids=ON_OFF)
def test_list_and_tag_changes_reach_an_export_whether_or_not_they_move_udate(
    emulator: EmulatorFixture, tmp_path: Path, ignored: bool
) -> None:
    """Three contacts from two days ago; today one subscribes, one unsubscribes, one is tagged."""
    use_emulator(emulator, speed=20, seed=fast_seed())
    emulator.set_assumed(contact_udate_ignores_list_and_tag_changes=ignored)
    with api(emulator) as client:
        ids = {
            name: client.post("contact/sync", json={"contact": {"email": f"{name}@example.com"}}).json()[
                "contact"
            ]["id"]
            for name in ("ann", "bob", "cat")
        }
        client.post("contactLists", json={"contactList": {"list": 1, "contact": ids["bob"], "status": 1}})
        emulator.advance(2 * 86_400)
        start = _now(emulator)
        emulator.advance(60)
        client.post("contactLists", json={"contactList": {"list": 1, "contact": ids["ann"], "status": 1}})
        client.post("contactLists", json={"contactList": {"list": 1, "contact": ids["bob"], "status": 2}})
        client.post("contactTags", json={"contactTag": {"contact": ids["cat"], "tag": 2}})
        emulator.advance(3_600)
        end = _now(emulator)
    window = {"data_interval_start": start, "data_interval_end": end}

    contacts = ActiveCampaignExportContactsOperator(
        task_id="contacts",
        output_path=str(tmp_path / "contacts.jsonl"),
        overlap=0,
        include_lists=True,
        include_tags=True,
    ).execute(window)
    rows = {row["email"].split("@")[0]: row for row in read_jsonl(contacts["path"])}
    if ignored:
        assert rows == {}  # no contact's udate is in the window: only memberships changed
    else:
        assert sorted(rows) == ["ann", "bob", "cat"]
        assert [(m["name"], m["status"]) for m in rows["ann"]["lists"]] == [("Newsletter", "active")]
        assert [(m["name"], m["status"]) for m in rows["bob"]["lists"]] == [("Newsletter", "unsubscribed")]
        assert rows["cat"]["tags"] == ["vip"]

    # Either way the membership streams hold every change of the window.
    memberships = ActiveCampaignExportOperator(
        task_id="contact_lists", resource="contact_lists", output_path=str(tmp_path / "lists.jsonl")
    ).execute(window)
    changed = {(str(m["contact"]), str(m["list"]), str(m["status"])) for m in read_jsonl(memberships["path"])}
    assert changed == {(str(ids["ann"]), "1", "1"), (str(ids["bob"]), "1", "2")}
    tags = ActiveCampaignExportOperator(
        task_id="contact_tags",
        resource="contact_tags",
        output_path=str(tmp_path / "tags.jsonl"),
        use_data_interval=False,
    ).execute(window)
    assert {(str(t["contact"]), str(t["tag"])) for t in read_jsonl(tags["path"])} == {(str(ids["cat"]), "2")}


# -- contact_list_unknown_404 ---------------------------------------------------------------------


@pytest.mark.parametrize("not_found", [True, False], ids=ON_OFF)
def test_unsubscribing_a_contact_deleted_meanwhile_is_done_whatever_the_refusal(
    emulator: EmulatorFixture, not_found: bool
) -> None:
    """Ann is deleted between the read that finds her removal and its write; Bob is unsubscribed."""
    seed = fast_seed()
    seed["contacts"] = [
        {"email": "ann@example.com", "lists": {"1": 1}},
        {"email": "bob@example.com", "lists": {"1": 1}},
    ]
    use_emulator(emulator, speed=20, seed=seed)
    emulator.set_assumed(contact_list_unknown_404=not_found)
    hook = ActiveCampaignHook()
    removals = list(
        RemovalFinder(hook, lists={"1": "Newsletter"}).find(["ann@example.com", "bob@example.com"])
    )
    assert [(r.op, r.target_id) for r in removals] == [("unsubscribe", "1")] * 2
    ann = emulator.contact("ann@example.com")
    assert ann is not None
    with api(emulator) as client:
        assert client.delete(f"contacts/{ann['id']}").status_code == 200

    applier = RemovalApplier(hook)
    counts = applier.apply(removals)

    assert (counts.unsubscribed, counts.already_done, counts.failed) == (1, 1, 0)
    assert applier.failed == []
    assert statuses(emulator, "POST", "/api/3/contactLists") == (
        {"404": 1, "200": 1} if not_found else {"400": 1, "200": 1}
    )
    bob = emulator.contact("bob@example.com")
    assert bob is not None
    assert bob["lists"]["1"]["status"] == 2


# -- contact_tag_repeat_returns_existing -----------------------------------------------------------


@pytest.mark.parametrize("returns_existing", [True, False], ids=ON_OFF)
def test_a_tag_resent_after_a_lost_answer_that_lands_first_is_one_tag(
    emulator: EmulatorFixture, tmp_path: Path, returns_existing: bool
) -> None:
    """The tag's POST times out (4 s) and lands 6 s in; the read-back (at 4 s) does not see it yet,
    so it is sent again, and that resend is held 3 s: it arrives after the first one landed."""
    seed = fast_seed()
    seed["contacts"] = [{"email": "ann@example.com"}]
    use_emulator(emulator, speed=20, seed=seed, timeout=4)
    emulator.set_assumed(contact_tag_repeat_returns_existing=returns_existing)
    emulator.add_fault("POST", "/api/3/contactTags", "late", delay=6, times=1)
    emulator.add_fault("POST", "/api/3/contactTags", "slow", delay=3, times=1)

    result = run_sync(
        tmp_path, contacts=[{"email": "ann@example.com", "first_name": "Ann"}], sync_below=100, tags=["vip"]
    )

    assert (result["succeeded"], result["failed"]) == (1, 0)
    assert statuses(emulator, "POST", "/api/3/contactTags") == (
        {"201": 2} if returns_existing else {"201": 1, "422": 1}
    )
    contact = emulator.contact("ann@example.com")
    assert contact is not None
    assert contact["tags"] == ["vip"]
