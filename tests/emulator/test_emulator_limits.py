"""Auth and the account rate limit: 5 requests per emulated second, sliding window."""

from __future__ import annotations

import httpx
import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture


@pytest.fixture
def limited(api: httpx.Client, emulator: EmulatorFixture) -> httpx.Client:
    """The API client with the documented limit on (the ``api`` fixture turns it off)."""
    emulator.configure(rate_limit=True)
    return api


def test_missing_or_unknown_key_is_forbidden(emulator: EmulatorFixture) -> None:
    for headers in ({}, {"Api-Token": "nope"}, {"Api-Token": ""}):
        response = httpx.get(f"{emulator.url}/api/3/users/me", headers=headers)
        assert (response.status_code, response.json()) == (403, {"message": "Forbidden"})
        assert "ratelimit-limit" not in response.headers  # not attributed to the account


def test_legacy_path_takes_header_or_api_key_query(emulator: EmulatorFixture) -> None:
    url = f"{emulator.url}/admin/api.php"
    assert httpx.get(url, params={"api_action": "user_me"}).status_code == 403
    # Authenticated: the campaigns module serves it, or the emulator answers 404 without it.
    by_query = httpx.get(
        url, params={"api_key": emulator.api_key, "api_action": "user_me", "api_output": "json"}
    )
    by_header = httpx.get(url, params={"api_action": "user_me"}, headers={"Api-Token": emulator.api_key})
    assert by_query.status_code != 403
    assert by_header.status_code != 403


def test_seeded_keys_share_one_account_limit(emulator: EmulatorFixture) -> None:
    seed = {"users": [{"id": 2, "username": "second"}], "api_keys": [{"key": "second-key", "user": 2}]}
    emulator.seed(seed)
    # A slow clock (one emulated second is 100 real ones): all seven requests fall in one window,
    # however busy the machine.
    emulator.configure(rate_limit=True, speed=0.01)
    me = httpx.get(f"{emulator.url}/api/3/users/me", headers={"Api-Token": "second-key"})
    assert me.json()["user"]["username"] == "second"
    keys = [emulator.api_key, "second-key"] * 3
    statuses = [
        httpx.get(f"{emulator.url}/api/3/users/me", headers={"Api-Token": k}).status_code for k in keys
    ]
    # One request already spent above: 4 more fit, then both keys are limited together.
    assert statuses[:4] == [200, 200, 200, 200]
    assert statuses[4:] == [429, 429]


def test_sixth_request_in_a_second_gets_429_with_headers(limited: httpx.Client) -> None:
    remaining = [limited.get("users/me").headers["ratelimit-remaining"] for _ in range(5)]
    assert remaining == ["4", "3", "2", "1", "0"]
    blocked = limited.get("users/me")
    assert blocked.status_code == 429
    assert blocked.headers["retry-after"] == "1"  # real seconds, ceil, at least 1
    assert blocked.headers["ratelimit-limit"] == "5"
    assert blocked.headers["ratelimit-remaining"] == "0"


def test_window_slides_on_emulated_time(limited: httpx.Client, emulator: EmulatorFixture) -> None:
    for _ in range(3):
        assert limited.get("users/me").status_code == 200
    emulator.advance(0.6)
    for _ in range(2):
        assert limited.get("users/me").status_code == 200
    assert limited.get("users/me").status_code == 429  # 5 within the last second
    emulator.advance(0.5)  # the first three are now older than one second; the last two are not
    for _ in range(3):
        assert limited.get("users/me").status_code == 200
    assert limited.get("users/me").status_code == 429  # a fixed 1-second bucket would allow 5


def test_retry_after_is_in_real_seconds(limited: httpx.Client, emulator: EmulatorFixture) -> None:
    emulator.configure(speed=0.1)  # one emulated second lasts ten real seconds
    for _ in range(5):
        limited.get("users/me")
    blocked = limited.get("users/me")
    assert blocked.status_code == 429
    assert 9 <= int(blocked.headers["retry-after"]) <= 10


def test_rejected_requests_do_not_extend_the_window(limited: httpx.Client, emulator: EmulatorFixture) -> None:
    for _ in range(5):
        limited.get("users/me")
    for _ in range(3):
        assert limited.get("users/me").status_code == 429
    emulator.advance(1.0)
    assert limited.get("users/me").status_code == 200


def test_requests_per_second_is_configurable(limited: httpx.Client, emulator: EmulatorFixture) -> None:
    emulator.configure(requests_per_second=2)
    assert [limited.get("users/me").status_code for _ in range(3)] == [200, 200, 429]


def test_rate_limit_off_allows_bursts(api: httpx.Client) -> None:
    statuses = {api.get("users/me").status_code for _ in range(30)}
    assert statuses == {200}


def test_max_requests_in_any_emulated_second(limited: httpx.Client, emulator: EmulatorFixture) -> None:
    for _ in range(7):
        limited.get("users/me")
    log = emulator.requests()
    assert log["max_requests_in_any_emulated_second"] == 7  # what the client SENT, 429s included
    assert log["counts"] == {"GET /api/3/users/me 200": 5, "GET /api/3/users/me 429": 2}
