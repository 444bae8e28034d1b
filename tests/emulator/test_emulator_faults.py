"""Fault injection: every kind, before vs after (the ambiguous write), matching, probability."""

from __future__ import annotations

import time

import httpx
import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture

SYNC = "/api/3/contact/sync"
BODY = {"contact": {"email": "f@example.com"}}


def _contacts(emulator: EmulatorFixture) -> int:
    return len(emulator.state()["contacts"])


@pytest.mark.parametrize(("kind", "status"), [("http_500", 500), ("http_502", 502), ("http_503", 503)])
def test_json_errors_before_do_not_apply(
    api: httpx.Client, emulator: EmulatorFixture, kind: str, status: int
) -> None:
    emulator.add_fault("POST", SYNC, kind)
    failed = api.post("contact/sync", json=BODY)
    assert failed.status_code == status
    assert failed.headers["content-type"] == "application/json"
    assert "message" in failed.json()
    assert _contacts(emulator) == 0
    assert api.post("contact/sync", json=BODY).status_code == 201  # times=1: next one is normal


@pytest.mark.parametrize("kind", ["http_500", "http_502", "http_503", "html_502"])
def test_errors_after_apply_the_write(api: httpx.Client, emulator: EmulatorFixture, kind: str) -> None:
    emulator.add_fault("POST", SYNC, kind, when="after")
    assert api.post("contact/sync", json=BODY).status_code >= 500
    assert _contacts(emulator) == 1  # the ambiguous write: applied, yet reported as failed


def test_html_502_page(api: httpx.Client, emulator: EmulatorFixture) -> None:
    emulator.add_fault("GET", "/api/3/users/me", "html_502")
    response = api.get("users/me")
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>502 Bad Gateway</h1>" in response.text


def test_injected_429_carries_retry_after(api: httpx.Client, emulator: EmulatorFixture) -> None:
    emulator.add_fault("POST", SYNC, "http_429", retry_after=7)
    response = api.post("contact/sync", json=BODY)
    assert (response.status_code, response.headers["retry-after"]) == (429, "7")
    assert _contacts(emulator) == 0


def test_drop_before_closes_without_response_and_applies_nothing(
    api: httpx.Client, emulator: EmulatorFixture
) -> None:
    emulator.add_fault("POST", SYNC, "drop")
    with pytest.raises(httpx.RemoteProtocolError):
        api.post("contact/sync", json=BODY)
    assert _contacts(emulator) == 0
    assert api.get("users/me").status_code == 200  # the server is fine; the client reconnects


def test_drop_after_applies_then_closes(api: httpx.Client, emulator: EmulatorFixture) -> None:
    emulator.add_fault("POST", SYNC, "drop", when="after")
    with pytest.raises(httpx.RemoteProtocolError):
        api.post("contact/sync", json=BODY)
    assert _contacts(emulator) == 1
    log = emulator.requests()
    assert log["counts"] == {"POST /api/3/contact/sync none": 1}
    assert log["requests"][0]["fault"] == "drop"


def test_slow_answers_normally_after_the_delay(api: httpx.Client, emulator: EmulatorFixture) -> None:
    emulator.add_fault("GET", "/api/3/users/me", "slow", delay=0.3)
    start = time.monotonic()
    assert api.get("users/me").status_code == 200
    assert time.monotonic() - start >= 0.3


def test_slow_before_with_client_timeout_never_applies(api: httpx.Client, emulator: EmulatorFixture) -> None:
    emulator.add_fault("POST", SYNC, "slow", delay=0.5)
    with pytest.raises(httpx.ReadTimeout):
        api.post("contact/sync", json=BODY, timeout=0.1)
    time.sleep(0.6)
    assert _contacts(emulator) == 0
    assert emulator.requests()["requests"][0]["note"] == "client_disconnected"


def test_slow_after_with_client_timeout_is_an_ambiguous_write(
    api: httpx.Client, emulator: EmulatorFixture
) -> None:
    emulator.add_fault("POST", SYNC, "slow", delay=0.5, when="after")
    with pytest.raises(httpx.ReadTimeout):
        api.post("contact/sync", json=BODY, timeout=0.1)
    assert _contacts(emulator) == 1


def test_late_applies_the_write_after_the_client_timed_out(
    api: httpx.Client, emulator: EmulatorFixture
) -> None:
    emulator.add_fault("POST", SYNC, "late", delay=0.6)
    with pytest.raises(httpx.ReadTimeout):
        api.post("contact/sync", json=BODY, timeout=0.1)
    assert _contacts(emulator) == 0  # the client gave up; nothing applied yet
    deadline = time.monotonic() + 10
    while _contacts(emulator) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _contacts(emulator) == 1  # applied about half a second after the timeout
    # (filtered: an earlier test's held request may finish into this test's log after the reset)
    (entry,) = [e for e in emulator.requests()["requests"] if e["fault"] == "late"]
    assert (entry["status"], entry["note"], entry["fault"]) == (201, "applied_late", "late")


def test_late_answers_a_client_that_waits(api: httpx.Client, emulator: EmulatorFixture) -> None:
    emulator.add_fault("POST", SYNC, "late", delay=0.2)
    assert api.post("contact/sync", json=BODY, timeout=5).status_code == 201
    assert _contacts(emulator) == 1


def test_times_and_template_matching(api: httpx.Client, emulator: EmulatorFixture) -> None:
    emulator.add_fault("GET", "/api/3/contacts/{id}", "http_503", times=2)
    assert [api.get(f"contacts/{i}").status_code for i in (1, 2, 3)] == [503, 503, 404]
    assert api.get("contacts").status_code == 200  # the collection path is a different template
    rule = emulator.client.faults()[0]
    assert (rule["fired"], rule["exhausted"]) == (2, True)


def test_prefix_and_any_method(api: httpx.Client, emulator: EmulatorFixture) -> None:
    emulator.add_fault("*", "/api/3/contact*", "http_500", times=3)
    statuses = [
        api.get("contacts").status_code,
        api.post("contact/sync", json=BODY).status_code,
        api.post("contactTags", json={}).status_code,
        api.get("users/me").status_code,
    ]
    assert statuses == [500, 500, 500, 200]


def test_concrete_path_and_method_must_match(api: httpx.Client, emulator: EmulatorFixture) -> None:
    emulator.add_fault("DELETE", "/api/3/contacts/5", "http_500")
    assert api.get("contacts/5").status_code == 404
    assert api.delete("contacts/4").status_code == 404
    assert api.delete("contacts/5").status_code == 500


def test_probability_is_reproducible(api: httpx.Client, emulator: EmulatorFixture) -> None:
    def run() -> list[int]:
        emulator.clear_faults()
        emulator.add_fault("GET", "/api/3/users/me", "http_503", probability=0.3, seed=42)
        return [api.get("users/me").status_code for _ in range(40)]

    first, second = run(), run()
    assert first == second
    assert 3 <= first.count(503) <= 25


def test_fault_rules_are_validated(emulator: EmulatorFixture) -> None:
    for bad in (
        {"kind": "explode", "path": SYNC},
        {"kind": "drop", "path": "contact/sync"},
        {"kind": "drop", "path": SYNC, "when": "later"},
    ):
        response = httpx.post(f"{emulator.url}/_emulator/faults", json=bad)
        assert response.status_code == 400


def test_faults_do_not_touch_control_routes(emulator: EmulatorFixture) -> None:
    emulator.add_fault("*", "/*", "http_500", probability=1.0)
    assert emulator.client.state()["contacts"] == []
    emulator.clear_faults()
    assert emulator.client.faults() == []


def test_a_late_write_held_across_a_reset_is_neither_applied_nor_logged(emulator: EmulatorFixture) -> None:
    """A reset starts a new world: a write still held by a ``late`` fault belongs to the old one."""
    emulator.configure(rate_limit=False)
    emulator.add_fault("POST", "/api/3/tags", "late", delay=1.0, times=1)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{emulator.url}/api/3/tags",
            headers={"Api-Token": emulator.api_key},
            json={"tag": {"tag": "from-the-old-world", "tagType": "contact"}},
            timeout=0.2,
        )
    emulator.reset()
    time.sleep(1.5)
    assert "from-the-old-world" not in {t["tag"] for t in emulator.state()["tags"]}
    assert emulator.requests()["counts"] == {}
