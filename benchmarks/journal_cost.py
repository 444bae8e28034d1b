"""What the write journal costs per write: microseconds and bytes, on a local disk and an object store.

A journalled write is one intent record before the request and one outcome record after it
(``records/journal.py``). This prints, per storage, the time for that pair (median and p99 over
``--writes`` writes), the bytes it adds, the time to load a journal of that many writes (what a
retry pays once at start), and the share of a write's time budget it takes at ActiveCampaign's
5 requests/s (200 ms a write).

* ``local+fsync``: the default on a local path (one O_APPEND write per record, the intent fsynced).
* ``local``: ``fsync=False`` (survives a killed task, not a machine crash).
* ``memory://``: an fsspec in-memory filesystem standing in for an object store (one object per
  record, as on S3/GCS), without network latency: add your store's PUT latency (tens of ms).

    python benchmarks/journal_cost.py [--writes 2000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from typing import Any

from airflow.sdk import ObjectStoragePath
from airflow.sdk.io import attach
from fsspec.implementations.memory import MemoryFileSystem

from airflow_provider_activecampaign.records.journal import Outcome, WriteJournal

WRITE_BUDGET_US = 1_000_000 / 5  # one request at 5 requests/s
PAYLOAD = {"deal": {"title": "Invoice 12345", "value": 45678, "currency": "usd", "group": "1", "stage": "3"}}


def measure(root: Any, writes: int, *, fsync: bool) -> dict[str, float]:
    journal = WriteJournal(root, "bench/run/task", settle=60, fsync=fsync)
    journal.load()
    durations: list[float] = []
    for i in range(writes):
        started = time.perf_counter()
        intent = journal.intent("deals", f"inv-{i}", PAYLOAD, deadline_seconds=965)
        journal.outcome(intent, Outcome.APPLIED, ref=100_000 + i)
        durations.append((time.perf_counter() - started) * 1e6)
    journal.close()
    started = time.perf_counter()
    loaded = WriteJournal(root, "bench/run/task", settle=60).load()
    load_ms = (time.perf_counter() - started) * 1e3
    assert len(loaded) == writes
    durations.sort()
    median = statistics.median(durations)
    return {
        "median_us": median,
        "p99_us": durations[int(len(durations) * 0.99) - 1],
        "bytes_per_write": journal.bytes_written / writes,
        "load_ms": load_ms,
        "share_of_budget": median / WRITE_BUDGET_US,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--writes", type=int, default=2000)
    args = parser.parse_args()
    attach("memory", fs=MemoryFileSystem())
    with tempfile.TemporaryDirectory() as local_fsync, tempfile.TemporaryDirectory() as local:
        rows = {
            "local+fsync": measure(local_fsync, args.writes, fsync=True),
            "local": measure(local, args.writes, fsync=False),
            "memory://": measure(ObjectStoragePath("memory://journal-bench/root"), args.writes, fsync=False),
        }
    print(f"Write journal cost per write (intent + outcome), {args.writes} writes")
    print(f"{'storage':<12} {'median µs':>10} {'p99 µs':>10} {'bytes':>7} {'load ms':>8} {'of 200 ms':>10}")
    for name, row in rows.items():
        print(
            f"{name:<12} {row['median_us']:>10.0f} {row['p99_us']:>10.0f} {row['bytes_per_write']:>7.0f} "
            f"{row['load_ms']:>8.1f} {row['share_of_budget']:>10.2%}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
