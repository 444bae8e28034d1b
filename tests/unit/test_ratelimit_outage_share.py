"""While Redis is away each host paces at its share: how many hosts, and what share.

Unit tests of :class:`RedisSlidingWindowLimiter` alone (a stub client that is never called); the
three-process outage against a real Redis and a server counting arrivals is
tests/integration/test_ratelimit_redis.py.
"""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest

from airflow_provider_activecampaign.hooks.ratelimit import redis as redis_backend
from airflow_provider_activecampaign.hooks.ratelimit.redis import RedisSlidingWindowLimiter
from airflow_provider_activecampaign.hooks.ratelimit.window import WINDOW_MARGIN, SlidingWindowLimiter


def _limiter(hosts_file: Path | None = None) -> RedisSlidingWindowLimiter:
    return RedisSlidingWindowLimiter(
        mock.Mock(),
        url="redis://:pw@127.0.0.1:1/0",
        account_key="k",
        max_events=5,
        period=1.0,
        fallback=SlidingWindowLimiter(5, 1.0),
        client_id="host-a",
        hosts_file=hosts_file,
    )


@pytest.mark.parametrize(
    ("hosts", "share"),
    [(0, (5, 1.0)), (1, (5, 1.0)), (2, (2, 1.0)), (3, (1, 1.0)), (5, (1, 1.0)), (10, (1, 2.0))],
)
def test_each_host_gets_whole_requests_per_period_so_together_they_stay_in_budget(
    hosts: int, share: tuple[int, float]
) -> None:
    limiter = _limiter()
    limiter.hosts_seen = hosts
    assert limiter.share() == (*share, WINDOW_MARGIN)


def test_a_restarted_redis_forgetting_its_clients_does_not_shrink_the_count(tmp_path: Path) -> None:
    limiter = _limiter(tmp_path / "k.hosts")
    limiter._saw_hosts(3)
    limiter._saw_hosts(1)  # Redis restarted empty: only this host stamped so far
    assert limiter.hosts_seen == 3
    # Another process of the same host that never reached Redis knows the count from the folder.
    assert _limiter(tmp_path / "k.hosts").share()[0] == 1


def test_the_fallback_paces_at_the_share_while_down_and_again_in_full_after_the_grace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    limiter = _limiter()
    limiter.hosts_seen = 3
    limiter._went_down(ConnectionError("refused"))
    assert limiter.fallback.max_events == 1
    limiter._came_back()
    assert limiter._sharing()
    assert limiter.fallback.max_events == 1  # still its share: other hosts may still pace alone
    monkeypatch.setattr(redis_backend.time, "monotonic", lambda: limiter._share_until + 0.1)
    assert not limiter._sharing()
    assert limiter.fallback.max_events == 5
