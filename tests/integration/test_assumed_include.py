"""The operators that ask ``GET /contacts`` to ``include`` sideloads, with and without it honoured.

``include`` on the contacts list is *assumed* (not in the reference; switch
``contacts_list_include``). An account that ignored it must cost requests, never data: the export
still writes every custom-field value, list and tag; removal still finds the tags to take off;
reconcile still finds the missed unsubscribes and tag adds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture

from airflow_provider_activecampaign.hooks import transport
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.operators.contacts import ActiveCampaignRemoveTagsOperator
from airflow_provider_activecampaign.webhooks import reconcile
from tests.integration.contacts_support import api_counts, fast_seed, read_jsonl, run_operator, use_emulator

pytestmark = pytest.mark.integration

MODES = pytest.mark.parametrize("include", [True, False], ids=["include-honoured", "include-ignored"])


@pytest.fixture(autouse=True)
def _fresh_limiters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "_LIMITERS", {})


def per_contact_reads(emulator: EmulatorFixture) -> dict[str, int]:
    """``{"fieldValues": n, ...}``: the ``GET /contacts/{id}/<key>`` requests answered 200.

    (A 429 on a busy machine is retried: counting it would count one read twice.)
    """
    reads: dict[str, int] = {}
    for key, count in api_counts(emulator).items():
        if key.startswith("GET /api/3/contacts/{id}/") and key.endswith(" 200"):
            name = key.split("/")[-1].split()[0]
            reads[name] = reads.get(name, 0) + count
    return reads


@MODES
def test_the_export_writes_the_same_rows_with_or_without_include(
    emulator: EmulatorFixture, run_dag: Any, tmp_path: Path, include: bool
) -> None:
    """130 contacts (two pages: the parallel readers run too); every third with a field, list, tag."""
    use_emulator(emulator, speed=100)
    # A day of its own per mode: dag.test() keeps each run in the test database.
    day = datetime(2024, 5, 2 if include else 12, tzinfo=UTC)
    seeded = []
    for n in range(130):
        record: dict[str, Any] = {
            "email": f"x{n}@example.com",
            "cdate": (day + timedelta(minutes=n)).isoformat(),
        }
        if n % 3 == 0:
            record |= {"fields": {"PLAN": f"P{n}"}, "lists": {"1": 1}, "tags": ["vip"]}
        seeded.append(record)
    emulator.seed({"contacts": seeded})
    emulator.set_assumed(contacts_list_include=include)
    output = tmp_path / "contacts.jsonl"

    dagrun = run_dag(
        "contacts_export_daily", conf={"output_path": str(output)}, logical_date=day + timedelta(days=1)
    )

    assert run_dag.task_states(dagrun) == {"export": "success"}
    rows = read_jsonl(output)
    assert [row["email"] for row in rows] == [f"x{n}@example.com" for n in range(130)]
    assert [(row["fields"], [m["name"] for m in row["lists"]], row["tags"]) for row in rows] == [
        ({"Plan": f"P{n}"}, ["Newsletter"], ["vip"]) if n % 3 == 0 else ({}, [], []) for n in range(130)
    ]
    expected_reads = {} if include else {"fieldValues": 130, "contactLists": 130, "contactTags": 130}
    assert per_contact_reads(emulator) == expected_reads


def _tagged_account(count: int) -> dict[str, Any]:
    seed = fast_seed()
    seed["contacts"] = [
        {"id": n + 1, "email": f"member{n}@example.com", "tags": ["customer", "vip"]} for n in range(count)
    ]
    return seed


@MODES
@pytest.mark.parametrize("leaving", [3, 150], ids=["per-contact", "members"])
def test_removal_takes_the_tag_off_with_or_without_include(
    emulator: EmulatorFixture, include: bool, leaving: int
) -> None:
    """Both ways of reading (per contact; walking the tag's members) find every tag to take off."""
    use_emulator(emulator, speed=200, seed=_tagged_account(160))
    emulator.set_assumed(contacts_list_include=include)
    emails = [f"member{n}@example.com" for n in range(leaving)]

    result = run_operator(ActiveCampaignRemoveTagsOperator(task_id="untag", contacts=emails, tags=["vip"]))

    assert (result["untagged"], result["failed"]) == (leaving, 0)
    tags = {c["email"]: c["tags"] for c in emulator.state()["contacts"]}
    assert all(tags[email] == ["customer"] for email in emails)
    assert sum(t == ["customer", "vip"] for t in tags.values()) == 160 - leaving  # nobody else touched
    assert per_contact_reads(emulator) == ({} if include else {"contactTags": leaving})


@MODES
def test_reconcile_finds_missed_unsubscribes_and_tag_adds_with_or_without_include(
    emulator: EmulatorFixture, include: bool
) -> None:
    use_emulator(emulator, speed=100, seed=fast_seed())
    emulator.seed({"contacts": [{"email": f"r{n}@example.com", "lists": {"1": 1}} for n in range(5)]})
    hook = ActiveCampaignHook()
    ids = {c["email"]: c["id"] for c in emulator.state()["contacts"]}
    vip = hook.post("tags", json={"tag": {"tag": "returning", "tagType": "contact"}})["tag"]["id"]
    for n in (1, 3):
        hook.post(
            "contactLists",
            json={"contactList": {"list": 1, "contact": ids[f"r{n}@example.com"], "status": 2}},
        )
    hook.post("contactTags", json={"contactTag": {"contact": ids["r4@example.com"], "tag": vip}})
    emulator.set_assumed(contacts_list_include=include)
    now = datetime.now(UTC)

    missed = reconcile.missed_events(
        hook,
        "acme.api-us1.com",
        since=now - timedelta(days=3650),
        until=now + timedelta(days=3650),
        list_ids=["1"],
        tags={str(vip): "returning"},
        received=reconcile.Received([]),
    )

    assert sorted((e.type, e.contact["email"]) for e in missed) == [
        ("contact_tag_added", "r4@example.com"),
        ("unsubscribe", "r1@example.com"),
        ("unsubscribe", "r3@example.com"),
    ]
    assert per_contact_reads(emulator) == ({} if include else {"contactLists": 2, "contactTags": 1})
