"""One redaction rule: no secret the provider knows appears in an error text, wherever it sat.

The reported breach: the webhook token is in the URL inside the request body of ``POST /webhooks``,
and ``ActiveCampaignValidationError`` / ``ActiveCampaignAmbiguousWriteError`` quoted that body.
Run against the emulator over a real socket; the token is only known from the connection's extra.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture

from airflow_provider_activecampaign.exceptions import (
    ActiveCampaignAmbiguousWriteError,
    ActiveCampaignError,
    ActiveCampaignValidationError,
)
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from tests.secrets_guard import TEST_WEBHOOK_TOKEN

pytestmark = pytest.mark.integration


def everything_quoted(error: ActiveCampaignError) -> str:
    """Every text an error carries: its message, each field, the API's per-field errors."""
    fields = [str(error), *(str(value) for value in vars(error).values())]
    return "\n".join(fields)


def webhook_body(token: str, events: list[str]) -> dict[str, object]:
    url = f"https://airflow.example.com/activecampaign/webhooks/{token}"
    return {"webhook": {"name": "to airflow", "url": url, "events": events, "sources": ["public"]}}


@pytest.fixture
def hook(emulator: EmulatorFixture) -> ActiveCampaignHook:
    emulator.export_connection(webhook_token=TEST_WEBHOOK_TOKEN)
    return ActiveCampaignHook()


def test_a_refused_webhook_registration_does_not_quote_the_token(hook: ActiveCampaignHook) -> None:
    with pytest.raises(ActiveCampaignValidationError) as raised:
        hook.post("webhooks", json=webhook_body(TEST_WEBHOOK_TOKEN, ["no-such-event"]))
    text = everything_quoted(raised.value)
    assert "activecampaign/webhooks/***" in text  # the body is still quoted, for support
    assert TEST_WEBHOOK_TOKEN not in text


def test_an_ambiguous_webhook_registration_does_not_quote_the_token(
    emulator: EmulatorFixture, hook: ActiveCampaignHook
) -> None:
    emulator.add_fault("POST", "/api/3/webhooks", "http_500", when="after")
    with pytest.raises(ActiveCampaignAmbiguousWriteError) as raised:
        hook.post("webhooks", json=webhook_body(TEST_WEBHOOK_TOKEN, ["subscribe"]))
    text = everything_quoted(raised.value)
    assert "activecampaign/webhooks/***" in text
    assert TEST_WEBHOOK_TOKEN not in text


def test_a_url_encoded_token_inside_a_json_body_is_removed_too(hook: ActiveCampaignHook) -> None:
    # A token with characters a URL encodes, inside a query string inside the body.
    token = "tok/en+with=odd&chars-0123456789"
    encoded = quote(token, safe="")
    hook.settings  # the connection is read: its secrets become known  # noqa: B018
    from airflow_provider_activecampaign.hooks.transport.redaction import remember_secret

    remember_secret(token)
    body = {
        "webhook": {
            "name": "x",
            "url": f"https://a.example.com/in?t={encoded}",
            "events": ["nope"],  # refused by the server: the error quotes the body
            "sources": ["public"],
        }
    }
    with pytest.raises(ActiveCampaignValidationError) as raised:
        hook.post("webhooks", json=body)
    text = everything_quoted(raised.value)
    assert encoded not in text
    assert token not in text
