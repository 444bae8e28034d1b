"""Contract tests: every emulated endpoint answers like its official example.

For each operation we create the situation the example shows, call the emulator over real
HTTP, and check the documented status plus the example's keys and JSON types
(``conftest.shape_problems``).  Error bodies must match the documented text exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture

Check = Callable[[httpx.Response, str], dict[str, Any]]
Example = Callable[[str], dict[str, Any]]


def _sync(api: httpx.Client, email: str, **attrs: Any) -> dict[str, Any]:
    response = api.post("contact/sync", json={"contact": {"email": email, **attrs}})
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()["contact"]
    return body


def test_users_me(api: httpx.Client, check_example: Check) -> None:
    body = check_example(api.get("users/me"), "users_me")
    assert body["user"]["id"] == "1"
    assert body["user"]["links"]["lists"].startswith("http://127.0.0.1:")


def test_contacts_list(api: httpx.Client, check_example: Check) -> None:
    _sync(api, "adam@example.com")
    body = check_example(api.get("contacts"), "contacts_list")
    assert body["meta"]["total"] == "1"


def test_contact_create_and_duplicate(api: httpx.Client, check_example: Check, ac_example: Example) -> None:
    payload = {
        "contact": {
            "email": "johndoe@example.com",
            "firstName": "John",
            "lastName": "Doe",
            "phone": "7223224241",
            "fieldValues": [
                {"field": "1", "value": "The Value for First Field"},
                {"field": "2", "value": "2008-01-20"},
            ],
        }
    }
    body = check_example(api.post("contacts", json=payload), "contact_create")
    assert [v["value"] for v in body["fieldValues"]] == ["The Value for First Field", "2008-01-20"]
    duplicate = api.post("contacts", json=payload)
    assert duplicate.status_code == 422
    assert duplicate.json() == ac_example("contact_create_422_duplicate")["body"]


def test_contact_sync(api: httpx.Client, check_example: Check) -> None:
    payload = {"contact": {"email": "jondoe@example.com", "fieldValues": [{"field": 1, "value": "Albany"}]}}
    body = check_example(api.post("contact/sync", json=payload), "contact_sync")
    assert body["contact"]["fieldValues"] == [body["fieldValues"][0]["id"]]


def test_contact_get_update_delete(api: httpx.Client, check_example: Check, ac_example: Example) -> None:
    missing = api.get("contacts/1")
    assert (missing.status_code, missing.json()) == (404, ac_example("contact_get_404")["body"])
    contact = _sync(api, "selmer.koss@example.com", fieldValues=[{"field": 1, "value": "ACME"}])
    api.post("contactLists", json={"contactList": {"list": 1, "contact": contact["id"], "status": 1}})
    check_example(api.get(f"contacts/{contact['id']}"), "contact_get")
    update = {"contact": {"firstName": "John", "fieldValues": [{"field": "1", "value": "Initech"}]}}
    check_example(api.put(f"contacts/{contact['id']}", json=update), "contact_update")
    check_example(api.delete(f"contacts/{contact['id']}"), "contact_delete")
    gone = api.delete("contacts/1")
    assert (gone.status_code, gone.json()) == (404, ac_example("contact_delete_404")["body"])


def test_contact_sublists(api: httpx.Client, check_example: Check) -> None:
    contact = _sync(api, "sub@example.com", fieldValues=[{"field": 1, "value": "United States"}])
    cid = contact["id"]
    api.post("contactLists", json={"contactList": {"list": 2, "contact": cid, "status": 1}})
    api.post("contactAutomations", json={"contactAutomation": {"contact": cid, "automation": 2}})
    check_example(api.get(f"contacts/{cid}/contactAutomations"), "contact_contact_automations")
    check_example(api.get(f"contacts/{cid}/contactLists"), "contact_contact_lists")
    check_example(api.get(f"contacts/{cid}/fieldValues"), "contact_field_values")
    for sub in ("contactAutomations", "contactLists", "fieldValues", "contactTags"):
        missing = api.get(f"contacts/999/{sub}")
        assert (missing.status_code, missing.json()) == (
            404,
            {"message": "No Result found for Subscriber with id 999"},
        )


def test_contact_list_update(api: httpx.Client, check_example: Check) -> None:
    contact = _sync(api, "johndoe@example.com", firstName="John", lastName="Doe")
    body = check_example(
        api.post("contactLists", json={"contactList": {"list": 2, "contact": contact["id"], "status": 1}}),
        "contact_list_update",
    )
    assert body["contactList"]["status"] == 1  # a number here, a string when read back


def test_fields(api: httpx.Client, check_example: Check, ac_example: Example) -> None:
    check_example(api.get("fields"), "fields_list")
    created = check_example(
        api.post("fields", json={"field": {"type": "text", "title": "Another Test Title"}}), "field_create"
    )
    assert created["fields"][0]["perstag"] == "ANOTHER_TEST_TITLE"
    duplicate = api.post("fields", json={"field": {"type": "text", "title": "Another Test Title"}})
    assert duplicate.status_code == 422
    assert (
        duplicate.json()["errors"][0]["title"]
        == ac_example("field_create_422_duplicate")["body"]["errors"][0]["title"]
    )
    check_example(api.get("fields/1"), "field_get")
    dropdown = api.post("fields", json={"field": {"type": "dropdown", "title": "Size"}}).json()["fields"][0][
        "id"
    ]
    options = [
        {"orderid": i, "value": v, "label": f"Option {v}", "isdefault": False, "field": dropdown}
        for i, v in enumerate("XYZ", 1)
    ]
    check_example(api.post("fieldOption/bulk", json={"fieldOptions": options}), "field_options_bulk")
    empty = api.post("fieldOption/bulk", json={})
    assert (empty.status_code, empty.json()) == (422, ac_example("field_options_bulk_422")["body"])
    check_example(
        api.post("fieldRels", json={"fieldRel": {"field": dropdown, "relid": 2}}), "field_rel_create"
    )


def test_field_values(api: httpx.Client, check_example: Check, ac_example: Example) -> None:
    contact = _sync(api, "fv@example.com")
    created = check_example(
        api.post(
            "fieldValues",
            json={
                "fieldValue": {"contact": int(contact["id"]), "field": 1, "value": "Blue"},
                "useDefaults": True,
            },
        ),
        "field_value_create",
    )
    assert created["fieldValue"]["contact"] == int(contact["id"])  # echoed as a number (SPEC)
    fid = created["fieldValue"]["id"]
    check_example(api.get("fieldValues"), "field_values_list")
    check_example(api.get(f"fieldValues/{fid}"), "field_value_get")
    missing = api.get("fieldValues/10")
    assert (missing.status_code, missing.json()) == (403, ac_example("field_value_get_403")["body"])
    check_example(
        api.put(
            f"fieldValues/{fid}",
            json={"fieldValue": {"contact": contact["id"], "field": 1, "value": "Green"}},
        ),
        "field_value_update",
    )
    check_example(api.delete(f"fieldValues/{fid}"), "field_value_delete")


def test_lists(api: httpx.Client, check_example: Check, ac_example: Example) -> None:
    check_example(api.get("lists"), "lists_list")
    check_example(api.get("lists/1"), "list_get")
    missing = api.get("lists/7")
    assert (missing.status_code, missing.json()) == (404, ac_example("list_get_404")["body"])
    new_list = {
        "list": {
            "name": "Name of List",
            "stringid": "Name-of-list",
            "sender_url": "https://x.example",
            "sender_reminder": "You asked",
        }
    }
    check_example(api.post("lists", json=new_list), "list_create")


def test_tags(api: httpx.Client, check_example: Check, ac_example: Example) -> None:
    check_example(api.get("tags"), "tags_list")
    check_example(api.get("tags/1"), "tag_get")
    missing = api.get("tags/99")
    assert missing.status_code == 404
    assert missing.json() == {"message": "No Result found for Tag with id 99"}
    assert ac_example("tag_get_404")["body"] == {"message": "No Result found for Tag with id 1"}
    check_example(
        api.post("tags", json={"tag": {"tag": "My Tag", "tagType": "contact", "description": "Description"}}),
        "tag_create",
    )


def test_contact_tags(api: httpx.Client, check_example: Check, ac_example: Example) -> None:
    contact = _sync(api, "tagged@example.com")
    body = check_example(
        api.post("contactTags", json={"contactTag": {"contact": contact["id"], "tag": "2"}}),
        "contact_tag_create",
    )
    no_contact = api.post("contactTags", json={"contactTag": {"contact": "404", "tag": "2"}})
    assert (no_contact.status_code, no_contact.json()) == (404, ac_example("contact_tag_create_404")["body"])
    no_attr = api.post("contactTags", json={"contactTag": {"tag": "2"}})
    assert (no_attr.status_code, no_attr.json()) == (422, ac_example("contact_tag_create_422")["body"])
    check_example(api.delete(f"contactTags/{body['contactTag']['id']}"), "contact_tag_delete")
    gone = api.delete("contactTags/1")
    assert (gone.status_code, gone.json()) == (404, ac_example("contact_tag_delete_404")["body"])


def test_bulk_import(
    api: httpx.Client, emulator: EmulatorFixture, check_example: Check, ac_example: Example
) -> None:
    rows = [
        {"email": f"someone{i}@somewhere.com", "first_name": "Jane", "tags": ["dictumst"]} for i in range(12)
    ]
    queued = check_example(api.post("import/bulk_import", json={"contacts": rows}), "bulk_import")
    assert queued["queued_contacts"] == 12
    check_example(api.get("import/bulk_import"), "import_status_list")
    emulator.advance(10)
    check_example(api.get("import/info", params={"batchId": queued["batchId"]}), "import_info")
    missing = api.get("import/info")
    assert (missing.status_code, missing.json()) == (400, ac_example("import_info_400")["body"])
    invalid = api.post("import/bulk_import", json={"contacts": [{"email": 42}]})
    check_example(invalid, "bulk_import_400_validation")
    assert invalid.json()["message"] == ac_example("bulk_import_400_validation")["body"]["message"]


def test_bulk_import_rate_limit_body(api: httpx.Client, ac_example: Example) -> None:
    rows = [{"email": "a@example.com"}, {"email": "b@example.com"}]
    for _ in range(100):
        assert api.post("import/bulk_import", json={"contacts": rows}).status_code == 200
    limited = api.post("import/bulk_import", json={"contacts": rows})
    assert (limited.status_code, limited.json()) == (400, ac_example("bulk_import_400_rate_limit")["body"])


def test_automations(
    api: httpx.Client, check_example: Check, ac_example: Example, shape: Callable[[Any, Any], list[str]]
) -> None:
    check_example(api.get("automations"), "automations_list")
    single = api.get("automations/1")
    assert single.status_code == 200
    # The SPEC page is a copy of the list page; compare with the object it shows.
    assert not shape(single.json()["automation"], ac_example("automation_get")["body"]["automations"][0])


def test_contact_automations(api: httpx.Client, check_example: Check, ac_example: Example) -> None:
    contact = _sync(api, "auto@example.com")
    created = check_example(
        api.post(
            "contactAutomations", json={"contactAutomation": {"contact": contact["id"], "automation": "2"}}
        ),
        "contact_automation_create",
    )
    eid = created["contactAutomation"]["id"]
    refused = api.post(
        "contactAutomations", json={"contactAutomation": {"contact": "117", "automation": "42"}}
    )
    assert (refused.status_code, refused.json()) == (403, ac_example("contact_automation_create_403")["body"])
    check_example(api.get("contactAutomations"), "contact_automations_list")
    check_example(api.get(f"contactAutomations/{eid}"), "contact_automation_get")
    missing = api.get("contactAutomations/3")
    assert (missing.status_code, missing.json()) == (404, ac_example("contact_automation_get_404")["body"])
    check_example(api.delete(f"contactAutomations/{eid}"), "contact_automation_delete")
    gone = api.delete("contactAutomations/3")
    assert (gone.status_code, gone.json()) == (403, ac_example("contact_automation_delete_403")["body"])


def test_addresses(api: httpx.Client, check_example: Check) -> None:
    check_example(api.get("addresses"), "addresses_list")
    check_example(api.get("addresses/1"), "address_get")


def test_contact_tags_sublist_has_the_contact_tag_shape(
    api: httpx.Client, ac_example: Example, shape: Callable[[Any, Any], list[str]]
) -> None:
    """``GET /contacts/{id}/contactTags`` has no SPEC page; its rows are contactTag objects."""
    contact = _sync(api, "t@example.com")
    api.post("contactTags", json={"contactTag": {"contact": contact["id"], "tag": "1"}})
    rows = api.get(f"contacts/{contact['id']}/contactTags").json()["contactTags"]
    assert len(rows) == 1
    assert not shape(rows[0], ac_example("contact_tag_create")["body"]["contactTag"])


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "contacts"), ("POST", "contact/sync"), ("GET", "users/me"), ("POST", "import/bulk_import")],
)
def test_every_api_path_requires_the_key(emulator: EmulatorFixture, method: str, path: str) -> None:
    response = httpx.request(method, f"{emulator.url}/api/3/{path}", headers={"Api-Token": "wrong"})
    assert (response.status_code, response.json()) == (403, {"message": "Forbidden"})
