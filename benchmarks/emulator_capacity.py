"""Capacity of the ActiveCampaign emulator: requests/second with rate limiting off.

Starts the emulator as a subprocess (so client and server do not share a GIL), then sends a
bounded number of ``GET /api/3/users/me`` and ``POST /api/3/contact/sync`` requests from a few
keep-alive client threads, and prints requests/second per endpoint and overall.

    python benchmarks/emulator_capacity.py [--requests 4000] [--threads 4]

The target is >= 500 requests/s on a 2-core machine (client and server share those cores).
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import threading
import time
from collections.abc import Callable

import httpx
from activecampaign_emulator.testing import start_emulator_process

TARGET_RPS = 500


def _worker(
    url: str,
    key: str,
    jobs: Callable[[], int | None],
    make: Callable[[httpx.Client, int], httpx.Response],
    out: list[float],
) -> None:
    with httpx.Client(base_url=f"{url}/api/3", headers={"Api-Token": key}, timeout=30) as client:
        while (n := jobs()) is not None:
            start = time.perf_counter()
            response = make(client, n)
            out.append(time.perf_counter() - start)
            if response.status_code >= 300:
                raise RuntimeError(f"unexpected {response.status_code}: {response.text[:200]}")


def _run(
    url: str, key: str, count: int, threads: int, make: Callable[[httpx.Client, int], httpx.Response]
) -> tuple[float, list[float]]:
    counter = itertools.count()
    lock = threading.Lock()

    def jobs() -> int | None:
        with lock:
            n = next(counter)
        return n if n < count else None

    latencies: list[float] = []
    workers = [
        threading.Thread(target=_worker, args=(url, key, jobs, make, latencies)) for _ in range(threads)
    ]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - start, latencies


def _me(client: httpx.Client, n: int) -> httpx.Response:
    return client.get("users/me")


def _sync(client: httpx.Client, n: int) -> httpx.Response:
    body = {
        "contact": {
            "email": f"bench{n % 2000}@example.com",
            "firstName": "Bench",
            "lastName": str(n),
            "fieldValues": [{"field": "1", "value": f"Company {n}"}, {"field": "4", "value": "Pro"}],
        }
    }
    return client.post("contact/sync", content=json.dumps(body), headers={"Content-Type": "application/json"})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000, help="requests per endpoint (default 4000)")
    parser.add_argument("--threads", type=int, default=4, help="client threads (default 4)")
    args = parser.parse_args()
    with start_emulator_process(rate_limit=False) as server:
        print(f"emulator at {server.url} (subprocess, rate limit off); {args.threads} client threads")
        _run(server.url, server.api_key, 200, args.threads, _me)  # warm-up
        total_requests = 0
        total_time = 0.0
        for label, make in (("GET users/me", _me), ("POST contact/sync", _sync)):
            elapsed, latencies = _run(server.url, server.api_key, args.requests, args.threads, make)
            rps = args.requests / elapsed
            p50 = statistics.median(latencies) * 1000
            p99 = sorted(latencies)[int(len(latencies) * 0.99) - 1] * 1000
            timing = f"{args.requests:>6} requests in {elapsed:6.2f}s = {rps:7.0f} req/s"
            print(f"{label:<20} {timing} (p50 {p50:.1f} ms, p99 {p99:.1f} ms)")
            total_requests += args.requests
            total_time += elapsed
        overall = total_requests / total_time
        state = server.client.state()
        print(f"{'overall':<20} {total_requests:>6} requests in {total_time:6.2f}s = {overall:7.0f} req/s")
        print(f"contacts in emulator: {len(state['contacts'])}")
    if overall < TARGET_RPS:
        print(f"BELOW TARGET: {overall:.0f} < {TARGET_RPS} req/s", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
