"""Accounts, account custom fields and account contacts in the emulator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from activecampaign_emulator.pytest_plugin import EmulatorFixture

Check = Callable[[httpx.Response, str], dict[str, Any]]


def _contact(api: httpx.Client, email: str) -> str:
    cid: str = api.post("contact/sync", json={"contact": {"email": email}}).json()["contact"]["id"]
    return cid


def _account(api: httpx.Client, name: str, **attrs: Any) -> httpx.Response:
    return api.post("accounts", json={"account": {"name": name, **attrs}})


def test_account_shapes_match_the_official_examples(api: httpx.Client, check_example: Check) -> None:
    check_example(api.get("accounts", params={"limit": 2, "count_deals": "true"}), "accounts_list")
    check_example(api.get("accounts/1"), "account_get")
    check_example(
        api.get("accountCustomFieldData", params={"filters[customerAccountId]": 1}), "account_field_data_list"
    )
    check_example(api.get("accountCustomFieldData/999999"), "account_field_data_get_404")
    created = check_example(
        _account(
            api,
            "Example Account",
            accountUrl="https://www.example.com",
            owner=1,
            fields=[{"customFieldId": 1, "fieldValue": "501 - 1000"}],
        ),
        "account_create",
    )
    assert created["account"]["fields"] == [
        {"customFieldId": 1, "fieldValue": "501 - 1000", "accountId": created["account"]["id"]}
    ]
    check_example(_account(api, ""), "account_create_422_missing")
    duplicate = _account(api, "example account")  # names compare case-insensitively
    check_example(duplicate, "account_create_422_duplicate")
    assert duplicate.json()["errors"][0]["title"] == (
        'An account named "example account" already exists. Please choose a new name.'
    )
    meta = check_example(
        api.post(
            "accountCustomFieldMeta",
            json={"accountCustomFieldMetum": {"fieldLabel": "Tier", "fieldType": "text"}},
        ),
        "account_field_meta_create",
    )
    datum = check_example(
        api.post(
            "accountCustomFieldData",
            json={
                "accountCustomFieldDatum": {
                    "customerAccountId": created["account"]["id"],
                    "customFieldId": meta["accountCustomFieldMetum"]["id"],
                    "fieldValue": "gold",
                }
            },
        ),
        "account_field_data_create",
    )
    assert datum["accountCustomFieldDatum"]["accountId"] == int(created["account"]["id"])
    check_example(api.delete(f"accounts/{created['account']['id']}"), "account_delete")


def test_search_counts_update_and_bulk_delete(
    api: httpx.Client, check_example: Check, emulator: EmulatorFixture
) -> None:
    found = api.get("accounts", params={"search": "globex"}).json()
    assert found["accounts"]
    assert all("globex" in a["name"].lower() for a in found["accounts"])
    assert found["meta"]["total"] == str(
        len([a for a in emulator.client.accounts() if "globex" in a["name"].lower()])
    )
    plain = api.get("accounts", params={"limit": 1}).json()["accounts"][0]
    assert (plain["contactCount"], plain["dealCount"]) == ("0", "0")  # SPEC: 0 unless count_deals
    counted = api.get("accounts", params={"limit": 1, "count_deals": "true"}).json()["accounts"][0]
    assert int(counted["dealCount"]) > 0

    account_id = _account(api, "Renamed Co").json()["account"]["id"]
    emulator.advance(30)
    before = api.get(f"accounts/{account_id}").json()["account"]
    updated = check_example(
        api.put(
            f"accounts/{account_id}",
            json={
                "account": {"name": "Renamed Co 2", "fields": [{"customFieldId": 3, "fieldValue": "wh-1"}]}
            },
        ),
        "account_update",
    )
    assert updated["account"]["updatedTimestamp"] > before["updatedTimestamp"]
    clash = api.put(f"accounts/{account_id}", json={"account": {"name": "Acme Inc 1"}})
    assert clash.status_code == 422
    assert clash.json()["errors"][0]["code"] == "duplicate"
    emulator.advance(30)
    same = api.put(f"accounts/{account_id}", json={"account": {"name": "Renamed Co 2"}}).json()["account"]
    assert same["updatedTimestamp"] == updated["account"]["updatedTimestamp"]  # no change, no new udate
    [record] = [a for a in emulator.client.accounts() if a["id"] == account_id]
    assert record["fields"] == {"Warehouse id": "wh-1"}

    bulk = api.delete("accounts/bulk_delete", params=[("ids[]", account_id), ("ids[]", "1")])
    check_example(bulk, "accounts_bulk_delete")
    assert api.get(f"accounts/{account_id}").json() == {
        "message": f"No Result found for CustomerAccount with id {account_id}"
    }
    assert api.get("accounts/1").status_code == 404


def test_one_account_per_contact_and_explicit_moves(
    api: httpx.Client,
    check_example: Check,
    emulator: EmulatorFixture,
    ac_example: Callable[[str], dict[str, Any]],
    shape: Callable[[Any, Any], list[str]],
) -> None:
    cid = _contact(api, "member@example.com")
    created = check_example(
        api.post(
            "accountContacts",
            json={"accountContact": {"contact": cid, "account": 1, "jobTitle": "Product Manager"}},
        ),
        "account_contact_create",
    )
    association = created["accountContact"]
    assert (association["account"], association["contact"]) == (1, int(cid))
    second = api.post("accountContacts", json={"accountContact": {"contact": cid, "account": 2}})
    check_example(second, "account_contact_create_422_existing")
    assert second.json()["errors"][0]["title"].startswith(
        "This contact is already associated with an account."
    )
    check_example(
        api.post("accountContacts", json={"accountContact": {"contact": cid}}),
        "account_contact_create_422_missing",
    )
    example = ac_example("account_contacts_list")["body"]
    del example["meta"]["queryLog"]  # SQL debug output in the example; see the fixtures README
    assert shape(api.get("accountContacts", params={"filters[contact]": cid}).json(), example) == []
    check_example(api.get(f"contacts/{cid}/accountContacts"), "contact_account_contacts")

    moved = check_example(
        api.put(
            f"accountContacts/{association['id']}", json={"accountContact": {"account": 2, "jobTitle": "CEO"}}
        ),
        "account_contact_update",
    )
    assert (moved["accountContact"]["account"], moved["accountContact"]["jobTitle"]) == ("2", "CEO")
    assert api.get("accountContacts", params={"filters[account]": 1}).json()["meta"]["total"] == "0"
    [account_two] = [a for a in emulator.client.accounts() if a["id"] == "2"]
    assert account_two["contacts"] == [cid]

    check_example(api.delete(f"accountContacts/{association['id']}"), "account_contact_delete")
    check_example(api.get(f"accountContacts/{association['id']}"), "account_contact_get_404")
    gone = api.delete(f"accountContacts/{association['id']}")
    assert gone.status_code == 404
    assert (
        gone.json()["message"] == f"No Result found for CustomerAccountSubscriber with id {association['id']}"
    )
    assert set(gone.json()) == set(ac_example("account_contact_delete_404")["body"])
    relinked = api.post("accountContacts", json={"accountContact": {"contact": cid, "account": 3}})
    assert relinked.status_code == 201  # after leaving one account the contact may join another


def test_a_deleted_contact_leaves_its_account(api: httpx.Client) -> None:
    cid = _contact(api, "gone@example.com")
    ac = api.post("accountContacts", json={"accountContact": {"contact": cid, "account": 1}}).json()[
        "accountContact"
    ]
    assert api.delete(f"contacts/{cid}").status_code == 200
    assert api.get(f"accountContacts/{ac['id']}").status_code == 404
    assert api.get("accountContacts", params={"filters[account]": 1}).json()["accountContacts"] == []


def test_account_contacts_generation_creates_linked_contacts(
    emulator: EmulatorFixture, api: httpx.Client
) -> None:
    emulator.client.seed_volume(account_contacts=50)
    listed = api.get("accountContacts", params={"limit": 100}).json()
    assert listed["meta"]["total"] == "50"
    assert len({a["contact"] for a in listed["accountContacts"]}) == 50
    assert api.get("contacts", params={"limit": 1}).json()["meta"]["total"] == "50"
