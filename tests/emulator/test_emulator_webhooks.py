"""The emulator's webhooks: documented CRUD shapes, deliveries on changes, drop switch, 410 deactivation."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture

Check = Callable[[httpx.Response, str], dict[str, Any]]


class Receiver:
    """A loopback HTTP server recording form bodies; answers ``status``; may hold answers until released."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, str]] = []
        self.status = 200
        self.release = threading.Event()
        self.release.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                receiver.bodies.append(dict(parse_qsl(raw, keep_blank_values=True)))
                receiver.content_type = self.headers.get("Content-Type")
                receiver.release.wait(10)
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.content_type: str | None = None
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook/secret-token-0123456789"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def _register(
    api: httpx.Client, url: str, events: list[str], sources: list[str] | None = None
) -> dict[str, Any]:
    body = {"webhook": {"name": "airflow", "url": url, "events": events, "sources": sources or ["api"]}}
    response = api.post("webhooks", json=body)
    assert response.status_code == 201, response.text
    hook: dict[str, Any] = response.json()["webhook"]
    return hook


def _contact(api: httpx.Client, email: str) -> str:
    response = api.post("contact/sync", json={"contact": {"email": email, "firstName": "Ann"}})
    return str(response.json()["contact"]["id"])


def test_webhook_crud_has_the_documented_shapes(api: httpx.Client, check_example: Check) -> None:
    body = {
        "webhook": {
            "name": "My Hook",
            "url": "http://example.com/my-hook",
            "events": ["subscribe", "unsubscribe", "sent"],
            "sources": ["public", "system"],
        }
    }
    created = check_example(api.post("webhooks", json=body), "webhook_create")["webhook"]
    assert created["listid"] == "0"
    check_example(api.get("webhooks"), "webhooks_list")
    check_example(api.get(f"webhooks/{created['id']}"), "webhook_get")
    check_example(api.put(f"webhooks/{created['id']}", json=body), "webhook_update")
    events = check_example(api.get("webhook/events"), "webhook_events")
    assert events["meta"]["total"] == 25
    assert api.get("webhooks", params={"filters[name]": "nope"}).json()["webhooks"] == []
    check_example(api.delete(f"webhooks/{created['id']}"), "webhook_delete")
    assert api.get(f"webhooks/{created['id']}").status_code == 404
    missing = api.post("webhooks", json={"webhook": {"name": "x", "url": "http://e.x/h", "events": ["sent"]}})
    assert missing.status_code == 422
    port = api.post(
        "webhooks",
        json={"webhook": {"name": "x", "url": "https://e.x:8443/h", "events": ["sent"], "sources": ["api"]}},
    )
    assert port.status_code == 422


def test_an_unsubscribe_is_delivered_form_encoded_after_the_api_answered(
    api: httpx.Client, emulator: EmulatorFixture, receiver: Receiver
) -> None:
    hook = _register(api, receiver.url, ["unsubscribe", "subscribe"])
    contact_id = _contact(api, "ann@example.com")
    receiver.release.clear()  # the receiver holds its answer: the API call must not wait for it
    answer = api.post("contactLists", json={"contactList": {"list": 1, "contact": contact_id, "status": 2}})
    assert answer.status_code == 200
    receiver.release.set()
    state = emulator.client.wait_for_webhook_deliveries()
    assert [d["outcome"] for d in state["deliveries"]] == ["delivered"]
    assert receiver.content_type == "application/x-www-form-urlencoded"
    (body,) = receiver.bodies
    assert body["type"] == "unsubscribe"
    assert body["list"] == "1"
    assert body["contact[email]"] == "ann@example.com"
    assert body["contact[id]"] == contact_id
    assert body["initiated_from"] == "api"
    assert body["date_time"]
    assert state["deliveries"][0]["webhook_id"] == hook["id"]
    # the same status again changes nothing and fires nothing
    api.post("contactLists", json={"contactList": {"list": 1, "contact": contact_id, "status": 2}})
    assert len(emulator.client.wait_for_webhook_deliveries()["deliveries"]) == 1


def test_tags_and_contact_updates_fire_and_sources_filter(
    api: httpx.Client, emulator: EmulatorFixture, receiver: Receiver
) -> None:
    _register(api, receiver.url, ["contact_tag_added", "contact_tag_removed", "update"])
    _register(api, receiver.url + "-admin-only", ["contact_tag_added"], sources=["admin"])
    contact_id = _contact(api, "bea@example.com")
    row = api.post("contactTags", json={"contactTag": {"contact": contact_id, "tag": "1"}}).json()[
        "contactTag"
    ]
    api.delete(f"contactTags/{row['id']}")
    api.put(f"contacts/{contact_id}", json={"contact": {"firstName": "Beatrix"}})
    emulator.client.wait_for_webhook_deliveries()
    assert [b["type"] for b in receiver.bodies] == ["contact_tag_added", "contact_tag_removed", "update"]
    assert receiver.bodies[0]["tag"]
    assert receiver.bodies[0]["tag"] == receiver.bodies[1]["tag"]
    assert receiver.bodies[2]["contact[first_name]"] == "Beatrix"


def test_dropped_deliveries_are_recorded_but_never_sent(
    api: httpx.Client, emulator: EmulatorFixture, receiver: Receiver
) -> None:
    _register(api, receiver.url, ["unsubscribe"])
    emulator.client.drop_webhook_deliveries(True)
    contact_id = _contact(api, "cy@example.com")
    api.post("contactLists", json={"contactList": {"list": 1, "contact": contact_id, "status": 2}})
    state = emulator.client.wait_for_webhook_deliveries()
    assert [d["outcome"] for d in state["deliveries"]] == ["dropped"]
    assert receiver.bodies == []


def test_a_410_answer_deactivates_the_webhook(
    api: httpx.Client, emulator: EmulatorFixture, receiver: Receiver
) -> None:
    hook = _register(api, receiver.url, ["unsubscribe", "subscribe"])
    receiver.status = 410
    contact_id = _contact(api, "dee@example.com")
    api.post("contactLists", json={"contactList": {"list": 1, "contact": contact_id, "status": 2}})
    state = emulator.client.wait_for_webhook_deliveries()
    assert [d["status"] for d in state["deliveries"]] == [410]
    assert [h["id"] for h in state["deactivated"]] == [hook["id"]]
    assert api.get("webhooks").json()["webhooks"] == []
    api.post("contactLists", json={"contactList": {"list": 1, "contact": contact_id, "status": 1}})
    assert len(emulator.client.wait_for_webhook_deliveries()["deliveries"]) == 1  # nothing more sent


def test_deal_writes_fire_deal_add_and_deal_update(
    api: httpx.Client, emulator: EmulatorFixture, receiver: Receiver
) -> None:
    _register(api, receiver.url, ["deal_add", "deal_update"])
    contact_id = _contact(api, "deal@example.com")
    created = api.post(
        "deals",
        json={
            "deal": {
                "title": "Big one",
                "value": 1000,
                "currency": "usd",
                "contact": contact_id,
                "stage": "1",
            }
        },
    )
    assert created.status_code == 201, created.text
    deal_id = created.json()["deal"]["id"]
    assert api.put(f"deals/{deal_id}", json={"deal": {"title": "Bigger one"}}).status_code == 200
    emulator.client.wait_for_webhook_deliveries()
    assert [b["type"] for b in receiver.bodies] == ["deal_add", "deal_update"]
    assert receiver.bodies[1]["deal[id]"] == deal_id
    assert receiver.bodies[1]["deal[title]"] == "Bigger one"
    assert receiver.bodies[1]["contact[id]"] == contact_id
