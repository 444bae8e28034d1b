"""Webhook payload rules: form parsing, validation, normalisation, dedup and change keys (no HTTP)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode

import pytest

from airflow_provider_activecampaign.webhooks.events import (
    DOCUMENTED_EVENTS,
    account_host,
    asset_uri,
    normalise,
)
from airflow_provider_activecampaign.webhooks.payload import WebhookPayloadError, parse_form

EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "ac_examples"
HOST = "acme.api-us1.com"


def _form(**fields: str) -> bytes:
    return urlencode(fields).encode()


def _unsubscribe(**overrides: str) -> dict[str, str]:
    fields = {
        "type": "unsubscribe",
        "date_time": "2026-12-01T12:00:00-05:00",
        "initiated_from": "public",
        "initiated_by": "public",
        "list": "3",
        "contact[id]": "42",
        "contact[email]": "Ann@Example.com",
        "contact[first_name]": "Ann",
    }
    fields.update(overrides)
    return fields


def test_the_documented_delivery_example_parses_into_nested_groups() -> None:
    example = json.loads((EXAMPLES / "webhook_delivery_unsubscribe.json").read_text("utf-8"))
    fields = parse_form(example["body"].encode())
    assert fields["type"] == "unsubscribe"
    assert fields["contact"]["email"] == "Test@Example.com"
    assert fields["contact"]["fields"] == {"1": "Value"}
    assert fields["unsubscribe"] == {"reason": "Not interested"}
    event = normalise(fields, HOST)
    assert event.asset_uri == "activecampaign://acme.api-us1.com/events/unsubscribe"
    extra = event.extra()
    assert extra["contact"]["email"] == "test@example.com"
    assert extra["contact"]["id"] == "42"
    assert extra["contact"]["tags"] == ["api", "customer"]
    assert extra["list_id"] == "1"
    assert extra["unsubscribe_reason"] == "Not interested"
    assert extra["date_time"] == "2013-01-01T17:00:00+00:00"  # normalised to UTC
    assert extra["change_key"] == "unsubscribe:contact=42:list=1"


def test_php_style_lists_are_numbered_and_key_order_does_not_matter() -> None:
    assert parse_form(b"a[]=x&a[]=y&b[c][d]=1") == {"a": {"0": "x", "1": "y"}, "b": {"c": {"d": "1"}}}
    one = normalise(parse_form(_form(**_unsubscribe())), HOST)
    reordered = dict(reversed(list(_unsubscribe().items())))
    two = normalise(parse_form(_form(**reordered)), HOST)
    assert one.delivery_key == two.delivery_key


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b'{"type": "unsubscribe"}', "JSON"),
        (b"\xff\xfe", "UTF-8"),
        (b"contact[email=x", "not a name"),
        (b"contact=x&contact[email]=y", "both a value and a group"),
        (b"a[b][c][d][e][f]=1", "deeper"),
        (b"x" * (256 * 1024 + 1), "far smaller"),
    ],
)
def test_bodies_that_are_not_form_deliveries_are_refused(body: bytes, message: str) -> None:
    with pytest.raises(WebhookPayloadError, match=message):
        parse_form(body)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"type": ""}, "'type' is missing"),
        ({"type": "drop_tables"}, "not an ActiveCampaign webhook event"),
        ({"date_time": ""}, "'date_time' is missing"),
        ({"date_time": "yesterday"}, "not an ISO 8601"),
        ({"contact[id]": "", "contact[email]": ""}, "needs contact"),
        ({"contact[id]": "12; drop"}, "contact\\[id\\]"),
        ({"contact[email]": "not an email"}, "contact\\[email\\]"),
        ({"list": "three"}, "'list'"),
    ],
)
def test_invalid_deliveries_name_the_field(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(WebhookPayloadError, match=message):
        normalise(parse_form(_form(**_unsubscribe(**overrides))), HOST)


def test_tag_and_deal_events_need_their_object() -> None:
    base = {"date_time": "2026-12-01 12:00:00", "contact[id]": "7"}
    with pytest.raises(WebhookPayloadError, match="'tag'"):
        normalise(parse_form(_form(type="contact_tag_added", **base)), HOST)
    with pytest.raises(WebhookPayloadError, match=r"deal\[id\]"):
        normalise(parse_form(_form(type="deal_update", **base)), HOST)
    tagged = normalise(parse_form(_form(type="contact_tag_added", tag="VIP", **base)), HOST)
    assert tagged.change_key == "contact_tag_added:contact=7:tag=vip"
    deal = normalise(
        parse_form(_form(type="deal_update", **{"deal[id]": "9", "deal[stageid]": "2"}, **base)), HOST
    )
    assert deal.extra()["deal"] == {"id": "9", "stage_id": "2"}
    assert deal.change_key == "deal_update:contact=7:deal=9"


def test_a_date_without_offset_is_read_in_the_account_timezone() -> None:
    fields = parse_form(_form(**_unsubscribe(date_time="2026-12-01 12:00:00")))
    assert normalise(fields, HOST).date_time == datetime(2026, 12, 1, 12, tzinfo=UTC)
    minus5 = timezone(timedelta(hours=-5))
    assert normalise(fields, HOST, default_tz=minus5).date_time == datetime(2026, 12, 1, 17, tzinfo=UTC)


def test_a_different_delivery_has_a_different_key_and_another_account_too() -> None:
    fields = parse_form(_form(**_unsubscribe()))
    later = parse_form(_form(**_unsubscribe(date_time="2026-12-01T12:00:01-05:00")))
    assert normalise(fields, HOST).delivery_key != normalise(later, HOST).delivery_key
    assert normalise(fields, HOST).delivery_key != normalise(fields, "other.api-us1.com").delivery_key
    assert normalise(fields, HOST).change_key == normalise(later, HOST).change_key


def test_account_host_and_asset_uri() -> None:
    assert account_host("https://Acme.api-us1.com/api/3") == "acme.api-us1.com"
    assert account_host("http://127.0.0.1:8765") == "127.0.0.1:8765"
    assert asset_uri("acme.api-us1.com", "contact_tag_added") == (
        "activecampaign://acme.api-us1.com/events/contact_tag_added"
    )
    with pytest.raises(ValueError, match="unknown ActiveCampaign webhook event"):
        asset_uri("acme.api-us1.com", "nope")
    with pytest.raises(ValueError, match="account host"):
        account_host("https://")
    assert len(DOCUMENTED_EVENTS) == 25
