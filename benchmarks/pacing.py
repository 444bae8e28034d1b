"""Pacing: 300 GETs through ActiveCampaignHook at the default 5 requests/s against a strict server.

The server is the emulator in its own process (no shared GIL with the client), at speed 1 with
its rate limit on: a sliding one-second window of 5 requests, answering 429 beyond it, which is
the strictest reading of ActiveCampaign's documented limit. The connection sets no
``requests_per_second``, so the hook's default applies.

Figures: achieved requests/s (300 requests over the wall time from the first send to the last
answer), the most requests the server saw in any one-second window, and how many 429s it sent.
Pass: >= 4.75 requests/s and zero 429s.

Run: ``python benchmarks/pacing.py [--requests 300]`` (about a minute; exit code 0 on pass).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

MIN_RATE = 4.75


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()

    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="ac-pacing-"))
    from activecampaign_emulator.testing import connection_json, start_emulator_process

    from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook

    with start_emulator_process(speed=1.0, rate_limit=True) as server:
        os.environ["AIRFLOW_CONN_AC_PACING"] = connection_json(server.url, server.api_key)  # default rate
        hook = ActiveCampaignHook(activecampaign_conn_id="ac_pacing")
        hook.settings  # noqa: B018 - resolve the connection before the clock starts
        server.client.clear_requests()
        started = time.monotonic()
        for _ in range(args.requests):
            hook.get("users/me")
        elapsed = time.monotonic() - started
        log = server.client.requests()

    arrivals = sorted(entry["real_time"] for entry in log["requests"])
    rate_limited = sum(n for key, n in log["counts"].items() if key.endswith(" 429"))
    achieved = args.requests / elapsed
    print(f"GET /users/me x {args.requests} through ActiveCampaignHook (default requests_per_second)")
    print(f"  server requests logged:         {len(arrivals)}")
    print(f"  wall time:                      {elapsed:.2f} s")
    print(f"  achieved rate:                  {achieved:.2f} requests/s (must be >= {MIN_RATE})")
    print(f"  max requests in any 1 s window: {max_in_window(arrivals, 1.0)} (server's real clock)")
    print(f"  max in any emulated second:     {log['max_requests_in_any_emulated_second']}")
    print(f"  429 answers:                    {rate_limited} (must be 0)")
    passed = achieved >= MIN_RATE and rate_limited == 0
    print(f"  -> {'PASS' if passed else 'FAIL'}")
    return 0 if passed else 1


def max_in_window(times: list[float], window: float) -> int:
    """Most events within any half-open window of ``window`` seconds."""
    best, left = 0, 0
    for right, moment in enumerate(times):
        while times[left] <= moment - window:
            left += 1
        best = max(best, right - left + 1)
    return best


if __name__ == "__main__":
    sys.exit(main())
