"""Unit tests of ActiveCampaignAsyncHook with httpx's MockTransport (no network)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from airflow_provider_activecampaign import __version__
from airflow_provider_activecampaign.exceptions import (
    ActiveCampaignAmbiguousWriteError,
    ActiveCampaignAuthError,
    ActiveCampaignConfigError,
    ActiveCampaignServerError,
)
from airflow_provider_activecampaign.hooks import activecampaign_async, transport
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.hooks.activecampaign_async import ActiveCampaignAsyncHook
from airflow_provider_activecampaign.hooks.ratelimit import WINDOW_MARGIN
from airflow_provider_activecampaign.hooks.transport import prepare_call
from tests.helpers.fakes import API_KEY, connection_json

BASE = "https://acct.api-us1.com"
CONN_ID = "ac_async_unit"

Answer = httpx.Response | Exception


class Server:
    """Answers requests from a script, in order, and records what it was sent."""

    def __init__(self) -> None:
        self.answers: list[Answer] = []
        self.requests: list[httpx.Request] = []
        self.client_kwargs: list[dict[str, Any]] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def answer(status: int, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, content=b"" if body is None else json.dumps(body).encode(), headers=headers)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "_LIMITERS", {})
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(BASE, requests_per_second=1000))


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record asyncio sleeps (retry and limiter waits) and skip them; sleeping moves the clock.

    Only the test's own thread: an emulator's server thread in the same process (its loop sleeps
    0.1 s between ticks) must neither be recorded nor move this test's clock.
    """
    recorded: list[float] = []
    real_sleep = asyncio.sleep
    real_monotonic = time.monotonic
    slept = [0.0]
    test_thread = threading.get_ident()

    async def fake_sleep(seconds: float, *args: Any, **kwargs: Any) -> None:
        if threading.get_ident() != test_thread:
            await real_sleep(seconds, *args, **kwargs)
            return
        recorded.append(seconds)
        slept[0] += max(0.0, seconds)
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    monkeypatch.setattr(time, "monotonic", lambda: real_monotonic() + slept[0])
    return recorded


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, sleeps: list[float]) -> Server:
    fake = Server()
    real_client: Callable[..., httpx.AsyncClient] = httpx.AsyncClient

    def client_factory(*args: Any, **kwargs: Any) -> httpx.AsyncClient:
        fake.client_kwargs.append(kwargs)
        return real_client(*args, transport=httpx.MockTransport(fake.handle), **kwargs)

    monkeypatch.setattr(activecampaign_async.httpx, "AsyncClient", client_factory)
    return fake


def hook() -> ActiveCampaignAsyncHook:
    return ActiveCampaignAsyncHook(activecampaign_conn_id=CONN_ID)


def test_init_does_no_io_and_repr_hides_nothing_secret() -> None:
    created = ActiveCampaignAsyncHook(activecampaign_conn_id="does_not_exist")
    assert repr(created) == "ActiveCampaignAsyncHook(activecampaign_conn_id='does_not_exist')"
    assert created.conn_type == ActiveCampaignHook.conn_type
    assert created.conn_name_attr == ActiveCampaignHook.conn_name_attr


async def test_settings_are_resolved_asynchronously_and_the_key_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    masked: list[Any] = []

    async def fake_amask(secret: Any, name: str | None = None) -> None:
        masked.append(secret)

    import airflow.sdk.log

    monkeypatch.setattr(airflow.sdk.log, "amask_secret", fake_amask, raising=False)
    settings = await hook().get_settings()
    assert settings.base_url == BASE
    assert settings.api_key == API_KEY
    assert API_KEY in masked


async def test_secrets_are_masked_on_airflow_3_2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Airflow 3.2's task SDK has no ``amask_secret``: its ``mask_secret`` masks the key instead."""
    import airflow.sdk.log

    from airflow_provider_activecampaign.hooks.transport.redaction import aregister_secret

    masked: list[Any] = []
    monkeypatch.delattr(airflow.sdk.log, "amask_secret", raising=False)
    monkeypatch.setattr(airflow.sdk.log, "mask_secret", lambda secret, name=None: masked.append(secret))
    await aregister_secret(API_KEY)
    assert masked == [API_KEY]


async def test_request_sends_headers_timeouts_and_does_not_follow_redirects(server: Server) -> None:
    server.answers = [answer(200, {"user": {"id": "1"}})]
    async with hook() as target:
        assert await target.get("users/me", params={"a": "1"}) == {"user": {"id": "1"}}
    sent = server.requests[0]
    assert str(sent.url) == f"{BASE}/api/3/users/me?a=1"
    assert sent.headers["Api-Token"] == API_KEY
    assert sent.headers["User-Agent"].startswith(f"airflow-provider-activecampaign/{__version__}")
    kwargs = server.client_kwargs[0]
    assert kwargs["follow_redirects"] is False
    assert kwargs["timeout"] == httpx.Timeout(30.0, connect=10.0)


async def test_aclose_closes_the_client(server: Server) -> None:
    server.answers = [answer(200, {})]
    target = hook()
    await target.get("users/me")
    client = target._client
    assert client is not None
    await target.aclose()
    assert client.is_closed
    assert target._client is None


async def test_429_waits_retry_after_and_retries_a_post(server: Server, sleeps: list[float]) -> None:
    server.answers = [
        answer(429, {"message": "Too Many Requests"}, {"Retry-After": "2"}),
        answer(201, {"id": 1}),
    ]
    async with hook() as target:
        assert await target.request("POST", "contacts", json={"contact": {}}) == {"id": 1}
    assert len(server.requests) == 2
    assert any(2.0 <= wait <= 2.0 * 1.1 + 0.1 for wait in sleeps), sleeps  # Retry-After, plus jitter


async def test_503_on_get_is_retried(server: Server) -> None:
    server.answers = [answer(503, {"message": "Service Unavailable"}), answer(200, {"ok": True})]
    async with hook() as target:
        assert await target.get("contacts") == {"ok": True}
    assert len(server.requests) == 2


async def test_503_on_a_post_is_ambiguous_and_not_resent(server: Server) -> None:
    server.answers = [answer(503, {"message": "Service Unavailable"}), answer(201, {})]
    async with hook() as target:
        with pytest.raises(ActiveCampaignAmbiguousWriteError):
            await target.request("POST", "contactAutomations", json={"contactAutomation": {}})
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "failure", [httpx.ReadTimeout("read timed out"), httpx.RemoteProtocolError("Server disconnected")]
)
async def test_timeout_or_drop_on_a_post_is_ambiguous(server: Server, failure: Exception) -> None:
    server.answers = [failure, answer(201, {})]
    async with hook() as target:
        with pytest.raises(ActiveCampaignAmbiguousWriteError, match="may have been applied"):
            await target.request("POST", "contacts", json={"contact": {"email": "a@example.com"}})
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "failure", [httpx.ReadTimeout("read timed out"), httpx.RemoteProtocolError("Server disconnected")]
)
async def test_timeout_or_drop_on_get_is_retried(server: Server, failure: Exception) -> None:
    server.answers = [failure, answer(200, {"contacts": []})]
    async with hook() as target:
        assert await target.get("contacts") == {"contacts": []}
    assert len(server.requests) == 2


@pytest.mark.parametrize("failure", [httpx.ConnectError("refused"), httpx.ConnectTimeout("connect timeout")])
async def test_a_request_that_never_left_is_retried_even_for_a_post(
    server: Server, failure: Exception
) -> None:
    server.answers = [failure, answer(201, {"contact": {"id": "3"}})]
    async with hook() as target:
        assert await target.request("POST", "contacts", json={}) == {"contact": {"id": "3"}}
    assert len(server.requests) == 2


async def test_gives_up_after_max_retries(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(BASE, requests_per_second=1000, max_retries=1)
    )
    server.answers = [answer(502, {"message": "Bad Gateway"})] * 5
    async with hook() as target:
        with pytest.raises(ActiveCampaignServerError, match="HTTP 502"):
            await target.get("contacts")
    assert len(server.requests) == 2


async def test_bad_key_is_an_auth_error_naming_the_url(server: Server) -> None:
    server.answers = [answer(403, {"message": "Forbidden"})]
    async with hook() as target:
        with pytest.raises(ActiveCampaignAuthError) as info:
            await target.get("users/me")
    assert f"GET {BASE}/api/3/users/me" in str(info.value)
    assert API_KEY not in str(info.value)
    assert len(server.requests) == 1


async def test_redirect_is_refused(server: Server) -> None:
    server.answers = [answer(302, {}, {"Location": "https://elsewhere.example.com/x"})]
    async with hook() as target:
        with pytest.raises(ActiveCampaignConfigError, match="not followed"):
            await target.get("users/me")
    assert len(server.requests) == 1


async def test_paces_with_the_same_limiter_as_the_sync_hook(
    server: Server, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(BASE, requests_per_second=5))
    sync_settings = ActiveCampaignHook(activecampaign_conn_id=CONN_ID).settings
    sync_limiter = prepare_call(sync_settings, "GET", "contacts").limiters[0]
    # The sync hook's requests, booked 3 s ahead (explicit times: nothing here depends on how
    # fast the machine is).
    ahead = time.monotonic() + 3.0
    assert [sync_limiter.reserve(now=ahead) for _ in range(4)] == [0.0] * 4
    server.answers = [answer(200, {})] * 3
    async with hook() as target:
        for _ in range(3):
            await target.get("contacts")
    limiter_waits = [s for s in sleeps if s > 0.5]
    # First come, first served in the shared window: the async hook's 1st call queues behind the
    # sync hook's bookings (about 3 s), its 2nd takes the fifth slot with them, and its 3rd waits
    # for the next window (about 1 s; sleeping moves the clock).
    assert limiter_waits, sleeps
    assert 2.0 < limiter_waits[0] <= 3.0, sleeps
    assert all(wait <= 1.0 * (1 + WINDOW_MARGIN) + 1e-6 for wait in limiter_waits[1:]), sleeps
