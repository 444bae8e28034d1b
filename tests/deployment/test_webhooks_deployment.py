"""ActiveCampaign webhooks -> Airflow asset events, on the shared real deployment (issue #15).

The plugin runs in the real ``airflow api-server`` (entry point ``airflow.plugins``); the emulator
process delivers its webhooks there; a real scheduler starts the DAG scheduled on the asset.
DAGs: tests/deployment/dags/shared/shared_webhooks_dags.py.  The tests run in file order and share
the registered webhook; they use their own contacts (the emulator and Airflow are shared).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.deployment.conftest import SharedDeployment
from tests.helpers.servers import recording_server

pytestmark = pytest.mark.deployment

MAIN_WEBHOOK = "shared_webhooks_main"
MAIN_EVENTS = ["unsubscribe", "contact_tag_added"]
BURST = 1000


class _Emulator:
    """The shared emulator's API (429s waited out: other tests share its 5 requests/s)."""

    def __init__(self, shared: SharedDeployment) -> None:
        self.client = shared.emulator.client
        self.http = httpx.Client(
            base_url=f"{shared.emulator.url}/api/3",
            headers={"Api-Token": shared.emulator.api_key},
            timeout=30,
        )

    def call(self, method: str, path: str, body: Any = None) -> Any:
        for _ in range(100):
            response = self.http.request(method, path, json=body)
            if response.status_code != 429:
                assert response.status_code < 300, response.text
                return response.json()
            time.sleep(float(response.headers.get("Retry-After") or 0.3))
        raise AssertionError(f"{method} {path}: rate limited for too long")

    def contact(self, email: str) -> str:
        return str(self.call("POST", "contact/sync", {"contact": {"email": email}})["contact"]["id"])

    def list_status(self, contact_id: str, status: int, list_id: int = 1) -> None:
        self.call(
            "POST",
            "contactLists",
            {"contactList": {"list": list_id, "contact": contact_id, "status": status}},
        )

    def now(self) -> datetime:
        return datetime.fromisoformat(self.client.clock()["now"])


@pytest.fixture(scope="module")
def emu(shared_deployment: SharedDeployment) -> Iterator[_Emulator]:
    client = _Emulator(shared_deployment)
    yield client
    client.client.drop_webhook_deliveries(False)
    client.http.close()


def _host(shared: SharedDeployment) -> str:
    return shared.emulator.url.split("://", 1)[1].rstrip("/")


def _receiver_url(shared: SharedDeployment, token: str | None = None) -> str:
    return f"{shared.deployment.url}/activecampaign/webhooks/{token or shared.webhook_token}"


def _run(shared: SharedDeployment, dag_id: str, conf: dict[str, Any]) -> str:
    deployment = shared.deployment
    run_id = deployment.trigger(dag_id, conf=conf, run_id=f"{dag_id}-{uuid.uuid4().hex[:8]}")
    assert deployment.wait_for_run(dag_id, run_id, timeout=90) == "success", deployment.log_tails()
    return run_id


def _register(shared: SharedDeployment, name: str, public_base_url: str, events: list[str]) -> dict[str, Any]:
    conf = {"public_base_url": public_base_url, "events": events, "name": name}
    run_id = _run(shared, "shared_webhooks_register", conf)
    report: dict[str, Any] = shared.deployment.xcom("shared_webhooks_register", run_id, "register")
    return report


def _get(shared: SharedDeployment, path: str, params: dict[str, Any]) -> Any:
    """A REST read, retried when SQLite is busy (the api-server answers 500 "database is locked")."""
    for _ in range(20):
        response = shared.deployment.api.get(path, params=params)
        if response.status_code < 500:
            assert response.status_code == 200, response.text
            return response.json()
        time.sleep(0.5)
    raise AssertionError(f"GET {path}: {response.status_code} {response.text[:300]}")


def _asset_id(shared: SharedDeployment, event_type: str) -> int:
    uri = f"activecampaign://{_host(shared)}/events/{event_type}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body = _get(shared, "/assets", {"uri_pattern": uri})
        for asset in body.get("assets", []):
            if asset["uri"] == uri:
                return int(asset["id"])
        time.sleep(0.5)
    raise AssertionError(f"Airflow does not know the asset {uri}")


def _events(shared: SharedDeployment, event_type: str) -> list[dict[str, Any]]:
    asset_id = _asset_id(shared, event_type)
    rows: list[dict[str, Any]] = []
    while True:
        body = _get(shared, "/assets/events", {"asset_id": asset_id, "limit": 100, "offset": len(rows)})
        rows.extend(body["asset_events"])
        if not body["asset_events"] or len(rows) >= body["total_entries"]:
            return rows


def _events_of(shared: SharedDeployment, event_type: str, emails: set[str]) -> list[dict[str, Any]]:
    return [
        e
        for e in _events(shared, event_type)
        if ((e.get("extra") or {}).get("contact") or {}).get("email") in emails
    ]


def test_the_plugin_is_loaded_and_registering_twice_keeps_the_same_webhook(
    shared_deployment: SharedDeployment, emu: _Emulator
) -> None:
    plugins = _get(shared_deployment, "/plugins", {})
    assert "activecampaign_webhooks" in [p["name"] for p in plugins["plugins"]]
    assert _get(shared_deployment, "/importErrors", {})["total_entries"] == 0
    first = _register(shared_deployment, MAIN_WEBHOOK, shared_deployment.deployment.url, MAIN_EVENTS)
    assert first["created"] == [MAIN_WEBHOOK] or first["kept"] == [MAIN_WEBHOOK]
    registered = [h for h in emu.client.webhooks()["webhooks"] if h["name"] == MAIN_WEBHOOK]
    second = _register(shared_deployment, MAIN_WEBHOOK, shared_deployment.deployment.url, MAIN_EVENTS)
    assert second["kept"] == [MAIN_WEBHOOK]
    assert second["webhooks"] == first["webhooks"]
    assert [h for h in emu.client.webhooks()["webhooks"] if h["name"] == MAIN_WEBHOOK] == registered
    assert registered[0]["url"] == _receiver_url(shared_deployment)
    assert shared_deployment.webhook_token not in str(second)  # the URL is never in XCom


def test_an_unsubscribe_in_activecampaign_starts_the_dag_scheduled_on_its_asset(
    shared_deployment: SharedDeployment, emu: _Emulator
) -> None:
    email = f"webhook-{uuid.uuid4().hex[:8]}@example.com"
    contact_id = emu.contact(email)
    emu.list_status(contact_id, 1)
    since = emu.client.webhooks()["deliveries"][-1]["seq"] if emu.client.webhooks()["deliveries"] else 0
    emu.list_status(contact_id, 2)
    deliveries = emu.client.wait_for_webhook_deliveries()["deliveries"]
    mine = [
        d for d in deliveries if d["seq"] > since and d["event"] == "unsubscribe" and contact_id in d["body"]
    ]
    assert [d["status"] for d in mine] == [200], mine
    deployment = shared_deployment.deployment
    deadline = time.monotonic() + 90
    seen: list[Any] = []
    while time.monotonic() < deadline:
        runs = _get(
            shared_deployment,
            "/dags/shared_webhooks_on_unsubscribe/dagRuns",
            {"order_by": "-run_after", "limit": 20},
        )["dag_runs"]
        for run in runs:
            if run["state"] != "success":
                continue
            seen = deployment.xcom("shared_webhooks_on_unsubscribe", run["dag_run_id"], "unsubscribed") or []
            if any(item["email"] == email for item in seen):
                assert run["run_type"] == "asset_triggered"
                (item,) = [i for i in seen if i["email"] == email]
                assert item["source"] == "webhook"
                return
        time.sleep(1)
    raise AssertionError(f"no run of shared_webhooks_on_unsubscribe saw {email}; last XCom {seen}")


def test_a_wrong_token_is_404_and_a_malformed_payload_400_and_neither_records_anything(
    shared_deployment: SharedDeployment,
) -> None:
    before = len(_events(shared_deployment, "unsubscribe"))
    good = urlencode(
        {"type": "unsubscribe", "date_time": "2026-12-01T12:00:00+00:00", "contact[email]": "x@example.com"}
    )
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    wrong = httpx.post(
        _receiver_url(shared_deployment, "not-the-token-0123456789"), content=good, headers=headers
    )
    assert (wrong.status_code, wrong.json()) == (404, {"detail": "Not Found"})
    unknown_path = httpx.post(f"{shared_deployment.deployment.url}/activecampaign/nothing-here", content=good)
    assert (unknown_path.status_code, unknown_path.json()) == (404, {"detail": "Not Found"})
    for body in (
        "",
        '{"type": "unsubscribe"}',
        "type=unsubscribe",
        "type=nope&date_time=2026-12-01",
        good[:-20],
    ):
        answer = httpx.post(_receiver_url(shared_deployment), content=body, headers=headers)
        assert answer.status_code == 400, (body, answer.text)
        assert shared_deployment.webhook_token not in answer.text
    assert len(_events(shared_deployment, "unsubscribe")) == before
    logs = "\n".join(shared_deployment.deployment.grep_logs("activecampaign", ["api-server"]))
    assert shared_deployment.webhook_token not in logs.replace(
        "/activecampaign/webhooks/" + shared_deployment.webhook_token, ""
    )


def test_a_burst_of_deliveries_each_becomes_exactly_one_event(shared_deployment: SharedDeployment) -> None:
    marker = uuid.uuid4().hex[:8]
    emails = [f"burst-{marker}-{n}@example.com" for n in range(BURST)]
    bodies = [
        urlencode(
            {
                "type": "sent",
                "date_time": "2026-12-01T12:00:00+00:00",
                "initiated_from": "system",
                "contact[id]": str(1_000_000 + n),
                "contact[email]": email,
            }
        )
        for n, email in enumerate(emails)
    ]
    repeats = bodies[:100]  # ActiveCampaign delivers at least once: some arrive twice, some at once
    url = _receiver_url(shared_deployment)

    async def send_all() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=20)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            gate = asyncio.Semaphore(20)

            async def one(body: str) -> httpx.Response:
                async with gate:
                    return await client.post(
                        url, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
                    )

            return list(await asyncio.gather(*(one(b) for b in [*bodies, *repeats])))

    _asset_id(shared_deployment, "sent")  # the DAG naming it is parsed
    answers = asyncio.run(send_all())
    sent = [*emails, *emails[: len(repeats)]]
    statuses = [a.json()["status"] if a.status_code == 200 else a.status_code for a in answers]
    assert set(statuses) <= {"recorded", "duplicate", 503}, set(statuses)
    accepted = {email for email, status in zip(sent, statuses, strict=True) if status != 503}
    refused = set(emails) - accepted
    # A 503 (Airflow could not store it, after retries) says so to the sender: allowed, but rare.
    assert len(refused) <= BURST // 50, f"{len(refused)} of {BURST} refused"
    assert statuses.count("recorded") == len(accepted)
    events = _events_of(shared_deployment, "sent", set(emails))
    per_email: dict[str, int] = {}
    for event in events:
        per_email[event["extra"]["contact"]["email"]] = (
            per_email.get(event["extra"]["contact"]["email"], 0) + 1
        )
    assert per_email == dict.fromkeys(accepted, 1)  # each accepted one exactly once; no refused one
    assert len({e["extra"]["delivery_key"] for e in events}) == len(accepted)


def test_a_webhook_deactivated_by_a_410_is_reported_and_recreated(
    shared_deployment: SharedDeployment, emu: _Emulator
) -> None:
    name = f"shared_webhooks_gone_{uuid.uuid4().hex[:6]}"
    # A receiver that answers 410 Gone: ActiveCampaign deactivates the webhook.
    with recording_server(status=410, body={}) as gone, contextlib.ExitStack() as cleanup:
        cleanup.callback(_delete_webhooks_named, emu, name)
        created = _register(shared_deployment, name, gone.url, ["subscribe"])
        old_id = created["webhooks"][name]
        emu.list_status(emu.contact(f"gone-{uuid.uuid4().hex[:8]}@example.com"), 1)
        state = emu.client.wait_for_webhook_deliveries()
        assert old_id in [h["id"] for h in state["deactivated"]]
        assert name not in [h["name"] for h in state["webhooks"]]
        again = _register(shared_deployment, name, gone.url, ["subscribe"])
        assert again["recreated"] == [name], again  # the earlier run's id is gone: reported as recreated
        assert again["webhooks"][name] != old_id
        assert [h["name"] for h in emu.client.webhooks()["webhooks"]].count(name) == 1


def _delete_webhooks_named(emu: _Emulator, name: str) -> None:
    for hook in emu.client.webhooks()["webhooks"]:
        if hook["name"] == name:
            emu.call("DELETE", f"webhooks/{hook['id']}")


def test_reconcile_after_dropped_deliveries_emits_each_missed_change_once(
    shared_deployment: SharedDeployment, emu: _Emulator
) -> None:
    marker = uuid.uuid4().hex[:8]
    tag = emu.call("POST", "tags", {"tag": {"tag": f"shared-webhooks-{marker}", "tagType": "contact"}})["tag"]
    dropped = [f"dropped-{marker}-{n}@example.com" for n in range(3)]
    delivered = f"delivered-{marker}@example.com"
    ids = {email: emu.contact(email) for email in [*dropped, delivered]}
    for contact_id in ids.values():
        emu.list_status(contact_id, 1)
    emu.client.wait_for_webhook_deliveries()
    since = emu.now() - timedelta(seconds=1)
    emu.client.drop_webhook_deliveries(True)  # ActiveCampaign lost these (or an import made them)
    for email in dropped:
        emu.list_status(ids[email], 2)
    for email in dropped[:2]:
        emu.call("POST", "contactTags", {"contactTag": {"contact": ids[email], "tag": tag["id"]}})
    emu.client.drop_webhook_deliveries(False)
    emu.list_status(ids[delivered], 2)  # this one the webhook delivers
    emu.client.wait_for_webhook_deliveries()
    until = emu.now() + timedelta(seconds=1)
    mine = {*dropped, delivered}
    deadline = time.monotonic() + 30
    while not _events_of(shared_deployment, "unsubscribe", {delivered}) and time.monotonic() < deadline:
        time.sleep(0.5)
    conf = {"lists": [1], "tags": [tag["id"]], "since": since.isoformat(), "until": until.isoformat()}
    first = _run(shared_deployment, "shared_webhooks_reconcile", conf)
    report = shared_deployment.deployment.xcom("shared_webhooks_reconcile", first, "reconcile")
    assert report["by_type"].get("contact_tag_added") == 2
    second = _run(shared_deployment, "shared_webhooks_reconcile", conf)  # the same window again
    assert shared_deployment.deployment.xcom("shared_webhooks_reconcile", second, "reconcile")["emitted"] == 0
    unsubscribes = _events_of(shared_deployment, "unsubscribe", mine)
    by_email: dict[str, list[str]] = {}
    for event in unsubscribes:
        by_email.setdefault(event["extra"]["contact"]["email"], []).append(event["extra"]["source"])
    assert by_email == {**{e: ["reconcile"] for e in dropped}, delivered: ["webhook"]}
    tagged = _events_of(shared_deployment, "contact_tag_added", mine)
    assert sorted(e["extra"]["contact"]["email"] for e in tagged) == sorted(dropped[:2])
    assert all(e["extra"]["tag"] == tag["tag"] for e in tagged)
    assert since < datetime.fromisoformat(tagged[0]["extra"]["date_time"]) <= until.astimezone(UTC)
