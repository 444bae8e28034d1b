"""The provider's metrics, through Airflow's own ``Stats`` (StatsD, Datadog or OpenTelemetry, as deployed).

Every name starts with ``activecampaign.`` (after Airflow's own ``[metrics] statsd_prefix``); the
dimensions are tags (StatsD keeps them with ``statsd_influxdb_enabled`` or Datadog; OpenTelemetry
always does). docs/metrics.md lists each name, its type, tags and when it is emitted.

Metrics never break a call: a backend that fails is logged once and ignored. When metrics are off,
Airflow's backend is a no-op and a call here costs a few microseconds (benchmarks/metrics_cost.py).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

PREFIX = "activecampaign"

#: Every metric this provider emits (documented in docs/metrics.md; a test keeps both in step).
REQUESTS = f"{PREFIX}.requests"
RATE_LIMITED = f"{PREFIX}.rate_limited"
THROTTLED_WAIT = f"{PREFIX}.throttled_wait"
LIMITER_WAIT = f"{PREFIX}.limiter_wait"
BULK_IMPORTS_PENDING = f"{PREFIX}.bulk_imports_pending"
ROWS = f"{PREFIX}.rows"
WEBHOOK_DELIVERIES = f"{PREFIX}.webhook_deliveries"
NAMES = (REQUESTS, RATE_LIMITED, THROTTLED_WAIT, LIMITER_WAIT, BULK_IMPORTS_PENDING, ROWS, WEBHOOK_DELIVERIES)

#: The row outcomes :func:`record_rows` counts.
ROW_OUTCOMES = ("ok", "rejected", "failed", "unknown")

log = logging.getLogger(__name__)
_failed_once = False


_STATS: Any = None


def _stats() -> Any:
    global _STATS
    if _STATS is None:
        # Airflow 3.2 and 3.3 both ship it here (the task SDK); ``airflow.stats`` is a deprecated
        # alias. Imported on first use: importing this module costs nothing.
        from airflow.sdk.observability.stats import Stats

        _STATS = Stats
    return _STATS


def _emit(kind: str, name: str, *args: Any, tags: dict[str, str] | None = None) -> None:
    global _failed_once
    try:
        getattr(_stats(), kind)(name, *args, tags=tags)
    except Exception as error:  # a metrics backend must never fail an API call or a task
        if not _failed_once:
            _failed_once = True
            log.warning("ActiveCampaign metrics could not be emitted (%s); carrying on without.", error)


def status_class(status: int | None) -> str:
    """``2xx`` … ``5xx`` for an HTTP status; ``none`` when no answer came back."""
    return f"{status // 100}xx" if status is not None and 100 <= status < 600 else "none"


def record_request(method: str, status: int | None) -> None:
    """One attempt of one call got an answer with ``status`` (``None``: no HTTP answer)."""
    _emit("incr", REQUESTS, tags={"method": method, "status_class": status_class(status)})


def record_rate_limited(method: str) -> None:
    """ActiveCampaign answered 429 (or the importer's "rate limit exceeded")."""
    _emit("incr", RATE_LIMITED, tags={"method": method})


def record_throttled_wait(seconds: float) -> None:
    """A call waits ``seconds`` before trying again after a 429 (a timer, in ms for StatsD)."""
    _emit("timing", THROTTLED_WAIT, timedelta(seconds=max(0.0, seconds)))


def record_limiter_wait(seconds: float) -> None:
    """A call waited ``seconds`` in the provider's own rate limiter before it was sent."""
    _emit("timing", LIMITER_WAIT, timedelta(seconds=max(0.0, seconds)))


def record_bulk_imports_pending(count: int, *, operator: str = "") -> None:
    """How many bulk imports were sent and are not finished yet (a gauge)."""
    _emit("gauge", BULK_IMPORTS_PENDING, count, tags={"operator": operator} if operator else None)


def record_rows(operator: str, *, ok: int = 0, rejected: int = 0, failed: int = 0, unknown: int = 0) -> None:
    """An operator's final row counts: one ``rows`` counter per outcome that is not zero.

    ``ok``: applied; ``rejected``: refused before sending (bad input); ``failed``: refused or lost
    by ActiveCampaign; ``unknown``: sent, and whether it applied is not known yet.
    """
    for outcome, count in zip(ROW_OUTCOMES, (ok, rejected, failed, unknown), strict=True):
        if count:
            _emit("incr", ROWS, int(count), tags={"operator": operator, "outcome": outcome})


def record_webhook_delivery(outcome: str, detail: str = "") -> None:
    """A delivery reached the webhook receiver: ``recorded``, ``refused`` (4xx) or ``failed`` (503).

    ``detail`` says which: the recorder's status (``recorded``, ``duplicate``) or why it was refused.
    """
    tags = {"outcome": outcome, **({"detail": detail} if detail else {})}
    _emit("incr", WEBHOOK_DELIVERIES, tags=tags)
