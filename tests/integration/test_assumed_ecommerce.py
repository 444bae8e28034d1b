"""The e-commerce operators under each e-commerce behaviour the reference leaves open, both ways.

Switches (``activecampaign_emulator/assumed.py``, docs/emulator.md "Assumed behaviours"):

* ``ecom_order_put_replaces_products``: whether ``PUT /ecomOrders/{id}``'s ``orderProducts``
  replace the order's products or are added to them. Either way an order never grows: a re-run,
  a changed order and a PUT that times out and applies late leave it with the record's products
  (replaces) or with its own, reported ``failed`` with what to do (adds).
* ``ecom_duplicate_externalid_accepted``: whether a second customer or order with the same
  (``connectionid``, ``externalid``) is accepted or refused with a 422. A create that a run sends
  while an earlier run's timed-out create is still to land: refused, it is found and updated in
  place (nothing failed, nothing twice); accepted, the account holds two and the next run says so.
* ``ecom_email_lowercased``: a customer stored as sent (``Bob.Lee@Example.COM``) or lower-cased is
  found from any spelling by the order writer, and a re-run changes nothing.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture

from airflow_provider_activecampaign.operators.ecommerce import (
    ActiveCampaignUpsertEcomCustomersOperator,
    ActiveCampaignUpsertEcomOrdersOperator,
)
from tests.integration.contacts_support import FakeTI, api_counts, read_jsonl, use_emulator

pytestmark = pytest.mark.integration

STORE = "examplestore"
CUSTOMER = {"externalid": "wh-1", "email": "ann@example.com"}
POGO = {"externalid": "PROD-POGO", "name": "Pogo Stick", "price": 4900, "quantity": 1}
SK8 = {"externalid": "PROD-SK8", "name": "Skateboard", "price": 3000, "quantity": 2}
BOOK = {"externalid": "PROD-BOOK", "name": "Data Book", "price": 2500, "quantity": 1}
PHONES = {"externalid": "PROD-HEAD", "name": "Headphones", "price": 7999, "quantity": 1}


def order(externalid: str, products: list[dict[str, Any]] | None, **changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "externalid": externalid,
        "customer_externalid": "wh-1",
        "email": "ann@example.com",
        "totalPrice": sum(p["price"] * p["quantity"] for p in products or []) or 100,
        "externalCreatedDate": "2024-03-01T10:00:00-05:00",
        **changes,
    }
    if products is not None:
        record["orderProducts"] = products
    return record


def run(operator: Any, run_id: str = "manual__2024-01-01T00:00:00+00:00") -> dict[str, Any]:
    """``operator.execute`` as the task of DAG run ``run_id`` (each run has its own write journal)."""
    ti = type("TI", (FakeTI,), {"run_id": run_id, "task_id": operator.task_id})()
    result: dict[str, Any] = operator.execute({"ti": ti})
    return result


def upsert_orders(tmp_path: Path, name: str, records: list[dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
    return run(
        ActiveCampaignUpsertEcomOrdersOperator(
            task_id="orders",
            connection=STORE,
            records=records,
            currency="USD",
            failures_path=str(tmp_path / f"{name}.jsonl"),
            max_failure_ratio=1,
        ),
        **kwargs,
    )


def upsert_customers(
    tmp_path: Path, name: str, records: list[dict[str, Any]], **kwargs: Any
) -> dict[str, Any]:
    return run(
        ActiveCampaignUpsertEcomCustomersOperator(
            task_id="customers",
            connection=STORE,
            records=records,
            failures_path=str(tmp_path / f"{name}.jsonl"),
            max_failure_ratio=1,
        ),
        **kwargs,
    )


def api(emulator: EmulatorFixture) -> httpx.Client:
    return httpx.Client(base_url=f"{emulator.url}/api/3", headers={"Api-Token": emulator.api_key}, timeout=10)


def held(emulator: EmulatorFixture, externalid: str) -> list[tuple[str, str]]:
    """The order's products as (externalid, quantity), in the order the account lists them."""
    [found] = [o for o in emulator.crm("ecom_orders")["ecom_orders"] if o["externalid"] == externalid]
    with api(emulator) as client:
        rows = client.get(f"ecomOrders/{found['id']}/orderProducts").json()["ecomOrderProducts"]
    return [(p["externalid"], str(p["quantity"])) for p in rows]


def puts(emulator: EmulatorFixture) -> int:
    return sum(n for key, n in api_counts(emulator).items() if key.startswith("PUT /api/3/ecomOrders/"))


def by_externalid(emulator: EmulatorFixture, section: str) -> Counter[str]:
    return Counter(str(item["externalid"]) for item in emulator.crm(section)[section])


PRODUCT_MODES = pytest.mark.parametrize("replaces", [True, False], ids=["put-replaces", "put-adds"])


@PRODUCT_MODES
def test_order_products_never_grow_whether_a_put_replaces_or_adds(
    emulator: EmulatorFixture, tmp_path: Path, replaces: bool
) -> None:
    use_emulator(emulator, speed=50)
    emulator.set_assumed(ecom_order_put_replaces_products=replaces)
    upsert_customers(tmp_path, "customers", [CUSTOMER])
    first = [order("o-1", [POGO, SK8]), order("o-2", [BOOK]), order("o-3", None)]
    assert upsert_orders(tmp_path, "create", first)["created"] == 3

    # The same data again: nothing differs, nothing is PUT.
    again = upsert_orders(tmp_path, "same", first)
    assert (again["unchanged"], puts(emulator)) == (3, 0)

    # Only the price changes: one PUT without products; the products stay the very same lines.
    before = held(emulator, "o-1")
    priced = upsert_orders(tmp_path, "priced", [order("o-1", [POGO, SK8], totalPrice=9999)])
    assert (priced["updated"], puts(emulator)) == (1, 1)
    assert held(emulator, "o-1") == before

    # The products change: o-1 loses a skateboard line, o-2 gains headphones, o-3 gets its first.
    changed = [
        order("o-1", [POGO], totalPrice=9999),
        order("o-2", [BOOK, PHONES]),
        order("o-3", [POGO]),
    ]
    result = upsert_orders(tmp_path, "changed", changed)
    assert held(emulator, "o-3") == [("PROD-POGO", "1")]  # it held none: replace and add are alike
    if replaces:
        assert (result["updated"], result["failed"]) == (3, 0)
        assert held(emulator, "o-1") == [("PROD-POGO", "1")]
        assert held(emulator, "o-2") == [("PROD-BOOK", "1"), ("PROD-HEAD", "1")]
        # o-1 was PUT with no products first (it emptied: the account replaces), then with its own;
        # o-2 and o-3 in one PUT each once that was known.
        assert puts(emulator) == 1 + 4
    else:
        assert (result["updated"], result["failed"]) == (1, 2)
        assert held(emulator, "o-1") == [("PROD-POGO", "1"), ("PROD-SK8", "2")]  # not grown
        assert held(emulator, "o-2") == [("PROD-BOOK", "1")]
        lines = {line["externalid"]: line for line in read_jsonl(tmp_path / "changed.jsonl")}
        assert sorted(lines) == ["o-1", "o-2"]
        assert all(line["stage"] == "failed" for line in lines.values())
        assert "a PUT with no products left its 2 as they were" in lines["o-1"]["reason"]
        assert "DELETE /ecomOrders/" in lines["o-1"]["reason"]
        assert "its other attributes were updated, but its products" in lines["o-2"]["reason"]
        assert "were not sent" in lines["o-2"]["reason"]
        # o-1's empty PUT (harmless), o-2 its new total without products, o-3 its products.
        assert puts(emulator) == 1 + 3

    # A re-run of the changed data: replaced, nothing to do; added, the same report, no growth.
    rerun = upsert_orders(tmp_path, "rerun", changed, run_id="manual__2024-01-02T00:00:00+00:00")
    if replaces:
        assert (rerun["unchanged"], rerun["failed"]) == (3, 0)
    else:
        assert (rerun["unchanged"], rerun["failed"]) == (1, 2)
        assert held(emulator, "o-1") == [("PROD-POGO", "1"), ("PROD-SK8", "2")]
        assert held(emulator, "o-2") == [("PROD-BOOK", "1")]
        # What the report says to do works: the order deleted, the next run creates it anew.
        order_id = next(
            o["id"] for o in emulator.crm("ecom_orders")["ecom_orders"] if o["externalid"] == "o-1"
        )
        with api(emulator) as client:  # as the account's owner would, outside the provider
            assert client.delete(f"ecomOrders/{order_id}").status_code == 200
        fixed = upsert_orders(tmp_path, "fixed", changed[:1], run_id="manual__2024-01-03T00:00:00+00:00")
        assert (fixed["created"], fixed["failed"]) == (1, 0)
        assert held(emulator, "o-1") == [("PROD-POGO", "1")]
    assert by_externalid(emulator, "ecom_orders") == Counter(
        {**{f"order-{n}": 1 for n in range(1, 41)}, "o-1": 1, "o-2": 1, "o-3": 1}
    )


@PRODUCT_MODES
def test_a_products_put_that_times_out_and_applies_late_is_not_sent_again(
    emulator: EmulatorFixture, tmp_path: Path, replaces: bool
) -> None:
    """The order's first PUT times out (1 s) and ActiveCampaign applies it 3 s later; then a retry."""
    use_emulator(emulator, speed=1)
    emulator.set_assumed(ecom_order_put_replaces_products=replaces)
    upsert_customers(tmp_path, "customers", [CUSTOMER])
    upsert_orders(tmp_path, "create", [order("o-1", [POGO, SK8])])
    emulator.export_connection(timeout=1)
    emulator.add_fault("PUT", "/api/3/ecomOrders/{id}", "late", delay=3, times=1)
    changed = [order("o-1", [POGO, BOOK])]

    first = upsert_orders(tmp_path, "try1", changed)

    assert (first["unknown"], first["updated"], first["failed"]) == (1, 0, 0)
    [line] = read_jsonl(tmp_path / "try1.jsonl")
    assert (line["stage"], line["sent"]) == ("unknown", 1)
    assert "not sent again" in line["reason"]
    time.sleep(3.5)  # the late PUT (with no products: the run had not learnt the account yet) lands
    assert held(emulator, "o-1") == ([] if replaces else [("PROD-POGO", "1"), ("PROD-SK8", "2")])

    again = upsert_orders(tmp_path, "try2", changed)  # the task's retry (same DAG run)

    if replaces:
        assert (again["updated"], again["failed"], again["unknown"]) == (1, 0, 0)
        assert held(emulator, "o-1") == [("PROD-POGO", "1"), ("PROD-BOOK", "1")]
    else:
        assert (again["updated"], again["failed"], again["unknown"]) == (0, 1, 0)
        assert held(emulator, "o-1") == [("PROD-POGO", "1"), ("PROD-SK8", "2")]
    assert by_externalid(emulator, "ecom_orders")["o-1"] == 1


@pytest.mark.parametrize("accepted", [True, False], ids=["duplicate-accepted", "duplicate-refused"])
@pytest.mark.parametrize("kind", ["customers", "orders"])
def test_a_create_racing_an_earlier_runs_late_create(
    emulator: EmulatorFixture, tmp_path: Path, accepted: bool, kind: str
) -> None:
    """Run 1's create times out (1 s) and lands 4 s later; run 2 looked first, its create arrives after.

    Refused as a duplicate, run 2 finds the record and uses it: nothing failed, one record.
    Accepted, the account now holds two; the next run reports them instead of picking one.
    """
    use_emulator(emulator, speed=1)
    emulator.set_assumed(ecom_duplicate_externalid_accepted=accepted)
    path = "/api/3/ecomCustomers" if kind == "customers" else "/api/3/ecomOrders"
    section = "ecom_customers" if kind == "customers" else "ecom_orders"
    if kind == "orders":
        upsert_customers(tmp_path, "customers", [CUSTOMER])
        records = [order("o-9", [POGO])]
        upsert = upsert_orders
    else:
        records = [{"externalid": "wh-9", "email": "nine@example.com", "acceptsMarketing": 1}]
        upsert = upsert_customers
    key = records[0]["externalid"]
    emulator.export_connection(timeout=1)
    emulator.add_fault("POST", path, "late", delay=4, times=1)

    first = upsert(tmp_path, "run1", records, run_id="scheduled__2024-01-01")
    assert first["unknown"] == 1
    assert by_externalid(emulator, section)[key] == 0  # not landed yet

    emulator.export_connection(timeout=10)
    emulator.add_fault("POST", path, "slow", when="before", delay=4, times=1)
    second = upsert(tmp_path, "run2", records, run_id="scheduled__2024-01-02")

    if accepted:
        assert (second["created"], second["failed"]) == (1, 0)
        assert by_externalid(emulator, section)[key] == 2
        third = upsert(tmp_path, "run3", records, run_id="scheduled__2024-01-03")
        assert third["rejected"] == 1
        [line] = read_jsonl(tmp_path / "run3.jsonl")
        assert "delete the extra ones" in line["reason"]
    else:
        assert (second["created"], second["unchanged"], second["failed"]) == (0, 1, 0)
        assert by_externalid(emulator, section)[key] == 1
        assert read_jsonl(tmp_path / "run2.jsonl") == []
        third = upsert(tmp_path, "run3", records, run_id="scheduled__2024-01-03")
        assert (third["unchanged"], third["failed"], third["rejected"]) == (1, 0, 0)
    assert sum(n for k, n in api_counts(emulator).items() if k.startswith(f"POST {path} ")) == 2


@pytest.mark.parametrize("lowercased", [True, False], ids=["lowercased", "case-kept"])
def test_a_customer_is_found_by_email_whatever_case_the_account_keeps(
    emulator: EmulatorFixture, tmp_path: Path, lowercased: bool
) -> None:
    use_emulator(emulator, speed=50)
    emulator.set_assumed(ecom_email_lowercased=lowercased)
    customers = [{"externalid": "wh-7", "email": "Bob.Lee@Example.COM"}]
    assert upsert_customers(tmp_path, "customers", customers)["created"] == 1
    [stored] = [c for c in emulator.crm("ecom_customers")["ecom_customers"] if c["externalid"] == "wh-7"]
    assert stored["email"] == ("bob.lee@example.com" if lowercased else "Bob.Lee@Example.COM")

    # The order names its customer only by email, in another spelling (filters[email]).
    placed = {**order("o-7", [BOOK]), "email": "bob.lee@example.com"}
    del placed["customer_externalid"]
    assert upsert_orders(tmp_path, "orders", [placed])["created"] == 1
    [made] = [o for o in emulator.crm("ecom_orders")["ecom_orders"] if o["externalid"] == "o-7"]
    assert made["customerid"] == stored["id"]

    # Re-runs in yet other spellings: the same customer and order, nothing written.
    again = upsert_customers(tmp_path, "again", [{"externalid": "wh-7", "email": "BOB.LEE@example.com"}])
    assert (again["unchanged"], again["updated"]) == (1, 0)
    assert (
        upsert_orders(tmp_path, "again-orders", [{**placed, "email": "Bob.Lee@Example.COM"}])["unchanged"]
        == 1
    )
    assert by_externalid(emulator, "ecom_customers")["wh-7"] == 1
    assert sum(n for k, n in api_counts(emulator).items() if k.startswith("PUT ")) == 0
