"""One client process of the shared-limiter tests: calls ``GET /users/me`` as fast as its limiter allows.

``python -m tests.helpers.limiter_client SECONDS [--async] [--threads N]`` reads the connection and
the rate-limit backend from the environment (``AIRFLOW_CONN_ACTIVECAMPAIGN_DEFAULT``,
``AIRFLOW__ACTIVECAMPAIGN__RATE_LIMIT_BACKEND``, ``AIRFLOW_PROVIDER_ACTIVECAMPAIGN_RATELIMIT_DIR``)
and prints one JSON line: ``{"ok": n, "failed": n, "errors": [...]}``. The sync path uses
``ActiveCampaignHook`` in threads; ``--async`` uses ``ActiveCampaignAsyncHook``, as triggers do.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
import time
from typing import Any


def run_sync(seconds: float, threads: int) -> dict[str, Any]:
    from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook

    result: dict[str, Any] = {"ok": 0, "failed": 0, "errors": []}
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def worker() -> None:
        hook = ActiveCampaignHook()
        while time.monotonic() < end:
            try:
                hook.get("users/me")
                with lock:
                    result["ok"] += 1
            except Exception as error:
                with lock:
                    result["failed"] += 1
                    result["errors"].append(f"{type(error).__name__}: {str(error)[:200]}")

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return result


async def run_async(seconds: float, tasks: int) -> dict[str, Any]:
    from airflow_provider_activecampaign.hooks.activecampaign_async import ActiveCampaignAsyncHook

    result: dict[str, Any] = {"ok": 0, "failed": 0, "errors": []}
    end = time.monotonic() + seconds
    async with ActiveCampaignAsyncHook() as hook:

        async def worker() -> None:
            while time.monotonic() < end:
                try:
                    await hook.get("users/me")
                    result["ok"] += 1
                except Exception as error:
                    result["failed"] += 1
                    result["errors"].append(f"{type(error).__name__}: {str(error)[:200]}")

        await asyncio.gather(*(worker() for _ in range(tasks)))
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("seconds", type=float)
    parser.add_argument("--async", dest="use_async", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--wait-for-go", action="store_true", help='print "ready", then start on a "go" line on stdin'
    )
    args = parser.parse_args()
    import airflow_provider_activecampaign.hooks.activecampaign  # noqa: F401  (import before the start)

    if args.wait_for_go:
        # Every client starts at once, as soon as the slowest has imported Airflow.
        print("ready", flush=True)
        sys.stdin.readline()
    if args.use_async:
        result = asyncio.run(run_async(args.seconds, args.threads))
    else:
        result = run_sync(args.seconds, args.threads)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
