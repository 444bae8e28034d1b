"""Unit tests of the one redaction rule (hooks/transport/redaction.py) and what feeds it."""

from __future__ import annotations

import json
from urllib.parse import quote, quote_plus

import pytest

from airflow_provider_activecampaign.hooks.transport import TransportSettings, prepare_call, redaction
from airflow_provider_activecampaign.hooks.transport.redaction import bounded, redact, remember_secret

SECRET = 'p@ss/w+rd="odd" chars 0123'


@pytest.mark.parametrize(
    "form",
    [SECRET, quote(SECRET, safe=""), quote(SECRET), quote_plus(SECRET), json.dumps(SECRET)[1:-1]],
    ids=["raw", "percent", "percent-keeping-slashes", "form", "json-escaped"],
)
def test_a_known_secret_is_removed_in_every_form(form: str) -> None:
    remember_secret(SECRET)
    text = '{"webhook": {"url": "https://example.com/in?t=' + form + '&x=1"}}'  # as a body quotes it
    assert form not in redact(text)
    assert "***" in redact(text)


def test_nothing_is_removed_before_a_secret_is_known() -> None:
    assert redact(f"token {SECRET}") == f"token {SECRET}"


def test_short_values_are_never_treated_as_secrets() -> None:
    remember_secret("abc")
    assert redact("abc abc") == "abc abc"


def test_the_connection_secrets_are_collected_and_known() -> None:
    settings = TransportSettings.from_connection_fields(
        host="https://acct.api-us1.com",
        port=None,
        password="the-api-key-0123456789",
        extra={
            "webhook_token": "webhook-token-0123456789",
            "event_tracking_actid": "650123456",
            "event_tracking_secret": "tracking-key-0123456789",
            "use_token": "true",  # a flag, not a secret
            "some_password": "hunter2hunter2",
        },
        defaults={"rate_limit_backend": "redis://:redis%2Fpass-0123@127.0.0.1:6379/0"},
    )
    assert set(settings.secrets) == {
        "the-api-key-0123456789",
        "tracking-key-0123456789",
        "redis%2Fpass-0123",
        "webhook-token-0123456789",
        "hunter2hunter2",
    }
    text = "webhook-token-0123456789 hunter2hunter2 redis/pass-0123 650123456 true"
    assert redact(text) == "*** *** *** 650123456 true"
    assert len(redaction.SECRETS) >= 5


def test_an_error_url_cuts_long_query_values_and_hides_sensitive_ones() -> None:
    settings = TransportSettings(base_url="https://acct.api-us1.com", api_key="the-api-key-0123456789")
    call = prepare_call(settings, "GET", "contacts", params={"email": "e" * 5000, "api_key": "x", "n": 1})
    url = call.display_url
    assert len(url) < 400
    assert "…(5000 characters)" in url
    assert "api_key=%2A%2A%2A" in url
    assert url.endswith("&n=1")


def test_bounded_quotes_and_states_the_length() -> None:
    assert bounded("ok") == "'ok'"
    assert bounded(12345) == "12345"
    assert bounded("a" * 300) == repr("a" * 200 + "…") + " (300 characters)"
    remember_secret(SECRET)
    assert SECRET not in bounded(f"x {SECRET}")
