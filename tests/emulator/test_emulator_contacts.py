"""Contacts: upsert semantics, validation, filters, paging, ordering, udate, audit counters."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture


def _sync(api: httpx.Client, email: str, **attrs: Any) -> httpx.Response:
    return api.post("contact/sync", json={"contact": {"email": email, **attrs}})


def _ids(response: httpx.Response) -> list[str]:
    return [c["id"] for c in response.json()["contacts"]]


def test_sync_creates_then_updates_the_same_contact(api: httpx.Client, emulator: EmulatorFixture) -> None:
    first = _sync(api, "Ann@Example.com", firstName="Ann")
    second = _sync(api, "ann@example.com", lastName="Lee")
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["contact"]["id"] == second.json()["contact"]["id"]
    contact = emulator.contact("ann@example.com")
    assert contact is not None
    assert (contact["firstName"], contact["lastName"]) == ("Ann", "Lee")
    assert contact["counters"]["sync_requests"] == 2
    assert emulator.state()["counters"]["contacts_created"] == 1


def test_udate_moves_only_when_something_changes(api: httpx.Client, emulator: EmulatorFixture) -> None:
    created = _sync(api, "u@example.com", firstName="U", fieldValues=[{"field": 1, "value": "ACME"}]).json()
    emulator.advance(60)
    same = _sync(api, "u@example.com", firstName="U", fieldValues=[{"field": 1, "value": "ACME"}]).json()
    assert same["contact"]["udate"] == created["contact"]["udate"]
    emulator.advance(60)
    changed = _sync(api, "u@example.com", fieldValues=[{"field": 1, "value": "Initech"}]).json()
    assert changed["contact"]["udate"] > created["contact"]["udate"]
    counters = emulator.contact("u@example.com")["counters"]  # type: ignore[index]
    assert (counters["sync_requests"], counters["changes"]) == (3, 2)


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "x y@example.com", "quote'd@example.com"])
def test_invalid_email_is_422(api: httpx.Client, email: str) -> None:
    for path in ("contacts", "contact/sync"):
        response = api.post(path, json={"contact": {"email": email}})
        assert response.status_code == 422
        assert response.json()["errors"][0]["code"] == "field_invalid"


def test_missing_email_is_422_field_missing(api: httpx.Client) -> None:
    response = api.post("contact/sync", json={"contact": {"firstName": "No"}})
    assert response.status_code == 422
    assert response.json()["errors"][0]["source"] == {"pointer": "/data/attributes/email"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (2, "31/12/2024"),
        (3, "yesterday"),
        (4, "Platinum"),
        (4, "||Free||Pro||"),
        (5, "||Python||Cobol||"),
        (6, "ten"),
    ],
)
def test_field_values_are_validated_all_or_nothing(
    api: httpx.Client, emulator: EmulatorFixture, field: int, value: str
) -> None:
    response = _sync(
        api,
        "v@example.com",
        firstName="V",
        fieldValues=[{"field": 1, "value": "ok"}, {"field": field, "value": value}],
    )
    assert response.status_code == 422
    assert emulator.contact("v@example.com") is None  # nothing was written


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (2, "2024-12-31"),
        (3, "2020-05-19T02:45:00-05:00"),
        (4, "Pro"),
        (4, "||Pro||"),
        (5, "||Python||Data||"),
        (6, "12.5"),
        (6, 7),
    ],
)
def test_documented_value_formats_are_accepted(api: httpx.Client, field: int, value: object) -> None:
    assert _sync(api, "ok@example.com", fieldValues=[{"field": field, "value": value}]).status_code == 201


def test_unknown_field_is_422_related_missing(api: httpx.Client) -> None:
    response = _sync(api, "f@example.com", fieldValues=[{"field": 999, "value": "x"}])
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "related_missing"


def test_put_can_change_email_but_not_to_an_existing_one(api: httpx.Client) -> None:
    a = _sync(api, "a@example.com").json()["contact"]["id"]
    _sync(api, "b@example.com")
    clash = api.put(f"contacts/{a}", json={"contact": {"email": "b@example.com"}})
    assert clash.status_code == 422
    assert clash.json()["errors"][0]["code"] == "duplicate"
    moved = api.put(f"contacts/{a}", json={"contact": {"email": "c@example.com"}})
    assert moved.json()["contact"]["email"] == "c@example.com"
    assert api.get("contacts", params={"email": "c@example.com"}).json()["meta"]["total"] == "1"
    assert api.get("contacts", params={"email": "a@example.com"}).json()["meta"]["total"] == "0"


def test_delete_removes_contact_and_keeps_a_tombstone(api: httpx.Client, emulator: EmulatorFixture) -> None:
    cid = _sync(api, "gone@example.com").json()["contact"]["id"]
    assert api.delete(f"contacts/{cid}").json() == {}
    assert api.get(f"contacts/{cid}").status_code == 404
    state = emulator.state()
    assert state["deleted_contacts"] == [{"id": cid, "email": "gone@example.com"}]
    assert _sync(api, "gone@example.com").status_code == 201  # a new contact, new id


def test_paging_defaults_caps_and_string_total(api: httpx.Client, emulator: EmulatorFixture) -> None:
    emulator.seed({"contacts": [{"email": f"p{i:03}@example.com"} for i in range(130)]})
    default = api.get("contacts")
    assert len(default.json()["contacts"]) == 20
    assert default.json()["meta"]["total"] == "130"
    capped = api.get("contacts", params={"limit": 500})
    assert len(capped.json()["contacts"]) == 100  # silently capped at 100
    tail = api.get("contacts", params={"limit": 100, "offset": 100, "orders[id]": "ASC"})
    assert _ids(tail) == [str(i) for i in range(101, 131)]


def test_id_greater_paging_with_orders_id(api: httpx.Client, emulator: EmulatorFixture) -> None:
    emulator.seed({"contacts": [{"email": f"k{i}@example.com"} for i in range(250)]})
    seen: list[str] = []
    last = 0
    while True:
        page = api.get("contacts", params={"orders[id]": "ASC", "id_greater": last, "limit": 100})
        ids = _ids(page)
        if not ids:
            break
        seen.extend(ids)
        last = int(ids[-1])
    assert seen == [str(i) for i in range(1, 251)]


def test_default_order_is_not_id_ascending(api: httpx.Client, emulator: EmulatorFixture) -> None:
    for i in range(3):
        _sync(api, f"o{i}@example.com")
        emulator.advance(1)
    assert _ids(api.get("contacts")) == ["3", "2", "1"]
    assert _ids(api.get("contacts", params={"orders[id]": "ASC"})) == ["1", "2", "3"]
    assert _ids(api.get("contacts", params={"orders[email]": "DESC"})) == ["3", "2", "1"]


def test_filters(api: httpx.Client, emulator: EmulatorFixture) -> None:
    emulator.seed(
        {
            "contacts": [
                {"email": "l1@example.com", "lists": {"1": 1}, "tags": ["vip"], "phone": "+15550001"},
                {"email": "l2@example.com", "lists": {"1": 2}, "firstName": "Zed"},
                {"email": "other@test.org", "lists": {"2": 1}},
            ]
        }
    )
    assert _ids(api.get("contacts", params={"listid": 1, "orders[id]": "ASC"})) == ["1", "2"]
    assert _ids(api.get("contacts", params={"listid": 1, "status": 1})) == ["1"]
    assert _ids(api.get("contacts", params={"tagid": 2})) == ["1"]
    assert _ids(api.get("contacts", params={"email": "L2@EXAMPLE.COM"})) == ["2"]
    assert _ids(api.get("contacts", params={"email_like": "test.org"})) == ["3"]
    assert _ids(api.get("contacts", params={"search": "zed"})) == ["2"]
    assert _ids(api.get("contacts", params={"phone": "+1555"})) == ["1"]
    assert _ids(api.get("contacts", params=[("ids[]", "1"), ("ids[]", "3"), ("orders[id]", "ASC")])) == [
        "1",
        "3",
    ]
    assert _ids(api.get("contacts", params={"id_less": 3, "exclude": 1})) == ["2"]


def test_date_filters_use_emulated_time(api: httpx.Client, emulator: EmulatorFixture) -> None:
    old = _sync(api, "old@example.com").json()["contact"]
    emulator.advance(3 * 86_400)
    new = _sync(api, "new@example.com").json()["contact"]
    cut = new["cdate"][:10]  # a date in the account's timezone
    assert _ids(api.get("contacts", params={"filters[created_after]": cut})) == [new["id"]]
    assert _ids(api.get("contacts", params={"filters[created_before]": cut})) == [old["id"]]
    emulator.advance(86_400)
    api.put(f"contacts/{old['id']}", json={"contact": {"firstName": "Touched"}})
    updated = api.get("contacts", params={"filters[updated_after]": new["udate"]})
    # A time part is not honoured (reported, §10): the day of `new`'s udate counts from its start.
    assert sorted(_ids(updated)) == sorted([old["id"], new["id"]])
    next_day = api.get("contacts", params={"filters[updated_after]": f"{new['udate'][:10]}T23:59:59"})
    assert _ids(next_day) == _ids(updated)
    bad = api.get("contacts", params={"filters[updated_after]": "last tuesday"})
    assert bad.status_code == 400


def test_get_contact_sideloads_relations(api: httpx.Client) -> None:
    cid = _sync(api, "s@example.com", fieldValues=[{"field": 4, "value": "Pro"}]).json()["contact"]["id"]
    api.post("contactLists", json={"contactList": {"list": 1, "contact": cid, "status": 1}})
    body = api.get(f"contacts/{cid}").json()
    assert body["contact"]["contactLists"] == [body["contactLists"][0]["id"]]
    assert body["contact"]["fieldValues"] == [body["fieldValues"][0]["id"]]
    assert body["contactAutomations"][0]["automation"] == "1"  # Newsletter starts "Welcome series"
