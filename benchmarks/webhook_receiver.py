"""Webhook receiver: deliveries/s on one api-server worker, p99 answer time, webhook -> DAG run start.

Starts a real deployment (tests/deployment/harness.py: api-server with ``--workers 1``, scheduler,
dag-processor, triggerer; LocalExecutor; SQLite unless ``--database postgres``) with the DAGs of
tests/deployment/dags/shared/ and an emulator process, then:

1. **Throughput and latency**: ``--deliveries`` distinct form-encoded ``sent`` deliveries POSTed to
   ``/activecampaign/webhooks/<token>`` by ``--concurrency`` clients at once. Each answer is 200
   only after Airflow stored the event. Prints deliveries/s, p50/p99/max answer times, and checks
   that the asset holds exactly one event per delivery.
2. **End to end**: ``--e2e`` times, each: a contact unsubscribes in the emulator (``POST
   /contactLists``) -> the emulator delivers the webhook -> asset event -> the scheduler starts
   ``shared_webhooks_on_unsubscribe`` (its run's ``start_date``). Prints min/median/max.

ActiveCampaign itself sends at most what its account does; for scale: a campaign send of 100,000
contacts fires ``sent`` webhooks at the send rate, and the documented API bound is 5 requests/s.

    python benchmarks/webhook_receiver.py [--deliveries 2000] [--concurrency 20] [--e2e 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from activecampaign_emulator.testing import (  # noqa: E402
    connection_json,
    start_emulator_process,
)

from tests.deployment.conftest import SHARED_DAGS, SHARED_WEBHOOK_TOKEN  # noqa: E402
from tests.deployment.harness import Deployment  # noqa: E402


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def _burst(url: str, bodies: list[str], concurrency: int) -> tuple[float, list[float], list[Any]]:
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    statuses: list[Any] = []
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=concurrency)) as client:

        async def one(body: str) -> None:
            async with gate:
                start = time.perf_counter()
                response = await client.post(url, content=body, headers=headers)
                latencies.append(time.perf_counter() - start)
                statuses.append(
                    response.json().get("status") if response.status_code == 200 else response.status_code
                )

        started = time.perf_counter()
        await asyncio.gather(*(one(b) for b in bodies))
        return time.perf_counter() - started, latencies, statuses


def _asset_events(deployment: Deployment, uri: str) -> list[dict[str, Any]]:
    asset = next(
        a
        for a in deployment.api.get("/assets", params={"uri_pattern": uri}).json()["assets"]
        if a["uri"] == uri
    )
    rows: list[dict[str, Any]] = []
    while True:
        body = deployment.api.get(
            "/assets/events", params={"asset_id": asset["id"], "limit": 100, "offset": len(rows)}
        ).json()
        rows.extend(body["asset_events"])
        if not body["asset_events"] or len(rows) >= body["total_entries"]:
            return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--e2e", type=int, default=5, help="end-to-end samples")
    parser.add_argument("--database", default="sqlite", choices=("sqlite", "postgres"))
    args = parser.parse_args(argv)

    with start_emulator_process(speed=1, rate_limit=True) as emulator:
        host = emulator.url.split("://", 1)[1]
        conn = connection_json(emulator.url, emulator.api_key, webhook_token=SHARED_WEBHOOK_TOKEN)
        env = {
            "AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL": "1",
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "True",
            "AC_WEBHOOKS_ACCOUNT_HOST": host,
        }
        started = time.monotonic()
        with Deployment(
            dags_folder=SHARED_DAGS,
            database=args.database,
            connections={"activecampaign_default": conn},
            env=env,
        ) as deployment:
            print(
                f"deployment up in {time.monotonic() - started:.0f} s ({args.database}, 1 api-server worker)"
            )
            deployment.wait_for_dag("shared_webhooks_sent_sink")
            deployment.wait_for_dag("shared_webhooks_on_unsubscribe")
            url = f"{deployment.url}/activecampaign/webhooks/{SHARED_WEBHOOK_TOKEN}"
            marker = uuid.uuid4().hex[:8]
            bodies = [
                urlencode(
                    {
                        "type": "sent",
                        "date_time": "2026-12-01T12:00:00+00:00",
                        "contact[id]": str(n + 1),
                        "contact[email]": f"bench-{marker}-{n}@example.com",
                    }
                )
                for n in range(args.deliveries)
            ]
            asyncio.run(_burst(url, bodies[:20], 5))  # warm: token, asset id, recent keys
            elapsed, latencies, statuses = asyncio.run(_burst(url, bodies[20:], args.concurrency))
            sent = len(bodies) - 20
            events = _asset_events(deployment, f"activecampaign://{host}/events/sent")
            answers = {s: statuses.count(s) for s in set(statuses)}
            print(
                f"throughput: {sent} deliveries in {elapsed:.1f} s = {sent / elapsed:.0f} deliveries/s "
                f"({args.concurrency} concurrent senders); answers {answers}"
            )
            print(
                f"answer time: p50 {_percentile(latencies, 0.5) * 1000:.0f} ms, "
                f"p99 {_percentile(latencies, 0.99) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
            )
            print(
                f"asset events recorded: {len(events)} for {len(bodies)} distinct deliveries (must be equal)"
            )

            api = httpx.Client(
                base_url=f"{emulator.url}/api/3", headers={"Api-Token": emulator.api_key}, timeout=30
            )
            emulator.client.webhooks()
            api.post(
                "webhooks",
                json={
                    "webhook": {
                        "name": "bench",
                        "url": url,
                        "events": ["unsubscribe"],
                        "sources": ["api"],
                    }
                },
            )
            samples: list[float] = []
            for n in range(args.e2e):
                email = f"e2e-{marker}-{n}@example.com"
                cid = api.post("contact/sync", json={"contact": {"email": email}}).json()["contact"]["id"]
                api.post("contactLists", json={"contactList": {"list": 1, "contact": cid, "status": 1}})
                time.sleep(1.5)  # one run at a time: the previous run has finished
                changed = time.time()
                api.post("contactLists", json={"contactList": {"list": 1, "contact": cid, "status": 2}})
                deadline = time.monotonic() + 60
                start: float | None = None
                while start is None and time.monotonic() < deadline:
                    runs = deployment.api.get(
                        "/dags/shared_webhooks_on_unsubscribe/dagRuns",
                        params={"order_by": "-start_date", "limit": 5},
                    ).json()["dag_runs"]
                    for run in runs:
                        if run.get("start_date"):
                            at = datetime.fromisoformat(run["start_date"].replace("Z", "+00:00")).timestamp()
                            if at >= changed:
                                start = at
                                break
                    time.sleep(0.1)
                if start is not None:
                    samples.append(start - changed)
                while deployment.api.get(
                    "/dags/shared_webhooks_on_unsubscribe/dagRuns", params={"state": ["queued", "running"]}
                ).json()["total_entries"]:
                    time.sleep(0.2)
            if samples:
                print(
                    f"webhook -> DAG run started: min {min(samples):.2f} s, "
                    f"median {statistics.median(samples):.2f} s, max {max(samples):.2f} s "
                    f"({len(samples)} of {args.e2e} samples)"
                )
            else:
                print("webhook -> DAG run started: no sample (no run started)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
