"""Audience sync at 1,000,000 contacts: day 2 with 1% changed, vs a full sync; and removals/s.

What is measured (real code, real figures):

* day 1: the plan of 1,000,000 new contacts (``ContactPlanner``) and the state it leaves; the
  1,000,000 contacts are *not* sent (4,000 bulk imports take 40 minutes at 100 imports/min):
  every row of the plan is recorded as confirmed, as a completed full sync would leave it;
* day 2 (1% of the rows changed): loading the state, planning, then applying the plan for real
  against the emulator at real speed (``--speed 1``: 5 requests/s, 100 bulk imports/min, its rate
  limit on) with ``apply_contacts_plan`` (the code the apply task runs), counting requests;
* a full sync's figures for the same day are computed from its batches: 4,000 imports at 100/min
  plus at least one status poll each (the polls fit between imports), i.e. 40 minutes of the
  account's importer, which is what re-sending everything costs;
* removals: ``RemovalFinder`` + ``RemovalApplier`` on ``--removals`` contacts (a tag and a list
  each) against the emulator with a fast clock; reported per emulated second against 5 req/s.

    python benchmarks/audience_sync.py [--contacts 1000000] [--changed 0.01] [--removals 2000]
        [--importer-contacts-per-second 5000]

The day-2 apply's wall time includes the emulated importer *processing* the batches (the seed's
25 contacts/s by default: 400 s for 10,000 contacts); its requests do not depend on that.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from activecampaign_emulator.testing import connection_json, start_emulator_process


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Source:
    """``count`` customers; rows whose index is a multiple of ``every`` get a changed company."""

    def __init__(self, count: int, every: int = 0) -> None:
        self.count = count
        self.every = every
        self.description = f"{count:,} generated customers"
        self.columns = ["email", "first_name", "last_name"]
        self.total = count

    def __iter__(self) -> Any:
        every = self.every
        for i in range(self.count):
            last = "Changed" if every and i % every == 0 else f"Last{i % 97}"
            yield i + 1, {"email": f"customer{i}@example.com", "first_name": f"First{i}", "last_name": last}


class FakeTI:
    dag_id = "benchmark"
    task_id = "audience"
    run_id = "day"
    map_index = -1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--changed", type=float, default=0.01)
    parser.add_argument("--removals", type=int, default=2_000)
    parser.add_argument("--removal-speed", type=float, default=20.0)
    parser.add_argument(
        "--importer-contacts-per-second",
        type=float,
        default=None,
        help="day 2: the emulated importer's processing speed (default: the seed's 25/s)",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ac-audience-bench-"))
    os.environ.setdefault("AIRFLOW_PROVIDER_ACTIVECAMPAIGN_RATELIMIT_DIR", str(work / "ratelimit"))

    from airflow.sdk import ObjectStoragePath

    from airflow_provider_activecampaign.contacts.audience import service as audience
    from airflow_provider_activecampaign.contacts.audience.plan import PlanFile, PlanWriter
    from airflow_provider_activecampaign.contacts.audience.planner import ContactPlanner
    from airflow_provider_activecampaign.contacts.audience.state import (
        CLEAN,
        StateChanges,
        SyncState,
        load_state,
        save_state,
    )
    from airflow_provider_activecampaign.contacts.mapping import ColumnPlan, ContactBuilder, FieldCatalogue

    count = args.contacts
    every = max(1, round(1 / args.changed)) if args.changed else 0
    plan_columns = ColumnPlan.build(["email", "first_name", "last_name"], FieldCatalogue([]))
    builder = ContactBuilder(plan_columns, subscribe_list_ids=["1"], tags=["customer"])
    state_path = ObjectStoragePath(f"file://{work}/customers.state")
    print(
        f"Audience sync benchmark: {count:,} contacts, {args.changed:.1%} changed on day 2 (work dir {work})"
    )

    # -- day 1: plan everything, record it as confirmed ------------------------------------------
    started = time.monotonic()
    writer = PlanWriter(ObjectStoragePath(f"file://{work}/day1.plan.jsonl.gz"))
    loaded = load_state(state_path)
    planner = ContactPlanner(None, builder, loaded, full=True)
    counts = planner.plan(Source(count), writer)
    digest = writer.finish({"counts": counts.to_json()})
    day1_plan = time.monotonic() - started
    started = time.monotonic()
    changes = StateChanges()
    with PlanFile(ObjectStoragePath(f"file://{work}/day1.plan.jsonl.gz"), digest) as plan_file:
        for item in plan_file.items():
            if item["op"] == "upsert":
                changes.set(int(item["key"]), int(item["fp"]), CLEAN, item["email"])
    state = SyncState().evolve(changes, {"last_run_at": "2025-01-01T00:00:00+00:00", "last_full_at": "x"})
    del changes
    save_state(state_path, state)
    day1_commit = time.monotonic() - started
    size = (work / "customers.state").stat().st_size
    print(
        f"day 1: planned {counts.creates:,} creates in {day1_plan:.1f} s "
        f"({(work / 'day1.plan.jsonl.gz').stat().st_size / 1e6:.1f} MB plan); state committed in "
        f"{day1_commit:.1f} s: {size / 1e6:.1f} MB ({size / count:.1f} bytes/contact); "
        f"peak RSS {rss_mb():.0f} MB"
    )
    del state

    # -- day 2: load, plan, apply for real at real speed ------------------------------------------
    started = time.monotonic()
    loaded = load_state(state_path)
    load_seconds = time.monotonic() - started
    print(
        f"day 2: state loaded in {load_seconds * 1000:.0f} ms ({len(loaded.state):,} keys); "
        f"peak RSS {rss_mb():.0f} MB"
    )
    day2_seed = _default_seed()
    if args.importer_contacts_per_second:
        day2_seed["importer"]["contacts_per_second"] = args.importer_contacts_per_second
    with start_emulator_process(seed=day2_seed, speed=1, rate_limit=True) as emu:
        os.environ["AIRFLOW_CONN_ACTIVECAMPAIGN_DEFAULT"] = connection_json(
            emu.url, emu.api_key, requests_per_second=5, imports_per_minute=100
        )
        from activecampaign_emulator.testing import EmulatorClient

        from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook

        client = EmulatorClient(emu.url)
        hook = ActiveCampaignHook()
        options = audience.AudienceOptions(only_changed=True)
        context = {"ti": FakeTI()}
        started = time.monotonic()
        summary = audience.plan_contacts(
            hook,
            Source(count, every),
            builder,
            options,
            context,
            state_path=str(state_path),
            plan_path=f"file://{work}/day2.plan.jsonl.gz",
            history_path=None,
            changelog_path=None,
            mirror=None,
            settings={"list_names": {"1": "Newsletter"}, "batch_size": 250, "sync_below": 10},
        )
        plan_seconds = time.monotonic() - started
        sends = summary["counts"]["sends"]
        print(
            f"day 2: planned in {plan_seconds:.1f} s: {sends:,} to send, "
            f"{summary['counts']['unchanged']:,} unchanged; peak RSS {rss_mb():.0f} MB"
        )
        client.clear_requests()
        started = time.monotonic()
        result = audience.apply_contacts_plan(
            hook, summary, context, failures_path=f"{work}/failures.jsonl", poll_interval=2.0
        )
        apply_seconds = time.monotonic() - started
        log = client.requests()
        requests = sum(log["counts"].values())
        imports = sum(n for k, n in log["counts"].items() if "bulk_import" in k)
        throttled = sum(n for k, n in log["counts"].items() if k.endswith(" 429"))
    day2_requests = requests + summary["removal_reads"]
    full_batches = math.ceil(count / 250)
    full_seconds = full_batches / 100 * 60
    full_requests = 2 * full_batches
    print(
        f"day 2: applied in {apply_seconds:.1f} s: {result['succeeded']:,} confirmed, {requests} requests "
        f"({imports} bulk imports, {throttled} x 429), history throttled_seconds="
        f"{result['history']['throttled_seconds']}; peak RSS {rss_mb():.0f} MB"
    )
    print(
        f"full sync of the same day (computed from its batches, not run): {full_batches:,} imports at "
        f"100/min = {full_seconds / 60:.0f} min of the importer, >= {full_requests:,} requests "
        f"({full_requests / (full_seconds * 5):.1%} of 5 req/s over those {full_seconds / 60:.0f} min, "
        "and 100% of the importer)"
    )
    print(
        f"day 2 vs full: {day2_requests / full_requests:.2%} of the requests, "
        f"{(plan_seconds + apply_seconds) / full_seconds:.1%} of the wall time "
        f"(plan {plan_seconds:.0f} s + apply {apply_seconds:.0f} s vs {full_seconds / 60:.0f} min); "
        f"importer budget used: {imports} of {full_batches:,} imports"
    )

    # -- removals ----------------------------------------------------------------------------------
    n = args.removals
    seed = {
        "importer": {"contacts_per_second": 5000},
        "contacts": [
            {"id": i + 1, "email": f"leaver{i}@example.com", "lists": {"1": 1}, "tags": ["customer"]}
            for i in range(n)
        ],
    }
    from airflow_provider_activecampaign.contacts.removal import RemovalApplier, RemovalFinder

    with start_emulator_process(
        seed={**_default_seed(), **seed}, speed=args.removal_speed, rate_limit=True
    ) as emu:
        os.environ["AIRFLOW_CONN_ACTIVECAMPAIGN_DEFAULT"] = connection_json(
            emu.url, emu.api_key, requests_per_second=5 * args.removal_speed
        )
        from airflow_provider_activecampaign.hooks import transport

        transport._LIMITERS.clear()
        hook = ActiveCampaignHook()
        client = EmulatorClient(emu.url)
        started = time.monotonic()
        finder = RemovalFinder(hook, tags={"1": "customer"}, lists={"1": "Newsletter"})
        removals = list(finder.find(f"leaver{i}@example.com" for i in range(n)))
        counts_r = RemovalApplier(hook).apply(removals)
        elapsed = (time.monotonic() - started) * args.removal_speed  # emulated seconds
        log = client.requests()
        total = sum(log["counts"].values())
        throttled = sum(v for k, v in log["counts"].items() if k.endswith(" 429"))
    print(
        f"removals: {counts_r.writes:,} ({counts_r.untagged:,} untags + {counts_r.unsubscribed:,} "
        f"unsubscribes of {n:,} contacts) in {total:,} requests ({finder.reads} reads, strategy "
        f"{finder.strategy}), {elapsed:.0f} emulated s at --speed {args.removal_speed:g}: "
        f"{counts_r.writes / elapsed:.2f} removals/s = "
        f"{total / elapsed / 5:.0%} of 5 req/s, {throttled} x 429; 10,000 contacts x (tag + list) would take "
        f"{(20_000 + 2 * 100 + 4) / 5 / 60:.0f} min at 5 req/s"
    )
    print(f"peak RSS of the whole benchmark: {rss_mb():.0f} MB")


def _default_seed() -> dict[str, Any]:
    from activecampaign_emulator.seed import default_seed

    return default_seed()


if __name__ == "__main__":
    sys.exit(main())
