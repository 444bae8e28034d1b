"""Unit tests of ActiveCampaignHook with the HTTP session mocked (no network)."""

from __future__ import annotations

import time
from typing import Any
from unittest.mock import MagicMock

import pytest
import requests
from pytest_mock import MockerFixture

from airflow_provider_activecampaign import __version__
from airflow_provider_activecampaign.exceptions import (
    ActiveCampaignAmbiguousWriteError,
    ActiveCampaignAuthError,
    ActiveCampaignConfigError,
    ActiveCampaignConnectionError,
    ActiveCampaignNotFoundError,
    ActiveCampaignServerError,
    ActiveCampaignValidationError,
)
from airflow_provider_activecampaign.hooks import transport
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from tests.helpers.fakes import API_KEY, connection_json, response

BASE = "https://acct.api-us1.com"
CONN_ID = "ac_unit"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "_LIMITERS", {})
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(BASE, requests_per_second=1000))


@pytest.fixture
def sleeps(mocker: MockerFixture) -> list[float]:
    """Record every sleep (retry waits and limiter waits) instead of sleeping; sleeping moves the clock."""
    recorded: list[float] = []
    slept = [0.0]
    real_monotonic = time.monotonic

    def fake_sleep(seconds: float) -> None:
        recorded.append(seconds)
        slept[0] += max(0.0, seconds)

    # The clock moves only by sleeping, never by itself: pacing then does not depend on how busy the
    # machine is (a loaded host once made a wait look shorter, or split it in two).
    start = real_monotonic()
    mocker.patch.object(time, "sleep", side_effect=fake_sleep)
    mocker.patch.object(time, "monotonic", side_effect=lambda: start + slept[0])
    return recorded


@pytest.fixture
def http(mocker: MockerFixture, sleeps: list[float]) -> MagicMock:
    """``requests.Session.request``, mocked; set ``side_effect`` to the answers in order."""
    return mocker.patch.object(requests.Session, "request", autospec=True)


def hook() -> ActiveCampaignHook:
    return ActiveCampaignHook(activecampaign_conn_id=CONN_ID)


def sent(http: MagicMock) -> list[tuple[str, str]]:
    """(method, url) of every request that went out."""
    return [(c.args[1], c.args[2]) for c in http.call_args_list]


# --------------------------------------------------------------------------------------------------
# Construction and session
# --------------------------------------------------------------------------------------------------


def test_class_attributes_match_the_provider_info() -> None:
    assert ActiveCampaignHook.conn_name_attr == "activecampaign_conn_id"
    assert ActiveCampaignHook.default_conn_name == "activecampaign_default"
    assert ActiveCampaignHook.conn_type == "activecampaign"
    assert ActiveCampaignHook.hook_name == "ActiveCampaign"
    assert ActiveCampaignHook().activecampaign_conn_id == "activecampaign_default"


def test_init_does_no_io(mocker: MockerFixture) -> None:
    get_connection = mocker.patch.object(ActiveCampaignHook, "get_connection")
    request = mocker.patch.object(requests.Session, "request")
    created = ActiveCampaignHook(activecampaign_conn_id="does_not_exist")
    assert repr(created) == "ActiveCampaignHook(activecampaign_conn_id='does_not_exist')"
    get_connection.assert_not_called()
    request.assert_not_called()


def test_settings_are_read_once(mocker: MockerFixture) -> None:
    target = hook()
    spy = mocker.patch.object(
        ActiveCampaignHook, "get_connection", side_effect=ActiveCampaignHook.get_connection
    )
    assert target.base_url == BASE
    assert target.settings.requests_per_second == 1000
    assert target.base_url == BASE
    assert spy.call_count == 1


@pytest.mark.parametrize(
    ("uri", "base_url", "rate"),
    [
        (f"activecampaign://:{API_KEY}@127.0.0.1:8765?requests_per_second=50", "http://127.0.0.1:8765", 50.0),
        (f"activecampaign://:{API_KEY}@acct.api-us1.com", BASE, 5.0),
        (f"activecampaign://https://:{API_KEY}@acct.api-us1.com:8443/?timeout=5", BASE + ":8443", 5.0),
    ],
)
def test_connection_given_as_a_uri(
    monkeypatch: pytest.MonkeyPatch, uri: str, base_url: str, rate: float
) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", uri)
    settings = hook().settings
    assert settings.base_url == base_url
    assert settings.api_key == API_KEY
    assert settings.requests_per_second == rate


def test_session_sends_the_key_and_user_agent_and_never_follows_redirects() -> None:
    session = hook().get_conn()
    assert session.headers["Api-Token"] == API_KEY
    assert str(session.headers["User-Agent"]).startswith(f"airflow-provider-activecampaign/{__version__}")
    assert session.max_redirects == 0


def test_request_sends_params_json_timeouts_and_no_redirects(
    http: MagicMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(BASE, timeout=45, requests_per_second=1000)
    )
    http.return_value = response(201, {"contact": {"id": "7"}})
    result = hook().request("POST", "contacts", params={"x": 1}, json={"contact": {"email": "a@example.com"}})
    assert result == {"contact": {"id": "7"}}
    kwargs = http.call_args.kwargs
    assert sent(http) == [("POST", f"{BASE}/api/3/contacts")]
    assert kwargs["params"] == {"x": 1}
    assert kwargs["json"] == {"contact": {"email": "a@example.com"}}
    assert kwargs["timeout"] == (10.0, 45.0)  # connect, read
    assert kwargs["allow_redirects"] is False


@pytest.mark.parametrize(
    ("call", "method", "url"),
    [
        (lambda h: h.get("contacts/1", params={"a": 1}), "GET", f"{BASE}/api/3/contacts/1"),
        (lambda h: h.post("contactTags", json={"contactTag": {}}), "POST", f"{BASE}/api/3/contactTags"),
        (lambda h: h.put("contacts/1", json={"contact": {}}), "PUT", f"{BASE}/api/3/contacts/1"),
        (lambda h: h.delete("contactTags/9"), "DELETE", f"{BASE}/api/3/contactTags/9"),
    ],
)
def test_verb_helpers(http: MagicMock, call: Any, method: str, url: str) -> None:
    http.return_value = response(200, {})
    assert call(hook()) == {}
    assert sent(http) == [(method, url)]


def test_legacy_request_posts_a_form_with_json_output(http: MagicMock) -> None:
    http.return_value = response(200, {"result_code": 1, "id": 4})
    result = hook().legacy_request("campaign_create", method="POST", data={"name": "N"})
    assert result["id"] == 4
    assert sent(http) == [("POST", f"{BASE}/admin/api.php")]
    kwargs = http.call_args.kwargs
    assert kwargs["params"] == {"api_action": "campaign_create", "api_output": "json"}
    assert kwargs["data"] == {"name": "N"}
    assert API_KEY not in str(kwargs)  # the key travels in the session header only


def test_legacy_result_code_0_raises_validation_error(http: MagicMock) -> None:
    http.return_value = response(
        200, {"result_code": 0, "result_message": "Contact Email Address is not valid."}
    )
    with pytest.raises(ActiveCampaignValidationError, match="Contact Email Address is not valid"):
        hook().legacy_request("contact_add", method="POST", data={"email": "nope"})
    assert http.call_count == 1


# --------------------------------------------------------------------------------------------------
# Retries, per method and status
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "endpoint"), [("GET", "contacts"), ("POST", "contacts"), ("PUT", "contacts/1")]
)
def test_429_waits_retry_after_and_retries_any_method(
    http: MagicMock, sleeps: list[float], method: str, endpoint: str
) -> None:
    http.side_effect = [
        response(429, {"message": "Too Many Requests"}, headers={"Retry-After": "4"}),
        response(200, {}),
    ]
    assert hook().request(method, endpoint, json={} if method != "GET" else None) == {}
    assert http.call_count == 2
    assert any(4.0 <= wait <= 4.0 * 1.1 + 0.1 for wait in sleeps), sleeps  # Retry-After, plus jitter


@pytest.mark.parametrize(
    ("method", "endpoint"),
    [("GET", "contacts"), ("PUT", "contacts/1"), ("DELETE", "contacts/1"), ("POST", "contact/sync")],
)
@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retried_for_idempotent_calls(
    http: MagicMock, method: str, endpoint: str, status: int
) -> None:
    http.side_effect = [response(status, {"message": "Service Unavailable"}), response(200, {"ok": 1})]
    assert hook().request(method, endpoint) == {"ok": 1}
    assert http.call_count == 2


@pytest.mark.parametrize("endpoint", ["contacts", "contactTags", "contactAutomations", "import/bulk_import"])
def test_5xx_on_a_post_is_not_resent(http: MagicMock, endpoint: str) -> None:
    http.side_effect = [response(503, {"message": "Service Unavailable"}), response(201, {})]
    with pytest.raises(ActiveCampaignAmbiguousWriteError) as info:
        hook().post(endpoint, json={"x": 1})
    assert http.call_count == 1
    assert f"POST {BASE}/api/3/{endpoint}" in str(info.value)


@pytest.mark.parametrize(
    "failure",
    [
        requests.exceptions.ReadTimeout("read timed out"),
        requests.exceptions.ConnectionError("Connection aborted."),
    ],
)
def test_timeout_or_drop_on_a_post_is_ambiguous_and_not_resent(http: MagicMock, failure: Exception) -> None:
    http.side_effect = [failure, response(201, {})]
    with pytest.raises(ActiveCampaignAmbiguousWriteError, match="may have been applied"):
        hook().post("contacts", json={"contact": {"email": "a@example.com"}})
    assert http.call_count == 1


@pytest.mark.parametrize(
    "failure",
    [
        requests.exceptions.ReadTimeout("read timed out"),
        requests.exceptions.ConnectionError("Connection aborted."),
    ],
)
def test_timeout_or_drop_on_get_and_sync_is_retried(http: MagicMock, failure: Exception) -> None:
    http.side_effect = [failure, response(200, {"contacts": []}), failure, response(200, {})]
    assert hook().get("contacts") == {"contacts": []}
    assert hook().post("contact/sync", json={"contact": {"email": "a@example.com"}}) == {}
    assert http.call_count == 4


@pytest.mark.parametrize(
    "failure",
    [
        requests.exceptions.ConnectTimeout("connect timed out"),
        requests.exceptions.ConnectionError(
            "HTTPSConnectionPool: Max retries exceeded (Caused by NewConnectionError('Connection refused'))"
        ),
        requests.exceptions.ConnectionError("Failed to resolve 'acct.api-us1.com' (NameResolutionError)"),
    ],
)
def test_a_request_that_never_left_is_retried_even_for_a_post(http: MagicMock, failure: Exception) -> None:
    http.side_effect = [failure, response(201, {"contact": {"id": "1"}})]
    assert hook().post("contacts", json={"contact": {"email": "a@example.com"}}) == {"contact": {"id": "1"}}
    assert http.call_count == 2


def test_gives_up_after_max_retries_from_the_connection(
    http: MagicMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(BASE, requests_per_second=1000, max_retries=2)
    )
    http.side_effect = [response(503, {"message": "down"})] * 10
    with pytest.raises(ActiveCampaignServerError) as info:
        hook().get("contacts")
    assert http.call_count == 3
    assert "HTTP 503" in str(info.value)


def test_max_retries_override_per_call(http: MagicMock) -> None:
    http.side_effect = [response(503, {})] * 10
    with pytest.raises(ActiveCampaignServerError):
        hook().request("GET", "contacts", max_retries=0)
    assert http.call_count == 1


def test_idempotent_override_allows_retrying_a_post(http: MagicMock) -> None:
    http.side_effect = [response(503, {}), response(200, {})]
    assert hook().post("contacts/search", json={}, idempotent=True) == {}
    assert http.call_count == 2


@pytest.mark.parametrize("status", [400, 403, 404, 422])
def test_client_errors_are_raised_at_once(http: MagicMock, status: int) -> None:
    http.return_value = response(status, {"message": "No"})
    with pytest.raises((ActiveCampaignValidationError, ActiveCampaignAuthError, ActiveCampaignNotFoundError)):
        hook().get("contacts/1")
    assert http.call_count == 1


def test_a_redirect_is_not_followed(http: MagicMock) -> None:
    http.return_value = response(
        302, {}, headers={"Location": "https://elsewhere.example.com/api/3/users/me"}
    )
    with pytest.raises(ActiveCampaignConfigError, match=r"elsewhere\.example\.com"):
        hook().get("users/me")
    assert http.call_count == 1


def test_limiter_paces_calls_at_the_connection_rate(
    http: MagicMock, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(BASE, requests_per_second=5))
    http.return_value = response(200, {})
    target = hook()
    for _ in range(15):
        target.get("contacts")
    # 5 go at once; the 6th waits one (padded) window, and the 7th to 10th go with it; the 11th
    # waits again. (Sleeping moves the fake clock; a confirm may add a sleep of microseconds.)
    waits = [wait for wait in sleeps if wait > 0.01]
    assert len(waits) == 2
    assert all(wait == pytest.approx(1.0 * (1 + transport.WINDOW_MARGIN), abs=0.05) for wait in waits)


def test_hooks_of_one_account_share_the_limiter(
    http: MagicMock, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(BASE, requests_per_second=5))
    monkeypatch.setenv("AIRFLOW_CONN_AC_OTHER", connection_json(BASE + "/api/3/", requests_per_second=5))
    http.return_value = response(200, {})
    first, second = hook(), ActiveCampaignHook(activecampaign_conn_id="ac_other")
    for _ in range(3):
        first.get("contacts")
        second.get("contacts")
    assert len(sleeps) == 1  # the sixth call of the account waits, whichever hook makes it


# --------------------------------------------------------------------------------------------------
# Pagination
# --------------------------------------------------------------------------------------------------


def _contacts_page(ids: range, total: int) -> requests.Response:
    return response(
        200,
        {
            "contacts": [{"id": str(i), "email": f"c{i}@example.com"} for i in ids],
            "meta": {"total": str(total)},
        },
    )


def test_paginate_contacts_walks_by_id_greater(http: MagicMock) -> None:
    http.side_effect = [
        _contacts_page(range(1, 101), 250),
        _contacts_page(range(105, 205), 150),
        _contacts_page(range(210, 260), 50),
    ]
    contacts = list(hook().paginate("contacts", key="contacts", params={"listid": 3}))
    assert [c["id"] for c in contacts] == [
        str(i) for i in [*range(1, 101), *range(105, 205), *range(210, 260)]
    ]
    queries = [c.kwargs["params"] for c in http.call_args_list]
    assert [q["id_greater"] for q in queries] == [0, 100, 204]
    assert all(q["orders[id]"] == "ASC" and q["limit"] == 100 and q["listid"] == 3 for q in queries)
    assert all("offset" not in q for q in queries)


def test_paginate_offset_collection_stops_at_string_meta_total(http: MagicMock) -> None:
    def page(start: int, count: int) -> requests.Response:
        return response(
            200, {"tags": [{"id": str(i)} for i in range(start, start + count)], "meta": {"total": "200"}}
        )

    http.side_effect = [page(1, 100), page(101, 100), page(999, 100)]
    tags = list(hook().paginate("tags", key="tags"))
    assert len(tags) == 200
    assert http.call_count == 2  # meta.total "200" reached: no third request
    assert [c.kwargs["params"]["offset"] for c in http.call_args_list] == [0, 100]


def test_paginate_stops_on_a_short_page(http: MagicMock) -> None:
    http.side_effect = [response(200, {"lists": [{"id": "1"}, {"id": "2"}], "meta": {"total": "2"}})]
    assert [item["id"] for item in hook().paginate("lists", key="lists")] == ["1", "2"]
    assert http.call_count == 1


def test_paginate_refuses_a_wrong_key_instead_of_yielding_nothing(http: MagicMock) -> None:
    http.return_value = response(200, {"tags": [{"id": "1"}], "meta": {"total": "1"}})
    with pytest.raises(ValueError, match=r"answered without a 'tag' list \(it has \['meta', 'tags'\]\)"):
        list(hook().paginate("tags", key="tag"))


def test_paginate_is_lazy(http: MagicMock) -> None:
    http.side_effect = [_contacts_page(range(1, 101), 1000)]
    iterator = hook().paginate("contacts", key="contacts")
    assert http.call_count == 0
    next(iterator)
    assert http.call_count == 1


# --------------------------------------------------------------------------------------------------
# Conveniences
# --------------------------------------------------------------------------------------------------


def test_get_contact_by_email_matches_case_insensitively(http: MagicMock) -> None:
    http.return_value = response(200, {"contacts": [{"id": "3", "email": "Ann@Example.com"}]})
    assert hook().get_contact_by_email(" ANN@example.com ") == {"id": "3", "email": "Ann@Example.com"}
    assert http.call_args.kwargs["params"] == {"email": "ann@example.com"}


def test_get_contact_by_email_none(http: MagicMock) -> None:
    http.return_value = response(200, {"contacts": [{"id": "3", "email": "other@example.com"}]})
    assert hook().get_contact_by_email("ann@example.com") is None


# --------------------------------------------------------------------------------------------------
# test_connection never raises
# --------------------------------------------------------------------------------------------------


def test_test_connection_names_the_user(http: MagicMock) -> None:
    http.return_value = response(
        200, {"user": {"id": "1", "username": "admin", "email": "admin@example.com"}}
    )
    assert hook().test_connection() == (True, f"Connected to {BASE} as admin (admin@example.com).")
    assert sent(http) == [("GET", f"{BASE}/api/3/users/me")]


def test_test_connection_bad_key(http: MagicMock) -> None:
    http.return_value = response(403, {"message": "Forbidden"})
    ok, message = hook().test_connection()
    assert not ok
    assert f"GET {BASE}/api/3/users/me" in message
    assert "Forbidden" in message
    assert "API Key" in message
    assert API_KEY not in message


def test_test_connection_unreachable_host_says_why(http: MagicMock) -> None:
    http.side_effect = requests.exceptions.ConnectionError(
        "Max retries exceeded (Caused by NewConnectionError('Failed to establish a new connection: "
        "[Errno 111] Connection refused'))"
    )
    ok, message = hook().test_connection()
    assert not ok
    assert "No answer from ActiveCampaign" in message
    assert "Connection refused" in message
    assert "network" in message


def test_test_connection_not_https(monkeypatch: pytest.MonkeyPatch, http: MagicMock) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json("http://acct.api-us1.com"))
    ok, message = hook().test_connection()
    assert not ok
    assert "is not HTTPS" in message
    assert http.call_count == 0


@pytest.mark.parametrize(
    "answer",
    [response(404, {"message": "Not Found"}), response(200, text="<html>Welcome to our site</html>")],
)
def test_test_connection_wrong_url(http: MagicMock, answer: requests.Response) -> None:
    http.return_value = answer
    ok, message = hook().test_connection()
    assert not ok
    assert "API URL" in message
    assert "Settings → Developer" in message


def test_test_connection_web_app_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json("https://acct.activehosted.com"))
    ok, message = hook().test_connection()
    assert not ok
    assert "web app" in message


def test_test_connection_missing_connection_does_not_raise() -> None:
    ok, message = ActiveCampaignHook(activecampaign_conn_id="no_such_connection").test_connection()
    assert not ok
    assert "no_such_connection" in message


def test_test_connection_unexpected_body_does_not_raise(http: MagicMock) -> None:
    http.return_value = response(200, {"unexpected": True})
    ok, message = hook().test_connection()
    assert not ok
    assert "Connection test failed" in message


def test_connection_error_message_for_a_failed_get_names_the_reason(http: MagicMock) -> None:
    http.side_effect = [requests.exceptions.ReadTimeout("Read timed out. (read timeout=30)")] * 10
    with pytest.raises(ActiveCampaignConnectionError) as info:
        hook().request("GET", "contacts", max_retries=1)
    assert "Read timed out" in str(info.value)
    assert http.call_count == 2
