"""``Retry-After`` as delay-seconds OR an HTTP date (RFC 9110 §10.2.3; proxies send the date form).

Parsing is checked on the transport; then both hooks (requests and httpx) are driven through a 429
that carries a date and shown to wait until that date before trying again.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import requests
from pytest_mock import MockerFixture

from airflow_provider_activecampaign.exceptions import ActiveCampaignRateLimitError
from airflow_provider_activecampaign.hooks import activecampaign_async, transport
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.hooks.activecampaign_async import ActiveCampaignAsyncHook
from airflow_provider_activecampaign.hooks.transport import TransportSettings, handle_response, prepare_call
from tests.helpers.fakes import API_KEY, connection_json, response

BASE = "https://acct.api-us1.com"
CONN_ID = "ac_retry_after"


def http_date(seconds_from_now: float) -> str:
    """An IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``), whole seconds as the RFC requires."""
    moment = datetime.now(UTC) + timedelta(seconds=seconds_from_now)
    return format_datetime(moment.replace(microsecond=0), usegmt=True)


def retry_after_of(header: str) -> float | None:
    settings = TransportSettings(base_url=BASE, api_key=API_KEY)
    call = prepare_call(settings, "GET", "contacts")
    with pytest.raises(ActiveCampaignRateLimitError) as raised:
        handle_response(call, 429, {"Retry-After": header}, json.dumps({"message": "Too Many Requests"}))
    return raised.value.retry_after


def test_an_http_date_in_the_future_is_the_seconds_until_then() -> None:
    waited = retry_after_of(http_date(30))
    assert waited is not None
    assert 28.0 <= waited <= 30.0  # whole seconds in the header: up to one second earlier


@pytest.mark.parametrize(
    "header",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",  # IMF-fixdate, in the past
        "Sunday, 06-Nov-94 08:49:37 GMT",  # obsolete RFC 850 form
        "Sun Nov  6 08:49:37 1994",  # obsolete asctime form
    ],
)
def test_a_date_in_the_past_means_retry_now(header: str) -> None:
    assert retry_after_of(header) == 0.0


def test_a_far_date_is_capped_like_a_long_delay() -> None:
    assert retry_after_of(http_date(3 * 3600)) == transport.MAX_RETRY_AFTER


@pytest.mark.parametrize("header", ["soon", "", "Sun, 99 Foo 1994 08:49:37 GMT"])
def test_an_unreadable_value_is_ignored(header: str) -> None:
    assert retry_after_of(header) is None


# --------------------------------------------------------------------------------------------------
# Both hooks wait until the date
# --------------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(BASE, requests_per_second=1000))


def test_the_sync_hook_waits_until_the_date(mocker: MockerFixture) -> None:
    slept: list[float] = []
    real_monotonic = time.monotonic
    mocker.patch.object(time, "sleep", side_effect=slept.append)
    mocker.patch.object(time, "monotonic", side_effect=lambda: real_monotonic() + sum(slept))
    http = mocker.patch.object(requests.Session, "request", autospec=True)
    http.side_effect = [
        response(429, {"message": "Too Many Requests"}, headers={"Retry-After": http_date(6)}),
        response(200, {"contacts": []}),
    ]
    assert ActiveCampaignHook(activecampaign_conn_id=CONN_ID).get("contacts") == {"contacts": []}
    assert http.call_count == 2
    assert any(4.5 <= wait <= 6.0 * 1.1 + 0.1 for wait in slept), slept  # the date, plus jitter


async def test_the_async_hook_waits_until_the_date(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    real_sleep = asyncio.sleep
    test_thread = threading.get_ident()

    async def fake_sleep(seconds: float, *args: Any, **kwargs: Any) -> None:
        if threading.get_ident() == test_thread:
            slept.append(seconds)
        await real_sleep(0)

    answers = [
        httpx.Response(429, json={"message": "Too Many Requests"}, headers={"Retry-After": http_date(6)}),
        httpx.Response(200, json={"contacts": []}),
    ]
    sent: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answers.pop(0)

    real_client = httpx.AsyncClient

    def client_factory(*args: Any, **kwargs: Any) -> httpx.AsyncClient:
        return real_client(*args, transport=httpx.MockTransport(handle), **kwargs)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    monkeypatch.setattr(activecampaign_async.httpx, "AsyncClient", client_factory)
    async with ActiveCampaignAsyncHook(activecampaign_conn_id=CONN_ID) as hook:
        assert await hook.get("contacts") == {"contacts": []}
    assert len(sent) == 2
    assert any(4.5 <= wait <= 6.0 * 1.1 + 0.1 for wait in slept), slept
