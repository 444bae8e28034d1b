"""The Redis rate-limit backend against a real ``redis-server`` and a server that counts arrivals.

The emulator (a subprocess, 5 requests in any sliding second, a 429 for the sixth) stands in for
ActiveCampaign. Separate OS processes with separate local rate-limit folders stand in for separate
machines; they share the account's budget through Redis only.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture
from activecampaign_emulator.testing import (
    EmulatorProcess,
    connection_json,
    start_emulator_process,
)

from airflow_provider_activecampaign.hooks import transport
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.hooks.ratelimit import SlidingWindowLimiter
from airflow_provider_activecampaign.hooks.ratelimit import redis as redis_backend
from airflow_provider_activecampaign.hooks.ratelimit.backends import new_limiter
from tests.helpers.redis_server import RedisServer, redis_server, require_redis_server

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "https://acct.api-us1.com"
#: How long the clients of the shared-budget test send (the control's overshoot shows at once).
SECONDS = 8.0
CONTROL_SECONDS = 4.0


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    require_redis_server()
    with redis_server(password="s3cret-redis-pw") as server:
        yield server


@pytest.fixture(scope="module")
def limited_account() -> Iterator[EmulatorProcess]:
    """An account whose server answers 429 to a sixth request in any one second (real time)."""
    with start_emulator_process(speed=1.0, rate_limit=True) as emulator:
        yield emulator


# --------------------------------------------------------------------------------------------------
# The same rules as the in-memory window
# --------------------------------------------------------------------------------------------------


def _script(limiter: Any) -> list[float]:
    """Every operation at explicit times (Redis then uses them instead of its clock)."""
    waits: list[float] = []
    bookings = []
    for now in (100.0, 100.0, 100.01, 100.02, 100.02, 100.03, 100.05):
        booking, wait = limiter.book(now, floor=0.1)
        bookings.append(booking)
        waits.append(round(wait, 6))
    waits.append(limiter.delay(100.2))  # open bookings past their floor count as now - floor
    limiter.settle(bookings[1], at=100.4)  # counted from 100.3
    waits.append(limiter.delay(100.41))
    for booking in (bookings[0], *bookings[2:5]):
        limiter.settle(booking, at=100.45)
    waits.append(limiter.confirm(bookings[5], now=101.4))  # due, fits: send now
    waits.append(limiter.confirm(bookings[6], now=100.9))  # woken early: keeps its place
    limiter.cancel(bookings[6], now=100.95)
    waits.append(limiter.reserve(101.5))
    limiter.saturate(101.6)
    waits.append(limiter.delay(101.6))
    waits.append(limiter.reserve(103.0))
    return waits


def test_the_redis_window_runs_the_same_rules_as_the_in_memory_one(redis: RedisServer) -> None:
    in_memory = _script(SlidingWindowLimiter(5, 1.0))
    limiter = new_limiter(redis.url, ACCOUNT, "parity", 5, 1.0)
    assert isinstance(limiter, redis_backend.RedisSlidingWindowLimiter)
    in_redis = _script(limiter)
    assert in_redis == pytest.approx(in_memory, abs=1e-5)
    assert max(in_memory) > 0.5  # the script does reach a full window
    assert in_memory[9] == 0.0  # the due booking that fits was confirmed at once


# --------------------------------------------------------------------------------------------------
# Several "hosts" and a trigger share one account
# --------------------------------------------------------------------------------------------------


def _run_clients(
    account: EmulatorProcess, tmp_path: Path, backend: str | None, seconds: float = SECONDS
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    account.client.clear_requests()
    procs = []
    for index, use_async in enumerate([False, False, False, True]):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__ACTIVECAMPAIGN__")}
        env["AIRFLOW_CONN_ACTIVECAMPAIGN_DEFAULT"] = connection_json(
            account.url, account.api_key, requests_per_second=5
        )
        env["AIRFLOW_PROVIDER_ACTIVECAMPAIGN_RATELIMIT_DIR"] = str(tmp_path / f"host{index}")
        env["AIRFLOW__ACTIVECAMPAIGN__TRIGGER_FIRST_CHECK_AFTER"] = "0"
        if backend is not None:
            env["AIRFLOW__ACTIVECAMPAIGN__RATE_LIMIT_BACKEND"] = backend
        command = [
            sys.executable,
            "-m",
            "tests.helpers.limiter_client",
            str(seconds),
            "--wait-for-go",
        ]
        if use_async:
            command.append("--async")
        procs.append(
            subprocess.Popen(
                command, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
        )
    for proc in procs:  # each imports Airflow first; a crash ends its output (and this wait)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready", proc.poll()
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results, account.client.requests()


def _budget_used(log: dict[str, Any]) -> float:
    """Accepted requests ÷ the most a "5 in any second" server admits between the first and the last."""
    times = sorted(
        e["real_time"] for e in log["requests"] if e["path"] == "/api/3/users/me" and e["status"] == 200
    )
    allowed = 5 * (math.floor(times[-1] - times[0]) + 1)  # 5 in each second the span touches
    return len(times) / allowed


def test_three_hosts_and_a_trigger_share_one_budget_through_redis(
    limited_account: EmulatorProcess, redis: RedisServer, tmp_path: Path
) -> None:
    results, log = _run_clients(limited_account, tmp_path, backend=redis.url)
    counts = log["counts"]
    assert counts.get("GET /api/3/users/me 429", 0) == 0, counts
    assert log["max_requests_in_any_emulated_second"] <= 5
    assert all(result["failed"] == 0 for result in results), results
    assert all(result["ok"] > 0 for result in results), results  # every host got its turns
    used = _budget_used(log)
    print(f"budget used: {used:.3f}", [r["ok"] for r in results])
    # A floor against starvation (hosts waiting whole windows for each other), not a speed figure:
    # the share used on an idle host (about 0.95) is the benchmark's to print; on a busy CI host the
    # processes' own scheduling takes some of it (0.89 seen with both CI stages running).
    assert used >= 0.6, f"{used:.2f} of the budget"


def test_control_hosts_with_only_their_own_windows_overshoot(
    limited_account: EmulatorProcess, tmp_path: Path
) -> None:
    """Without the shared backend the same clients go over: the test above can fail."""
    _, log = _run_clients(limited_account, tmp_path, backend=None, seconds=CONTROL_SECONDS)
    assert log["counts"].get("GET /api/3/users/me 429", 0) > 0, log["counts"]


# --------------------------------------------------------------------------------------------------
# Redis going away
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def fresh_limiters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "_LIMITERS", {})
    monkeypatch.setattr(redis_backend, "RETRY_REDIS_AFTER", 0.5)


def test_redis_stopped_mid_run_falls_back_to_the_local_window_with_a_warning(
    emulator: EmulatorFixture, fresh_limiters: None, caplog: pytest.LogCaptureFixture
) -> None:
    require_redis_server()
    server = RedisServer(_free_port(), "pw-that-must-not-leak")
    server.start()
    try:
        emulator.configure(speed=1.0)
        emulator.export_connection(rate_limit_backend=server.url)
        hook = ActiveCampaignHook()
        for _ in range(3):
            hook.get("users/me")
        limiter = transport.limiters_for(hook.settings, "GET", "users/me")[0]
        assert isinstance(limiter, redis_backend.RedisSlidingWindowLimiter)
        server.stop()
        took = []
        with caplog.at_level(logging.WARNING):
            for _ in range(8):
                started = time.monotonic()
                hook.get("users/me")
                took.append(time.monotonic() - started)
        # Never a hang: the first call pays one short socket timeout; the local window, started
        # full, then paces at 5 per second.
        assert max(took) < redis_backend.SOCKET_TIMEOUT + 1.5, took
        assert 1.0 <= sum(took) < 5.0, took
        warnings = [r.getMessage() for r in caplog.records if "rate-limit backend" in r.getMessage()]
        assert len(warnings) == 1, warnings
        assert "unreachable" in warnings[0]
        assert "***" in warnings[0]
        assert "pw-that-must-not-leak" not in caplog.text
        # Redis back: the shared window is used again, and that is said too.
        server.start()
        time.sleep(0.6)
        with caplog.at_level(logging.WARNING):
            hook.get("users/me")
        assert any("answers again" in r.getMessage() for r in caplog.records)
        assert limiter._down is False
    finally:
        server.stop()
    counts = emulator.requests()["counts"]
    assert counts.get("GET /api/3/users/me 429", 0) == 0


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_airflow_redis_connection_names_the_backend(
    emulator: EmulatorFixture, redis: RedisServer, fresh_limiters: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_AC_LIMITS",
        json.dumps(
            {"conn_type": "redis", "host": "127.0.0.1", "port": redis.port, "password": redis.password,
             "extra": {"db": 2}}
        ),
    )  # fmt: skip
    emulator.configure(speed=1.0)
    emulator.export_connection(rate_limit_backend="ac_limits")
    hook = ActiveCampaignHook()
    hook.get("users/me")
    assert hook.settings.rate_limit_backend == redis.url.replace("/0", "/2")
    assert "s3cret" not in repr(hook.settings)
    import redis as redis_client

    keys = redis_client.Redis.from_url(redis.url.replace("/0", "/2")).keys(f"{redis_backend.KEY_PREFIX}*")
    # The account's window and its clients (the hosts counted for outages), named by a hash.
    assert sorted(keys) == sorted(
        [keys[0].removesuffix(b":clients"), keys[0].removesuffix(b":clients") + b":clients"]
    )
    assert all(b"acct" not in key and b"s3cret" not in key for key in keys)


# --------------------------------------------------------------------------------------------------
# Redis stopped or frozen while three hosts send: each paces at its share, the account never 429s
# --------------------------------------------------------------------------------------------------

#: How long the three hosts send (Redis goes away twice in the middle).
OUTAGE_SECONDS = 30.0


@pytest.mark.long
def test_redis_stopped_then_frozen_mid_run_three_hosts_keep_within_the_budget(
    limited_account: EmulatorProcess, tmp_path: Path
) -> None:
    """Three host processes (own rate-limit folders) at full speed through one Redis; Redis is
    stopped for 4 s, restarted, then frozen (SIGSTOP) for 4 s. The emulator counts arrivals and
    answers 429 to a sixth request in any second: none may be answered 429, every call succeeds."""
    import signal

    require_redis_server()
    server = RedisServer(_free_port(), None)
    server.start()
    try:
        limited_account.client.clear_requests()
        procs = []
        for index in range(3):
            env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__ACTIVECAMPAIGN__")}
            env["AIRFLOW_CONN_ACTIVECAMPAIGN_DEFAULT"] = connection_json(
                limited_account.url, limited_account.api_key, requests_per_second=5
            )
            env["AIRFLOW_PROVIDER_ACTIVECAMPAIGN_RATELIMIT_DIR"] = str(tmp_path / f"host{index}")
            env["AIRFLOW__ACTIVECAMPAIGN__RATE_LIMIT_BACKEND"] = server.url
            command = [sys.executable, "-m", "tests.helpers.limiter_client", str(OUTAGE_SECONDS)]
            command += ["--wait-for-go", "--threads", "3"]
            procs.append(
                subprocess.Popen(
                    command, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
                )
            )
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready", proc.poll()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        phases = {"go": time.time()}
        # Every host has used Redis and recorded that the account has 3 (in its rate-limit folder).
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(
            [p.read_text() for p in (tmp_path / f"host{index}").glob("*.hosts")] == ["3"]
            for index in range(3)
        ):
            time.sleep(0.1)
        time.sleep(1.0)
        phases["stop"] = time.time()
        server.stop()
        time.sleep(4.0)
        server.start()  # a restarted Redis: empty, forgot its clients
        phases["restart"] = time.time()
        time.sleep(3.0)
        phases["freeze"] = time.time()
        assert server.process is not None
        os.kill(server.process.pid, signal.SIGSTOP)
        time.sleep(4.0)
        os.kill(server.process.pid, signal.SIGCONT)
        phases["thaw"] = time.time()
        results = []
        for proc in procs:
            out, _ = proc.communicate(timeout=120)
            assert proc.returncode == 0, out
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        if server.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(server.process.pid, signal.SIGCONT)
        server.stop()
    log = limited_account.client.requests()
    counts = log["counts"]
    ok = counts.get("GET /api/3/users/me 200", 0)
    print(f"3 hosts, Redis stopped 4 s and frozen 4 s: {ok} answered in {OUTAGE_SECONDS:.0f} s,", counts)
    assert counts.get("GET /api/3/users/me 429", 0) == 0, counts
    assert log["max_requests_in_any_emulated_second"] <= 5
    assert all(result["failed"] == 0 for result in results), results
    assert all(result["ok"] > 0 for result in results), results
    # Requests kept flowing while Redis was stopped and while it was frozen (each host at its share).
    answered = [e["real_time"] for e in log["requests"] if e["status"] == 200]
    for start, end in (("stop", "restart"), ("freeze", "thaw")):
        during = [t for t in answered if phases[start] + 1.0 < t < phases[end]]
        assert during, f"nothing answered between {start} and {end}"
        print(f"  Redis {start} -> {end}: {len(during) / (phases[end] - phases[start] - 1.0):.2f} req/s")
