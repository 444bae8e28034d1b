"""Write throughput beyond contacts: deals/s, accounts/s, events/s as a share of the 5 requests/s bound.

Each scenario runs the operator's ``execute`` (what a task runs) against the emulator in a
subprocess, rate limit on, with a fast clock: at ``--speed 20`` the account allows 100 requests
per real second and the client's limiter follows, so the figures (in emulated seconds) are a real
account's at 5 requests/s.

Requests per item, and why (the bound is 5 / that many items per second):

* deals, new keys, account by name: 1 = ``POST /deals`` (key and custom fields inline). Before
  the first write the run reads every deal and stored deal field value once (100 a page) plus
  pipelines, stages, users and accounts: that start-up cost is in the totals.
* deals, new keys, contact by email: 2 = ``GET /contacts?email=`` + the POST (each email once).
* deals, re-run with a changed value: 1 = ``PUT /deals/{id}``; re-run unchanged: 0 writes.
* accounts, new: 1 = ``POST /accounts`` (fields inline); with 2 contacts each: 1 + 2 x
  (``GET /contacts?email=`` + ``POST /accountContacts``) = 5.
* events: 1 = the tracking post (plus ``GET /eventTracking`` and the event list once per task).

After each scenario the emulator's state is checked: one deal per key, one event per record,
and zero 429s in the request log.

    python benchmarks/writes.py [--items 1000] [--speed 20]
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
from activecampaign_emulator.testing import (
    EmulatorProcess,
    connection_json,
    start_emulator_process,
)

ACCOUNT_RPS = 5.0
ACTID, EVENT_KEY = "650123456", "c0ffee5eed0e1ec7ab1e7a3c4d5e6f708192a3b4"


def _context() -> dict[str, Any]:
    ti = SimpleNamespace(
        try_number=1, task_id="bench", dag_id="bench", run_id=f"bench-{time.time_ns()}", map_index=-1
    )
    return {"ti": ti}


def _deals(count: int, *, contact: bool, value: int = 1000) -> list[dict[str, Any]]:
    return [
        {
            "external_id": f"bench-{i}",
            "title": f"Bench deal {i}",
            "value": value + i,
            "stage": "Qualified",
            **({"contact": f"bench{i}@example.com"} if contact else {"account": "Acme Inc 1"}),
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
        "requests": requests,
        "writes_per_item": writes / items,
        "requests_per_item": requests / items,
        "items_per_s": items / emulated,
        "request_rate_ratio": requests / emulated / ACCOUNT_RPS,
        "429s": sum(v for k, v in log["counts"].items() if k.endswith(" 429")),
        "max_in_any_second": log["max_requests_in_any_emulated_second"],
        "result": result,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--speed", type=float, default=20.0, help="emulated seconds per real second")
    args = parser.parse_args()
    n = args.items
    tmp = tempfile.mkdtemp(prefix="ac-bench-writes-")

    from airflow_provider_activecampaign.operators.accounts import ActiveCampaignSyncAccountsOperator
    from airflow_provider_activecampaign.operators.deals import ActiveCampaignSyncDealsOperator
    from airflow_provider_activecampaign.operators.events import ActiveCampaignTrackEventsOperator

    def deals_op(records: list[dict[str, Any]]) -> Any:
        return ActiveCampaignSyncDealsOperator(
            task_id="bench",
            deals=records,
            key_field="External key",
            pipeline="Sales",
            failures_path=f"{tmp}/deals-{time.time_ns()}.jsonl",
        )

    def accounts_op(records: list[dict[str, Any]]) -> Any:
        return ActiveCampaignSyncAccountsOperator(
            task_id="bench", accounts=records, failures_path=f"{tmp}/accounts-{time.time_ns()}.jsonl"
        )

    accounts = max(1, n // 4)
    linked = [
        {"name": f"Linked Co {i}", "contacts": [f"bench{2 * i}@example.com", f"bench{2 * i + 1}@example.com"]}
        for i in range(accounts)
    ]
    by_contact = [{**d, "external_id": "c" + d["external_id"]} for d in _deals(n, contact=True)]
    events = [{"email": f"bench{i}@example.com", "eventdata": {"i": i}} for i in range(n)]
    scenarios: list[tuple[str, int, Callable[[], Any]]] = [
        ("deals: new keys, account by name", n, lambda: deals_op(_deals(n, contact=False))),
        ("deals: re-run, value changed", n, lambda: deals_op(_deals(n, contact=False, value=5))),
        ("deals: re-run, unchanged", n, lambda: deals_op(_deals(n, contact=False, value=5))),
        ("deals: new keys, contact by email", n, lambda: deals_op(by_contact)),
        (
            "accounts: new",
            accounts,
            lambda: accounts_op([{"name": f"Bench Co {i}"} for i in range(accounts)]),
        ),
        ("accounts: new, 2 contacts each", accounts, lambda: accounts_op(linked)),
        (
            "events",
            n,
            lambda: ActiveCampaignTrackEventsOperator(
                task_id="bench", event="bench_event", events=events, failures_path=f"{tmp}/events.jsonl"
            ),
        ),
    ]
    rows = []
    with start_emulator_process(speed=args.speed) as emu:
        seed = default_seed()
        seed["contacts"] = [{"email": f"bench{i}@example.com"} for i in range(n)]
        seed["event_tracking"] = {
            "enabled": True,
            "actid": ACTID,
            "key": EVENT_KEY,
            "events": ["bench_event"],
        }
        emu.client.reset(seed)
        emu.client.configure(speed=args.speed)
        os.environ["AIRFLOW_CONN_ACTIVECAMPAIGN_DEFAULT"] = connection_json(
            emu.url,
            emu.api_key,
            requests_per_second=ACCOUNT_RPS * args.speed,
            event_tracking_actid=ACTID,
            event_tracking_secret=EVENT_KEY,
            event_tracking_url=emu.url + "/event",
        )
        for name, items, make in scenarios:
            rows.append(_run(emu, name, items, args.speed, make))
        hook_state = emu.client.state()
        saved = [e for e in hook_state["event_tracking"]["events"] if e.get("saved")]
        events_once = len(saved) == n and len(Counter(e["eventdata"] for e in saved)) == n
        from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook

        keys = Counter(
            str(d["fieldValue"])
            for d in ActiveCampaignHook().paginate("dealCustomFieldData", key="dealCustomFieldData")
            if str(d.get("customFieldId")) == "1" and "bench-" in str(d["fieldValue"])
        )
        deals_once = len(keys) == 2 * n and set(keys.values()) == {1}

    print(
        f"\nWrites, emulator at {args.speed:g}x with its 5 requests/s limit on (figures in emulated seconds "
        "= a real account's seconds)\n"
    )
    header = (
        f"{'scenario':36} {'items':>6} {'req/item':>8} {'writes/item':>11} {'items/s':>8} {'÷ 5 rps':>8} "
        f"{'req/s ÷ 5':>9} {'429s':>5} {'max/s':>5}"
    )
    print(header)
    print("-" * len(header))
    ok = events_once and deals_once
    for row in rows:
        print(
            f"{row['scenario']:36} {row['items']:6d} {row['requests_per_item']:8.3f} "
            f"{row['writes_per_item']:11.3f} {row['items_per_s']:8.2f} "
            f"{row['items_per_s'] / ACCOUNT_RPS:8.3f} "
            f"{row['request_rate_ratio']:9.3f} {row['429s']:5d} {row['max_in_any_second']:5d}"
        )
        ok = ok and row["429s"] == 0
    deals_ok, events_ok = ("yes" if flag else "NO" for flag in (deals_once, events_once))
    print(f"\none deal per key: {deals_ok}; each event recorded once: {events_ok}")
    print(
        "req/item: all requests (start-up reads included) per item; items/s ÷ 5 rps: the ratio the issue "
        "asks for;\nreq/s ÷ 5: how much of the account's request budget was used."
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
