"""The read-only collections served from their published examples, list memberships, and id walks."""

from __future__ import annotations

import json

import httpx
import pytest
from activecampaign_emulator.catalog import CATALOG
from activecampaign_emulator.pytest_plugin import EmulatorFixture

from tests.emulator.conftest import load_example, shape_problems


def test_every_collection_pages_in_id_order_with_the_seeded_count(
    api: httpx.Client, emulator: EmulatorFixture
) -> None:
    emulator.seed({"catalog": {"forms": 250, "goals": 0}})
    pages = [api.get("forms", params={"limit": 100, "offset": offset}).json() for offset in (0, 100, 200)]
    ids = [int(row["id"]) for page in pages for row in page["forms"]]
    assert ids == list(range(1, 251))
    assert {page["meta"]["total"] for page in pages} == {"250"}  # a string, as ActiveCampaign sends it
    assert api.get("goals").json()["goals"] == []
    # Copies an hour apart, so a window cut on the update time has something to cut.
    first, second = pages[0]["forms"][:2]
    assert first["udate"] != second["udate"]


@pytest.mark.parametrize("endpoint", sorted(CATALOG))
def test_each_collection_answers_its_list_key_and_one_record(api: httpx.Client, endpoint: str) -> None:
    entry = CATALOG[endpoint]
    body = api.get(endpoint).json()
    assert list(body[entry["key"]][0]) == list(entry["records"][0])  # the source's keys, in its order
    assert ("meta" in body) is entry["meta"]
    one = api.get(f"{endpoint}/1")
    assert one.status_code == 200
    assert next(iter(one.json().values()))["id"] == "1"
    missing = api.get(f"{endpoint}/99999")
    assert missing.status_code == 404
    assert missing.json()["message"].startswith("No Result found for ")


def test_every_collection_names_its_source() -> None:
    for endpoint, entry in CATALOG.items():
        assert entry["source"].startswith(("SPEC GET /", "reported: tap-activecampaign 1.3.1")), endpoint
        json.dumps(entry["records"])  # plain JSON


def test_an_unknown_collection_or_a_bad_count_is_refused_with_its_name(emulator: EmulatorFixture) -> None:
    with pytest.raises(RuntimeError, match="unknown collection 'fromz'"):
        emulator.seed({"catalog": {"fromz": 3}})
    with pytest.raises(RuntimeError, match=r"catalog\.forms must be a record count"):
        emulator.seed({"catalog": {"forms": -1}})


def test_contact_lists_and_contact_tags_list_every_membership(api: httpx.Client) -> None:
    ids = [
        api.post("contact/sync", json={"contact": {"email": f"m{n}@example.com"}}).json()["contact"]["id"]
        for n in range(3)
    ]
    for cid in ids:
        api.post("contactLists", json={"contactList": {"list": 1, "contact": cid, "status": 1}})
        api.post("contactTags", json={"contactTag": {"contact": cid, "tag": 1}})
    lists = api.get("contactLists").json()
    tags = api.get("contactTags", params={"limit": 2, "offset": 1}).json()
    # No example of these two lists in the reference: each row has the documented row's shape
    # (SPEC GET /contacts/{id}/contactLists; the POST /contactTags answer).
    assert [
        shape_problems(row, load_example("contact_contact_lists")["body"]["contactLists"][0])
        for row in lists["contactLists"]
    ] == [[]] * 3
    assert [
        shape_problems(row, load_example("contact_tag_create")["body"]["contactTag"])
        for row in tags["contactTags"]
    ] == [[]] * 2
    assert sorted(row["contact"] for row in lists["contactLists"]) == sorted(ids)
    assert lists["meta"]["total"] == "3"
    assert len(tags["contactTags"]) == 2
    assert tags["meta"]["total"] == "3"


def test_an_id_walk_pages_every_contact_once_between_its_bounds(api: httpx.Client) -> None:
    ids = [
        int(
            api.post("contact/sync", json={"contact": {"email": f"w{n}@example.com"}}).json()["contact"]["id"]
        )
        for n in range(7)
    ]
    seen: list[int] = []
    cursor = ids[0]  # exclusive
    while True:
        page = api.get(
            "contacts",
            params={"id_greater": cursor, "id_less": ids[-1], "orders[id]": "ASC", "limit": 2},
        ).json()
        rows = [int(c["id"]) for c in page["contacts"]]
        if not rows:
            break
        assert page["meta"]["total"] == str(len([i for i in ids if cursor < i < ids[-1]]))
        seen.extend(rows)
        cursor = rows[-1]
    assert seen == ids[1:-1]
    # Another filter takes the general path and still agrees.
    filtered = api.get(
        "contacts", params={"id_greater": ids[0], "orders[id]": "ASC", "email_like": "w3@"}
    ).json()
    assert [int(c["id"]) for c in filtered["contacts"]] == [ids[3]]


def test_the_api_root_answers_a_valid_key(emulator: EmulatorFixture) -> None:
    """Reported: tap-activecampaign checks every key with GET /api/3/ and stops on anything but 200."""
    ok = httpx.get(f"{emulator.url}/api/3/", headers={"Api-Token": emulator.api_key}, timeout=10)
    refused = httpx.get(f"{emulator.url}/api/3/", headers={"Api-Token": "not-the-key"}, timeout=10)
    assert (ok.status_code, ok.json()) == (200, {})
    assert refused.status_code == 403
