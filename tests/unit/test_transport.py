"""Unit tests of the transport policy: URL rules, headers, limiter maths, retry classification, errors."""

from __future__ import annotations

import json
import pickle
import random
import threading
import time
from typing import Any

import pytest
import tenacity

from airflow_provider_activecampaign import __version__
from airflow_provider_activecampaign.exceptions import (
    ActiveCampaignAmbiguousWriteError,
    ActiveCampaignAuthError,
    ActiveCampaignConfigError,
    ActiveCampaignConnectionError,
    ActiveCampaignError,
    ActiveCampaignNotFoundError,
    ActiveCampaignRateLimitError,
    ActiveCampaignServerError,
    ActiveCampaignValidationError,
)
from airflow_provider_activecampaign.hooks import transport
from airflow_provider_activecampaign.hooks.ratelimit import SlidingWindowLimiter
from airflow_provider_activecampaign.hooks.transport import (
    Call,
    FailureKind,
    TransportSettings,
    build_headers,
    get_limiter,
    handle_response,
    is_idempotent,
    normalize_base_url,
    prepare_call,
    prepare_legacy_call,
    redact_body,
    retry_kwargs,
    transport_error,
)
from tests.helpers.fakes import API_KEY

BASE = "https://acct.api-us1.com"


@pytest.fixture(autouse=True)
def _fresh_limiters(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts with no process-wide limiters, so bookings never leak between tests."""
    monkeypatch.setattr(transport, "_LIMITERS", {})


def settings(base_url: str = BASE, **overrides: Any) -> TransportSettings:
    return TransportSettings(base_url=base_url, api_key=API_KEY, **overrides)


# --------------------------------------------------------------------------------------------------
# URL normalisation
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("https://acct.api-us1.com", None, BASE),
        ("https://acct.api-us1.com/", None, BASE),
        ("https://acct.api-us1.com/api/3", None, BASE),
        ("https://acct.api-us1.com/api/3/", None, BASE),
        ("  https://acct.api-us1.com/api/3/  ", None, BASE),
        ("HTTPS://ACCT.API-US1.COM", None, BASE),
        ("acct.api-us1.com", None, BASE),
        ("acct.api-us1.com/api/3", None, BASE),
        ("https://acct.api-eu1.com", None, "https://acct.api-eu1.com"),
        # Loopback over plain http: the local emulator.
        ("http://localhost:8765", None, "http://localhost:8765"),
        ("http://127.0.0.1:8765/api/3/", None, "http://127.0.0.1:8765"),
        ("http://127.4.5.6:8765", None, "http://127.4.5.6:8765"),
        ("http://[::1]:8765/api/3", None, "http://[::1]:8765"),
        # Bare loopback hosts default to http, bare public hosts to https.
        ("127.0.0.1:8765", None, "http://127.0.0.1:8765"),
        ("localhost:8765", None, "http://localhost:8765"),
        ("[::1]:8765", None, "http://[::1]:8765"),
        # The port field of the connection (URI form: activecampaign://:KEY@127.0.0.1:8765).
        ("127.0.0.1", 8765, "http://127.0.0.1:8765"),
        ("http://127.0.0.1", 8765, "http://127.0.0.1:8765"),
        ("acct.api-us1.com", 8443, "https://acct.api-us1.com:8443"),
        # A port written in the URL wins over the connection's port field.
        ("https://acct.api-us1.com:8443", 443, "https://acct.api-us1.com:8443"),
    ],
)
def test_normalize_base_url_accepts(host: str, port: int | None, expected: str) -> None:
    assert normalize_base_url(host, port) == expected


@pytest.mark.parametrize(
    ("host", "port", "message"),
    [
        (None, None, "has no API URL"),
        ("   ", None, "has no API URL"),
        ("http://acct.api-us1.com", None, "is not HTTPS"),
        ("http://acct.api-us1.com/api/3", None, "is not HTTPS"),
        ("http://localhost.example.com", None, "is not HTTPS"),
        ("http://127.0.0.1.nip.io", None, "is not HTTPS"),
        ("https://acct.activehosted.com", None, "web app, not of its API"),
        ("acct.activehosted.com", None, "web app, not of its API"),
        ("https://user:pass@acct.api-us1.com", None, "must not contain credentials"),
        ("https://acct.api-us1.com/?api_key=abc", None, "must not contain credentials, a query string"),
        ("https://acct.api-us1.com/#x", None, "a fragment"),
        ("https://acct.api-us1.com/api/3/contacts", None, "unexpected path '/api/3/contacts'"),
        ("https://acct.api-us1.com/admin", None, "unexpected path"),
        ("ftp://acct.api-us1.com", None, "is not an http(s) URL"),
        ("https://acct.api-us1.com:99999", None, "invalid port"),
        ("acct.api-us1.com", 70000, "not a valid TCP port"),
    ],
)
def test_normalize_base_url_refuses_with_a_clear_message(
    host: str | None, port: int | None, message: str
) -> None:
    with pytest.raises(ActiveCampaignConfigError) as info:
        normalize_base_url(host, port)
    assert message in str(info.value)
    assert info.value.hint, "every refusal says what to do"


def test_plain_http_refusal_names_the_fix() -> None:
    with pytest.raises(ActiveCampaignConfigError) as info:
        normalize_base_url("http://acct.api-us1.com")
    text = str(info.value)
    assert "https://acct.api-us1.com" in text
    assert "loopback" in text


# --------------------------------------------------------------------------------------------------
# Settings from the connection
# --------------------------------------------------------------------------------------------------


def test_settings_from_connection_fields_parses_extras_given_as_strings() -> None:
    # The URI form of a connection delivers every extra as a string.
    result = TransportSettings.from_connection_fields(
        host="https://acct.api-us1.com/api/3/",
        port=None,
        password=f"  {API_KEY}\n",
        extra={"timeout": "12.5", "requests_per_second": "2", "max_retries": "3", "imports_per_minute": ""},
    )
    assert result.base_url == BASE
    assert result.api_url == BASE + "/api/3"
    assert result.api_key == API_KEY
    assert (result.timeout, result.requests_per_second, result.max_retries) == (12.5, 2.0, 3)
    assert result.imports_per_minute == transport.DEFAULT_IMPORTS_PER_MINUTE


def test_settings_defaults() -> None:
    result = TransportSettings.from_connection_fields(host=BASE, port=None, password=API_KEY, extra={})
    assert result.timeout == 30.0
    assert result.requests_per_second == 5.0
    assert result.max_retries is None  # bounded by max_wait instead
    assert result.max_wait == 900.0
    assert result.budget_share == 1.0
    assert result.rate_limit_backend == "local"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"timeout": "soon"}, "'timeout' must be a number"),
        ({"requests_per_second": 0}, "'requests_per_second' must be at least"),
        ({"max_retries": -1}, "'max_retries' must be at least 0"),
    ],
)
def test_settings_refuse_bad_extras_naming_the_field(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ActiveCampaignConfigError, match=message):
        TransportSettings.from_connection_fields(host=BASE, port=None, password=API_KEY, extra=extra)


@pytest.mark.parametrize("password", [None, "", "   "])
def test_settings_refuse_a_missing_key(password: str | None) -> None:
    with pytest.raises(ActiveCampaignConfigError, match="no API key"):
        TransportSettings.from_connection_fields(host=BASE, port=None, password=password, extra={})


def test_settings_repr_hides_the_key() -> None:
    assert API_KEY not in repr(settings())


# --------------------------------------------------------------------------------------------------
# Headers
# --------------------------------------------------------------------------------------------------


def test_headers_carry_the_key_and_name_the_provider_version() -> None:
    headers = build_headers(API_KEY)
    assert headers["Api-Token"] == API_KEY
    assert headers["Accept"] == "application/json"
    user_agent = headers["User-Agent"]
    assert user_agent.startswith(f"airflow-provider-activecampaign/{__version__} ")
    assert "apache-airflow/" in user_agent
    assert "python/" in user_agent
    assert API_KEY not in user_agent


# --------------------------------------------------------------------------------------------------
# Call preparation
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["contacts/12", "/contacts/12", "api/3/contacts/12", " contacts/12 "])
def test_prepare_call_resolves_endpoints_relative_to_api_3(endpoint: str) -> None:
    call = prepare_call(settings(), "get", endpoint)
    assert call.method == "GET"
    assert call.url == f"{BASE}/api/3/contacts/12"
    assert call.endpoint == "contacts/12"


def test_prepare_call_refuses_absolute_urls() -> None:
    with pytest.raises(ValueError, match="relative to /api/3"):
        prepare_call(settings(), "GET", "https://evil.example.com/x")


@pytest.mark.parametrize("endpoint", ["evil.example.com:443/x", "contacts:1"])
def test_prepare_call_never_leaves_the_account_host(endpoint: str) -> None:
    assert prepare_call(settings(), "GET", endpoint).url.startswith(f"{BASE}/api/3/")


def test_prepare_call_refuses_a_network_path() -> None:
    # Was accepted as the path "evil.example.com/x" under /api/3; now refused like any //host.
    with pytest.raises(ValueError, match="relative to /api/3"):
        prepare_call(settings(), "GET", "//evil.example.com/x")


def test_prepare_legacy_call_keeps_the_key_out_of_the_url() -> None:
    call = prepare_legacy_call(settings(), "campaign_send", params={"campaignid": 3}, data={"email": "a@b.c"})
    assert call.url == f"{BASE}/admin/api.php"
    assert call.params == {"api_action": "campaign_send", "api_output": "json", "campaignid": 3}
    assert API_KEY not in call.display_url


@pytest.mark.parametrize(
    ("method", "action", "idempotent"),
    [
        ("GET", "user_me", True),
        ("GET", "contact_view_email", True),
        ("GET", "campaign_list", True),
        ("GET", "campaign_report_totals", True),
        # v1 sends mail and writes with GETs too: never resent blindly.
        ("GET", "campaign_send", False),
        ("GET", "campaign_status", False),
        ("POST", "campaign_create", False),
        ("POST", "contact_view", False),
    ],
)
def test_legacy_calls_are_idempotent_only_for_read_actions(
    method: str, action: str, idempotent: bool
) -> None:
    assert prepare_legacy_call(settings(), action, method=method).idempotent is idempotent


def test_legacy_campaign_send_timeout_is_ambiguous_not_retried() -> None:
    call = prepare_legacy_call(settings(), "campaign_send", params={"campaignid": 3, "email": "a@b.c"})
    error = transport_error(call, FailureKind.MAYBE_APPLIED, "read timeout")
    assert isinstance(error, ActiveCampaignAmbiguousWriteError)
    assert not error.retryable


# --------------------------------------------------------------------------------------------------
# Retry classification
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "endpoint", "idempotent"),
    [
        ("GET", "contacts", True),
        ("PUT", "contacts/1", True),
        ("DELETE", "contactTags/4", True),
        ("POST", "contact/sync", True),
        ("POST", "/contact/sync/", True),
        ("POST", "contacts", False),
        ("POST", "contactTags", False),
        ("POST", "contactAutomations", False),
        ("POST", "import/bulk_import", False),
        ("PATCH", "contacts/1", False),
    ],
)
def test_is_idempotent(method: str, endpoint: str, idempotent: bool) -> None:
    assert is_idempotent(method, endpoint) is idempotent
    assert prepare_call(settings(), method, endpoint).idempotent is idempotent


def test_idempotent_override() -> None:
    assert prepare_call(settings(), "POST", "contacts", idempotent=True).idempotent
    assert not prepare_call(settings(), "PUT", "contacts/1", idempotent=False).idempotent


ALL_CALLS = [
    ("GET", "contacts"),
    ("PUT", "contacts/1"),
    ("DELETE", "contacts/1"),
    ("POST", "contact/sync"),
    ("POST", "contacts"),
    ("POST", "contactAutomations"),
]
IDEMPOTENT_CALLS = ALL_CALLS[:4]
WRITE_CALLS = ALL_CALLS[4:]


def _raised(
    call: Call, status: int, body: Any = None, headers: dict[str, str] | None = None
) -> ActiveCampaignError:
    text = "" if body is None else (body if isinstance(body, str) else json.dumps(body))
    with pytest.raises(ActiveCampaignError) as info:
        handle_response(call, status, headers or {}, text)
    return info.value


@pytest.mark.parametrize(("method", "endpoint"), ALL_CALLS)
def test_429_is_retryable_for_every_method(method: str, endpoint: str) -> None:
    error = _raised(
        prepare_call(settings(), method, endpoint),
        429,
        {"message": "Too Many Requests"},
        {"Retry-After": "7"},
    )
    assert isinstance(error, ActiveCampaignRateLimitError)
    assert error.retryable
    assert error.retry_after == 7.0


@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.parametrize(("method", "endpoint"), IDEMPOTENT_CALLS)
def test_5xx_is_retryable_only_for_idempotent_calls(method: str, endpoint: str, status: int) -> None:
    error = _raised(prepare_call(settings(), method, endpoint), status, {"message": "Service Unavailable"})
    assert type(error) is ActiveCampaignServerError
    assert error.retryable


@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.parametrize(("method", "endpoint"), WRITE_CALLS)
def test_5xx_on_a_write_is_ambiguous_and_not_retryable(method: str, endpoint: str, status: int) -> None:
    error = _raised(prepare_call(settings(), method, endpoint, json={"x": 1}), status, {"message": "oops"})
    assert isinstance(error, ActiveCampaignAmbiguousWriteError)
    assert not error.retryable
    assert "may have been applied" in str(error)
    assert "Read back" in str(error)


def test_html_502_from_a_load_balancer_is_a_server_error_quoting_the_page() -> None:
    page = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    error = _raised(prepare_call(settings(), "GET", "contacts"), 502, page)
    assert type(error) is ActiveCampaignServerError
    assert error.retryable
    assert "502 Bad Gateway" in str(error)


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 406, 422])
@pytest.mark.parametrize(("method", "endpoint"), ALL_CALLS)
def test_client_errors_are_never_retried(method: str, endpoint: str, status: int) -> None:
    error = _raised(prepare_call(settings(), method, endpoint), status, {"message": "nope"})
    assert not error.retryable


@pytest.mark.parametrize(("method", "endpoint"), ALL_CALLS)
def test_a_request_that_never_left_is_retryable_for_every_method(method: str, endpoint: str) -> None:
    error = transport_error(prepare_call(settings(), method, endpoint), FailureKind.NOT_SENT, "refused")
    assert isinstance(error, ActiveCampaignConnectionError)
    assert error.retryable


@pytest.mark.parametrize(("method", "endpoint"), IDEMPOTENT_CALLS)
def test_a_dropped_or_timed_out_idempotent_call_is_retryable(method: str, endpoint: str) -> None:
    error = transport_error(
        prepare_call(settings(), method, endpoint), FailureKind.MAYBE_APPLIED, "read timeout"
    )
    assert isinstance(error, ActiveCampaignConnectionError)
    assert error.retryable


@pytest.mark.parametrize(("method", "endpoint"), WRITE_CALLS)
def test_a_dropped_or_timed_out_write_is_ambiguous(method: str, endpoint: str) -> None:
    call = prepare_call(settings(), method, endpoint, json={"contact": {"email": "a@example.com"}})
    error = transport_error(call, FailureKind.MAYBE_APPLIED, TimeoutError("read timed out"))
    assert isinstance(error, ActiveCampaignAmbiguousWriteError)
    assert not error.retryable
    assert "TimeoutError: read timed out" in str(error)
    assert "a@example.com" in str(error)


@pytest.mark.parametrize(
    ("header", "expected"),
    [("7", 7.0), ("0", 0.0), ("2.5", 2.5), ("3600", transport.MAX_RETRY_AFTER), ("-3", 0.0), ("soon", None)],
)
def test_retry_after_is_read_and_bounded(header: str, expected: float | None) -> None:
    error = _raised(prepare_call(settings(), "GET", "contacts"), 429, {}, {"Retry-After": header})
    assert error.retry_after == expected


def test_retry_after_missing() -> None:
    error = _raised(prepare_call(settings(), "GET", "contacts"), 429, {})
    assert error.retry_after is None


class _Script:
    """A callable that raises the scripted errors in order, then returns ``"ok"``."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def _retrying(max_retries: int = 5) -> tuple[tenacity.Retrying, list[float]]:
    sleeps: list[float] = []
    return tenacity.Retrying(sleep=sleeps.append, **retry_kwargs(settings(max_retries=max_retries))), sleeps


def test_retry_policy_waits_retry_after_on_429() -> None:
    call = prepare_call(settings(), "POST", "contacts")
    rate_limited = _raised(call, 429, {}, {"Retry-After": "3"})
    script = _Script(rate_limited)
    retrying, sleeps = _retrying()
    assert retrying(script) == "ok"
    assert script.calls == 2
    assert len(sleeps) == 1
    assert 3.0 <= sleeps[0] <= 3.0 * 1.1 + 0.1  # Retry-After, plus a little jitter


def test_retry_policy_backs_off_with_jitter_on_server_errors() -> None:
    call = prepare_call(settings(), "GET", "contacts")
    script = _Script(*[_raised(call, 503, {}) for _ in range(4)])
    retrying, sleeps = _retrying()
    assert retrying(script) == "ok"
    assert script.calls == 5
    # Full jitter: attempt n waits in [0, 0.5 * 2**(n-1)], capped at 30 s.
    assert all(0 <= wait <= 0.5 * 2**n for n, wait in enumerate(sleeps))


def test_retry_policy_gives_up_after_max_retries_and_reraises_the_typed_error() -> None:
    call = prepare_call(settings(), "GET", "contacts")
    script = _Script(*[_raised(call, 503, {}) for _ in range(10)])
    retrying, sleeps = _retrying(max_retries=2)
    with pytest.raises(ActiveCampaignServerError):
        retrying(script)
    assert script.calls == 3
    assert len(sleeps) == 2


def test_retry_policy_never_retries_an_ambiguous_write() -> None:
    call = prepare_call(settings(), "POST", "contacts")
    script = _Script(_raised(call, 503, {}))
    retrying, sleeps = _retrying()
    with pytest.raises(ActiveCampaignAmbiguousWriteError):
        retrying(script)
    assert script.calls == 1
    assert sleeps == []


def test_retry_policy_never_retries_a_foreign_exception() -> None:
    script = _Script(KeyError("bug"))
    retrying, _ = _retrying()
    with pytest.raises(KeyError):
        retrying(script)
    assert script.calls == 1


def test_retry_policy_logs_each_retry_with_the_summary(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    logger = logging.getLogger("test.retry")
    call = prepare_call(settings(), "GET", "contacts")
    sleeps: list[float] = []
    retrying = tenacity.Retrying(sleep=sleeps.append, **retry_kwargs(settings(max_retries=3), logger))
    with caplog.at_level(logging.WARNING, logger="test.retry"):
        retrying(_Script(_raised(call, 503, {})))
    assert "attempt 2 of 4, within max_wait=900 s" in caplog.text
    assert f"GET {BASE}/api/3/contacts" in caplog.text


# --------------------------------------------------------------------------------------------------
# Error messages, for every documented error body
# --------------------------------------------------------------------------------------------------


def _assert_diagnosable(error: ActiveCampaignError, method: str, url: str, status: int) -> str:
    """Every error names the method, full URL, status, what we expected, and what came back."""
    text = str(error)
    assert f"{method} {url}" in text
    assert f"HTTP {status}" in text
    assert (
        "expected: HTTP 2xx with a JSON body" in text or "expected: HTTP 200 with JSON result_code 1" in text
    )
    assert (error.method, error.url, error.status) == (method, url, status)
    return text


def test_message_body_forbidden_is_an_auth_error_naming_the_url() -> None:
    call = prepare_call(settings(), "GET", "users/me")
    error = _raised(call, 403, {"message": "Forbidden"})
    assert type(error) is ActiveCampaignAuthError
    text = _assert_diagnosable(error, "GET", f"{BASE}/api/3/users/me", 403)
    assert "Forbidden" in error.summary
    assert "API Key" in text


def test_permission_403_in_errors_envelope_is_an_auth_error_with_the_detail() -> None:
    body = {
        "errors": [
            {"status": 403, "title": "Forbidden", "detail": "You do not have permission to view lists."}
        ]
    }
    error = _raised(prepare_call(settings(), "GET", "lists"), 403, body)
    assert type(error) is ActiveCampaignAuthError
    assert "You do not have permission to view lists." in error.summary


def test_402_is_an_auth_error_about_payment() -> None:
    error = _raised(prepare_call(settings(), "GET", "contacts"), 402, {"message": "Payment Required"})
    assert type(error) is ActiveCampaignAuthError
    assert "payment" in str(error)


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (404, "No Result found for Subscriber with id 1"),
        (404, "No result found for contact with id 1"),
        (403, "No Result found for FieldValue with id 10"),
    ],
)
def test_no_result_found_is_not_found_even_as_a_403(status: int, message: str) -> None:
    error = _raised(prepare_call(settings(), "GET", "contacts/1"), status, {"message": message})
    assert type(error) is ActiveCampaignNotFoundError
    assert message in error.summary


def test_422_errors_envelope_gives_field_errors() -> None:
    body = {
        "errors": [
            {
                "title": "Email address already exists in the system",
                "detail": "",
                "code": "duplicate",
                "source": {"pointer": "/data/attributes/email"},
            }
        ]
    }
    call = prepare_call(settings(), "POST", "contacts", json={"contact": {"email": "dup@example.com"}})
    error = _raised(call, 422, body)
    assert isinstance(error, ActiveCampaignValidationError)
    assert error.field_errors == [
        {
            "field": "email",
            "title": "Email address already exists in the system",
            "detail": "",
            "code": "duplicate",
        }
    ]
    text = _assert_diagnosable(error, "POST", f"{BASE}/api/3/contacts", 422)
    assert "email: Email address already exists in the system" in error.summary
    assert '"dup@example.com"' in text  # the request body is quoted
    assert '"code": "duplicate"' in text  # and so is the response body


def test_400_list_of_strings_errors() -> None:
    body = {"errors": ["Field name is required", "Field type must be of type string"]}
    error = _raised(prepare_call(settings(), "POST", "campaign", json={}), 400, body)
    assert isinstance(error, ActiveCampaignValidationError)
    assert [e["title"] for e in error.field_errors] == body["errors"]
    assert "Field name is required; Field type must be of type string" in error.summary


def test_406_empty_body_message() -> None:
    error = _raised(prepare_call(settings(), "PUT", "campaigns/1"), 406, {"message": "Empty request body"})
    assert isinstance(error, ActiveCampaignValidationError)
    assert "Empty request body" in error.summary


def test_403_could_not_create_is_a_validation_error_not_auth() -> None:
    call = prepare_call(settings(), "POST", "contactAutomations", json={"contactAutomation": {}})
    error = _raised(call, 403, {"message": "Could not create SubscriberSeries"})
    assert isinstance(error, ActiveCampaignValidationError)
    assert not error.retryable


def test_bulk_import_validation_failure_with_failure_reason_objects() -> None:
    body = {
        "success": 0,
        "message": "JSON payload did not pass validation.",
        "failureReasons": [{"contact": 230, "failureReason": "Field\u2018 email\u2019 incorrect format"}],
    }
    call = prepare_call(settings(), "POST", "import/bulk_import", json={"contacts": []})
    error = _raised(call, 400, body)
    assert isinstance(error, ActiveCampaignValidationError)
    assert "JSON payload did not pass validation." in error.summary
    assert error.field_errors[0]["contact_index"] == 230
    assert error.field_errors[0]["title"] == "Field\u2018 email\u2019 incorrect format"
    assert "incorrect format" in str(error)


def test_bulk_import_rate_limit_is_a_400_with_string_failure_reasons() -> None:
    body = {
        "success": 0,
        "message": "Rate limit exceeded.",
        "failureReasons": [
            "Up to 100 imports may be requested per minute.Please batch contacts into larger requests"
        ],
    }
    call = prepare_call(settings(), "POST", "import/bulk_import", json={"contacts": []})
    error = _raised(call, 400, body)
    assert isinstance(error, ActiveCampaignRateLimitError)
    assert error.retryable  # the importer did not act
    assert "Up to 100 imports" in str(error)
    # The importer's limiter is saturated: the next import waits for the next minute.
    importer = call.limiters[-1]
    assert importer.reserve() > 50


def test_legacy_result_code_0_is_a_validation_error_with_the_result_message() -> None:
    call = prepare_legacy_call(settings(), "campaign_send", params={"campaignid": 4})
    body = {
        "result_code": 0,
        "result_message": "Contact Email Address is not valid.",
        "result_output": "json",
    }
    error = _raised(call, 200, body)
    assert isinstance(error, ActiveCampaignValidationError)
    assert "campaign_send" in error.summary
    assert "Contact Email Address is not valid." in error.summary
    text = _assert_diagnosable(error, "GET", call.display_url, 200)
    assert "api_action=campaign_send" in text


def test_legacy_result_code_1_returns_the_body() -> None:
    call = prepare_legacy_call(settings(), "user_me")
    assert handle_response(call, 200, {}, '{"result_code": 1, "id": 1}') == {"result_code": 1, "id": 1}


def test_success_bodies() -> None:
    call = prepare_call(settings(), "DELETE", "contacts/1")
    assert handle_response(call, 200, {}, "") == {}
    assert handle_response(call, 200, {}, "{}") == {}
    assert handle_response(call, 201, {}, '{"contact": {"id": "5"}}') == {"contact": {"id": "5"}}


def test_a_2xx_that_is_not_json_is_a_server_error_pointing_at_the_url() -> None:
    error = _raised(prepare_call(settings(), "GET", "users/me"), 200, "<html>Log in</html>")
    assert type(error) is ActiveCampaignServerError
    assert "not JSON" in error.summary
    assert "API URL" in str(error)


def test_a_redirect_is_refused_naming_the_target_host() -> None:
    call = prepare_call(settings(), "GET", "users/me")
    error = _raised(call, 301, {}, {"Location": "https://other.example.com/api/3/users/me"})
    assert isinstance(error, ActiveCampaignConfigError)
    assert "https://other.example.com" in error.summary
    assert "not sent there" in error.summary


def test_error_message_quotes_the_full_url_with_its_query() -> None:
    call = prepare_call(settings(), "GET", "contacts", params={"email": "a@example.com", "limit": 100})
    error = _raised(call, 404, {"message": "No Result found"})
    assert f"GET {BASE}/api/3/contacts?email=a%40example.com&limit=100" in str(error)


def test_error_message_trims_long_bodies() -> None:
    long_body = {"contact": {"email": "a@example.com", "notes": "x" * 10_000}}
    call = prepare_call(settings(), "POST", "contacts", json=long_body)
    error = _raised(call, 422, {"errors": [{"title": "bad", "detail": "y" * 10_000}]})
    assert error.request_body is not None
    assert error.response_body is not None
    assert len(error.request_body) < transport.BODY_LIMIT + 100
    assert len(error.response_body) < transport.BODY_LIMIT + 100
    assert "more characters" in error.request_body
    assert len(str(error)) < 3 * transport.BODY_LIMIT + 2000


def test_error_message_redacts_secrets_in_the_request_body_and_query() -> None:
    body = {
        "contact": {"email": "a@example.com"},
        "api_key": "s3cr3t-value",
        "nested": [{"password": "hunter22"}],
    }
    call = prepare_call(settings(), "POST", "contacts", json=body, params={"api_key": "s3cr3t-query"})
    error = _raised(call, 422, {"errors": [{"title": "bad"}]})
    text = str(error)
    assert "s3cr3t-value" not in text
    assert "s3cr3t-query" not in text
    assert "hunter22" not in text
    assert "a@example.com" in text
    assert '"api_key": "***"' in text


def test_error_message_scrubs_the_key_if_the_server_echoes_it() -> None:
    call = prepare_call(settings(), "GET", "contacts")
    error = _raised(call, 400, {"message": f"Unknown token {API_KEY}"})
    assert API_KEY not in str(error)
    assert API_KEY not in repr(error)
    assert "Unknown token ***" in error.summary


def test_redact_body_is_recursive_and_case_insensitive() -> None:
    text = redact_body(
        {"Api-Token": "a1", "outer": {"Token": "b2", "list": [{"SECRET": "c3", "keep": "d4"}]}}
    )
    assert json.loads(text) == {
        "Api-Token": "***",
        "outer": {"Token": "***", "list": [{"SECRET": "***", "keep": "d4"}]},
    }


def test_errors_survive_pickling_with_their_attributes() -> None:
    body = {"errors": [{"title": "bad", "source": {"pointer": "/data/attributes/email"}}]}
    call = prepare_call(settings(), "POST", "contacts", json={"contact": {}})
    error = _raised(call, 422, body)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert copy.field_errors == error.field_errors  # type: ignore[attr-defined]
    assert (copy.method, copy.url, copy.status) == (error.method, error.url, error.status)


# --------------------------------------------------------------------------------------------------
# Limiter maths
# --------------------------------------------------------------------------------------------------


def _max_in_window(times: list[float], window: float) -> int:
    """Most events in any half-open window ``[t, t + window)``."""
    ordered = sorted(times)
    best, left = 0, 0
    for right, t in enumerate(ordered):
        while ordered[left] <= t - window:
            left += 1
        best = max(best, right - left + 1)
    return best


def test_limiter_never_lets_more_than_n_through_in_any_window_for_a_burst() -> None:
    limiter = SlidingWindowLimiter(5, 1.0, margin=0.0)
    sends = [0.0 + limiter.reserve(now=0.0) for _ in range(50)]
    assert _max_in_window(sends, 1.0) == 5
    assert sends[:5] == [0.0] * 5
    assert sends[5:10] == [1.0] * 5
    assert sends[-1] == 9.0


def test_limiter_with_random_arrivals_keeps_the_window_and_sends_each_as_early_as_allowed() -> None:
    rng = random.Random(42)
    limiter = SlidingWindowLimiter(5, 1.0)  # default 3 % margin
    now, sends = 0.0, []
    for _ in range(2_000):
        now += rng.expovariate(8.0)  # offered load above the limit, in bursts
        sends.append(now + limiter.reserve(now=now))
    # Strictly within the account limit, even measured against the nominal one-second window.
    assert _max_in_window(sends, 1.0) <= 5
    assert _max_in_window(sends, 1.0 * (1 + transport.WINDOW_MARGIN) - 1e-9) <= 5
    # Sends keep their order and never happen before they were asked for.
    assert sends == sorted(sends)


def test_limiter_sustains_close_to_the_limit_when_saturated() -> None:
    limiter = SlidingWindowLimiter(5, 1.0)
    sends = [limiter.reserve(now=0.0) for _ in range(300)]
    achieved = (len(sends) - 1) / (sends[-1] - sends[0])
    assert 4.75 <= achieved <= 5.0


def test_limiter_does_not_delay_traffic_below_the_limit() -> None:
    limiter = SlidingWindowLimiter(5, 1.0)
    assert all(limiter.reserve(now=t * 0.25) == 0.0 for t in range(100))  # 4/s


def test_limiter_saturate_blocks_a_full_window_from_now() -> None:
    limiter = SlidingWindowLimiter(5, 1.0, margin=0.0)
    assert limiter.reserve(now=10.0) == 0.0
    limiter.saturate(now=10.5)
    assert limiter.reserve(now=10.5) == pytest.approx(1.0)
    assert limiter.reserve(now=11.6) == 0.0


def _sequential_client(limiter: SlidingWindowLimiter, settle: bool, requests: int = 30) -> list[float]:
    """Server arrival times for a client sending one request at a time, whose first request pays
    a TLS handshake (arrives 0.25 s after it is sent; later ones 0.05 s), answered 0.05 s later."""
    clock, arrivals = 0.0, []
    for index in range(requests):
        # Without settling, a booking counts from its slot (as reserve() does).
        booking, wait = limiter.book(now=clock, hold=120.0 if settle else 0.0)
        sent = clock + wait
        arrival = sent + (0.25 if index == 0 else 0.05)
        clock = arrival + 0.05  # the answer is back
        if settle:
            limiter.settle(booking, at=clock)
        arrivals.append(arrival)
    return arrivals


def test_settling_at_the_answer_keeps_a_slow_first_request_in_the_window() -> None:
    # Control: counted from when they were sent, the slow first request lets a sixth one in.
    unsettled = _sequential_client(SlidingWindowLimiter(5, 1.0), settle=False)
    assert _max_in_window(unsettled, 1.0) == 6
    settled = _sequential_client(SlidingWindowLimiter(5, 1.0), settle=True)
    assert _max_in_window(settled, 1.0) <= 5


def test_settle_moves_a_booking_later_and_never_earlier() -> None:
    limiter = SlidingWindowLimiter(5, 1.0, margin=0.0)
    bookings = [limiter.book(now=0.0, hold=0.0)[0] for _ in range(5)]
    limiter.settle(bookings[0], at=0.3)
    assert limiter.delay(now=0.5) == pytest.approx(0.5)  # the window now starts at 0.3
    limiter.settle(bookings[1], at=0.0)  # earlier than booked: ignored
    assert bookings[1].at == 0.0
    limiter.settle(bookings[1], at=0.9)
    # Bookings stay in time order: 0, 0, 0, 0.3, 0.9; the fifth latest is at 0.0.
    assert [slot.at for slot in limiter._slots] == [0.0, 0.0, 0.0, 0.3, 0.9]
    assert limiter.reserve(now=0.95) == pytest.approx(0.05)  # five in [0, 1): wait for 1.0
    # The window (0, 1] holds 0.3, 0.9 and 1.0: two more fit at 1.0, the next waits for 1.3.
    assert [limiter.reserve(now=1.0) for _ in range(3)] == [0.0, 0.0, pytest.approx(0.3)]


def test_call_settles_every_limiter_it_booked() -> None:
    call = prepare_call(settings(), "POST", "import/bulk_import")
    assert call.reserve() == 0.0
    before = [limiter._slots[-1].at for limiter in call.limiters]
    time.sleep(0.01)
    call.settle()
    after = [limiter._slots[-1].at for limiter in call.limiters]
    assert all(a > b for a, b in zip(after, before, strict=True))
    call.settle()  # a second settle has nothing left to move
    assert [limiter._slots[-1].at for limiter in call.limiters] == after


def test_limiter_is_thread_safe() -> None:
    limiter = SlidingWindowLimiter(5, 1.0, margin=0.0)
    sends: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait()
        for _ in range(40):
            at = limiter.reserve(now=0.0)  # everyone asks at the same instant: a worst-case burst
            with lock:
                sends.append(at)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # No booking lost or doubled: 320 sends in 64 full windows, 5 in each.
    assert sorted(sends) == [float(i // 5) for i in range(320)]
    assert _max_in_window(sends, 1.0) == 5


def test_get_limiter_is_shared_per_account_and_scope() -> None:
    first = get_limiter(BASE, "requests", 5, 1.0, 5)
    assert get_limiter(BASE, "requests", 5, 1.0, 5) is first
    assert get_limiter("https://other.api-us1.com", "requests", 5, 1.0, 5) is not first
    assert get_limiter(BASE, "bulk_import", 100, 60.0, 100) is not first
    # Every hook and trigger of one account books the same limiter.
    calls = [prepare_call(settings(), "GET", "contacts"), prepare_call(settings(), "POST", "contacts")]
    assert all(call.limiters[0] is first for call in calls)


@pytest.mark.parametrize(
    ("rate", "max_events", "window"),
    [(5, 5, 1.0), (50, 5, 0.1), (2, 2, 1.0), (0.5, 1, 2.0), (7.5, 5, 5 / 7.5), (5 / 3, 1, 1.0)],
)
def test_get_limiter_caps_bursts_and_scales_the_window(rate: float, max_events: int, window: float) -> None:
    limiter = get_limiter(BASE, f"r{rate}", rate, 1.0, transport.ACCOUNT_BURST)
    assert limiter.max_events == max_events
    assert limiter.period == pytest.approx(window * (1 + transport.WINDOW_MARGIN))


def test_bulk_import_calls_also_pass_the_importer_limiter() -> None:
    call = prepare_call(settings(), "POST", "import/bulk_import")
    assert len(call.limiters) == 2
    assert call.limiters[1].max_events == transport.IMPORT_BURST
    assert call.limiters[1].period == pytest.approx(60.0 * (1 + transport.WINDOW_MARGIN))
    assert len(prepare_call(settings(), "GET", "import/info").limiters) == 1


# --------------------------------------------------------------------------------------------------
# Error bodies the emulator chose (docs/emulator.md "Choice"): the status alone decides (issue 22)
# --------------------------------------------------------------------------------------------------

#: Bodies unlike the emulator's: none, HTML, another JSON shape, the reference's bare ``{}``.
UNRELATED_BODIES = ["", "<html><body>Error</body></html>", {"error": "something else"}, {}]


@pytest.mark.parametrize("body", [{"message": "Forbidden"}, *UNRELATED_BODIES])
@pytest.mark.parametrize(("method", "endpoint"), [("GET", "users/me"), ("POST", "contact/sync")])
def test_a_bad_key_403_is_an_auth_error_whatever_its_body(method: str, endpoint: str, body: Any) -> None:
    """The bad-key body is one live capture (docs/emulator.md, Authentication): only the status counts."""
    error = _raised(prepare_call(settings(), method, endpoint), 403, body)
    assert isinstance(error, ActiveCampaignAuthError)


@pytest.mark.parametrize("body", [{"message": "Too Many Requests"}, *UNRELATED_BODIES])
def test_a_429_is_the_rate_limit_whatever_its_body_and_without_ratelimit_headers(body: Any) -> None:
    """The 429 body and the ``RateLimit-*`` headers are the emulator's choice; the provider reads
    neither (only ``Retry-After``)."""
    error = _raised(prepare_call(settings(), "POST", "contacts"), 429, body, {"Retry-After": "2"})
    assert isinstance(error, ActiveCampaignRateLimitError)
    assert (error.retryable, error.retry_after) == (True, 2.0)


@pytest.mark.parametrize(
    "body",
    [
        {"errors": [{"title": "Email address is not valid", "code": "field_invalid"}]},  # the emulator's
        {
            "errors": [
                {
                    "title": "Duplicate entry",
                    "code": "duplicate",
                    "source": {"pointer": "/data/attributes/tag"},
                }
            ]
        },
        *UNRELATED_BODIES,
    ],
)
@pytest.mark.parametrize("status", [400, 422])
@pytest.mark.parametrize("endpoint", ["contact/sync", "tags", "contactTags"])
def test_a_refused_write_is_a_validation_error_whatever_its_body(
    endpoint: str, status: int, body: Any
) -> None:
    """Email validation and tag duplicate bodies are undocumented: a 400/422 is a refusal either way
    (the writers act on the class; the body is only quoted)."""
    error = _raised(prepare_call(settings(), "POST", endpoint), status, body)
    assert isinstance(error, ActiveCampaignValidationError)
