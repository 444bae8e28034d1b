"""Lists, list membership, tags, custom fields and field values."""

from __future__ import annotations

import httpx
from activecampaign_emulator.pytest_plugin import EmulatorFixture


def _contact(api: httpx.Client, email: str = "r@example.com") -> str:
    cid: str = api.post("contact/sync", json={"contact": {"email": email}}).json()["contact"]["id"]
    return cid


def _membership(api: httpx.Client, cid: str, list_id: int, status: int, **extra: object) -> httpx.Response:
    return api.post(
        "contactLists", json={"contactList": {"list": list_id, "contact": cid, "status": status, **extra}}
    )


def test_contact_lists_post_resubscribes_an_unsubscribed_contact(
    api: httpx.Client, emulator: EmulatorFixture
) -> None:
    cid = _contact(api)
    assert _membership(api, cid, 2, 2).json()["contactList"]["status"] == 2
    again = _membership(api, cid, 2, 1, sourceid=4)  # SPEC warns this re-subscribes; it does
    assert again.json()["contactList"]["status"] == 1
    assert again.json()["contactList"]["sourceid"] == "4"
    row = emulator.contact("r@example.com")["lists"]["2"]  # type: ignore[index]
    assert (row["status"], row["subscribes"], row["unsubscribes"]) == (1, 1, 1)


def test_contact_lists_errors(api: httpx.Client) -> None:
    cid = _contact(api)
    assert _membership(api, "999", 1, 1).json() == {"message": "No Result found for Subscriber with id 999"}
    assert _membership(api, cid, 99, 1).json() == {"message": "No Result found for _List with id 99"}
    assert _membership(api, cid, 1, 3).status_code == 422
    assert api.post("contactLists", json={"contactList": {"list": 1}}).status_code == 422


def test_lists_filters_and_create_validation(api: httpx.Client) -> None:
    assert [x["name"] for x in api.get("lists", params={"filters[name]": "Customers"}).json()["lists"]] == [
        "Customers"
    ]
    assert api.get("lists", params={"filters[name][contains]": "news"}).json()["meta"]["total"] == "1"
    missing = api.post("lists", json={"list": {"name": "Only a name", "stringid": "x"}})
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["source"]["pointer"] == "/data/attributes/sender_url"


def test_tag_search_and_operators(api: httpx.Client) -> None:
    def names(**params: str) -> list[str]:
        return [t["tag"] for t in api.get("tags", params=params).json()["tags"]]

    assert names(search="CUST") == ["customer"]
    assert names(**{"filters[search][starts_with]": "news"}) == ["newsletter-2024"]
    assert names(**{"filters[search][eq]": "VIP"}) == ["vip"]
    assert names(**{"orders[search]": "desc"}) == ["vip", "newsletter-2024", "customer"]
    assert api.get("tags", params={"filters[search][like]": "x"}).status_code == 400


def test_duplicate_tag_names_are_rejected_case_insensitively(api: httpx.Client) -> None:
    response = api.post("tags", json={"tag": {"tag": "VIP", "tagType": "contact"}})
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "duplicate"


def test_tagging_twice_keeps_one_row(api: httpx.Client) -> None:
    cid = _contact(api)
    first = api.post("contactTags", json={"contactTag": {"contact": cid, "tag": 1}}).json()["contactTag"]
    second = api.post("contactTags", json={"contactTag": {"contact": cid, "tag": "1"}}).json()["contactTag"]
    assert first["id"] == second["id"]
    assert len(api.get(f"contacts/{cid}/contactTags").json()["contactTags"]) == 1
    assert api.get("tags/1").json()["tag"]["subscriber_count"] == "1"
    missing_tag = api.post("contactTags", json={"contactTag": {"contact": cid, "tag": 99}})
    assert missing_tag.status_code == 404
    assert api.delete(f"contactTags/{first['id']}").status_code == 200
    assert api.get(f"contacts/{cid}/contactTags").json()["contactTags"] == []


def test_fields_paging_perstag_and_options(api: httpx.Client) -> None:
    body = api.get("fields").json()
    assert body["meta"]["total"] == "7"
    assert len(body["fields"]) == 7  # default limit 100 for fields
    plan = api.get("fields", params={"filters[perstag]": "plan"}).json()
    assert [f["title"] for f in plan["fields"]] == ["Plan"]
    assert [o["value"] for o in plan["fieldOptions"]] == ["Free", "Pro", "Enterprise"]
    assert api.get("fields", params={"limit": 2, "offset": 6}).json()["fields"][0]["id"] == "7"
    created = api.post(
        "fields", json={"field": {"type": "text", "title": "Favourite colour", "perstag": "fav colour"}}
    )
    assert created.json()["fields"][0]["perstag"] == "FAV_COLOUR"
    assert api.post("fields", json={"field": {"type": "blob", "title": "Nope"}}).status_code == 422
    assert api.get("fields/99").status_code == 404


def test_field_values_create_overwrites_and_validate(api: httpx.Client, emulator: EmulatorFixture) -> None:
    cid = _contact(api)
    first = api.post("fieldValues", json={"fieldValue": {"contact": cid, "field": 4, "value": "Free"}}).json()
    second = api.post("fieldValues", json={"fieldValue": {"contact": cid, "field": 4, "value": "Pro"}}).json()
    assert first["fieldValue"]["id"] == second["fieldValue"]["id"]  # one value per contact and field
    assert emulator.contact("r@example.com")["field_value_writes"] == {"4": 2}  # type: ignore[index]
    invalid = api.post("fieldValues", json={"fieldValue": {"contact": cid, "field": 4, "value": "Gold"}})
    assert invalid.status_code == 422
    filtered = api.get("fieldValues", params={"filters[fieldid]": "4", "filters[val]": "Pro"}).json()
    assert filtered["meta"]["total"] == "1"
    assert api.delete("fieldValues/999").status_code == 403
    assert (
        api.put(
            "fieldValues/999", json={"fieldValue": {"contact": cid, "field": 4, "value": "Pro"}}
        ).status_code
        == 403
    )
    other = api.put(
        f"fieldValues/{first['fieldValue']['id']}",
        json={"fieldValue": {"contact": cid, "field": 1, "value": "x"}},
    )
    assert other.status_code == 422


def test_addresses_and_unknown_address(api: httpx.Client) -> None:
    assert api.get("addresses/1").json()["address"]["companyName"] == "Example Inc"
    assert api.get("addresses/9").status_code == 404
