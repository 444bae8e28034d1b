"""The contacts' assumed behaviours (``assumed.ASSUMED_BEHAVIOURS``), each on (default) and off.

Off, the emulator does only what the reference promises, so a provider test run that way shows
whether the provider depends on the assumption (docs/emulator.md, "Assumed behaviours").
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture


def _contacts(api: httpx.Client, **params: Any) -> httpx.Response:
    return api.get("contacts", params={"limit": 100, **params})


def _seed_three(api: httpx.Client, emulator: EmulatorFixture) -> list[str]:
    """Three contacts created a minute apart, with a field value each; their ids, oldest first."""
    ids = []
    for n in range(3):
        body = {"email": f"c{n}@example.com", "fieldValues": [{"field": 1, "value": f"V{n}"}]}
        ids.append(api.post("contact/sync", json={"contact": body}).json()["contact"]["id"])
        emulator.advance(60)
    return ids


def test_every_assumed_behaviour_is_on_after_a_reset(emulator: EmulatorFixture) -> None:
    emulator.set_assumed(contacts_list_include=False, contact_email_lowercased=False)
    emulator.reset()
    assert set(emulator.set_assumed().values()) == {True}


@pytest.mark.parametrize("include", [True, False], ids=["assumed-on", "reference-only"])
def test_include_on_the_contacts_list(api: httpx.Client, emulator: EmulatorFixture, include: bool) -> None:
    _seed_three(api, emulator)
    emulator.set_assumed(contacts_list_include=include)
    body = _contacts(api, include="fieldValues,contactLists,contactTags").json()
    assert len(body["contacts"]) == 3
    sideloads = {"fieldValues", "contactLists", "contactTags"} & set(body)
    assert sideloads == ({"fieldValues", "contactLists", "contactTags"} if include else set())
    if include:
        assert sorted(v["value"] for v in body["fieldValues"]) == ["V0", "V1", "V2"]


@pytest.mark.parametrize("newest_first", [True, False], ids=["assumed-on", "reference-only"])
def test_default_order_of_the_contacts_list(
    api: httpx.Client, emulator: EmulatorFixture, newest_first: bool
) -> None:
    ids = _seed_three(api, emulator)
    emulator.set_assumed(contacts_default_order_newest_first=newest_first)
    listed = [c["id"] for c in _contacts(api).json()["contacts"]]
    assert listed == (ids[::-1] if newest_first else ids)
    # An explicit order is honoured either way.
    assert [c["id"] for c in _contacts(api, **{"orders[id]": "DESC"}).json()["contacts"]] == ids[::-1]


@pytest.mark.parametrize("refused", [True, False], ids=["assumed-on", "reference-only"])
def test_an_unsupported_order_of_the_contacts_list(
    api: httpx.Client, emulator: EmulatorFixture, refused: bool
) -> None:
    ids = _seed_three(api, emulator)
    emulator.set_assumed(contacts_unsupported_order_refused=refused)
    answer = _contacts(api, **{"orders[shoe_size]": "ASC", "orders[id]": "ASC"})
    if refused:
        assert answer.status_code == 400
    else:
        assert answer.status_code == 200
        assert [c["id"] for c in answer.json()["contacts"]] == ids  # the key it knows still sorts


@pytest.mark.parametrize("lowercased", [True, False], ids=["assumed-on", "reference-only"])
def test_email_case_of_contacts(api: httpx.Client, emulator: EmulatorFixture, lowercased: bool) -> None:
    emulator.set_assumed(contact_email_lowercased=lowercased)
    created = api.post("contact/sync", json={"contact": {"email": "Ann.Lee@Example.COM"}})
    stored = "ann.lee@example.com" if lowercased else "Ann.Lee@Example.COM"
    assert created.json()["contact"]["email"] == stored
    # Lookups are case-blind either way: one contact, found by any spelling.
    assert [c["email"] for c in _contacts(api, email="ANN.LEE@example.com").json()["contacts"]] == [stored]
    assert _contacts(api, email_like="ann.lee").json()["contacts"][0]["email"] == stored
    # A sync with another spelling updates the same contact (and stores the spelling it sent).
    again = api.post("contact/sync", json={"contact": {"email": "ann.lee@example.com", "firstName": "Ann"}})
    assert (again.status_code, again.json()["contact"]["id"]) == (200, created.json()["contact"]["id"])
    assert again.json()["contact"]["email"] == "ann.lee@example.com"
    duplicate = api.post("contacts", json={"contact": {"email": "ANN.LEE@EXAMPLE.COM"}})
    assert duplicate.status_code == 422
    # A change of case only is an update of the same contact, not a duplicate.
    contact_id = created.json()["contact"]["id"]
    renamed = api.put(f"contacts/{contact_id}", json={"contact": {"email": "ann.LEE@example.com"}})
    assert renamed.status_code == 200
    assert renamed.json()["contact"]["email"] == (
        "ann.lee@example.com" if lowercased else "ann.LEE@example.com"
    )
    assert api.delete(f"contacts/{contact_id}").status_code == 200
    assert _contacts(api, email="ann.lee@example.com").json()["contacts"] == []


#: The default account's offset is -05:00: 2024-03-02 starts at 05:00 UTC.
LOCAL_MIDNIGHT = "2024-03-02T00:00:00-05:00"


def _emails(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    return sorted(c["email"] for c in answer.json()["contacts"])


@pytest.mark.parametrize("strict", [True, False], ids=["assumed-on", "reference-only"])
def test_contact_date_filters_on_the_days_start(
    api: httpx.Client, emulator: EmulatorFixture, strict: bool
) -> None:
    """SPEC says "after"/"prior to" the date: a contact stamped at the day's start is the assumed case."""
    emulator.seed(
        {
            "contacts": [
                {"email": "before@example.com", "cdate": "2024-03-01T23:59:59-05:00"},
                {"email": "midnight@example.com", "cdate": LOCAL_MIDNIGHT},
                {"email": "after@example.com", "cdate": "2024-03-02T00:00:01-05:00"},
            ]
        }
    )
    emulator.set_assumed(date_filters_strict=strict)
    on_edge = [] if strict else ["midnight@example.com"]
    for name in ("updated", "created"):
        # A time part is dropped either way: the bound is the account-local day's start.
        for day in ("2024-03-02", "2024-03-02T18:30:00"):
            later = _emails(_contacts(api, **{f"filters[{name}_after]": day}))
            assert later == sorted(["after@example.com", *on_edge]), (name, day)
            earlier = _emails(_contacts(api, **{f"filters[{name}_before]": day}))
            assert earlier == sorted(["before@example.com", *on_edge]), (name, day)


@pytest.mark.parametrize("strict", [True, False], ids=["assumed-on", "reference-only"])
def test_deal_task_due_filters_on_the_moment(
    api: httpx.Client, emulator: EmulatorFixture, strict: bool
) -> None:
    """SPEC: tasks "due after"/"due before" a date; a task due at that very moment is the assumed case."""
    due = "2031-05-04T09:00:00-05:00"
    created = api.post(
        "dealTasks",
        json={"dealTask": {"ownerType": "deal", "relid": "1", "duedate": due, "dealTasktype": "1"}},
    )
    assert created.status_code == 201, created.text
    task_id = created.json()["dealTask"]["id"]
    emulator.set_assumed(date_filters_strict=strict)
    both = {"filters[due_after]": due, "filters[due_before]": due}
    listed = [t["id"] for t in api.get("dealTasks", params=both).json()["dealTasks"]]
    assert listed == ([] if strict else [task_id])
    # A second away, the task is on the same side whatever the switch.
    earlier = {"filters[due_after]": "2031-05-04T08:59:59-05:00", "filters[due_before]": due}
    later = {"filters[due_after]": due, "filters[due_before]": "2031-05-04T09:00:01-05:00"}
    for params in (earlier, later):
        assert [t["id"] for t in api.get("dealTasks", params=params).json()["dealTasks"]] == (
            [] if strict else [task_id]
        )
    around = {
        "filters[due_after]": "2031-05-04T08:59:59-05:00",
        "filters[due_before]": "2031-05-04T09:00:01-05:00",
    }
    assert [t["id"] for t in api.get("dealTasks", params=around).json()["dealTasks"]] == [task_id]


@pytest.mark.parametrize("strict", [True, False], ids=["assumed-on", "reference-only"])
def test_deal_date_filters_follow_the_reference_whatever_the_switch(
    api: httpx.Client, emulator: EmulatorFixture, strict: bool
) -> None:
    """SPEC ``GET /deals``: ``*_after`` "greater than or equal to", ``*_before`` "less than": not assumed."""
    emulator.seed(
        {
            "deals": [
                {"title": f"edge-{n}", "pipeline": 1, "cdate": moment, "mdate": moment}
                for n, moment in enumerate(
                    ("2024-03-01T23:59:59-05:00", LOCAL_MIDNIGHT, "2024-03-02T00:00:01-05:00")
                )
            ]
        }
    )
    emulator.set_assumed(date_filters_strict=strict)

    def titles(**params: str) -> list[str]:
        deals = api.get("deals", params={"limit": 100, "filters[search]": "edge-", **params}).json()["deals"]
        return sorted(d["title"] for d in deals)

    for name in ("updated", "created"):
        assert titles(**{f"filters[{name}_after]": "2024-03-02"}) == ["edge-1", "edge-2"]
        assert titles(**{f"filters[{name}_before]": "2024-03-02"}) == ["edge-0"]


# -- e-commerce ("Deep Data"): the default seed's store is connection 1, customers cust-1 .. cust-20.


def _ecom_customer(api: httpx.Client, externalid: str, email: str) -> httpx.Response:
    body = {"connectionid": "1", "externalid": externalid, "email": email}
    return api.post("ecomCustomers", json={"ecomCustomer": body})


def _ecom_order(api: httpx.Client, externalid: str, customer: str, products: list[str]) -> httpx.Response:
    body = {
        "externalid": externalid,
        "source": 0,
        "email": "buyer@example.com",
        "orderProducts": [{"externalid": p, "name": p, "price": 100, "quantity": 1} for p in products],
        "totalPrice": 100 * len(products),
        "currency": "USD",
        "connectionid": 1,
        "customerid": int(customer),
        "externalCreatedDate": "2024-03-01T10:00:00-05:00",
    }
    return api.post("ecomOrders", json={"ecomOrder": body})


@pytest.mark.parametrize("lowercased", [True, False], ids=["assumed-on", "reference-only"])
def test_email_case_of_ecommerce_customers_and_orders(
    api: httpx.Client, emulator: EmulatorFixture, lowercased: bool
) -> None:
    emulator.set_assumed(ecom_email_lowercased=lowercased)
    created = _ecom_customer(api, "case-1", "Ann.Lee@Example.COM").json()["ecomCustomer"]
    stored = "ann.lee@example.com" if lowercased else "Ann.Lee@Example.COM"
    assert created["email"] == stored
    # filters[email] is case-blind either way: the customer is found from any spelling.
    found = api.get("ecomCustomers", params={"filters[email]": "ANN.LEE@example.com"}).json()
    assert [c["id"] for c in found["ecomCustomers"]] == [created["id"]]
    order = _ecom_order(api, "case-order", created["id"], ["P1"])
    order_id = order.json()["ecomOrder"]["id"]
    api.put(f"ecomOrders/{order_id}", json={"ecomOrder": {"email": "Ann.Lee@Example.COM"}})
    listed = api.get("ecomOrders", params={"filters[email]": "ann.lee@EXAMPLE.com"}).json()["ecomOrders"]
    assert [(o["id"], o["email"]) for o in listed] == [(order_id, stored)]
    renamed = api.put(f"ecomCustomers/{created['id']}", json={"ecomCustomer": {"email": "Ann@Example.COM"}})
    assert renamed.json()["ecomCustomer"]["email"] == ("ann@example.com" if lowercased else "Ann@Example.COM")
    # The contacts' switch is another one: it leaves e-commerce emails alone.
    emulator.set_assumed(contact_email_lowercased=not lowercased)
    again = _ecom_customer(api, "case-2", "Bo@Example.COM").json()["ecomCustomer"]
    assert again["email"] == ("bo@example.com" if lowercased else "Bo@Example.COM")


@pytest.mark.parametrize("replaces", [True, False], ids=["assumed-on", "reference-only"])
def test_order_products_of_a_put_replace_or_add(
    api: httpx.Client, emulator: EmulatorFixture, replaces: bool
) -> None:
    emulator.set_assumed(ecom_order_put_replaces_products=replaces)
    order = _ecom_order(api, "put-1", "1", ["A", "B"]).json()["ecomOrder"]
    product = {"externalid": "C", "name": "C", "price": 300, "quantity": 2}
    answer = api.put(f"ecomOrders/{order['id']}", json={"ecomOrder": {"orderProducts": [product]}})
    assert answer.status_code == 200
    held = api.get(f"ecomOrders/{order['id']}/orderProducts").json()["ecomOrderProducts"]
    assert [p["externalid"] for p in held] == (["C"] if replaces else ["A", "B", "C"])
    assert api.get(f"ecomOrders/{order['id']}").json()["ecomOrder"]["totalProducts"] == str(len(held))
    # A PUT without orderProducts leaves them alone either way.
    api.put(f"ecomOrders/{order['id']}", json={"ecomOrder": {"totalPrice": 600}})
    again = api.get(f"ecomOrders/{order['id']}/orderProducts").json()["ecomOrderProducts"]
    assert [p["id"] for p in again] == [p["id"] for p in held]


@pytest.mark.parametrize("accepted", [True, False], ids=["assumed-on", "reference-only"])
def test_a_second_ecommerce_record_with_the_same_externalid(
    api: httpx.Client, emulator: EmulatorFixture, accepted: bool
) -> None:
    emulator.set_assumed(ecom_duplicate_externalid_accepted=accepted)
    first = _ecom_customer(api, "dup-1", "dup@example.com")
    second = _ecom_customer(api, "dup-1", "dup@example.com")
    order = _ecom_order(api, "dup-order", first.json()["ecomCustomer"]["id"], ["A"])
    twice = _ecom_order(api, "dup-order", first.json()["ecomCustomer"]["id"], ["A"])
    assert (first.status_code, order.status_code) == (201, 201)
    customers = api.get("ecomCustomers", params={"filters[externalid]": "dup-1"}).json()["ecomCustomers"]
    orders = api.get("ecomOrders", params={"filters[externalid]": "dup-order"}).json()["ecomOrders"]
    if accepted:
        assert (second.status_code, twice.status_code) == (201, 201)
        assert (len(customers), len(orders)) == (2, 2)
        return
    assert (second.status_code, twice.status_code) == (422, 422)
    assert (len(customers), len(orders)) == (1, 1)
    [error] = second.json()["errors"]
    assert (error["code"], error["source"]) == ("duplicate", {"pointer": "/data/attributes/externalid"})
    assert "already exists" in error["title"]
    assert twice.json()["errors"][0]["code"] == "duplicate"
    # The same externalid in another store is another record; a PUT onto a taken one is refused.
    other = api.post(
        "connections", json={"connection": {"service": "shop2", "externalid": "shop2", "name": "Shop 2"}}
    ).json()["connection"]
    elsewhere = api.post(
        "ecomCustomers",
        json={"ecomCustomer": {"connectionid": other["id"], "externalid": "dup-1", "email": "d@example.com"}},
    )
    assert elsewhere.status_code == 201
    moved = api.put(f"ecomCustomers/{first.json()['ecomCustomer']['id']}", json={"ecomCustomer": {}})
    assert moved.status_code == 200  # its own externalid is not a duplicate of itself
    taken = api.put("ecomCustomers/1", json={"ecomCustomer": {"externalid": "dup-1"}})
    assert taken.status_code == 422


# -- contacts' lists, tags, sync and field values (issue 22, the "Choice" rows) --------------------


def _sync(api: httpx.Client, email: str, **contact: Any) -> httpx.Response:
    return api.post("contact/sync", json={"contact": {"email": email, **contact}})


@pytest.mark.parametrize("update_200", [True, False], ids=["assumed-on", "reference-only"])
def test_a_sync_that_updates_answers_200_or_201(
    api: httpx.Client, emulator: EmulatorFixture, update_200: bool
) -> None:
    emulator.set_assumed(contact_sync_update_200=update_200)
    assert _sync(api, "ann@example.com").status_code == 201  # a create is 201 either way
    updated = _sync(api, "ann@example.com", firstName="Ann")
    assert updated.status_code == (200 if update_200 else 201)
    assert updated.json()["contact"]["firstName"] == "Ann"


@pytest.mark.parametrize("ignored", [True, False], ids=["assumed-on", "reference-only"])
def test_list_and_tag_changes_move_udate_or_not(
    api: httpx.Client, emulator: EmulatorFixture, ignored: bool
) -> None:
    emulator.set_assumed(contact_udate_ignores_list_and_tag_changes=ignored)
    contact = _sync(api, "ann@example.com").json()["contact"]
    created = contact["udate"]

    def udate() -> str:
        return str(api.get(f"contacts/{contact['id']}").json()["contact"]["udate"])

    moves = []
    emulator.advance(60)
    api.post("contactLists", json={"contactList": {"list": 1, "contact": contact["id"], "status": 1}})
    moves.append(udate())
    emulator.advance(60)
    joined = api.post("contactTags", json={"contactTag": {"contact": contact["id"], "tag": 1}}).json()
    moves.append(udate())
    emulator.advance(60)
    assert api.delete(f"contactTags/{joined['contactTag']['id']}").status_code == 200
    moves.append(udate())
    if ignored:
        assert moves == [created] * 3
    else:
        assert len({created, *moves}) == 4  # each change moved it
    emulator.advance(60)
    # A field change moves it either way.
    assert _sync(api, "ann@example.com", firstName="Ann").json()["contact"]["udate"] != moves[-1]


@pytest.mark.parametrize("not_found", [True, False], ids=["assumed-on", "reference-only"])
def test_a_membership_of_an_unknown_contact_or_list(
    api: httpx.Client, emulator: EmulatorFixture, not_found: bool
) -> None:
    emulator.set_assumed(contact_list_unknown_404=not_found)
    contact = _sync(api, "ann@example.com").json()["contact"]["id"]
    for body, entity, ident in (
        ({"list": 1, "contact": 999, "status": 2}, "Subscriber", 999),
        ({"list": 99, "contact": contact, "status": 2}, "_List", 99),
    ):
        answer = api.post("contactLists", json={"contactList": body})
        if not_found:
            assert (answer.status_code, answer.json()) == (
                404,
                {"message": f"No Result found for {entity} with id {ident}"},
            )
        else:
            assert (answer.status_code, answer.json()) == (400, {})


@pytest.mark.parametrize("returns_existing", [True, False], ids=["assumed-on", "reference-only"])
def test_tagging_a_contact_twice(
    api: httpx.Client, emulator: EmulatorFixture, returns_existing: bool
) -> None:
    emulator.set_assumed(contact_tag_repeat_returns_existing=returns_existing)
    contact = _sync(api, "ann@example.com").json()["contact"]["id"]
    body = {"contactTag": {"contact": contact, "tag": 1}}
    first = api.post("contactTags", json=body)
    again = api.post("contactTags", json=body)
    assert first.status_code == 201
    if returns_existing:
        assert again.status_code == 201
        assert again.json()["contactTag"]["id"] == first.json()["contactTag"]["id"]
    else:
        assert again.status_code == 422
        [error] = again.json()["errors"]
        assert (error["code"], error["source"]["pointer"]) == ("duplicate", "/data/attributes/tag")
    # One row per pair either way.
    assert len(api.get(f"contacts/{contact}/contactTags").json()["contactTags"]) == 1


@pytest.mark.parametrize("refused", [True, False], ids=["assumed-on", "reference-only"])
def test_a_field_value_that_breaks_its_format(
    api: httpx.Client, emulator: EmulatorFixture, refused: bool
) -> None:
    emulator.set_assumed(contact_field_value_invalid_refused=refused)
    bad = [{"field": 2, "value": "next tuesday"}]  # field 2 is a date: YYYY-MM-DD
    answer = _sync(api, "ann@example.com", fieldValues=bad)
    if refused:
        assert answer.status_code == 422
        assert api.get("contacts", params={"email": "ann@example.com"}).json()["contacts"] == []
    else:
        assert answer.status_code == 201
        values = api.get(f"contacts/{answer.json()['contact']['id']}/fieldValues").json()["fieldValues"]
        assert [(v["field"], v["value"]) for v in values] == [("2", "next tuesday")]
    # An unknown field is refused either way.
    assert _sync(api, "bob@example.com", fieldValues=[{"field": 999, "value": "x"}]).status_code == 422


@pytest.mark.parametrize("refused", [True, False], ids=["assumed-on", "reference-only"])
def test_an_unknown_tag_filter_operator(api: httpx.Client, emulator: EmulatorFixture, refused: bool) -> None:
    emulator.set_assumed(tags_unknown_operator_refused=refused)
    answer = api.get("tags", params={"filters[search][like]": "vip"})
    if refused:
        assert answer.status_code == 400
    else:
        assert answer.status_code == 200
        assert len(answer.json()["tags"]) == 3  # ignored: every tag of the default account
    # A listed operator filters either way.
    listed = api.get("tags", params={"filters[search][eq]": "VIP"}).json()["tags"]
    assert [t["tag"] for t in listed] == ["vip"]


@pytest.mark.parametrize("by_id", [True, False], ids=["assumed-on", "reference-only"])
def test_default_order_of_the_deals_list(api: httpx.Client, emulator: EmulatorFixture, by_id: bool) -> None:
    ids = []
    for n in range(3):
        body = {"deal": {"title": f"Order probe {n}", "value": 100, "account": 1, "stage": 1, "owner": 1}}
        ids.append(str(api.post("deals", json=body).json()["deal"]["id"]))
        emulator.advance(60)
    emulator.set_assumed(deals_default_order_by_id=by_id)
    probes = {"filters[title]": "Order probe"}
    listed = [d["id"] for d in api.get("deals", params=probes).json()["deals"]]
    assert listed == (ids if by_id else ids[::-1])
    # A named order is honoured either way.
    ordered = api.get("deals", params={**probes, "orders[cdate]": "DESC"}).json()["deals"]
    assert [d["id"] for d in ordered] == ids[::-1]


@pytest.mark.parametrize("case_blind", [True, False], ids=["assumed-on", "reference-only"])
def test_account_names_compared_by_case(
    api: httpx.Client, emulator: EmulatorFixture, case_blind: bool
) -> None:
    emulator.set_assumed(account_names_case_insensitive=case_blind)
    first = api.post("accounts", json={"account": {"name": "Casey Co"}})
    other = api.post("accounts", json={"account": {"name": "CASEY CO"}})
    exact = api.post("accounts", json={"account": {"name": "Casey Co"}})
    assert (first.status_code, exact.status_code) == (201, 422)  # the same spelling, either way
    assert exact.json()["errors"][0]["code"] == "duplicate"
    assert other.status_code == (422 if case_blind else 201)
    # A rename to another case of its own name is no duplicate; onto another account's exact name it is.
    first_id = first.json()["account"]["id"]
    assert api.put(f"accounts/{first_id}", json={"account": {"name": "casey co"}}).status_code == 200
    if not case_blind:
        taken = api.put(f"accounts/{first_id}", json={"account": {"name": "CASEY CO"}})
        assert (taken.status_code, taken.json()["errors"][0]["code"]) == (422, "duplicate")


@pytest.mark.parametrize("duplicates", [True, False], ids=["assumed-on", "reference-only"])
def test_adding_a_running_contact_to_an_automation_again(
    api: httpx.Client, emulator: EmulatorFixture, duplicates: bool
) -> None:
    """``contact_automation_readd_duplicates``: a second enrolment, or the documented 403."""
    contact = api.post("contact/sync", json={"contact": {"email": "ann@example.com"}}).json()["contact"]["id"]
    add = {"contactAutomation": {"contact": contact, "automation": 2}}  # re-engagement: 1 h
    first = api.post("contactAutomations", json=add)
    assert first.status_code == 201
    emulator.set_assumed(contact_automation_readd_duplicates=duplicates)

    again = api.post("contactAutomations", json=add)

    rows = api.get(f"contacts/{contact}/contactAutomations").json()["contactAutomations"]
    if duplicates:
        assert again.status_code == 201
        assert len(rows) == 2
    else:
        assert (again.status_code, again.json()) == (403, {"message": "Could not create SubscriberSeries"})
        assert [row["id"] for row in rows] == [first.json()["contactAutomation"]["id"]]
    # Once the first has finished, adding again enrols either way.
    emulator.advance(3_601)
    assert api.post("contactAutomations", json=add).status_code == 201


@pytest.mark.parametrize("atomic", [True, False], ids=["assumed-on", "reference-only"])
def test_an_imported_contact_that_fails_in_part(
    api: httpx.Client, emulator: EmulatorFixture, atomic: bool
) -> None:
    """``import_contact_failure_atomic``: nothing of the contact written, or all but the failing parts."""
    emulator.seed({"contacts": [{"email": "left@example.com", "lists": {"1": 2}}]})
    emulator.set_assumed(import_contact_failure_atomic=atomic)
    row = {
        "email": "left@example.com",
        "first_name": "Left",
        "tags": ["imported"],
        "subscribe": [{"listid": 1}, {"listid": 2}],  # left list 1
    }
    batch = api.post("import/bulk_import", json={"contacts": [row, {"email": "bad@", "first_name": "X"}]})
    # The switch is read when the batch is queued: switching back now changes nothing for it.
    emulator.set_assumed(import_contact_failure_atomic=True)
    emulator.advance(10)

    info = api.get("import/info", params={"batchId": batch.json()["batchId"]}).json()
    assert (info["status"], info["success"], sorted(info["failure"])) == (
        "completed",
        [],
        ["bad@", "left@example.com"],
    )
    left = emulator.contact("left@example.com")
    assert left is not None
    assert left["lists"]["1"]["status"] == 2  # never re-subscribed
    assert emulator.contact("bad@") is None
    if atomic:
        assert (left["firstName"], left["tags"], sorted(left["lists"])) == ("", [], ["1"])
    else:
        assert (left["firstName"], left["tags"], left["lists"]["2"]["status"]) == ("Left", ["imported"], 1)


@pytest.mark.parametrize("zero_based", [True, False], ids=["assumed-on", "reference-only"])
def test_a_bulk_import_validation_names_a_contact_by_its_index(
    api: httpx.Client, emulator: EmulatorFixture, zero_based: bool
) -> None:
    """``import_failure_index_zero_based``: the 400 names the third contact 2, or 3."""
    emulator.set_assumed(import_failure_index_zero_based=zero_based)
    rows = [{"email": "a@example.com"}, {"email": "b@example.com"}, {"first_name": "no email"}]
    response = api.post("import/bulk_import", json={"contacts": rows})
    assert response.status_code == 400
    assert [reason["contact"] for reason in response.json()["failureReasons"]] == [2 if zero_based else 3]


def _webhook(api: httpx.Client, url: str, events: list[str]) -> dict[str, Any]:
    body = {"webhook": {"name": "airflow", "url": url, "events": events, "sources": ["api"]}}
    created: dict[str, Any] = api.post("webhooks", json=body).json()["webhook"]
    return created


@pytest.mark.parametrize("removes", [True, False], ids=["assumed-on", "reference-only"])
def test_a_webhook_deactivated_by_a_410_leaves_the_list_or_stays_flagged(
    api: httpx.Client, emulator: EmulatorFixture, removes: bool
) -> None:
    from tests.emulator.test_emulator_webhooks import Receiver

    receiver = Receiver()
    try:
        emulator.set_assumed(webhook_410_removes=removes)
        hook = _webhook(api, receiver.url, ["subscribe"])
        receiver.status = 410
        contact = api.post("contact/sync", json={"contact": {"email": "gone@example.com"}}).json()["contact"]
        api.post("contactLists", json={"contactList": {"list": 1, "contact": contact["id"], "status": 1}})
        assert [h["id"] for h in emulator.client.wait_for_webhook_deliveries()["deactivated"]] == [hook["id"]]
        listed = api.get("webhooks").json()["webhooks"]
        by_id = api.get(f"webhooks/{hook['id']}")
        if removes:
            assert listed == []
            assert by_id.status_code == 404
            assert api.delete(f"webhooks/{hook['id']}").status_code == 404
        else:
            assert listed == [{**hook, "state": "0"}]
            assert by_id.json()["webhook"] == {**hook, "state": "0"}
            renamed = api.put(f"webhooks/{hook['id']}", json={"webhook": {"name": "renamed"}})
            assert renamed.json()["webhook"]["state"] == "0"  # an update does not reactivate it
            api.post("contactLists", json={"contactList": {"list": 1, "contact": contact["id"], "status": 2}})
            api.post("contactLists", json={"contactList": {"list": 1, "contact": contact["id"], "status": 1}})
            assert len(emulator.client.wait_for_webhook_deliveries()["deliveries"]) == 1  # sends nothing
            assert api.delete(f"webhooks/{hook['id']}").json() == {}
            assert api.get("webhooks").json()["webhooks"] == []
    finally:
        receiver.close()


@pytest.mark.parametrize("secondary", [True, False], ids=["assumed-on", "reference-only"])
def test_the_keys_of_a_delivery(api: httpx.Client, emulator: EmulatorFixture, secondary: bool) -> None:
    from tests.emulator.test_emulator_webhooks import Receiver

    receiver = Receiver()
    try:
        emulator.set_assumed(webhook_delivery_secondary_fields=secondary)
        _webhook(api, receiver.url, ["unsubscribe", "contact_tag_added"])
        contact = api.post("contact/sync", json={"contact": {"email": "ann@example.com"}}).json()["contact"]
        api.post("contactLists", json={"contactList": {"list": 1, "contact": contact["id"], "status": 2}})
        api.post("contactTags", json={"contactTag": {"contact": contact["id"], "tag": "1"}})
        emulator.client.wait_for_webhook_deliveries()
        reference = {"type", "date_time", "initiated_by", "contact[email]"}
        for body in receiver.bodies:
            assert reference <= set(body)
            assert body["contact[email]"] == "ann@example.com"
        if secondary:
            assert {"initiated_from", "list", "contact[id]", "contact[ip]", "contact[tags]"} <= set(
                receiver.bodies[0]
            )
            assert "tag" in receiver.bodies[1]
        else:
            assert [set(b) for b in receiver.bodies] == [reference, reference]
    finally:
        receiver.close()


@pytest.mark.parametrize("creation_order", [True, False], ids=["assumed-on", "reference-only"])
def test_order_of_a_schemas_custom_object_records(
    api: httpx.Client, emulator: EmulatorFixture, creation_order: bool
) -> None:
    """``custom_object_records_creation_order``: SPEC declares no order for the list; off, newest first."""
    schema = {
        "slug": "order-probe",
        "labels": {"singular": "Probe", "plural": "Probes"},
        "fields": [{"id": "n", "labels": {"singular": "N", "plural": "N"}, "type": "text"}],
    }
    schema_id = api.post("customObjects/schemas", json={"schema": schema}).json()["schema"]["id"]
    for n in range(3):
        body = {"record": {"externalId": f"p{n}", "fields": [{"id": "n", "value": str(n)}]}}
        assert api.post(f"customObjects/records/{schema_id}", json=body).status_code == 201
        emulator.advance(60)
    # An update in place does not move a record.
    body = {"record": {"externalId": "p0", "fields": [{"id": "n", "value": "again"}]}}
    assert api.post(f"customObjects/records/{schema_id}", json=body).status_code in (200, 201)
    emulator.set_assumed(custom_object_records_creation_order=creation_order)
    listed = api.get(f"customObjects/records/{schema_id}").json()
    expected = ["p0", "p1", "p2"] if creation_order else ["p2", "p1", "p0"]
    assert [r["externalId"] for r in listed["records"]] == expected
    # Pages follow the same order.
    second = api.get(f"customObjects/records/{schema_id}", params={"limit": 1, "offset": 1}).json()
    assert [r["externalId"] for r in second["records"]] == [expected[1]]
    assert second["meta"]["total"] == 3
