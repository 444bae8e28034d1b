"""Campaigns: the cost of "never twice", the name lookup a send makes before anything else.

Before it creates or sends anything, ``ActiveCampaignSendCampaignOperator`` reads every campaign of
the account (v3 ``GET /campaigns``, 100 per request) to find the one this task instance may already
have made. This measures that lookup through ``ActiveCampaignHook`` against the emulator in its own
process, at speed 1 with its rate limit on (the documented 5 requests/s), for accounts holding
100, 1,000 and 5,000 campaigns, plus one complete send (lookup, lists, count, message, create,
read-back) on the largest account.

Figures per size: requests made, wall time, campaigns read per second. Pass: every lookup reads
at least 400 campaigns/s (80 % of 5 pages of 100 per second) and no 429 was answered.

Run: ``python benchmarks/campaigns_lookup.py [--sizes 100,1000,5000]`` (about half a minute).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from typing import Any

MIN_CAMPAIGNS_PER_SECOND = 400.0


def seed(size: int) -> dict[str, Any]:
    from activecampaign_emulator.seed import default_seed

    data = default_seed()
    data["contacts"] = [{"email": f"reader{i}@example.com", "lists": {"1": 1}} for i in range(50)]
    data["campaigns"] = [
        {"name": f"Old issue {i}", "status": 5, "lists": [1], "messages": [1], "send_amt": 0, "total_amt": 0}
        for i in range(size)
    ]
    return data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,5000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="ac-campaigns-bench-"))
    from activecampaign_emulator.testing import connection_json, start_emulator_process

    from airflow_provider_activecampaign.campaigns.api import (
        count_active_members,
        create_campaign,
        create_message,
        find_campaigns_named,
        get_campaign,
    )
    from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
    from airflow_provider_activecampaign.records.names import resolve_ids

    passed = True
    print("Name lookup before a send (GET /campaigns, every page) through ActiveCampaignHook, 5 requests/s")
    print(f"  {'campaigns':>9}  {'requests':>8}  {'wall time':>9}  {'campaigns/s':>11}  {'429s':>4}")
    for size in sizes:
        with start_emulator_process(seed(size), speed=1.0, rate_limit=True) as server:
            os.environ["AIRFLOW_CONN_AC_CAMPAIGNS_BENCH"] = connection_json(server.url, server.api_key)
            hook = ActiveCampaignHook(activecampaign_conn_id="ac_campaigns_bench")
            hook.settings  # noqa: B018 - resolve the connection before the clock starts
            time.sleep(1.1)  # an empty rate window on both sides
            server.client.clear_requests()
            started = time.monotonic()
            found = find_campaigns_named(hook, ["Old issue 7"])["Old issue 7"]
            elapsed = time.monotonic() - started
            log = server.client.requests()
            rate_limited = sum(n for key, n in log["counts"].items() if key.endswith(" 429"))
            speed = size / elapsed
            ok = len(found) == 1 and rate_limited == 0 and speed >= MIN_CAMPAIGNS_PER_SECOND
            passed &= ok
            print(
                f"  {size:>9}  {len(log['requests']):>8}  {elapsed:>8.2f}s  {speed:>11.0f}  {rate_limited:>4}"
                f"  {'ok' if ok else 'FAIL'}"
            )
            if size == sizes[-1]:
                time.sleep(1.1)
                server.client.clear_requests()
                started = time.monotonic()
                find_campaigns_named(hook, ["Weekly newsletter 2025-06-03"])
                list_ids = list(resolve_ids(hook, "lists", key="lists", wanted=["Newsletter"]).values())
                count_active_members(hook, list_ids)
                message = create_message(
                    hook,
                    subject="Hello",
                    from_name="Example Inc",
                    from_email="news@example.com",
                    reply_to="news@example.com",
                    html="<p>Hello</p>",
                    text=None,
                )
                campaign_id = create_campaign(
                    hook,
                    name="Weekly newsletter 2025-06-03",
                    list_ids=list_ids,
                    message_id=str(message["id"]),
                    sdate="2000-01-01 00:00:00",
                    schedule=True,
                )
                get_campaign(hook, campaign_id)
                elapsed = time.monotonic() - started
                requests = len(server.client.requests()["requests"])
                print(f"  complete send on {size} campaigns: {requests} requests in {elapsed:.2f} s")
    verdict = "PASS" if passed else "FAIL"
    print(f"  -> {verdict} (each lookup >= {MIN_CAMPAIGNS_PER_SECOND:.0f} campaigns/s, no 429)")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
