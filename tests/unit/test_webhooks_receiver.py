"""The receiver app alone: token check, 400s, what reaches the recorder (a stub), 503 on failure.

The real path (api-server, REST API, scheduler) is tests/deployment/test_webhooks_deployment.py.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from airflow_provider_activecampaign.plugins.config import Account, ApiCredentials, ReceiverSettings
from airflow_provider_activecampaign.plugins.receiver import create_app
from airflow_provider_activecampaign.plugins.recorder import Outcome, RecordError
from airflow_provider_activecampaign.webhooks.events import WebhookEvent

TOKEN = "a-token-of-thirty-two-characters"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class FixedSettings:
    def __init__(self) -> None:
        self.value = ReceiverSettings(
            (Account("activecampaign_default", "acme.api-us1.com", TOKEN, UTC),),
            ApiCredentials("http://127.0.0.1:1"),
        )

    def get(self) -> ReceiverSettings:
        return self.value


class StubRecorder:
    def __init__(self, fail: bool = False) -> None:
        self.events: list[WebhookEvent] = []
        self.fail = fail

    async def record(self, event: WebhookEvent) -> Outcome:
        if self.fail:
            raise RecordError("POST /api/v2/assets/events to Airflow's API answered HTTP 500")
        self.events.append(event)
        return Outcome("recorded", event.asset_uri, len(self.events))


@pytest.fixture
def receiver() -> tuple[TestClient, StubRecorder]:
    app = create_app(FixedSettings())  # type: ignore[arg-type]
    stub = StubRecorder()
    app.state.recorder = stub
    return TestClient(app), stub


def _body(**fields: Any) -> str:
    values = {"type": "unsubscribe", "date_time": "2026-12-01T12:00:00-05:00", "contact[email]": "a@b.co"}
    values.update(fields)
    return urlencode(values)


def test_a_valid_delivery_reaches_the_recorder_normalised(receiver: tuple[TestClient, StubRecorder]) -> None:
    client, stub = receiver
    answer = client.post(f"/webhooks/{TOKEN}", content=_body(list="3"), headers=FORM)
    assert answer.status_code == 200
    assert answer.json() == {
        "status": "recorded",
        "asset": "activecampaign://acme.api-us1.com/events/unsubscribe",
        "event_id": 1,
    }
    (event,) = stub.events
    assert (event.type, event.list_id, event.contact and event.contact["email"]) == (
        "unsubscribe",
        "3",
        "a@b.co",
    )


def test_another_token_looks_like_any_unknown_path(receiver: tuple[TestClient, StubRecorder]) -> None:
    client, stub = receiver
    wrong = client.post(f"/webhooks/{TOKEN[:-1]}x", content=_body(), headers=FORM)
    unknown = client.post("/elsewhere", content=_body(), headers=FORM)
    assert (wrong.status_code, wrong.json()) == (404, {"detail": "Not Found"})
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "Not Found"})
    assert client.get(f"/webhooks/{TOKEN}").status_code == 404
    assert stub.events == []


@pytest.mark.parametrize("body", ["", '{"type":"unsubscribe"}', _body(type="nope"), _body(date_time="")])
def test_malformed_deliveries_are_400_and_record_nothing(
    receiver: tuple[TestClient, StubRecorder], body: str
) -> None:
    client, stub = receiver
    answer = client.post(f"/webhooks/{TOKEN}", content=body, headers=FORM)
    assert answer.status_code == 400
    assert TOKEN not in answer.text
    assert stub.events == []


def test_an_event_airflow_did_not_store_is_503(receiver: tuple[TestClient, StubRecorder]) -> None:
    client, _ = receiver
    client.app.state.recorder = StubRecorder(fail=True)  # type: ignore[attr-defined]
    answer = client.post(f"/webhooks/{TOKEN}", content=_body(), headers=FORM)
    assert answer.status_code == 503
    assert "HTTP 500" not in answer.text  # nothing about Airflow's internals leaks to the sender


def test_the_token_comparison_needs_the_whole_token() -> None:
    settings = FixedSettings().value
    assert settings.account_for(TOKEN) is not None
    assert settings.account_for(TOKEN[:-1]) is None
    assert settings.account_for(TOKEN + "x") is None
    assert settings.account_for("") is None
