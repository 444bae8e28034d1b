"""Webhook registration, the receiver and reconcile where the reference is silent, both ways.

* ``webhook_410_removes``: the reference says a webhook whose receiver answered 410 is deactivated
  and must be recreated (DOC page/webhooks, §10), not whether ``GET /webhooks`` still lists it.
  The registration operator, run again after a 410, must leave exactly one active webhook of its
  name whether the deactivated one left the list or stays listed with ``"state": "0"``.
* ``webhook_delivery_secondary_fields``: the reference notes name only ``type``, ``date_time``,
  ``initiated_by`` and ``contact[email]`` (§8, UNCERTAIN). With only those, the receiver still
  records an unsubscribe, and reconcile must not emit it a second time (it is keyed by email and
  no list); a tag event without ``tag`` is refused (400) and reconcile emits the watched tag's add.

The emulator delivers over a real socket to the receiver app (``plugins/receiver.py``) served by
uvicorn; only its recorder (Airflow's REST API, covered by tests/deployment) is a stub.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import uvicorn
from activecampaign_emulator.pytest_plugin import EmulatorFixture
from fastapi import FastAPI

from airflow_provider_activecampaign.hooks import transport
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.operators.webhooks import ActiveCampaignRegisterWebhooksOperator
from airflow_provider_activecampaign.plugins.config import Account, ApiCredentials, ReceiverSettings
from airflow_provider_activecampaign.plugins.receiver import create_app
from airflow_provider_activecampaign.plugins.recorder import Outcome
from airflow_provider_activecampaign.webhooks import reconcile
from airflow_provider_activecampaign.webhooks.events import WebhookEvent
from airflow_provider_activecampaign.webhooks.registration import is_inactive
from tests.helpers.servers import RecordingServer, recording_server

pytestmark = pytest.mark.integration

TOKEN = "a-token-of-thirty-two-characters"
HOST = "acme.api-us1.com"


@pytest.fixture(autouse=True)
def _fresh_limiters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "_LIMITERS", {})


class FakeTI:
    """One run's task instance: its own run id (write journal), XComs kept across runs (``store``)."""

    dag_id = "webhooks_assumed"
    task_id = "register"
    map_index = -1
    try_number = 1

    def __init__(self, run_id: str, store: dict[str, Any]) -> None:
        self.run_id = run_id
        self.store = store

    def xcom_pull(self, *, key: str, **_: Any) -> Any:
        return self.store.get(key)  # include_prior_dates: an earlier run's id

    def xcom_push(self, key: str, value: Any) -> None:
        self.store[key] = value


def register(public_base_url: str, run_id: str, store: dict[str, Any], events: list[str]) -> dict[str, Any]:
    operator = ActiveCampaignRegisterWebhooksOperator(
        task_id="register", public_base_url=public_base_url, events=events
    )
    result: dict[str, Any] = operator.execute({"ti": FakeTI(run_id, store)})  # type: ignore[arg-type]
    return result


@pytest.fixture
def status_receiver() -> Iterator[RecordingServer]:
    """A loopback receiver answering ``status`` (settable) to any delivery."""
    with recording_server(status=200, body={}) as server:
        yield server


def named(hook: ActiveCampaignHook, name: str) -> list[dict[str, Any]]:
    return [w for w in hook.get("webhooks", params={"limit": 100})["webhooks"] if w["name"] == name]


def subscribe(hook: ActiveCampaignHook, email: str, status: int = 1) -> str:
    contact_id = str(hook.post("contact/sync", json={"contact": {"email": email}})["contact"]["id"])
    hook.post("contactLists", json={"contactList": {"list": 1, "contact": contact_id, "status": status}})
    return contact_id


@pytest.mark.parametrize("removes", [True, False], ids=["410-removes", "410-listed-inactive"])
def test_a_webhook_deactivated_by_a_410_is_recreated_once(
    emulator: EmulatorFixture, status_receiver: RecordingServer, removes: bool
) -> None:
    emulator.export_connection(webhook_token=TOKEN)
    emulator.set_assumed(webhook_410_removes=removes)
    hook = ActiveCampaignHook()
    xcoms: dict[str, Any] = {}
    first = register(status_receiver.url, "run-1", xcoms, ["subscribe"])
    assert first["created"] == ["airflow"]
    old_id = first["webhooks"]["airflow"]

    status_receiver.status = 410
    subscribe(hook, "gone@example.com")
    state = emulator.client.wait_for_webhook_deliveries()
    assert [(d["webhook_id"], d["status"]) for d in state["deliveries"]] == [(old_id, 410)]
    assert [h["id"] for h in state["deactivated"]] == [old_id]
    listed = named(hook, "airflow")
    if removes:
        assert listed == []
    else:
        assert [(w["id"], w["state"]) for w in listed] == [(old_id, "0")]
        assert is_inactive(listed[0])

    status_receiver.status = 200
    second = register(status_receiver.url, "run-2", xcoms, ["subscribe"])
    assert second["recreated"] == ["airflow"], second
    new_id = second["webhooks"]["airflow"]
    assert new_id != old_id
    assert len(second["deleted"]) == (0 if removes else 1)
    (only,) = named(hook, "airflow")  # there, once, and active
    assert only["id"] == new_id
    assert not is_inactive(only)

    since = state["deliveries"][-1]["seq"]
    subscribe(hook, "back@example.com")
    later = [d for d in emulator.client.wait_for_webhook_deliveries()["deliveries"] if d["seq"] > since]
    assert [(d["webhook_id"], d["status"]) for d in later] == [(new_id, 200)]

    third = register(status_receiver.url, "run-3", xcoms, ["subscribe"])
    assert third["kept"] == ["airflow"]
    assert third["webhooks"] == second["webhooks"]
    assert [w["id"] for w in named(hook, "airflow")] == [new_id]


class StubRecorder:
    """Keeps the events the receiver would record in Airflow (that path: tests/deployment)."""

    def __init__(self) -> None:
        self.events: list[WebhookEvent] = []

    async def record(self, event: WebhookEvent) -> Outcome:
        self.events.append(event)
        return Outcome("recorded", event.asset_uri, len(self.events))


class ReceiverServer:
    """The provider's receiver app on a loopback socket (uvicorn in a thread), at ``/activecampaign``."""

    def __init__(self) -> None:
        settings = ReceiverSettings(
            (Account("activecampaign_default", HOST, TOKEN, UTC),), ApiCredentials("")
        )

        class Fixed:
            def get(self) -> ReceiverSettings:
                return settings

        app = create_app(Fixed())  # type: ignore[arg-type]
        self.recorder = StubRecorder()
        app.state.recorder = self.recorder
        mounted = FastAPI()  # as the plugin's fastapi_apps entry mounts it in the api-server
        mounted.mount("/activecampaign", app)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(mounted, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "the receiver did not start"
            time.sleep(0.05)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@pytest.fixture
def receiver_server() -> Iterator[ReceiverServer]:
    server = ReceiverServer()
    yield server
    server.close()


@pytest.mark.parametrize("secondary", [True, False], ids=["secondary-fields", "reference-keys-only"])
def test_deliveries_are_recorded_and_reconcile_emits_no_change_twice(
    emulator: EmulatorFixture, receiver_server: ReceiverServer, secondary: bool
) -> None:
    emulator.export_connection(webhook_token=TOKEN)
    emulator.set_assumed(webhook_delivery_secondary_fields=secondary)
    hook = ActiveCampaignHook()
    report = register(receiver_server.url, "run-1", {}, ["unsubscribe", "contact_tag_added"])
    assert report["created"] == ["airflow"]
    vip = hook.post("tags", json={"tag": {"tag": "returning", "tagType": "contact"}})["tag"]["id"]
    leaver = subscribe(hook, "leaver@example.com")
    tagged = subscribe(hook, "tagged@example.com")
    hook.post("contactLists", json={"contactList": {"list": 1, "contact": leaver, "status": 2}})
    hook.post("contactTags", json={"contactTag": {"contact": tagged, "tag": vip}})

    deliveries = emulator.client.wait_for_webhook_deliveries()["deliveries"]
    statuses = {d["event"]: d["status"] for d in deliveries}
    events = receiver_server.recorder.events
    if secondary:
        assert statuses == {"unsubscribe": 200, "contact_tag_added": 200}
        assert [(e.type, e.contact["id"], e.list_id, e.tag) for e in events if e.contact] == [
            ("unsubscribe", leaver, "1", None),
            ("contact_tag_added", tagged, None, "returning"),
        ]
    else:
        # A tag event without `tag` says nothing a DAG can use: refused, and left to reconcile.
        assert statuses == {"unsubscribe": 200, "contact_tag_added": 400}
        assert [(e.type, e.contact, e.list_id) for e in events] == [
            ("unsubscribe", {**(events[0].contact or {}), "id": None, "email": "leaver@example.com"}, None)
        ]

    now = datetime.now(UTC)
    received = reconcile.Received([e.extra() for e in events])
    missed = reconcile.missed_events(
        hook,
        HOST,
        since=now - timedelta(days=3650),
        until=now + timedelta(days=3650),
        list_ids=["1"],
        tags={str(vip): "returning"},
        received=received,
    )
    # Each change once: the unsubscribe was received either way; the tag add only with its name.
    assert [(e.type, e.contact["email"] if e.contact else None) for e in missed] == (
        [] if secondary else [("contact_tag_added", "tagged@example.com")]
    )
    again = reconcile.missed_events(
        hook,
        HOST,
        since=now - timedelta(days=3650),
        until=now + timedelta(days=3650),
        list_ids=["1"],
        tags={str(vip): "returning"},
        received=reconcile.Received([e.extra() for e in [*events, *missed]]),
    )
    assert again == []


def test_a_changed_webhook_is_updated_in_place_once(
    emulator: EmulatorFixture, status_receiver: RecordingServer
) -> None:
    """New events for a registered webhook: one ``PUT /webhooks/{id}``, the same id, checked against
    the reference like every request (``provider_operations.json`` lists the operation)."""
    emulator.export_connection(webhook_token=TOKEN)
    hook = ActiveCampaignHook()
    xcoms: dict[str, Any] = {}
    first = register(status_receiver.url, "run-1", xcoms, ["subscribe"])
    webhook_id = first["webhooks"]["airflow"]

    second = register(status_receiver.url, "run-2", xcoms, ["subscribe", "unsubscribe"])
    assert second["updated"] == ["airflow"], second
    assert second["webhooks"] == {"airflow": webhook_id}
    (only,) = named(hook, "airflow")
    assert (only["id"], sorted(only["events"])) == (webhook_id, ["subscribe", "unsubscribe"])
    puts = [e for e in emulator.requests()["requests"] if e["method"] == "PUT"]
    assert [(e["template"], e["status"]) for e in puts] == [("/api/3/webhooks/{id}", 200)]

    third = register(status_receiver.url, "run-3", xcoms, ["subscribe", "unsubscribe"])
    assert third["kept"] == ["airflow"]
    assert [e for e in emulator.requests()["requests"] if e["method"] == "PUT"] == puts
