"""E-commerce customers and orders upserted by externalid, in real DAG runs on the emulator: never twice."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture

from airflow_provider_activecampaign.operators.ecommerce import ActiveCampaignUpsertEcomOrdersOperator
from tests.integration.contacts_support import api_counts, read_jsonl, run_operator

pytestmark = pytest.mark.integration

#: The default seed's store: connection 1, customers cust-1 .. cust-20, orders order-1 .. order-40.
STORE = "examplestore"


def customers() -> list[dict[str, Any]]:
    return [
        {"externalid": "wh-1", "email": "Ann@Example.com", "acceptsMarketing": "yes"},
        {"externalid": "wh-2", "email": "bob@example.com", "acceptsMarketing": 0},
        {"externalid": "wh-3", "email": "not-an-email", "acceptsMarketing": 1},
    ]


def orders(**changes: Any) -> list[dict[str, Any]]:
    first = {
        "externalid": "ord-1001",
        "customer_externalid": "wh-1",
        "email": "ann@example.com",
        "totalPrice": 10900,
        "externalCreatedDate": "2024-03-01T10:00:00-05:00",
        "orderNumber": "A-1001",
        "orderProducts": [
            {
                "externalid": "PROD-POGO",
                "name": "Pogo Stick",
                "price": 4900,
                "quantity": 1,
                "category": "Toys",
            },
            {"externalid": "PROD-SK8", "name": "Skateboard", "price": 3000, "quantity": 2},
        ],
        **changes,
    }
    return [
        first,
        {  # the customer found by the order's email (the only customer of the store with it)
            "externalid": "ord-1002",
            "email": "bob@example.com",
            "totalPrice": "2500",
            "externalCreatedDate": "2024-03-02",
            "orderProducts": json.dumps(  # a JSON column, as from a CSV file or SQL
                [{"externalid": "PROD-BOOK", "name": "Data Book", "price": 2500, "quantity": 1}]
            ),
        },
        {
            "externalid": "ord-1003",
            "email": "ann@example.com",
            "totalPrice": 45.67,
            "externalCreatedDate": "2024-03-03",
        },
    ]


def posts(emulator: EmulatorFixture, path: str) -> int:
    return sum(n for key, n in api_counts(emulator).items() if key.startswith(f"POST /api/3/{path} "))


def by_externalid(emulator: EmulatorFixture, section: str) -> Counter[str]:
    return Counter(str(item["externalid"]) for item in emulator.crm(section)[section])


def test_customers_and_orders_are_written_once_bad_rows_reported_and_a_rerun_writes_nothing(
    emulator: EmulatorFixture, run_dag: Any, tmp_path: Path
) -> None:
    emulator.configure(speed=50)
    customers_conf = {"records": customers(), "failures_path": str(tmp_path / "customers.jsonl")}
    first = run_dag("writes_ecom_customers", conf=customers_conf)
    assert run_dag.task_states(first) == {"customers": "success"}
    result = run_dag.xcom(first, "customers")
    assert (result["created"], result["rejected"]) == (2, 1)
    [bad] = read_jsonl(tmp_path / "customers.jsonl")
    assert (bad["row"], bad["externalid"], bad["field"]) == (3, "wh-3", "email")
    stored = {c["externalid"]: c for c in emulator.crm("ecom_customers")["ecom_customers"]}
    assert (stored["wh-1"]["email"], stored["wh-1"]["acceptsMarketing"]) == ("ann@example.com", "1")
    assert stored["wh-2"]["connectionid"] == "1"

    orders_conf = {"records": orders(), "failures_path": str(tmp_path / "orders.jsonl")}
    placed = run_dag("writes_ecom_orders", conf=orders_conf)
    assert run_dag.task_states(placed) == {"orders": "success"}
    result = run_dag.xcom(placed, "orders")
    assert (result["created"], result["rejected"]) == (2, 1)
    [bad] = read_jsonl(tmp_path / "orders.jsonl")
    assert (bad["externalid"], bad["field"]) == ("ord-1003", "totalPrice")
    assert "amount_unit='major'" in bad["reason"]
    stored_orders = {o["externalid"]: o for o in emulator.crm("ecom_orders")["ecom_orders"]}
    ann = stored_orders["ord-1001"]
    assert (ann["source"], ann["customerid"], ann["totalPrice"], ann["totalProducts"]) == (
        "0",  # historical unless the DAG says otherwise: no "makes a purchase" automation fires
        stored["wh-1"]["id"],
        "10900",
        "2",
    )
    assert stored_orders["ord-1002"]["customerid"] == stored["wh-2"]["id"]
    assert (posts(emulator, "ecomCustomers"), posts(emulator, "ecomOrders")) == (2, 2)

    # A new DAG run, one customer and one order changed: both found by externalid and updated in
    # place (PUT), the unchanged ones not written at all, nothing created a second time.
    changed_customers = [customers()[0], {**customers()[1], "acceptsMarketing": "true"}]
    again = run_dag("writes_ecom_customers", conf={**customers_conf, "records": changed_customers})
    result = run_dag.xcom(again, "customers")
    assert (result["created"], result["updated"], result["unchanged"]) == (0, 1, 1)
    changed_orders = orders(
        totalPrice=4900,
        orderProducts=[{"externalid": "PROD-POGO", "name": "Pogo Stick", "price": 4900, "quantity": 1}],
    )[:2]
    again = run_dag("writes_ecom_orders", conf={**orders_conf, "records": changed_orders})
    result = run_dag.xcom(again, "orders")
    assert (result["created"], result["updated"], result["unchanged"]) == (0, 1, 1)
    stored = {c["externalid"]: c for c in emulator.crm("ecom_customers")["ecom_customers"]}
    assert stored["wh-2"]["acceptsMarketing"] == "1"
    order = next(o for o in emulator.crm("ecom_orders")["ecom_orders"] if o["externalid"] == "ord-1001")
    assert (order["totalPrice"], order["totalProducts"]) == ("4900", "1")
    assert by_externalid(emulator, "ecom_orders")["ord-1001"] == 1
    assert by_externalid(emulator, "ecom_customers")["wh-1"] == 1
    counts = api_counts(emulator)
    assert (posts(emulator, "ecomCustomers"), posts(emulator, "ecomOrders")) == (2, 2)
    # The customer, and the order twice: first with no products (it emptied: this account replaces a
    # PUT's products, assumed switch ecom_order_put_replaces_products), then with the record's.
    assert sum(n for key, n in counts.items() if key.startswith("PUT ")) == 3


def test_real_time_orders_only_when_asked_and_an_unknown_store_fails_before_writing(
    emulator: EmulatorFixture, tmp_path: Path
) -> None:
    row = {**orders()[0], "customer_externalid": "cust-1", "email": "shopper1@example.com"}
    result = run_operator(
        ActiveCampaignUpsertEcomOrdersOperator(
            task_id="orders",
            connection="My Example Store",
            records=[row],
            source=1,
            currency="usd",
            failures_path=str(tmp_path / "f.jsonl"),
        )
    )
    assert result["created"] == 1
    order = next(o for o in emulator.crm("ecom_orders")["ecom_orders"] if o["externalid"] == "ord-1001")
    assert (order["source"], order["currency"]) == ("1", "USD")
    with pytest.raises(ValueError, match=r"No e-commerce connection 'nostore'.*My Example Store"):
        run_operator(
            ActiveCampaignUpsertEcomOrdersOperator(
                task_id="orders", connection="nostore", records=[row], failures_path=str(tmp_path / "g.jsonl")
            )
        )
    assert posts(emulator, "ecomOrders") == 1


def test_the_example_dag_backfills_the_shop_once(emulator: EmulatorFixture, run_dag: Any) -> None:
    emulator.configure(speed=50)
    first = run_dag("activecampaign_ecommerce_backfill")
    assert run_dag.task_states(first) == {"customers": "success", "orders": "success"}
    assert run_dag.xcom(first, "orders")["created"] == 3
    orders = [o for o in emulator.crm("ecom_orders")["ecom_orders"] if o["externalid"].startswith("ord-500")]
    assert sorted((o["externalid"], o["source"], o["totalProducts"]) for o in orders) == [
        ("ord-5001", "0", "2"),
        ("ord-5002", "0", "1"),
        ("ord-5003", "0", "1"),
    ]
    again = run_dag("activecampaign_ecommerce_backfill")
    assert (run_dag.xcom(again, "customers")["unchanged"], run_dag.xcom(again, "orders")["unchanged"]) == (
        3,
        3,
    )
    assert (posts(emulator, "ecomCustomers"), posts(emulator, "ecomOrders")) == (3, 3)
