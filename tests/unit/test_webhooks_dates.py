"""A delivery's ``date_time`` is read as ActiveCampaign writes dates (one parser for every read).

ActiveCampaign never retries a delivery the receiver refuses, so refusing its own spelling of a
date (the one-digit hour of the reference's ``ecomOrders`` example) would lose the event.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from airflow_provider_activecampaign.webhooks.events import normalise, parse_date_time
from airflow_provider_activecampaign.webhooks.payload import WebhookPayloadError, parse_form


def test_a_one_digit_hour_is_a_date_time() -> None:
    assert parse_date_time("2019-09-06T2:10:00-05:00") == datetime(2019, 9, 6, 7, 10, tzinfo=UTC)
    body = b"type=unsubscribe&date_time=2019-09-06T2%3A10%3A00-05%3A00&contact%5Bemail%5D=a%40b.co"
    event = normalise(parse_form(body), "acme.api-us1.com")
    assert event.date_time == datetime(2019, 9, 6, 7, 10, tzinfo=UTC)
    assert parse_date_time("2019-09-06 2:10:00") == datetime(2019, 9, 6, 2, 10, tzinfo=UTC)


@pytest.mark.parametrize("raw", ["yesterday", "0000-00-00 00:00:00", "06/09/2019 02:10"])
def test_anything_else_is_refused_naming_the_field(raw: str) -> None:
    with pytest.raises(WebhookPayloadError, match="field 'date_time'"):
        parse_date_time(raw)
