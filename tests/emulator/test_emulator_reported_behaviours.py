"""Opt-in behaviours integrators report from live accounts: each absent by default, present when on.

1. ``http_403`` faults: transient ``403 {"message":"Forbidden"}`` on reads.
2. ``importer.unaccounted_contacts``: a completed batch whose success + failure miss contacts.
3. ``importer.info_unknown_seconds``: ``/import/info`` answers "unknown batch" at first.
4. ``paging.overlapping_pages``: ``GET /contacts`` repeats the previous page's last record.
"""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture


def _rows(count: int, prefix: str = "r") -> list[dict[str, Any]]:
    return [{"email": f"{prefix}{i}@example.com"} for i in range(count)]


def _submit(api: httpx.Client, rows: list[dict[str, Any]]) -> str:
    response = api.post("import/bulk_import", json={"contacts": rows})
    assert response.status_code == 200, response.text
    batch: str = response.json()["batchId"]
    return batch


def _seed_contacts(emulator: EmulatorFixture, count: int) -> None:
    emulator.seed(
        {
            "contacts": [
                {"email": f"p{i:02d}@example.com", "fields": {"1": f"Company {i}"}, "tags": ["vip"]}
                for i in range(count)
            ]
        }
    )


# -- 1. transient 403 ---------------------------------------------------------------------------


def test_http_403_fault_answers_forbidden_then_recovers(api: httpx.Client, emulator: EmulatorFixture) -> None:
    assert api.get("users/me").status_code == 200  # off by default
    rule = emulator.add_intermittent_403("/api/3/users/me", times=2)
    assert (rule["kind"], rule["method"]) == ("http_403", "GET")
    for _ in range(2):
        failed = api.get("users/me")
        assert failed.status_code == 403
        assert failed.json() == {"message": "Forbidden"}
        assert failed.headers["content-type"] == "application/json"
    assert api.get("users/me").status_code == 200  # times=2 exhausted
    assert [r["status"] for r in emulator.requests()["requests"]][-3:] == [403, 403, 200]


def test_http_403_default_rule_hits_any_read_but_not_writes(
    api: httpx.Client, emulator: EmulatorFixture
) -> None:
    emulator.add_intermittent_403(probability=1.0)  # every GET under /api/3/, no cap
    assert api.get("contacts").status_code == 403
    assert api.get("lists/1").status_code == 403
    assert api.post("contact/sync", json={"contact": {"email": "w@example.com"}}).status_code == 201
    emulator.clear_faults()
    assert api.get("contacts").status_code == 200


def test_http_403_probability_is_reproducible(api: httpx.Client, emulator: EmulatorFixture) -> None:
    def pattern() -> list[int]:
        emulator.clear_faults()
        emulator.add_fault("GET", "/api/3/contacts", "http_403", probability=0.5, seed=11)
        return [api.get("contacts").status_code for _ in range(20)]

    first = pattern()
    assert set(first) == {200, 403}
    assert pattern() == first


# -- 2. import results that do not add up ---------------------------------------------------------


def test_completed_batch_accounts_for_every_contact_by_default(
    api: httpx.Client, emulator: EmulatorFixture
) -> None:
    batch = _submit(api, _rows(12))
    emulator.advance(10)
    info = api.get("import/info", params={"batchId": batch}).json()
    assert info["status"] == "completed"
    assert len(info["success"]) + len(info["failure"]) == 12


def test_unaccounted_contacts_are_created_but_missing_from_import_info(
    api: httpx.Client, emulator: EmulatorFixture
) -> None:
    emulator.set_import_reporting(unaccounted_contacts=12)
    batch = _submit(api, [*_rows(11), {"email": "not-an-email"}])
    emulator.advance(10)
    info = api.get("import/info", params={"batchId": batch}).json()
    assert info == {"status": "completed", "success": [], "failure": []}
    # Processed as usual: the 11 good contacts exist, the bad one did not land anywhere.
    state = emulator.state()
    assert len(state["contacts"]) == 11
    unreported = state["imports"][0]["unreported"]
    assert [u["outcome"] for u in unreported] == ["success"] * 11 + ["failure"]
    assert unreported[-1]["email"] == "not-an-email"


def test_unaccounted_contacts_are_the_last_n_of_each_batch(
    api: httpx.Client, emulator: EmulatorFixture
) -> None:
    emulator.set_import_reporting(unaccounted_contacts=3)
    batch = _submit(api, _rows(5))
    emulator.advance(10)
    info = api.get("import/info", params={"batchId": batch}).json()
    assert info["status"] == "completed"
    ids = {c["email"]: c["id"] for c in emulator.state()["contacts"]}
    assert info["success"] == [ids["r0@example.com"], ids["r1@example.com"]]
    assert len(ids) == 5
    emulator.set_import_reporting(unaccounted_contacts=0)  # off again for later batches
    later = _submit(api, _rows(2, prefix="s"))
    emulator.advance(10)
    assert len(api.get("import/info", params={"batchId": later}).json()["success"]) == 2


# -- 3. /import/info not ready yet ----------------------------------------------------------------


def test_import_info_knows_a_fresh_batch_by_default(api: httpx.Client) -> None:
    batch = _submit(api, _rows(2))
    response = api.get("import/info", params={"batchId": batch})
    assert (response.status_code, response.json()) == (200, {"status": False})


def test_import_info_answers_unknown_batch_for_the_first_seconds(
    api: httpx.Client, emulator: EmulatorFixture
) -> None:
    unknown = api.get("import/info", params={"batchId": "never-submitted"})
    emulator.set_import_reporting(info_unknown_seconds=30)
    batch = _submit(api, _rows(2))
    early = api.get("import/info", params={"batchId": batch})
    assert early.status_code == unknown.status_code == 404
    # Exactly the unknown-batch answer, only the id differs.
    assert early.json() == {"success": 0, "message": f"No import batch found with batchId '{batch}'."}
    assert unknown.json() == {
        "success": 0,
        "message": "No import batch found with batchId 'never-submitted'.",
    }
    emulator.advance(25)
    assert api.get("import/info", params={"batchId": batch}).status_code == 404
    # The batch was processed meanwhile; it is only invisible to /import/info.
    assert len(emulator.state()["contacts"]) == 2
    emulator.advance(6)
    late = api.get("import/info", params={"batchId": batch})
    assert late.status_code == 200
    assert late.json()["status"] == "completed"
    assert len(late.json()["success"]) == 2


# -- 4. overlapping pages ----------------------------------------------------------------------


def _offset_pages(api: httpx.Client, limit: int, **params: Any) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    offset = 0
    while True:
        body = api.get("contacts", params={"limit": limit, "offset": offset, **params}).json()
        if not body["contacts"]:
            return pages
        pages.append(body["contacts"])
        offset += limit


def _id_greater_pages(api: httpx.Client, limit: int, **params: Any) -> list[dict[str, Any]]:
    """Each page's JSON body, walking ``id_greater`` with ``orders[id]=ASC`` until an empty page."""
    bodies: list[dict[str, Any]] = []
    last = 0
    while True:
        query = {"orders[id]": "ASC", "id_greater": last, "limit": limit, **params}
        body = api.get("contacts", params=query).json()
        if not body["contacts"]:
            return bodies
        bodies.append(body)
        last = int(body["contacts"][-1]["id"])
        assert len(bodies) < 50, "the walk does not end"


def test_pages_do_not_overlap_by_default(api: httpx.Client, emulator: EmulatorFixture) -> None:
    _seed_contacts(emulator, 45)
    offset_ids = [c["id"] for page in _offset_pages(api, 20) for c in page]
    assert len(offset_ids) == len(set(offset_ids)) == 45
    walk_ids = [c["id"] for body in _id_greater_pages(api, 20) for c in body["contacts"]]
    assert len(walk_ids) == len(set(walk_ids)) == 45


def test_offset_pages_repeat_the_previous_last_record(api: httpx.Client, emulator: EmulatorFixture) -> None:
    _seed_contacts(emulator, 45)
    emulator.set_overlapping_pages()
    pages = _offset_pages(api, 20)
    assert [len(p) for p in pages] == [20, 21, 6]  # the repeat comes on top of `limit` records
    for previous, page in itertools.pairwise(pages):
        assert page[0]["id"] == previous[-1]["id"]
    ids = [c["id"] for page in pages for c in page]
    assert (len(ids), len(set(ids))) == (47, 45)  # de-duplicating by id loses nothing
    body = api.get("contacts", params={"limit": 20, "offset": 20}).json()
    assert body["meta"]["total"] == "45"
    assert body["meta"]["page_input"]["offset"] == 20


def test_id_greater_walk_repeats_the_cursor_record_with_its_sideloads(
    api: httpx.Client, emulator: EmulatorFixture
) -> None:
    _seed_contacts(emulator, 45)
    emulator.set_overlapping_pages()
    bodies = _id_greater_pages(api, 20, include="fieldValues,contactTags")
    pages = [b["contacts"] for b in bodies]
    assert [len(p) for p in pages] == [20, 21, 6]
    for previous, page in itertools.pairwise(pages):
        assert page[0]["id"] == previous[-1]["id"]
    ids = [c["id"] for page in pages for c in page]
    assert len(set(ids)) == 45
    for body in bodies:  # every contact on the page, the repeated one included, has its rows
        page_ids = {c["id"] for c in body["contacts"]}
        assert {v["contact"] for v in body["fieldValues"]} == page_ids
        assert {t["contact"] for t in body["contactTags"]} == page_ids
        assert len(body["fieldValues"]) == len(body["contacts"])


def test_overlap_respects_other_filters_and_deleted_cursors(
    api: httpx.Client, emulator: EmulatorFixture
) -> None:
    _seed_contacts(emulator, 10)
    emulator.set_overlapping_pages()
    first = api.get("contacts", params={"orders[id]": "ASC", "limit": 3}).json()["contacts"]
    cursor = first[-1]["id"]
    assert api.delete(f"contacts/{cursor}").status_code == 200
    after_delete = api.get("contacts", params={"orders[id]": "ASC", "id_greater": cursor, "limit": 3}).json()
    assert [int(c["id"]) for c in after_delete["contacts"]] == [
        int(cursor) + 1,
        int(cursor) + 2,
        int(cursor) + 3,
    ]
    kept = first[1]["id"]
    filtered = api.get(
        "contacts", params={"orders[id]": "ASC", "id_greater": kept, "limit": 3, "email": "p09@example.com"}
    ).json()
    assert [c["email"] for c in filtered["contacts"]] == ["p09@example.com"]  # the cursor does not match


@pytest.mark.parametrize("enabled", [True, False])
def test_overlapping_pages_switch_and_reset(
    api: httpx.Client, emulator: EmulatorFixture, enabled: bool
) -> None:
    _seed_contacts(emulator, 4)
    emulator.set_overlapping_pages(enabled)
    page = api.get("contacts", params={"limit": 2, "offset": 2}).json()["contacts"]
    assert len(page) == (3 if enabled else 2)
    emulator.reset()
    _seed_contacts(emulator, 4)
    assert len(api.get("contacts", params={"limit": 2, "offset": 2}).json()["contacts"]) == 2


def test_bad_options_are_rejected(emulator: EmulatorFixture) -> None:
    for bad in (
        {"importer": {"unaccounted_contacts": -1}},
        {"importer": {"unaccounted_contacts": "3"}},
        {"importer": {"info_unknown_seconds": -5}},
        {"paging": {"overlapping_pages": "yes"}},
        {"paging": {"overlaping_pages": True}},
    ):
        response = httpx.post(f"{emulator.url}/_emulator/seed", json=bad)
        assert response.status_code == 400, bad
    with pytest.raises(RuntimeError):
        emulator.add_fault("GET", "/api/3/contacts", "http_401")


def test_overlapping_pages_within_limit_keep_the_page_size(
    api: httpx.Client, emulator: EmulatorFixture
) -> None:
    """The other reading of the report: the repeat takes one of the page's ``limit`` places."""
    _seed_contacts(emulator, 4)
    emulator.set_overlapping_pages(True, within_limit=True)
    first = [
        c["id"] for c in api.get("contacts", params={"limit": 2, "orders[id]": "ASC"}).json()["contacts"]
    ]
    second = api.get("contacts", params={"limit": 2, "offset": 2, "orders[id]": "ASC"}).json()["contacts"]
    assert [c["id"] for c in second] == [first[-1], str(int(first[-1]) + 1)]
    response = httpx.post(f"{emulator.url}/_emulator/seed", json={"paging": {"overlap_within_limit": "yes"}})
    assert response.status_code == 400
