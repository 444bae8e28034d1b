"""Metrics through Airflow's own Stats: a StatsD listener on loopback hears a sync against the emulator.

Airflow is configured as a deployment would be (``[metrics] statsd_on``, host, port, InfluxDB-style
tags), ``Stats`` is initialised the way the task runner does it, and a contact sync runs against the
emulator over a real socket. The UDP datagrams received are compared with what happened: the
emulator's request log, the sync's result, the 429 injected.
"""

from __future__ import annotations

import inspect
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture

from airflow_provider_activecampaign.hooks import metrics
from tests.integration.contacts_support import api_counts, contacts, fast_seed, run_sync, use_emulator

pytestmark = pytest.mark.integration


class StatsdListener:
    """Every StatsD line received on a loopback UDP port, parsed as (name, tags, value, type)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])
        self.lines: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65535)
            except TimeoutError:
                continue
            self.lines.extend(line for line in data.decode().splitlines() if line)

    def close(self) -> None:
        time.sleep(0.3)  # datagrams sent just before are read
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()

    def metrics(self, name: str) -> list[tuple[dict[str, str], float, str]]:
        """``(tags, value, type)`` of each line for ``airflow.<name>``."""
        found = []
        for line in self.lines:
            head, _, rest = line.partition(":")
            stat, *pairs = head.split(",")
            if stat != f"airflow.{name}":
                continue
            value, kind = rest.split("|")[:2]
            found.append((dict(pair.split("=", 1) for pair in pairs), float(value), kind))
        return found

    def total(self, name: str, **tags: str) -> float:
        return sum(v for t, v, _ in self.metrics(name) if all(t.get(k) == w for k, w in tags.items()))


def _initialize_stats(stats_utils: Any, stats: Any) -> None:
    """Point Airflow's ``Stats`` at the configured backend, as a process starting up does.

    (Airflow 3.2's ``get_stats_factory`` takes the class and its ``initialize`` no legacy-names flag.)
    """
    if inspect.signature(stats_utils.get_stats_factory).parameters:
        factory = stats_utils.get_stats_factory(stats)
    else:
        factory = stats_utils.get_stats_factory()
    if "export_legacy_names" in inspect.signature(stats.initialize).parameters:
        stats.initialize(factory=factory, export_legacy_names=False)
    else:
        stats.initialize(factory=factory)


@pytest.fixture
def statsd(monkeypatch: pytest.MonkeyPatch) -> Iterator[StatsdListener]:
    from airflow.sdk.observability.metrics import stats_utils
    from airflow.sdk.observability.stats import Stats

    listener = StatsdListener()
    for key, value in {
        "STATSD_ON": "True",
        "STATSD_HOST": "127.0.0.1",
        "STATSD_PORT": str(listener.port),
        "STATSD_PREFIX": "airflow",
        "STATSD_INFLUXDB_ENABLED": "True",
    }.items():
        monkeypatch.setenv(f"AIRFLOW__METRICS__{key}", value)
    _initialize_stats(stats_utils, Stats)
    try:
        yield listener
    finally:
        listener.close()
        monkeypatch.undo()
        _initialize_stats(stats_utils, Stats)


def test_a_bulk_import_sync_emits_the_documented_metrics(
    emulator: EmulatorFixture, tmp_path: Path, statsd: StatsdListener
) -> None:
    use_emulator(emulator, speed=20, seed=fast_seed())
    emulator.add_fault("GET", "/api/3/*", "http_429", retry_after=1, times=1)
    records = [*contacts(20), {"email": "not-an-address"}]

    result = run_sync(tmp_path, contacts=records, sync_below=0, max_failure_ratio=0.1)
    statsd.close()

    assert (result["succeeded"], result["rejected"], result["failed"]) == (20, 1, 0)
    # Every answer the emulator logged is one request metric, by method and status class.
    logged: Counter[tuple[str, str]] = Counter()
    for key, count in api_counts(emulator).items():
        method, _path, status = key.split(" ")
        logged[(method, f"{status[0]}xx")] += count
    heard: Counter[tuple[str, str]] = Counter()
    for tags, value, kind in statsd.metrics(metrics.REQUESTS):
        assert kind == "c"
        heard[(tags["method"], tags["status_class"])] += int(value)
    assert heard == logged
    assert heard[("GET", "4xx")] == 1  # the injected 429
    assert statsd.total(metrics.RATE_LIMITED, method="GET") == 1
    [(_, waited_ms, kind)] = statsd.metrics(metrics.THROTTLED_WAIT)
    assert kind == "ms"
    assert waited_ms >= 1000  # Retry-After: 1, plus jitter
    operator = "ActiveCampaignSyncContactsOperator"
    assert statsd.total(metrics.ROWS, operator=operator, outcome="ok") == 20
    assert statsd.total(metrics.ROWS, operator=operator, outcome="rejected") == 1
    assert {tags["outcome"] for tags, _, _ in statsd.metrics(metrics.ROWS)} == {"ok", "rejected"}
    pending = [value for _, value, kind in statsd.metrics(metrics.BULK_IMPORTS_PENDING) if kind == "g"]
    assert pending  # the import pipeline reported its backlog
    assert max(pending) <= 1  # one bulk import of 20 contacts


def test_the_limiter_wait_is_heard_when_the_client_paces_itself(
    emulator: EmulatorFixture, statsd: StatsdListener
) -> None:
    from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook

    emulator.export_connection(requests_per_second=5)
    hook = ActiveCampaignHook()
    for _ in range(7):  # 5 go at once, the 6th and 7th wait for the next second
        hook.get("users/me")
    statsd.close()
    waits = statsd.metrics(metrics.LIMITER_WAIT)
    assert waits
    assert all(kind == "ms" and value > 0 for _, value, kind in waits)
    assert statsd.total(metrics.REQUESTS, method="GET", status_class="2xx") == 7


def test_the_accounts_and_events_writers_emit_the_rows_metric(
    emulator: EmulatorFixture, tmp_path: Path, statsd: StatsdListener
) -> None:
    """Both go through the records operators' rows metric, like deals and custom objects."""
    from airflow_provider_activecampaign.operators.accounts import ActiveCampaignSyncAccountsOperator
    from airflow_provider_activecampaign.operators.events import ActiveCampaignTrackEventsOperator
    from tests.integration.contacts_support import run_operator
    from tests.integration.test_events_tracking import events, tracking

    tracking(emulator, enabled=True)
    accounts = run_operator(
        ActiveCampaignSyncAccountsOperator(
            task_id="accounts",
            accounts=[{"name": "Metric Co 1"}, {"name": "Metric Co 2"}, {"name": {"a": 1}}],
            failures_path=str(tmp_path / "accounts.jsonl"),
            max_failure_ratio=0.5,
        )
    )
    tracked = run_operator(
        ActiveCampaignTrackEventsOperator(
            task_id="events",
            events=[*events(3), {"email": "not-an-address", "event": "trial_started"}],
            failures_path=str(tmp_path / "events.jsonl"),
            max_failure_ratio=0.5,
        )
    )
    statsd.close()

    assert (accounts["created"], accounts["rejected"]) == (2, 1)
    assert (tracked["sent"], tracked["rejected"]) == (3, 1)
    applied = {"ActiveCampaignSyncAccountsOperator": 2, "ActiveCampaignTrackEventsOperator": 3}
    for operator, ok in applied.items():
        assert statsd.total(metrics.ROWS, operator=operator, outcome="ok") == ok
        assert statsd.total(metrics.ROWS, operator=operator, outcome="rejected") == 1
        outcomes = {
            tags["outcome"] for tags, _, _ in statsd.metrics(metrics.ROWS) if tags["operator"] == operator
        }
        assert outcomes == {"ok", "rejected"}
