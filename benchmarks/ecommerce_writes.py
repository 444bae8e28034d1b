"""E-commerce (Deep Data) writes: requests per record and records/s at the 5 requests/s bound.

Each scenario runs the operator's ``execute`` (what a task runs) against the emulator in a
subprocess, rate limit on, with a fast clock: at ``--speed 20`` the account allows 100 requests
per real second and the client's limiter follows, so the figures (in emulated seconds) are a real
account's at 5 requests/s.

Requests per record, and why (``ecommerce/customers.py``, ``ecommerce/orders.py``):

* customers, new: 2 = the lookup (``GET /ecomCustomers`` by ``filters[externalid]`` +
  ``filters[connectionid]``) + ``POST /ecomCustomers``.
* customers, re-run unchanged: 1 = the lookup; 0 writes.
* orders, new, customer by externalid: 3 = the order lookup + the customer lookup + ``POST``.
* orders, re-run unchanged: 2 = the lookup + the products read; 0 writes.
* orders, re-run with a changed total: 2 = the lookup + ``PUT /ecomOrders/{id}`` (the products
  are not read when the order itself already differs).

Plus ``GET /connections`` once per task. Afterwards the emulator's state is checked: one customer
and one order per ``externalid``, and no 429 in the request log.

    python benchmarks/ecommerce_writes.py [--items 500] [--speed 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from activecampaign_emulator.seed import default_seed
from activecampaign_emulator.testing import EmulatorProcess, connection_json, start_emulator_process

ACCOUNT_RPS = 5.0
STORE = "examplestore"


def _context() -> dict[str, Any]:
    ti = SimpleNamespace(
        try_number=1, task_id="bench", dag_id="bench", run_id=f"bench-{time.time_ns()}", map_index=-1
    )
    return {"ti": ti}


def _customers(count: int) -> list[dict[str, Any]]:
    return [
        {"externalid": f"bc-{i}", "email": f"buyer{i}@example.com", "acceptsMarketing": i % 2}
        for i in range(count)
    ]


def _orders(count: int, total: int = 4900) -> list[dict[str, Any]]:
    product = {"externalid": "PROD-POGO", "name": "Pogo Stick", "price": 4900, "quantity": 1}
    return [
        {
            "externalid": f"bo-{i}",
            "customer_externalid": f"bc-{i}",
            "email": f"buyer{i}@example.com",
            "totalPrice": total,
            "externalCreatedDate": "2025-03-01T10:00:00Z",
            "orderProducts": [product],
        }
        for i in range(count)
    ]


def _run(
    emu: EmulatorProcess, name: str, items: int, speed: float, make: Callable[[], Any]
) -> dict[str, Any]:
    from airflow_provider_activecampaign.hooks.transport import _LIMITERS

    _LIMITERS.clear()
    emu.client.clear_requests()
    started = time.perf_counter()
    result = make().execute(_context())
    elapsed = time.perf_counter() - started
    log = emu.client.requests()
    requests = sum(log["counts"].values())
    writes = sum(n for line, n in log["counts"].items() if not line.startswith("GET"))
    emulated = elapsed * speed
    return {
        "scenario": name,
        "items": items,
        "requests_per_item": requests / items,
        "writes_per_item": writes / items,
        "items_per_s": items / emulated,
        "request_rate_ratio": requests / emulated / ACCOUNT_RPS,
        "429s": sum(v for k, v in log["counts"].items() if k.endswith(" 429")),
        "rejected": result["rejected"] + result["failed"] + result["unknown"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--speed", type=float, default=20.0, help="emulated seconds per real second")
    args = parser.parse_args()
    n = args.items
    tmp = tempfile.mkdtemp(prefix="ac-bench-ecommerce-")

    from airflow_provider_activecampaign.operators.ecommerce import (
        ActiveCampaignUpsertEcomCustomersOperator,
        ActiveCampaignUpsertEcomOrdersOperator,
    )

    def customers_op(records: list[dict[str, Any]]) -> Any:
        return ActiveCampaignUpsertEcomCustomersOperator(
            task_id="bench",
            connection=STORE,
            records=records,
            failures_path=f"{tmp}/c-{time.time_ns()}.jsonl",
        )

    def orders_op(records: list[dict[str, Any]]) -> Any:
        return ActiveCampaignUpsertEcomOrdersOperator(
            task_id="bench",
            connection=STORE,
            records=records,
            currency="USD",
            failures_path=f"{tmp}/o-{time.time_ns()}.jsonl",
        )

    scenarios: list[tuple[str, Callable[[], Any]]] = [
        ("customers: new", lambda: customers_op(_customers(n))),
        ("customers: re-run, unchanged", lambda: customers_op(_customers(n))),
        ("orders: new, customer by externalid", lambda: orders_op(_orders(n))),
        ("orders: re-run, unchanged", lambda: orders_op(_orders(n))),
        ("orders: re-run, total changed", lambda: orders_op(_orders(n, total=5900))),
    ]
    rows = []
    with start_emulator_process(speed=args.speed) as emu:
        emu.client.reset(default_seed())
        emu.client.configure(speed=args.speed)
        os.environ["AIRFLOW_CONN_ACTIVECAMPAIGN_DEFAULT"] = connection_json(
            emu.url, emu.api_key, requests_per_second=ACCOUNT_RPS * args.speed
        )
        for name, make in scenarios:
            rows.append(_run(emu, name, n, args.speed, make))
        crm = emu.client.crm("ecom_customers", "ecom_orders")
        customers = Counter(
            c["externalid"] for c in crm["ecom_customers"] if c["externalid"].startswith("bc-")
        )
        orders = Counter(
            o["externalid"] for o in crm["ecom_orders"] if str(o["externalid"]).startswith("bo-")
        )
        once = (
            len(customers) == n and len(orders) == n and set(customers.values()) | set(orders.values()) == {1}
        )

    print(f"\nE-commerce writes, emulator at {args.speed:g}x, its 5 requests/s limit on (emulated seconds)\n")
    header = (
        f"{'scenario':36} {'items':>6} {'req/item':>8} {'writes/item':>11} {'items/s':>8} "
        f"{'req/s ÷ 5':>9} {'429s':>5} {'bad':>4}"
    )
    print(header)
    print("-" * len(header))
    ok = once
    for row in rows:
        print(
            f"{row['scenario']:36} {row['items']:6d} {row['requests_per_item']:8.3f} "
            f"{row['writes_per_item']:11.3f} {row['items_per_s']:8.2f} "
            f"{row['request_rate_ratio']:9.3f} {row['429s']:5d} {row['rejected']:4d}"
        )
        ok = ok and row["429s"] == 0 and row["rejected"] == 0
    print(f"\none customer and one order per externalid: {'yes' if once else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
