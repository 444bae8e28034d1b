"""Bulk import: payload validation, importer rate limits, asynchronous progress, results."""

from __future__ import annotations

import json
from typing import Any

import httpx
from activecampaign_emulator.pytest_plugin import EmulatorFixture


def _rows(count: int, prefix: str = "c", **extra: Any) -> list[dict[str, Any]]:
    return [{"email": f"{prefix}{i}@example.com", **extra} for i in range(count)]


def _info(api: httpx.Client, batch: str) -> dict[str, Any]:
    response = api.get("import/info", params={"batchId": batch})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_more_than_250_contacts_is_a_validation_400(api: httpx.Client, emulator: EmulatorFixture) -> None:
    response = api.post("import/bulk_import", json={"contacts": _rows(251)})
    assert response.status_code == 400
    body = response.json()
    assert body["success"] == 0
    assert body["message"].startswith("JSON payload did not pass validation.")
    assert "250" in body["failureReasons"][0]
    assert api.post("import/bulk_import", json={"contacts": _rows(250)}).status_code == 200
    assert emulator.state()["counters"]["imports_submitted"] == 1


def test_payload_bytes_are_measured_on_the_raw_body(api: httpx.Client) -> None:
    def payload(pad: int) -> bytes:
        rows = [{"email": "big@example.com", "fields": [{"id": 7, "value": "x" * pad}]}] * 2
        return json.dumps({"contacts": rows}).encode()

    base = len(payload(0))
    pad = (399_999 - base) // 2
    fits = payload(pad) + b" " * (399_999 - len(payload(pad)))  # exactly 399,999 bytes
    assert len(fits) == 399_999
    assert api.post("import/bulk_import", content=fits).status_code == 200
    too_big = fits + b" "  # whitespace counts: the limit is on bytes sent, not on JSON content
    response = api.post("import/bulk_import", content=too_big)
    assert response.status_code == 400
    assert "400000 bytes" in response.json()["failureReasons"][0]


def test_shape_errors_name_the_contact(api: httpx.Client) -> None:
    rows: list[Any] = [
        {"email": "ok@example.com"},
        {"first_name": "no email"},
        {"email": "x@example.com", "fields": [{"id": 1}]},
    ]
    response = api.post("import/bulk_import", json={"contacts": rows})
    assert response.status_code == 400
    reasons = response.json()["failureReasons"]
    assert [r["contact"] for r in reasons] == [1, 2]
    assert api.post("import/bulk_import", content=b"{not json").status_code == 400
    assert api.post("import/bulk_import", json={"contacts": []}).status_code == 400


def test_multi_contact_limit_is_100_per_emulated_minute(api: httpx.Client, emulator: EmulatorFixture) -> None:
    for _ in range(100):
        assert api.post("import/bulk_import", json={"contacts": _rows(2)}).status_code == 200
    limited = api.post("import/bulk_import", json={"contacts": _rows(2)})
    assert limited.status_code == 400
    assert limited.json()["message"] == "Rate limit exceeded."
    assert "retry-after" not in limited.headers  # undocumented for the importer
    single = api.post("import/bulk_import", json={"contacts": _rows(1)})
    assert single.status_code == 200  # separate single-contact budget
    emulator.advance(60)
    assert api.post("import/bulk_import", json={"contacts": _rows(2)}).status_code == 200


def test_single_contact_limit_is_20_per_emulated_minute(api: httpx.Client, emulator: EmulatorFixture) -> None:
    for _ in range(20):
        assert api.post("import/bulk_import", json={"contacts": _rows(1)}).status_code == 200
    limited = api.post("import/bulk_import", json={"contacts": _rows(1)})
    assert limited.status_code == 400
    assert "20" in limited.json()["failureReasons"][0]
    emulator.advance(30)
    assert api.post("import/bulk_import", json={"contacts": _rows(1)}).status_code == 400  # sliding
    emulator.advance(30)
    assert api.post("import/bulk_import", json={"contacts": _rows(1)}).status_code == 200


def test_progress_false_waiting_active_completed(api: httpx.Client, emulator: EmulatorFixture) -> None:
    batch = api.post("import/bulk_import", json={"contacts": _rows(50)}).json()["batchId"]
    assert _info(api, batch) == {"status": False}
    emulator.advance(1.0)
    assert _info(api, batch)["status"] == "waiting"
    emulator.advance(1.4)  # claimed at +2 s, 25 contacts/s
    active = _info(api, batch)
    assert active["status"] == "active"
    assert 5 <= len(active["success"]) <= 15
    # Applied as processed: what the batch reported as done is in the account, and not yet all of
    # it (the emulated clock keeps running between the two reads, so a few more may have landed).
    landed = {contact["id"] for contact in emulator.state()["contacts"]}
    assert set(active["success"]) <= landed
    assert len(landed) < 50
    emulator.advance(2.0)
    done = _info(api, batch)
    assert done["status"] == "completed"
    assert len(done["success"]) == 50
    assert done["failure"] == []


def test_batches_queue_fifo(api: httpx.Client, emulator: EmulatorFixture) -> None:
    first = api.post("import/bulk_import", json={"contacts": _rows(100, "a")}).json()["batchId"]
    second = api.post("import/bulk_import", json={"contacts": _rows(10, "b")}).json()["batchId"]
    emulator.advance(5.0)  # the first batch needs 2 s queue + 4 s processing
    assert _info(api, first)["status"] == "active"
    assert _info(api, second)["status"] == "waiting"
    outstanding = api.get("import/bulk_import").json()["outstanding"]
    assert outstanding[0]["batches"] == "2"
    assert outstanding[0]["contacts"] == "110"
    emulator.advance(2.0)
    assert _info(api, second)["status"] == "completed"
    listing = api.get("import/bulk_import").json()
    assert listing["outstanding"] == []
    assert listing["recentlyCompleted"][0]["batches"] == "2"


def test_per_contact_failures_are_reported_later(api: httpx.Client, emulator: EmulatorFixture) -> None:
    emulator.seed({"contacts": [{"email": "left@example.com", "lists": {"1": 2}}]})
    rows: list[dict[str, Any]] = [
        {"email": "good@example.com", "fields": [{"id": 5, "value": "||Python||Data||"}]},
        {"email": "invalid.email@invalidDomain"},
        {"email": "invalid'character@example.com"},
        {"email": ""},
        {"email": "excluded@example.com"},
        {"email": "bounced@example.com"},
        {"email": "badfield@example.com", "fields": [{"id": 999, "value": "x"}]},
        {"email": "badlist@example.com", "subscribe": [{"listid": 42}]},
        {"email": "left@example.com", "first_name": "Changed", "subscribe": [{"listid": 1}]},
    ]
    batch = api.post("import/bulk_import", json={"contacts": rows}).json()["batchId"]
    emulator.advance(10)
    info = _info(api, batch)
    assert info["status"] == "completed"
    assert len(info["success"]) == 1
    assert info["failure"] == [r["email"] for r in rows[1:]]
    left = emulator.contact("left@example.com")
    assert left is not None
    assert left["lists"]["1"]["status"] == 2  # NOT re-subscribed
    assert left["firstName"] == ""  # the failed contact was not touched at all
    reasons = emulator.state()["imports"][0]["failure_reasons"]
    assert "re-subscribed" in reasons[-1]["reason"]


def test_import_applies_fields_tags_lists_and_automations(
    api: httpx.Client, emulator: EmulatorFixture
) -> None:
    rows = [
        {
            "email": "full@example.com",
            "first_name": "Full",
            "tags": ["New Tag", "VIP"],
            "fields": [{"id": 4, "value": "Pro"}],
            "subscribe": [{"listid": 1}],
            "unsubscribe": [{"listid": 3}],
        },
        {"email": "quiet@example.com", "subscribe": [{"listid": 1}], "exclude_automations": True},
    ]
    batch = api.post("import/bulk_import", json={"contacts": rows}).json()["batchId"]
    emulator.advance(5)
    assert _info(api, batch)["status"] == "completed"
    full = emulator.contact("full@example.com")
    assert full is not None
    assert full["fields_by_perstag"] == {"PLAN": "Pro"}
    assert full["tags"] == ["New Tag", "vip"]  # names match case-insensitively; new ones are created
    assert {k: v["status"] for k, v in full["lists"].items()} == {"1": 1, "3": 2}
    assert [a["automation"] for a in full["automations"]] == ["1"]  # Newsletter starts Welcome series
    quiet = emulator.contact("quiet@example.com")
    assert quiet is not None
    assert quiet["automations"] == []  # exclude_automations, per contact (as documented)
    state = emulator.state()
    assert state["imports"][0]["same_payload_submissions"] == 1
    assert full["import_batches"] == [batch]


def test_resubmitting_a_payload_is_visible(api: httpx.Client, emulator: EmulatorFixture) -> None:
    body = {"contacts": _rows(3)}
    api.post("import/bulk_import", json=body)
    api.post("import/bulk_import", json=body)
    emulator.advance(10)
    state = emulator.state()
    assert [b["same_payload_submissions"] for b in state["imports"]] == [2, 2]
    assert all(c["counters"]["import_rows"] == 2 for c in state["contacts"])


def test_unknown_batch_is_404(api: httpx.Client) -> None:
    response = api.get("import/info", params={"batchId": "nope"})
    assert response.status_code == 404


def test_a_batch_held_until_its_first_poll_starts_only_after_it(
    api: httpx.Client, emulator: EmulatorFixture
) -> None:
    from activecampaign_emulator.seed import default_seed

    seed = default_seed()
    seed["importer"] = {**seed["importer"], "queue_delay_seconds": 2, "start_after_first_poll": True}
    emulator.reset(seed)
    batch = api.post("import/bulk_import", json={"contacts": _rows(3)}).json()["batchId"]
    emulator.advance(3_600)  # an hour later, nobody has asked: still queued, nothing applied
    [held] = emulator.state()["imports"]
    assert (held["status"], held["start"], held["processed"]) == ("waiting", None, 0)
    assert _info(api, batch)["status"] == "waiting"  # the first poll releases it...
    [released] = emulator.state()["imports"]
    assert released["start"] is not None  # ...to start 2 s from now
    assert released["status"] == "waiting"
    emulator.advance(60)
    info = _info(api, batch)
    assert (info["status"], len(info["success"])) == ("completed", 3)
