"""Metrics cost: microseconds per API request spent in ``hooks/metrics.py``, with metrics off and on.

A request emits one ``activecampaign.requests`` counter (``record_request``), through Airflow's
``Stats``. Printed: the median microseconds of that call with Airflow's metrics off (the default:
``NoStatsLogger``) and on (StatsD, sent as UDP datagrams to a loopback port nobody reads, with
InfluxDB-style tags), and the cost of preparing and answering one call without metrics for scale
(``prepare_call`` + ``handle_response`` of a 200). Each figure is the median of ``--rounds``
rounds of ``--calls`` calls, timed with ``time.perf_counter_ns``. Figures only: nothing is asserted.

Run: ``python benchmarks/metrics_cost.py [--calls 20000] [--rounds 5]`` (a few seconds; StatsD
needs the ``statsd`` package, as Airflow's own StatsD backend does).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import time
from collections.abc import Callable


def per_call_us(fn: Callable[[], object], calls: int, rounds: int) -> float:
    fn()  # warm-up (imports, registries)
    results = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        for _ in range(calls):
            fn()
        results.append((time.perf_counter_ns() - start) / calls / 1000)
    return statistics.median(results)


def initialise(statsd_port: int | None) -> None:
    from airflow.sdk.observability.metrics import stats_utils
    from airflow.sdk.observability.stats import Stats

    if statsd_port is None:
        os.environ["AIRFLOW__METRICS__STATSD_ON"] = "False"
    else:
        os.environ.update(
            {
                "AIRFLOW__METRICS__STATSD_ON": "True",
                "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
                "AIRFLOW__METRICS__STATSD_PORT": str(statsd_port),
                "AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED": "True",
            }
        )
    Stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    from airflow_provider_activecampaign.hooks import metrics
    from airflow_provider_activecampaign.hooks.transport import (
        TransportSettings,
        handle_response,
        prepare_call,
    )

    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))  # datagrams land here and are never read
    settings = TransportSettings(
        base_url="https://acct.api-us1.com", api_key="k" * 64, requests_per_second=1e9
    )

    def request_metric() -> None:
        metrics.record_request("GET", 200)

    def one_call() -> None:
        call = prepare_call(settings, "GET", "contacts/12")
        handle_response(call, 200, {}, '{"contact": {"id": "12"}}')

    initialise(None)
    off = per_call_us(request_metric, args.calls, args.rounds)
    call_off = per_call_us(one_call, args.calls // 4, args.rounds)
    initialise(int(sink.getsockname()[1]))
    on = per_call_us(request_metric, args.calls, args.rounds)
    call_on = per_call_us(one_call, args.calls // 4, args.rounds)
    sink.close()
    print(f"record_request, metrics off:        {off:7.2f} µs per request")
    print(f"record_request, metrics on (StatsD): {on:7.2f} µs per request")
    print(f"prepare + answer one call, metrics off: {call_off:7.2f} µs; on: {call_on:7.2f} µs")


if __name__ == "__main__":
    main()
