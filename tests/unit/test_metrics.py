"""Unit tests of hooks/metrics.py: every name documented, tags as documented, a failing backend ignored.

What a real StatsD listener hears during a sync is tested in tests/integration/test_metrics_statsd.py.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_activecampaign.hooks import metrics

DOCS = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


class RecordingStats:
    """Stands in for Airflow's ``Stats``: records each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, str] | None]] = []

    def __getattr__(self, kind: str) -> Any:
        def record(name: str, *args: Any, tags: dict[str, str] | None = None) -> None:
            self.calls.append((kind, (name, *args), tags))

        return record


@pytest.fixture
def stats(monkeypatch: pytest.MonkeyPatch) -> RecordingStats:
    fake = RecordingStats()
    monkeypatch.setattr(metrics, "_STATS", fake)
    return fake


def test_every_metric_is_documented_with_its_type() -> None:
    page = DOCS.read_text()
    for name in metrics.NAMES:
        assert f"| `{name}` |" in page, f"{name} is not in docs/metrics.md"


@pytest.mark.parametrize(
    ("status", "expected"),
    [(200, "2xx"), (204, "2xx"), (302, "3xx"), (429, "4xx"), (503, "5xx"), (None, "none")],
)
def test_requests_are_counted_by_method_and_status_class(
    stats: RecordingStats, status: int | None, expected: str
) -> None:
    metrics.record_request("POST", status)
    assert stats.calls == [("incr", (metrics.REQUESTS,), {"method": "POST", "status_class": expected})]


def test_rows_emit_one_counter_per_outcome_that_is_not_zero(stats: RecordingStats) -> None:
    metrics.record_rows("MyOperator", ok=20, rejected=1, failed=0, unknown=3)
    assert stats.calls == [
        ("incr", (metrics.ROWS, 20), {"operator": "MyOperator", "outcome": "ok"}),
        ("incr", (metrics.ROWS, 1), {"operator": "MyOperator", "outcome": "rejected"}),
        ("incr", (metrics.ROWS, 3), {"operator": "MyOperator", "outcome": "unknown"}),
    ]


def test_waits_are_timers_and_the_backlog_a_gauge(stats: RecordingStats) -> None:
    metrics.record_throttled_wait(1.5)
    metrics.record_limiter_wait(0.25)
    metrics.record_bulk_imports_pending(7)
    metrics.record_webhook_delivery("refused", "unknown_token")
    kinds = [(kind, args[0]) for kind, args, _ in stats.calls]
    assert kinds == [
        ("timing", metrics.THROTTLED_WAIT),
        ("timing", metrics.LIMITER_WAIT),
        ("gauge", metrics.BULK_IMPORTS_PENDING),
        ("incr", metrics.WEBHOOK_DELIVERIES),
    ]
    assert stats.calls[0][1][1].total_seconds() == 1.5
    assert stats.calls[2][1][1] == 7
    assert stats.calls[3][2] == {"outcome": "refused", "detail": "unknown_token"}


def test_a_failing_backend_never_fails_the_call_and_is_logged_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        def incr(self, *args: Any, **kwargs: Any) -> None:
            raise OSError("statsd host unreachable")

    monkeypatch.setattr(metrics, "_STATS", Broken())
    monkeypatch.setattr(metrics, "_failed_once", False)
    with caplog.at_level(logging.WARNING, logger=metrics.__name__):
        metrics.record_request("GET", 200)
        metrics.record_request("GET", 200)
    warnings = [r for r in caplog.records if r.name == metrics.__name__]
    assert len(warnings) == 1
    assert "statsd host unreachable" in warnings[0].getMessage()
