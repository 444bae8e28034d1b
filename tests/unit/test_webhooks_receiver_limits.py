"""The receiver refuses what no ActiveCampaign delivery holds (issue 22), test-first.

* identifiers with control characters: a NUL byte inside ``contact[email]`` was recorded;
* bodies over the limit while streaming, chunked included: a chunked 200 MB body was read whole
  before being refused. The app is driven through raw ASGI so the test counts the chunks it pulls.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from airflow_provider_activecampaign.plugins.receiver import create_app
from airflow_provider_activecampaign.webhooks.payload import MAX_BODY_BYTES, WebhookPayloadError, parse_form
from tests.unit.test_webhooks_receiver import FORM, TOKEN, FixedSettings, StubRecorder

CHUNK = 64 * 1024


@pytest.fixture
def receiver() -> tuple[TestClient, StubRecorder]:
    app = create_app(FixedSettings())  # type: ignore[arg-type]
    stub = StubRecorder()
    app.state.recorder = stub
    return TestClient(app), stub


def delivery(**fields: str) -> str:
    values = {"type": "unsubscribe", "date_time": "2026-12-01T12:00:00-05:00", "contact[email]": "a@b.co"}
    values.update(fields)
    return urlencode(values)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("contact[email]", "a\x00@b.co"),
        ("contact[email]", "a@b.co\r\nBcc: x@y.z"),
        ("contact[id]", "12\x00"),
        ("type", "unsubscribe\x1b"),
        ("list", "3\t"),
    ],
)
def test_an_identifier_with_a_control_character_is_refused(
    receiver: tuple[TestClient, StubRecorder], field: str, value: str
) -> None:
    client, stub = receiver
    answer = client.post(f"/webhooks/{TOKEN}", content=delivery(**{field: value}), headers=FORM)
    assert answer.status_code == 400
    assert field in answer.json()["error"]
    assert "control character" in answer.json()["error"]
    assert stub.events == []


def test_free_text_may_hold_line_breaks_but_never_a_nul() -> None:
    assert parse_form(delivery(**{"campaign[name]": "Line one\r\nline two"}).encode())["campaign"]["name"]
    with pytest.raises(WebhookPayloadError, match=r"campaign\[name\].*control character"):
        parse_form(delivery(**{"campaign[name]": "a\x00b"}).encode())
    with pytest.raises(WebhookPayloadError, match="control character"):
        parse_form(delivery(**{"contact[\x00x]": "1"}).encode())


def post_streamed(chunks: int, *, declare_length: bool) -> tuple[int, int]:
    """POST ``chunks`` chunks of 64 KiB through raw ASGI; (status, chunks the app pulled)."""
    app = create_app(FixedSettings())  # type: ignore[arg-type]
    app.state.recorder = StubRecorder()
    pulled = 0
    headers = [(b"content-type", b"application/x-www-form-urlencoded")]
    if declare_length:
        headers.append((b"content-length", str(chunks * CHUNK).encode()))
    else:
        headers.append((b"transfer-encoding", b"chunked"))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": f"/webhooks/{TOKEN}",
        "raw_path": f"/webhooks/{TOKEN}".encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8080),
    }
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"a" * CHUNK, "more_body": pulled < chunks}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    asyncio.run(app(scope, receive, send))
    return status[0], pulled


def test_a_chunked_body_over_the_limit_is_refused_while_streaming() -> None:
    total = 200 * 1024 * 1024 // CHUNK  # 200 MB
    status, pulled = post_streamed(total, declare_length=False)
    assert status == 400
    assert pulled <= MAX_BODY_BYTES // CHUNK + 1  # stopped right after the limit, not 3200 chunks


def test_a_declared_length_over_the_limit_is_refused_unread() -> None:
    status, pulled = post_streamed(MAX_BODY_BYTES // CHUNK + 8, declare_length=True)
    assert status == 400
    assert pulled == 0
