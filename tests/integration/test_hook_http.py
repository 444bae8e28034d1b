"""The hooks over a real loopback socket: the emulator (faults, limits, paging) and tiny servers.

Faults come from the emulator's fault injection; its request log proves how often a request
reached the server. A redirect to another host needs a second server, from ``tests/helpers``.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from activecampaign_emulator.pytest_plugin import EmulatorFixture

from airflow_provider_activecampaign.exceptions import (
    ActiveCampaignAmbiguousWriteError,
    ActiveCampaignAuthError,
    ActiveCampaignConfigError,
    ActiveCampaignConnectionError,
    ActiveCampaignValidationError,
)
from airflow_provider_activecampaign.hooks import transport
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.hooks.activecampaign_async import ActiveCampaignAsyncHook
from tests.helpers.fakes import connection_json
from tests.helpers.pacing import assert_paced_to_the_limit, throttled, without_throttled
from tests.helpers.servers import recording_server, redirecting_server

pytestmark = pytest.mark.integration

FAST = 10.0  # emulator speed for tests that make many calls: 50 requests/s real, 5 per emulated second


def requests_to(emulator: EmulatorFixture, method: str, template: str) -> list[dict[str, Any]]:
    """The emulator's log entries for one route, oldest first."""
    return [
        entry
        for entry in emulator.requests()["requests"]
        if entry["method"] == method and entry["template"] == template
    ]


def wait_for(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    """Poll a condition the server settles asynchronously (e.g. a delayed log entry)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def statuses(entries: list[dict[str, Any]]) -> list[int | None]:
    return [entry["status"] for entry in entries]


def no_429s(emulator: EmulatorFixture) -> bool:
    return throttled(emulator.requests()["counts"]) == 0


def free_loopback_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------------------------------
# Sync hook against the emulator
# --------------------------------------------------------------------------------------------------


def test_test_connection_names_the_emulator_user(emulator: EmulatorFixture) -> None:
    ok, message = ActiveCampaignHook().test_connection()
    assert ok, message
    assert message == f"Connected to {emulator.url} as admin (admin@example.com)."


def test_429_with_retry_after_then_success(
    emulator: EmulatorFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The header says 1 s; a 0.3 s cap keeps the test short. At 10x speed the client's own window
    # (saturated by the 429) is only 0.1 s, so a 0.3 s gap shows the Retry-After wait itself.
    emulator.configure(speed=FAST)
    monkeypatch.setattr(transport, "MAX_RETRY_AFTER", 0.3)
    emulator.add_fault("POST", "/api/3/contacts", "http_429", retry_after=1)
    body = {"contact": {"email": "ann@example.com"}}
    created = ActiveCampaignHook().post("contacts", json=body)
    assert created["contact"]["email"] == "ann@example.com"
    entries = requests_to(emulator, "POST", "/api/3/contacts")
    assert statuses(entries) == [429, 201]
    assert entries[1]["real_time"] - entries[0]["real_time"] >= 0.3
    assert emulator.state()["counters"]["contacts_created"] == 1


def test_503_then_success_on_get(emulator: EmulatorFixture) -> None:
    emulator.add_fault("GET", "/api/3/users/me", "http_503")
    assert ActiveCampaignHook().get("users/me")["user"]["username"] == "admin"
    assert statuses(requests_to(emulator, "GET", "/api/3/users/me")) == [503, 200]


def test_html_502_then_success_on_get(emulator: EmulatorFixture) -> None:
    emulator.add_fault("GET", "/api/3/lists", "html_502")
    assert len(ActiveCampaignHook().get("lists")["lists"]) == 3
    assert statuses(requests_to(emulator, "GET", "/api/3/lists")) == [502, 200]


def test_503_on_a_create_is_not_resent(emulator: EmulatorFixture) -> None:
    emulator.add_fault("POST", "/api/3/contacts", "http_503", when="after")
    with pytest.raises(ActiveCampaignAmbiguousWriteError) as info:
        ActiveCampaignHook().post("contacts", json={"contact": {"email": "ann@example.com"}})
    assert f"POST {emulator.url}/api/3/contacts" in str(info.value)
    assert len(requests_to(emulator, "POST", "/api/3/contacts")) == 1
    # It was applied once (the fault hit after the write): reading back finds exactly one contact.
    assert emulator.state()["counters"]["contacts_created"] == 1


def test_a_post_that_times_out_is_not_resent(emulator: EmulatorFixture) -> None:
    emulator.export_connection(timeout=0.2)
    emulator.add_fault("POST", "/api/3/contacts", "slow", when="after", delay=0.5)
    with pytest.raises(ActiveCampaignAmbiguousWriteError) as info:
        ActiveCampaignHook().post("contacts", json={"contact": {"email": "ann@example.com"}})
    assert "may have been applied" in str(info.value)
    assert "Read back" in str(info.value)
    # The server finishes its (applied) request after the delay; it is the only one it ever got.
    wait_for(lambda: len(requests_to(emulator, "POST", "/api/3/contacts")) == 1)
    time.sleep(0.1)
    assert len(requests_to(emulator, "POST", "/api/3/contacts")) == 1
    assert emulator.state()["counters"]["contacts_created"] == 1


def test_a_get_that_times_out_is_retried(emulator: EmulatorFixture) -> None:
    emulator.export_connection(timeout=0.2)
    emulator.add_fault("GET", "/api/3/tags", "slow", delay=0.5)
    assert len(ActiveCampaignHook().get("tags")["tags"]) == 3
    wait_for(lambda: len(requests_to(emulator, "GET", "/api/3/tags")) == 2)


def test_dropped_connection_on_get_is_retried(emulator: EmulatorFixture) -> None:
    emulator.add_fault("GET", "/api/3/contacts", "drop")
    assert ActiveCampaignHook().get("contacts")["contacts"] == []
    assert statuses(requests_to(emulator, "GET", "/api/3/contacts")) == [None, 200]


def test_dropped_connection_on_a_create_is_ambiguous(emulator: EmulatorFixture) -> None:
    emulator.add_fault("POST", "/api/3/contactTags", "drop", when="after")
    hook = ActiveCampaignHook()
    contact_id = hook.post("contacts", json={"contact": {"email": "ann@example.com"}})["contact"]["id"]
    with pytest.raises(ActiveCampaignAmbiguousWriteError):
        hook.post("contactTags", json={"contactTag": {"contact": contact_id, "tag": "1"}})
    assert len(requests_to(emulator, "POST", "/api/3/contactTags")) == 1
    assert emulator.contact("ann@example.com")["counters"]["tag_adds"] == 1  # type: ignore[index]


def test_dropped_connection_on_contact_sync_is_retried_and_upserts_once(emulator: EmulatorFixture) -> None:
    emulator.add_fault("POST", "/api/3/contact/sync", "drop", when="after")
    result = ActiveCampaignHook().post("contact/sync", json={"contact": {"email": "ann@example.com"}})
    assert result["contact"]["email"] == "ann@example.com"
    assert statuses(requests_to(emulator, "POST", "/api/3/contact/sync")) == [None, 200]
    state = emulator.state()
    assert state["counters"]["contacts_created"] == 1
    assert [c["email"] for c in state["contacts"]] == ["ann@example.com"]


def test_bad_key_gives_an_auth_error_naming_the_url(
    emulator: EmulatorFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_AC_BAD_KEY", connection_json(emulator.url, "wrong-key-0123456789"))
    hook = ActiveCampaignHook(activecampaign_conn_id="ac_bad_key")
    with pytest.raises(ActiveCampaignAuthError) as info:
        hook.get("contacts", params={"email": "ann@example.com"})
    text = str(info.value)
    assert f"GET {emulator.url}/api/3/contacts?email=ann%40example.com" in text
    assert 'HTTP 403 {"message":"Forbidden"}' in text
    assert "wrong-key-0123456789" not in text
    assert len(requests_to(emulator, "GET", "/api/3/contacts")) == 1  # not retried
    ok, message = hook.test_connection()
    assert not ok
    assert "Forbidden" in message
    assert "API Key" in message


def test_validation_error_carries_the_field_errors(emulator: EmulatorFixture) -> None:
    hook = ActiveCampaignHook()
    hook.post("contacts", json={"contact": {"email": "ann@example.com"}})
    with pytest.raises(ActiveCampaignValidationError) as info:
        hook.post("contacts", json={"contact": {"email": "ann@example.com"}})
    assert info.value.field_errors[0]["field"] == "email"
    assert info.value.field_errors[0]["code"] == "duplicate"
    assert '"email": "ann@example.com"' in str(info.value)


def test_unreachable_host(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{free_loopback_port()}"
    monkeypatch.setenv("AIRFLOW_CONN_AC_NOWHERE", connection_json(url, max_retries=1))
    hook = ActiveCampaignHook(activecampaign_conn_id="ac_nowhere")
    ok, message = hook.test_connection()
    assert not ok
    assert f"No answer from ActiveCampaign for GET {url}/api/3/users/me" in message
    assert "refused" in message.lower()
    # A refused connection never reached a server, so even a create is retried, then reported.
    with pytest.raises(ActiveCampaignConnectionError):
        hook.post("contacts", json={"contact": {"email": "ann@example.com"}})


def test_wrong_url_is_reported(emulator: EmulatorFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    with recording_server(status=404, body={"message": "Not Found"}) as other:
        monkeypatch.setenv("AIRFLOW_CONN_AC_WRONG", connection_json(other.url))
        ok, message = ActiveCampaignHook(activecampaign_conn_id="ac_wrong").test_connection()
    assert not ok
    assert "does not lead to the ActiveCampaign API" in message


def test_client_pacing_keeps_to_the_limit(emulator: EmulatorFixture) -> None:
    emulator.configure(speed=FAST)
    hook = ActiveCampaignHook()
    for _ in range(25):
        hook.get("users/me")
    log = emulator.requests()
    assert without_throttled(log["counts"]) == {"GET /api/3/users/me 200": 25}
    assert_paced_to_the_limit(log)


# --------------------------------------------------------------------------------------------------
# Pagination over 1,000+ records, with meta.total as a string
# --------------------------------------------------------------------------------------------------


def test_paginate_contacts_over_a_thousand_records(emulator: EmulatorFixture) -> None:
    emulator.configure(speed=FAST)
    emulator.seed({"contacts": [{"email": f"person{i:04d}@example.com"} for i in range(1_050)]})
    hook = ActiveCampaignHook()
    first = hook.get("contacts", params={"orders[id]": "ASC", "limit": 1})
    assert first["meta"]["total"] == "1050"  # a string, as AC sends it
    contacts = list(hook.paginate("contacts", key="contacts"))
    assert len(contacts) == 1_050
    assert len({c["id"] for c in contacts}) == 1_050
    assert {c["email"] for c in contacts} == {f"person{i:04d}@example.com" for i in range(1_050)}
    ids = [int(c["id"]) for c in contacts]
    assert ids == sorted(ids)
    pages = [e for e in requests_to(emulator, "GET", "/api/3/contacts") if "id_greater" in e["query"]]
    assert len(pages) == 11
    assert all("orders%5Bid%5D=ASC" in e["query"] and "limit=100" in e["query"] for e in pages)
    assert all("offset" not in e["query"] for e in pages)
    assert no_429s(emulator)


def test_paginate_an_offset_collection(emulator: EmulatorFixture) -> None:
    emulator.configure(speed=FAST)
    emulator.seed({"tags": [f"segment-{i:03d}" for i in range(250)]})
    tags = list(ActiveCampaignHook().paginate("tags", key="tags"))
    expected = {t["tag"] for t in emulator.state()["tags"]}
    assert len(expected) == 253  # the default seed's three tags plus ours
    assert len(tags) == 253
    assert {t["tag"] for t in tags} == expected
    pages = requests_to(emulator, "GET", "/api/3/tags")
    assert [e["query"] for e in pages] == [f"limit=100&offset={offset}" for offset in (0, 100, 200)]


# --------------------------------------------------------------------------------------------------
# Redirects never carry the key to another host
# --------------------------------------------------------------------------------------------------


def test_the_recording_server_detects_a_leaked_key() -> None:
    """Control: a client that follows redirects *does* hand the key to the other host here."""
    with (
        recording_server("127.0.0.2") as target,
        redirecting_server(target.url + "/api/3/users/me") as origin,
    ):
        requests.get(origin.url + "/api/3/users/me", headers={"Api-Token": "leaky-key"}, timeout=5)
    assert target.tokens_received() == ["leaky-key"]


def test_a_redirect_to_another_host_does_not_receive_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    with (
        recording_server("127.0.0.2") as target,
        redirecting_server(target.url + "/api/3/users/me") as origin,
    ):
        monkeypatch.setenv("AIRFLOW_CONN_AC_REDIRECT", connection_json(origin.url))
        hook = ActiveCampaignHook(activecampaign_conn_id="ac_redirect")
        with pytest.raises(ActiveCampaignConfigError) as info:
            hook.get("users/me")
        ok, message = hook.test_connection()
    assert origin.tokens_received() != []  # the key went to the configured host only
    assert target.received == []
    assert target.url.removeprefix("http://") in str(info.value)
    assert "not sent there" in str(info.value)
    assert not ok
    assert "redirect" in message


async def test_async_redirect_to_another_host_does_not_receive_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with (
        recording_server("127.0.0.2") as target,
        redirecting_server(target.url + "/api/3/users/me") as origin,
    ):
        monkeypatch.setenv("AIRFLOW_CONN_AC_REDIRECT", connection_json(origin.url))
        async with ActiveCampaignAsyncHook(activecampaign_conn_id="ac_redirect") as hook:
            with pytest.raises(ActiveCampaignConfigError, match="not followed"):
                await hook.get("users/me")
    assert len(origin.received) == 1
    assert target.received == []


# --------------------------------------------------------------------------------------------------
# Async hook against the emulator
# --------------------------------------------------------------------------------------------------


async def test_async_get(emulator: EmulatorFixture) -> None:
    async with ActiveCampaignAsyncHook() as hook:
        assert (await hook.get("users/me"))["user"]["email"] == "admin@example.com"


async def test_async_429_with_retry_after_then_success(
    emulator: EmulatorFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.configure(speed=FAST)  # see test_429_with_retry_after_then_success
    monkeypatch.setattr(transport, "MAX_RETRY_AFTER", 0.3)
    emulator.add_fault("GET", "/api/3/users/me", "http_429", retry_after=1)
    async with ActiveCampaignAsyncHook() as hook:
        assert (await hook.get("users/me"))["user"]["id"] == "1"
    entries = requests_to(emulator, "GET", "/api/3/users/me")
    assert statuses(entries) == [429, 200]
    assert entries[1]["real_time"] - entries[0]["real_time"] >= 0.3


async def test_async_503_then_success(emulator: EmulatorFixture) -> None:
    emulator.add_fault("GET", "/api/3/automations", "http_503")
    async with ActiveCampaignAsyncHook() as hook:
        assert len((await hook.get("automations"))["automations"]) == 3
    assert statuses(requests_to(emulator, "GET", "/api/3/automations")) == [503, 200]


async def test_async_drop_on_get_is_retried(emulator: EmulatorFixture) -> None:
    emulator.add_fault("GET", "/api/3/lists", "drop")
    async with ActiveCampaignAsyncHook() as hook:
        assert len((await hook.get("lists"))["lists"]) == 3
    assert statuses(requests_to(emulator, "GET", "/api/3/lists")) == [None, 200]


async def test_async_post_that_times_out_is_not_resent(emulator: EmulatorFixture) -> None:
    emulator.export_connection(timeout=0.2)
    emulator.add_fault("POST", "/api/3/contacts", "slow", when="after", delay=0.5)
    async with ActiveCampaignAsyncHook() as hook:
        with pytest.raises(ActiveCampaignAmbiguousWriteError):
            await hook.request("POST", "contacts", json={"contact": {"email": "ann@example.com"}})
    wait_for(lambda: len(requests_to(emulator, "POST", "/api/3/contacts")) == 1)
    assert emulator.state()["counters"]["contacts_created"] == 1


async def test_async_bad_key(emulator: EmulatorFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_AC_BAD_KEY", connection_json(emulator.url, "wrong-key-0123456789"))
    async with ActiveCampaignAsyncHook(activecampaign_conn_id="ac_bad_key") as hook:
        with pytest.raises(ActiveCampaignAuthError) as info:
            await hook.get("users/me")
    assert f"GET {emulator.url}/api/3/users/me" in str(info.value)
    assert "Forbidden" in str(info.value)


async def test_async_pacing_keeps_to_the_limit(emulator: EmulatorFixture) -> None:
    emulator.configure(speed=FAST)
    async with ActiveCampaignAsyncHook() as hook:
        for _ in range(20):
            await hook.get("users/me")
    log = emulator.requests()
    assert without_throttled(log["counts"]) == {"GET /api/3/users/me 200": 20}
    assert_paced_to_the_limit(log)
