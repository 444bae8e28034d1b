"""Export-side resources in the emulator: e-commerce (connections, customers, orders, order
products), notes and deal tasks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from activecampaign_emulator.pytest_plugin import EmulatorFixture

Check = Callable[[httpx.Response, str], dict[str, Any]]


def test_ecommerce_reads_match_the_official_examples(api: httpx.Client, check_example: Check) -> None:
    connections = check_example(api.get("connections"), "connections_list")
    assert connections["meta"]["total"] == "1"
    check_example(api.get("ecomCustomers", params={"limit": 3}), "ecom_customers_list")
    check_example(api.get("ecomCustomers/1"), "ecom_customer_get")
    orders = check_example(api.get("ecomOrders", params={"limit": 5}), "ecom_orders_list")
    assert orders["meta"]["total"] == "40"
    check_example(api.get("ecomOrders/1"), "ecom_order_get")
    check_example(api.get("ecomOrderProducts", params={"limit": 5}), "ecom_order_products_list")
    check_example(api.get("ecomOrders/1/orderProducts"), "ecom_order_order_products")
    check_example(api.get("ecomOrderProducts/1"), "ecom_order_product_get")
    assert api.get("ecomOrderProducts/99999").json() == {
        "message": "No Result found for EcomOrderProduct with id 99999"
    }


def test_create_connection_customer_and_order(
    api: httpx.Client, check_example: Check, emulator: EmulatorFixture
) -> None:
    connection = check_example(
        api.post(
            "connections",
            json={
                "connection": {
                    "service": "fooCommerce",
                    "externalid": "toystore123",
                    "name": "Toystore, Inc.",
                    "logoUrl": "http://example.com/i/foo.png",
                    "linkUrl": "http://example.com/foo/",
                }
            },
        ),
        "connection_create",
    )["connection"]
    customer = check_example(
        api.post(
            "ecomCustomers",
            json={
                "ecomCustomer": {
                    "connectionid": connection["id"],
                    "externalid": "56789",
                    "email": "Alice@Example.com",
                }
            },
        ),
        "ecom_customer_create",
    )["ecomCustomer"]
    assert customer["email"] == "alice@example.com"
    order = check_example(
        api.post(
            "ecomOrders",
            json={
                "ecomOrder": {
                    "externalid": "3246315233",
                    "source": "1",
                    "email": "alice@example.com",
                    "orderProducts": [
                        {
                            "externalid": "PROD12345",
                            "name": "Pogo Stick",
                            "price": 4900,
                            "quantity": 1,
                            "category": "Toys",
                        },
                        {
                            "externalid": "PROD23456",
                            "name": "Skateboard",
                            "price": 3000,
                            "quantity": 2,
                            "category": "Toys",
                        },
                    ],
                    "totalPrice": 10900,
                    "currency": "USD",
                    "connectionid": connection["id"],
                    "customerid": customer["id"],
                    "externalCreatedDate": "2016-09-13T17:41:39-04:00",
                }
            },
        ),
        "ecom_order_create",
    )
    assert [p["name"] for p in order["ecomOrderProducts"]] == ["Pogo Stick", "Skateboard"]
    order_id = order["ecomOrder"]["id"]
    assert order["ecomOrder"]["externalCreatedDate"] == "2016-09-13T16:41:39-05:00"  # account offset
    by_email = api.get("ecomOrders", params={"filters[email]": "alice@example.com"}).json()
    assert [o["id"] for o in by_email["ecomOrders"]] == [order_id]
    totals = api.get(f"ecomCustomers/{customer['id']}").json()["ecomCustomer"]
    assert (totals["totalOrders"], totals["totalRevenue"]) == ("1", "10900")
    assert (
        api.post("ecomOrders", json={"ecomOrder": {"externalid": "x", "email": "a@b.co"}}).status_code == 422
    )
    assert api.delete(f"ecomOrders/{order_id}").json() == {}
    assert api.get(f"ecomOrders/{order_id}/orderProducts").status_code == 404
    assert emulator.crm("counts")["counts"]["ecom_orders"] == 40


def test_update_customer_and_order_answer_as_the_reference(api: httpx.Client, check_example: Check) -> None:
    """PUT /ecomCustomers/{id} and PUT /ecomOrders/{id} (the e-commerce writers' updates)."""
    customer = check_example(
        api.put("ecomCustomers/1", json={"ecomCustomer": {"acceptsMarketing": "1"}}), "ecom_customer_update"
    )["ecomCustomer"]
    assert (customer["id"], customer["acceptsMarketing"]) == ("1", "1")
    updated = check_example(
        api.put(
            "ecomOrders/1",
            json={
                "ecomOrder": {
                    "externalid": "order-1",
                    "totalPrice": 4900,
                    "orderProducts": [
                        {"externalid": "PROD12345", "name": "Pogo Stick", "price": 4900, "quantity": 1}
                    ],
                }
            },
        ),
        "ecom_order_update",
    )
    assert (updated["ecomOrder"]["id"], updated["ecomOrder"]["totalPrice"]) == ("1", 4900)
    assert [p["name"] for p in updated["ecomOrderProducts"]] == ["Pogo Stick"]
    products = api.get("ecomOrders/1/orderProducts").json()["ecomOrderProducts"]
    assert [(p["externalid"], p["price"]) for p in products] == [("PROD12345", "4900")]


def test_notes_and_tasks(
    api: httpx.Client,
    check_example: Check,
    emulator: EmulatorFixture,
    ac_example: Callable[[str], dict[str, Any]],
    shape: Callable[[Any, Any], list[str]],
) -> None:
    notes = check_example(api.get("notes", params={"limit": 5}), "notes_list")
    assert notes["meta"]["total"] == "40"
    check_example(api.get("notes/1"), "note_get")
    cid = api.post("contact/sync", json={"contact": {"email": "noted@example.com"}}).json()["contact"]["id"]
    created = check_example(
        api.post(
            "notes",
            json={"note": {"note": "This is the text of the note", "relid": cid, "reltype": "Subscriber"}},
        ),
        "note_create",
    )
    assert created["note"]["owner"] == {"type": "contact", "id": int(cid)}
    assert [n["note"] for n in api.get(f"contacts/{cid}/notes").json()["notes"]] == [
        "This is the text of the note"
    ]
    deal_note = check_example(
        api.post("deals/1/notes", json={"note": {"note": "Note for the deal"}}), "deal_note_create"
    )
    assert deal_note["note"]["reltype"] == "Deal"
    assert "Note for the deal" in [n["note"] for n in api.get("deals/1/notes").json()["notes"]]
    emulator.advance(10)
    edited = api.put(
        f"notes/{deal_note['note']['id']}", json={"note": {"note": "Edited", "relid": 1, "reltype": "Deal"}}
    )
    assert edited.json()["note"]["mdate"] > deal_note["note"]["mdate"]
    check_example(api.delete("notes/999999"), "note_delete_403")
    assert api.post("notes", json={"note": {"note": "x", "relid": 1, "reltype": "Nope"}}).status_code == 422

    tasks = api.get("dealTasks", params={"limit": 5})
    assert tasks.status_code == 200  # SPEC labels this read 201; see notes.py
    assert shape(tasks.json(), ac_example("deal_tasks_list")["body"]) == []
    task = check_example(
        api.post(
            "dealTasks",
            json={
                "dealTask": {
                    "ownerType": "deal",
                    "relid": "1",
                    "note": "Call",
                    "duedate": "2030-02-25T12:00:00-06:00",
                    "dealTasktype": "1",
                }
            },
        ),
        "deal_task_create",
    )["dealTask"]
    due_later = api.get(
        "dealTasks", params={"filters[due_after]": "2030-01-01", "filters[reltype]": "deal"}
    ).json()
    assert [t["id"] for t in due_later["dealTasks"]] == [task["id"]]
    assert task["id"] in {t["id"] for t in api.get("deals/1/tasks").json()["dealTasks"]}
    ranged = api.get("dealTasks", params={"filters[duedate_range]": "2030-02-25+2030-02-26"}).json()
    assert ranged["meta"]["total"] == "1"
    task_types = check_example(api.get("dealTasktypes"), "deal_task_types_list")
    assert task_types["meta"]["total"] == "2"
