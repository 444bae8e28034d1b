"""The API key never shows: not in logs, exception text, reprs, or anything Airflow's redact() lets through.

The hook's ``self.log`` is a structlog logger that writes to stdout outside a task, and
``transport``'s module logger is a stdlib logger: both are captured (``capfd`` and ``caplog``),
and each test first checks that the capture really holds the lines it looks through.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import secrets
import threading
import time
from typing import Any

import httpx
import pytest
import requests
from airflow.sdk.log import redact
from pytest_mock import MockerFixture

from airflow_provider_activecampaign.exceptions import ActiveCampaignError
from airflow_provider_activecampaign.hooks import activecampaign_async, transport
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook, _mask
from airflow_provider_activecampaign.hooks.activecampaign_async import ActiveCampaignAsyncHook
from airflow_provider_activecampaign.hooks.transport import prepare_call, prepare_legacy_call
from tests.helpers.fakes import connection_json, response

BASE = "https://acct.api-us1.com"
CONN_ID = "ac_masking"


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """A key no other test has registered with the masker, so masking is proved, not inherited."""
    key = secrets.token_hex(36)
    monkeypatch.setattr(transport, "_LIMITERS", {})
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(BASE, key, requests_per_second=1000, max_retries=2)
    )
    return key


@pytest.fixture
def no_sleep(mocker: MockerFixture) -> None:
    mocker.patch.object(time, "sleep")


@pytest.fixture
def all_output(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> Any:
    """A function returning everything logged or printed so far (stdlib logging and structlog)."""
    caplog.set_level(logging.DEBUG)

    def collected() -> str:
        captured = capfd.readouterr()
        collected.text += captured.out + captured.err  # type: ignore[attr-defined]
        return collected.text + caplog.text  # type: ignore[attr-defined]

    collected.text = ""  # type: ignore[attr-defined]
    return collected


def _assert_absent(key: str, *texts: str) -> None:
    for text in texts:
        assert key not in text


def test_key_is_registered_with_airflows_masker_when_the_hook_reads_the_connection(api_key: str) -> None:
    assert redact(f"token {api_key}") == f"token {api_key}"  # not masked yet: the test can fail
    ActiveCampaignHook(activecampaign_conn_id=CONN_ID).settings  # noqa: B018 - reading the connection
    assert redact(f"token {api_key}") == "token ***"
    assert redact({"Api-Token": api_key, "x": f"a{api_key}b"}) == {"Api-Token": "***", "x": "a***b"}


def test_mask_registers_any_value() -> None:
    value = secrets.token_hex(20)
    _mask(value)
    assert redact(value) == "***"


def test_hook_reprs_and_session_headers_under_redact(api_key: str) -> None:
    hook = ActiveCampaignHook(activecampaign_conn_id=CONN_ID)
    _assert_absent(api_key, repr(hook), str(hook), repr(hook.settings), str(hook.settings))
    call = prepare_call(hook.settings, "GET", "contacts")
    _assert_absent(api_key, repr(call), call.display_url)
    assert api_key not in str(redact(dict(hook.get_conn().headers)))


def test_no_key_in_logs_or_errors_across_failure_paths(
    api_key: str, no_sleep: None, mocker: MockerFixture, all_output: Any
) -> None:
    answers = [
        response(503, {"message": "Service Unavailable"}),  # GET: retried, logged
        requests.exceptions.ReadTimeout("Read timed out."),  # GET: retried, logged
        response(403, {"message": "Forbidden"}),  # bad key
        response(422, {"errors": [{"title": f"bad token {api_key}"}]}),  # a server echoing the key
        requests.exceptions.ReadTimeout("Read timed out."),  # POST: ambiguous
        response(200, {"result_code": 0, "result_message": f"key {api_key} refused"}),  # legacy echo
    ]
    mocker.patch.object(requests.Session, "request", side_effect=answers)
    hook = ActiveCampaignHook(activecampaign_conn_id=CONN_ID)
    errors: list[ActiveCampaignError] = []
    for attempt in (
        lambda: hook.get("contacts", params={"api_key": api_key}),
        lambda: hook.post("contacts", json={"contact": {"email": "a@example.com"}, "token": api_key}),
        lambda: hook.post("contacts", json={"contact": {"email": "b@example.com"}}),
        lambda: hook.legacy_request("contact_add", method="POST", data={"api_key": api_key}),
    ):
        with pytest.raises(ActiveCampaignError) as info:
            attempt()
        errors.append(info.value)
    output = all_output()
    assert "Retrying in" in output  # the capture holds the hook's log lines
    assert len(errors) == 4
    for error in errors:
        copy = pickle.loads(pickle.dumps(error))
        _assert_absent(api_key, output, str(error), repr(error), str(copy), repr(copy), repr(vars(error)))
    assert "bad token ***" in str(errors[1])


def test_test_connection_message_has_no_key(api_key: str, mocker: MockerFixture, all_output: Any) -> None:
    mocker.patch.object(
        requests.Session, "request", return_value=response(403, {"message": f"Forbidden {api_key}"})
    )
    ok, message = ActiveCampaignHook(activecampaign_conn_id=CONN_ID).test_connection()
    assert not ok
    assert "Forbidden ***" in message
    _assert_absent(api_key, message, all_output())


def test_legacy_call_never_puts_the_key_in_the_url(api_key: str) -> None:
    settings = ActiveCampaignHook(activecampaign_conn_id=CONN_ID).settings
    call = prepare_legacy_call(settings, "user_me")
    _assert_absent(api_key, call.url, call.display_url, repr(call))


async def test_async_hook_masks_and_never_shows_the_key(
    api_key: str, monkeypatch: pytest.MonkeyPatch, all_output: Any
) -> None:
    real_client = httpx.AsyncClient
    answers = [httpx.Response(503, json={"message": f"down {api_key}"})] * 3

    def client_factory(*args: Any, **kwargs: Any) -> httpx.AsyncClient:
        return real_client(*args, transport=httpx.MockTransport(lambda r: answers.pop(0)), **kwargs)

    real_sleep = asyncio.sleep
    test_thread = threading.get_ident()

    async def no_sleep(seconds: float, *args: Any, **kwargs: Any) -> None:
        # Only this test's waits: another thread's loop (an emulator server) keeps its own.
        if threading.get_ident() != test_thread:
            await real_sleep(seconds, *args, **kwargs)

    monkeypatch.setattr(activecampaign_async.httpx, "AsyncClient", client_factory)
    monkeypatch.setattr(asyncio, "sleep", no_sleep)
    async with ActiveCampaignAsyncHook(activecampaign_conn_id=CONN_ID) as hook:
        with pytest.raises(ActiveCampaignError) as info:
            await hook.get("contacts")
        assert redact(api_key) == "***"
        _assert_absent(api_key, repr(hook), repr(await hook.get_settings()))
    output = all_output()
    assert "Retrying in" in output
    _assert_absent(api_key, output, str(info.value), repr(info.value))
