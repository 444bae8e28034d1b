"""Export throughput per resource against the bound (5 requests/s x 100 records per request = 500 records/s).

Each scenario runs ``ActiveCampaignExportOperator.execute`` (what a task runs) in full mode against
the emulator in a subprocess, rate limit on, with a fast clock: at ``--speed 20`` the account
allows 100 requests per real second and the client's limiter follows, so the figures (in emulated
seconds) are a real account's at 5 requests/s.

Printed per resource: records, requests (from the emulator's log), requests per record (the ideal
is 0.01: one page of 100), records per emulated second and that as a fraction of the 500/s bound,
429s. Deals also read their custom field values (``dealCustomFieldData``) and stage/pipeline names,
campaigns one v1 report each: that is in their request counts. The campaign analytics streams read
the ten sent campaigns' v1 report lists (20 rows a page in the emulator: an *assumed* page size),
plus ``GET /campaigns``.

Then the full read of ``--volume`` deals and contacts (the issue asks for 100,000 of each; the
emulator's ``volume`` seed builds them), each in a fresh process so its peak RSS is its own:
time, requests, peak RSS.

    python benchmarks/export_resources.py [--volume 100000] [--speed 20] [--skip-resources]
        [--full-reads deals,contacts]

``--full-reads deals`` seeds and reads only the deals (the issue's 1,000,000-deal memory figure
without building a million contacts too).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource as rusage
import sys
import tempfile
import time
from typing import Any

from activecampaign_emulator.seed import default_seed
from activecampaign_emulator.testing import EmulatorClient, connection_json, start_emulator_process

#: Ten campaigns sent to the 250 contacts of list 1 (the analytics streams' rows, at the emulator's
#: default rates: about half open, a third of those click) and two drafts (no report list is asked).
CAMPAIGNS = [
    {"name": f"Bench {n}", "type": "single", "status": 1, "lists": [1], "sdate": "2024-01-01T09:00:00+00:00"}
    for n in range(10)
] + [{"name": f"Draft {n}", "type": "single", "status": 0, "lists": [1]} for n in range(2)]
ACCOUNT_RPS = 5.0
PAGE = 100
BOUND = ACCOUNT_RPS * PAGE  # records/s when every request returns a full page


def _export(resource: str, output: str, conn: str) -> dict[str, Any]:
    """One full export in this process: wall time, count, peak RSS (MB)."""
    os.environ["AIRFLOW_CONN_ACTIVECAMPAIGN_DEFAULT"] = conn
    from airflow_provider_activecampaign.operators.export import ActiveCampaignExportOperator

    operator = ActiveCampaignExportOperator(
        task_id="bench", resource=resource, mode="full", output_path=output, parallel_reads=4
    )
    started = time.perf_counter()
    result = operator.execute({})
    elapsed = time.perf_counter() - started
    peak_mb = rusage.getrusage(rusage.RUSAGE_SELF).ru_maxrss / 1024
    return {"count": result["count"], "elapsed": elapsed, "peak_rss_mb": peak_mb}


def _child(resource: str, output: str, conn: str, queue: Any) -> None:
    try:
        queue.put(_export(resource, output, conn))
    except BaseException as error:  # report, do not hang the parent
        queue.put({"error": f"{type(error).__name__}: {error}"})


def _in_fresh_process(resource: str, output: str, conn: str) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(resource, output, conn, queue))
    process.start()
    result: dict[str, Any] = queue.get()
    process.join()
    if "error" in result:
        raise RuntimeError(f"{resource}: {result['error']}")
    return result


def _measure(emu: Any, resource: str, output: str, conn: str, speed: float, *, fresh: bool) -> dict[str, Any]:
    from airflow_provider_activecampaign.hooks.transport import _LIMITERS

    _LIMITERS.clear()
    emu.client.clear_requests()
    run = _in_fresh_process(resource, output, conn) if fresh else _export(resource, output, conn)
    log = emu.client.requests()
    requests = sum(log["counts"].values())
    emulated = run["elapsed"] * speed
    count = run["count"]
    return {
        "resource": resource,
        "records": count,
        "requests": requests,
        "requests_per_record": requests / count if count else float("nan"),
        "records_per_s": count / emulated if emulated else 0.0,
        "emulated_s": emulated,
        "wall_s": run["elapsed"],
        "peak_rss_mb": run["peak_rss_mb"],
        "429s": sum(v for k, v in log["counts"].items() if k.endswith(" 429")),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--volume", type=int, default=100_000, help="deals and contacts for the full reads")
    parser.add_argument("--speed", type=float, default=20.0, help="emulated seconds per real second")
    parser.add_argument("--skip-resources", action="store_true", help="only the full reads")
    parser.add_argument(
        "--full-reads",
        default="deals,contacts",
        help="comma-separated resources seeded at --volume and read in full (deals, contacts)",
    )
    args = parser.parse_args()
    full_reads = [name.strip() for name in args.full_reads.split(",") if name.strip()]
    if set(full_reads) - {"deals", "contacts"}:
        parser.error("--full-reads takes deals and/or contacts")
    from airflow_provider_activecampaign.exports.registry import RESOURCES

    folder = tempfile.mkdtemp(prefix="ac-bench-export-")
    rows: list[dict[str, Any]] = []
    big: list[dict[str, Any]] = []
    with start_emulator_process(speed=args.speed) as emu:
        conn = connection_json(emu.url, emu.api_key, requests_per_second=ACCOUNT_RPS * args.speed)
        os.environ["AIRFLOW_CONN_ACTIVECAMPAIGN_DEFAULT"] = conn
        if not args.skip_resources:
            seed = default_seed()
            seed["contacts"] = [
                {"email": f"bench{i}@example.com", "fields": {"COMPANY": "ACME"}, "lists": {"1": 1}}
                for i in range(250)
            ]
            seed["campaigns"] = CAMPAIGNS
            emu.client.reset(seed)
            emu.client.configure(speed=args.speed)
            emu.client.advance(60)  # the sent campaigns reach their 250 recipients
            emu.client.advance(7 * 3600)  # and every open, click and unsubscribe has happened
            for name in RESOURCES:
                rows.append(_measure(emu, name, f"{folder}/{name}.jsonl", conn, args.speed, fresh=False))
        seed = default_seed()
        seed["volume"] = {name: args.volume for name in full_reads}
        started = time.perf_counter()
        with EmulatorClient(emu.url, timeout=1800) as patient:  # a large seed takes a while to build
            patient.reset(seed)
        emu.client.configure(speed=args.speed)
        seeded = time.perf_counter() - started
        for name in full_reads:
            big.append(_measure(emu, name, f"{folder}/big-{name}.jsonl", conn, args.speed, fresh=True))

    print(
        f"\nExports, emulator at {args.speed:g}x with its 5 requests/s limit on (figures in emulated "
        f"seconds = a real account's seconds); bound = 5 req/s x {PAGE} = {BOUND:.0f} records/s\n"
    )
    if rows:
        header = (
            f"{'resource':22} {'records':>8} {'requests':>8} {'req/rec':>8} {'rec/s':>8} "
            f"{'÷ bound':>8} {'429s':>5}"
        )
        print(header)
        print("-" * len(header))
        for row in rows:
            print(
                f"{row['resource']:22} {row['records']:8d} {row['requests']:8d} "
                f"{row['requests_per_record']:8.3f} {row['records_per_s']:8.1f} "
                f"{row['records_per_s'] / BOUND:8.3f} {row['429s']:5d}"
            )
        print(
            "\n(small collections are one page: their records/s says how few records they have, not how"
            " fast the read is; req/rec and the full reads below are the figures that matter)"
        )
    print(f"\nFull reads of {args.volume:,} records (seeded in {seeded:.1f} s; each in a fresh process)\n")
    header = (
        f"{'resource':10} {'records':>8} {'requests':>8} {'req/rec':>8} {'emulated s':>10} {'real s':>7} "
        f"{'rec/s':>7} {'÷ bound':>7} {'peak RSS MB':>11} {'429s':>5}"
    )
    print(header)
    print("-" * len(header))
    for row in big:
        print(
            f"{row['resource']:10} {row['records']:8d} {row['requests']:8d} "
            f"{row['requests_per_record']:8.4f} "
            f"{row['emulated_s']:10.1f} {row['wall_s']:7.1f} {row['records_per_s']:7.1f} "
            f"{row['records_per_s'] / BOUND:7.3f} {row['peak_rss_mb']:11.1f} {row['429s']:5d}"
        )
    print(json.dumps({"resources": rows, "full_reads": big}, default=str), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
