"""Limiter cost: microseconds per booking operation of the memory, local (file) and Redis backends.

What one API request costs in the rate limiter, apart from any waiting: ``book(hold=...)``
before it, ``confirm()`` after the wait, ``settle()`` when its answer comes back. The three
backends run the same rules (``ratelimit/window.py``); what differs is where the window lives:

* ``memory``: ``SlidingWindowLimiter``, a list in this process, under a thread lock;
* ``local``: ``SharedSlidingWindowLimiter``, a JSON file (``flock``, read, rules, write back) in a
  temporary ``AIRFLOW_PROVIDER_ACTIVECAMPAIGN_RATELIMIT_DIR``;
* ``redis``: ``new_limiter("redis://127.0.0.1:<port>/0", ...)``, one Lua script call per operation,
  against a ``redis-server`` this script starts on a free loopback port (no persistence) and stops.

Nothing ever waits: every limiter has ``max_events=5`` and ``period=1`` s, and the clock is passed
explicitly (``now`` / ``at``, which for Redis replaces the server's ``TIME``), advancing 0.25 s per
request. So the window always holds 4 earlier bookings, as a busy account's does, and every booking
fits at once. A cycle is ``book(now=t, hold=120, floor=0.05)``, ``confirm(now=t)``,
``settle(at=t + 0.1)``; each call is timed alone with ``time.perf_counter_ns``.

Each backend runs ``--rounds`` rounds of ``--cycles`` cycles, the backends alternating round by
round so that CPU-frequency drift and other load hit them alike (after one untimed warm-up round
each). Printed: the median microseconds of book, confirm, settle and of book + settle (the cycle
without a wait; a caller that had to wait also pays a confirm), the 90th percentile of book +
settle, and the ratios Redis / local and local / memory. For scale, the median round trip of a
Redis ``PING`` on the same connection is printed too: the floor of any one-call Redis operation.
Figures only: nothing is asserted.

Run: ``python benchmarks/limiter_cost.py [--cycles 1000] [--rounds 5]`` (about 10 seconds; needs
``redis-server`` and the ``redis`` package).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MAX_EVENTS = 5
PERIOD = 1.0
STEP = 0.25  # seconds between requests: 4 earlier bookings in the window, never full
ANSWER_AFTER = 0.1  # the answer comes back this long after the send
FLOOR = 0.05
HOLD = 120.0
BACKENDS = ("memory", "local", "redis")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def redis_server(folder: str) -> Iterator[int]:
    """A throw-away ``redis-server`` on 127.0.0.1 (no persistence); yields its port, stops it after."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (Debian: apt-get install redis-server)")
    port = _free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    command += ["--dir", folder]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {port}") from None
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


class Clocked:
    """One backend's limiter and its own explicit clock (monotonic across rounds)."""

    def __init__(self, name: str, limiter: Any) -> None:
        self.name = name
        self.limiter = limiter
        self.now = 1000.0
        self.samples: dict[str, list[int]] = {"book": [], "confirm": [], "settle": [], "cycle": []}

    def run(self, cycles: int, record: bool) -> None:
        limiter, clock = self.limiter, time.perf_counter_ns
        samples = self.samples
        book_s, confirm_s, settle_s, cycle_s = (
            samples["book"],
            samples["confirm"],
            samples["settle"],
            samples["cycle"],
        )
        for _ in range(cycles):
            now = self.now
            t0 = clock()
            booking, wait = limiter.book(now, hold=HOLD, floor=FLOOR)
            t1 = clock()
            again = limiter.confirm(booking, now)
            t2 = clock()
            limiter.settle(booking, now + ANSWER_AFTER)
            t3 = clock()
            if wait or again:
                raise RuntimeError(
                    f"{self.name}: the window was full (waits {wait}, {again}): nothing may wait"
                )
            self.now = now + STEP
            if record:
                book_s.append(t1 - t0)
                confirm_s.append(t2 - t1)
                settle_s.append(t3 - t2)
                cycle_s.append((t1 - t0) + (t3 - t2))


def _median_us(values: list[int]) -> float:
    return statistics.median(values) / 1000


def _p90_us(values: list[int]) -> float:
    return statistics.quantiles(values, n=10)[-1] / 1000


def _ping_us(client: Any, count: int) -> float:
    samples = []
    for _ in range(count):
        start = time.perf_counter_ns()
        client.ping()
        samples.append(time.perf_counter_ns() - start)
    return _median_us(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=1000, help="request cycles per backend per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ac-limiter-cost-") as folder:
        os.environ["AIRFLOW_PROVIDER_ACTIVECAMPAIGN_RATELIMIT_DIR"] = str(Path(folder) / "windows")
        os.environ.setdefault("AIRFLOW_HOME", str(Path(folder) / "airflow"))
        from airflow_provider_activecampaign.hooks.ratelimit.backends import new_limiter
        from airflow_provider_activecampaign.hooks.ratelimit.local import SharedSlidingWindowLimiter
        from airflow_provider_activecampaign.hooks.ratelimit.window import SlidingWindowLimiter

        with redis_server(folder) as port:
            url = f"redis://127.0.0.1:{port}/0"
            redis_limiter = new_limiter(url, "limiter-cost", "requests", MAX_EVENTS, PERIOD)
            if redis_limiter.backend != "redis":
                raise RuntimeError(f"new_limiter({url!r}) gave a {redis_limiter.backend} limiter")
            runs = [
                Clocked("memory", SlidingWindowLimiter(MAX_EVENTS, PERIOD)),
                Clocked("local", SharedSlidingWindowLimiter("limiter-cost", "requests", MAX_EVENTS, PERIOD)),
                Clocked("redis", redis_limiter),
            ]
            for run in runs:  # warm-up: files created, the Lua script loaded, connection open
                run.run(args.cycles, record=False)
            for round_ in range(args.rounds):
                order = runs if round_ % 2 == 0 else runs[::-1]
                for run in order:
                    run.run(args.cycles, record=True)
            ping = _ping_us(redis_limiter._client, args.cycles)
            if redis_limiter._down:
                raise RuntimeError("the Redis limiter fell back to its local window: figures would be wrong")

    by_name = {run.name: run for run in runs}
    total = args.cycles * args.rounds
    print(
        f"Rate limiter cost per operation, median of {total:,} cycles per backend "
        f"({args.rounds} alternating rounds of {args.cycles:,}; window {MAX_EVENTS}/{PERIOD:g} s, "
        f"4 earlier bookings in it, nothing waits)"
    )
    header = f"{'book':>9s} {'confirm':>9s} {'settle':>9s} {'book+settle':>12s} {'(p90)':>9s}"
    print(f"  {'backend':8s} {header}   µs")
    for run in runs:
        s = run.samples
        print(
            f"  {run.name:8s} {_median_us(s['book']):9.1f} {_median_us(s['confirm']):9.1f} "
            f"{_median_us(s['settle']):9.1f} {_median_us(s['cycle']):12.1f} {_p90_us(s['cycle']):9.1f}"
        )
    print(f"  Redis PING round trip on the same connection: {ping:.1f} µs (median of {args.cycles:,})")

    def ratio(a: str, b: str, key: str) -> float:
        return _median_us(by_name[a].samples[key]) / _median_us(by_name[b].samples[key])

    for a, b in (("redis", "local"), ("local", "memory")):
        parts = ", ".join(f"{key} {ratio(a, b, key):.2f}" for key in ("book", "confirm", "settle", "cycle"))
        print(f"  ratio {a} / {b}: {parts}  (cycle = book + settle)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
