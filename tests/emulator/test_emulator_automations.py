"""Automations: enrolment progress on the emulated clock, duplicates, quirky error statuses."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from activecampaign_emulator.pytest_plugin import EmulatorFixture


def _contact(api: httpx.Client, email: str = "a@example.com") -> str:
    cid: str = api.post("contact/sync", json={"contact": {"email": email}}).json()["contact"]["id"]
    return cid


def _enrol(api: httpx.Client, contact: str, automation: str) -> httpx.Response:
    return api.post(
        "contactAutomations", json={"contactAutomation": {"contact": contact, "automation": automation}}
    )


def _get(api: httpx.Client, eid: str) -> dict[str, Any]:
    body: dict[str, Any] = api.get(f"contactAutomations/{eid}").json()["contactAutomation"]
    return body


def test_enrolment_progresses_then_completes(api: httpx.Client, emulator: EmulatorFixture) -> None:
    cid = _contact(api)
    created = _enrol(api, cid, "2").json()["contactAutomation"]  # Re-engagement: 3600 s
    assert (created["status"], created["completed"]) == (1, 0)
    emulator.advance(1800)
    half = _get(api, created["id"])
    assert (half["status"], half["completed"], half["remdate"]) == ("1", 0, None)
    assert 49 <= half["completeValue"] <= 51
    emulator.advance(1800)
    done = _get(api, created["id"])
    assert (done["status"], done["completed"], done["completeValue"]) == ("2", 1, 100)
    assert done["remdate"] is not None
    assert done["timespan"] == "3600"
    automation = api.get("automations/2").json()["automation"]
    assert (automation["entered"], automation["exited"]) == ("1", "1")


def test_fast_clock_completes_without_advance(api: httpx.Client, emulator: EmulatorFixture) -> None:
    emulator.configure(speed=3000)  # the 300 s Welcome series takes 0.1 real seconds
    cid = _contact(api)
    eid = _enrol(api, cid, "1").json()["contactAutomation"]["id"]
    deadline = time.monotonic() + 5
    while _get(api, eid)["status"] != "2":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert json.loads(emulator.connection_json())["extra"]["requests_per_second"] == 15000


def test_adding_twice_creates_a_second_enrolment(api: httpx.Client, emulator: EmulatorFixture) -> None:
    cid = _contact(api)
    first = _enrol(api, cid, "1").json()["contactAutomation"]["id"]
    second = _enrol(api, cid, "1").json()["contactAutomation"]["id"]
    assert first != second
    rows = api.get(f"contacts/{cid}/contactAutomations").json()["contactAutomations"]
    assert len(rows) == 2
    state = emulator.state()
    assert state["enrolment_counts"] == {f"{cid}:1": 2}
    assert emulator.contact("a@example.com")["counters"]["enrolments"] == 2  # type: ignore[index]


def test_refusals_are_403_could_not_create(api: httpx.Client) -> None:
    cid = _contact(api)
    for body in (
        {"contactAutomation": {"contact": cid, "automation": "99"}},
        {"contactAutomation": {"contact": "99", "automation": "1"}},
        {"contactAutomation": {"contact": cid}},
        {"nothing": True},
    ):
        response = api.post("contactAutomations", json=body)
        assert (response.status_code, response.json()) == (
            403,
            {"message": "Could not create SubscriberSeries"},
        )


def test_remove_then_missing_is_403_on_delete_and_404_on_get(
    api: httpx.Client, emulator: EmulatorFixture
) -> None:
    cid = _contact(api)
    eid = _enrol(api, cid, "2").json()["contactAutomation"]["id"]
    assert api.delete(f"contactAutomations/{eid}").json() == {}
    assert api.get(f"contactAutomations/{eid}").status_code == 404
    assert api.delete(f"contactAutomations/{eid}").status_code == 403
    assert api.get(f"contacts/{cid}/contactAutomations").json()["contactAutomations"] == []
    assert emulator.state()["enrolments"][0]["status"] == "removed"


def test_subscribe_trigger_respects_multientry(api: httpx.Client, emulator: EmulatorFixture) -> None:
    cid = _contact(api)
    for status in (1, 2, 1):  # subscribe, unsubscribe, re-subscribe while still running
        api.post("contactLists", json={"contactList": {"list": 1, "contact": cid, "status": status}})
    enrolments = emulator.state()["enrolments"]
    assert len(enrolments) == 1  # Welcome series has multientry off
    assert enrolments[0]["source"] == "api:subscribe"


def test_list_endpoint_paginates_and_counts(api: httpx.Client) -> None:
    for i in range(3):
        _enrol(api, _contact(api, f"p{i}@example.com"), "2")
    body = api.get("contactAutomations", params={"limit": 2}).json()
    assert body["meta"]["total"] == "3"
    assert len(body["contactAutomations"]) == 2


def test_automation_list_meta_starts(api: httpx.Client) -> None:
    body = api.get("automations").json()
    assert body["meta"]["starts"] == [{"id": "1", "series": "1", "type": "subscribe"}]
    assert [a["multientry"] for a in body["automations"]] == ["0", "1", "0"]
    assert api.get("automations/42").status_code == 404


def test_an_enrolment_held_until_its_first_read_by_id_completes_only_after_it(
    api: httpx.Client, emulator: EmulatorFixture
) -> None:
    """The emulator control ``complete_after_first_poll`` (not an ActiveCampaign behaviour): only
    ``GET /contactAutomations/{id}``, the read every waiter polls with, starts the clock; the reads
    an enrolling client makes (by contact, the list, the contact's sideload) do not."""
    from activecampaign_emulator.seed import default_seed

    seed = default_seed()
    re_engagement = next(a for a in seed["automations"] if str(a["id"]) == "2")  # 3600 s
    re_engagement["complete_after_first_poll"] = True
    emulator.reset(seed)
    cid = _contact(api)
    eid = _enrol(api, cid, "2").json()["contactAutomation"]["id"]
    emulator.advance(86_400)  # a day later, no waiter has asked: still at the start
    [by_contact] = api.get(f"contacts/{cid}/contactAutomations").json()["contactAutomations"]
    [listed] = api.get("contactAutomations").json()["contactAutomations"]
    [sideloaded] = api.get(f"contacts/{cid}").json()["contactAutomations"]
    for row in (by_contact, listed, sideloaded):
        assert (row["status"], row["completed"], row["completeValue"], row["remdate"]) == ("1", 0, 0, None)
    [held] = emulator.state()["enrolments"]
    assert (held["status"], held["complete_at"]) == ("active", None)

    first = _get(api, eid)  # the first read by id releases it...
    assert (first["status"], first["completed"], first["completeValue"]) == ("1", 0, 0)
    [released] = emulator.state()["enrolments"]
    assert released["complete_at"] is not None  # ...to run its 3600 s from now
    emulator.advance(1_800)
    half = _get(api, eid)  # progress counts from the release
    assert (half["status"], 49 <= half["completeValue"] <= 51) == ("1", True)
    emulator.advance(1_790)
    assert _get(api, eid)["status"] == "1"
    emulator.advance(20)
    done = _get(api, eid)
    assert (done["status"], done["completed"], done["completeValue"]) == ("2", 1, 100)


def test_an_automation_without_the_control_is_not_held(api: httpx.Client, emulator: EmulatorFixture) -> None:
    """``complete_after_first_poll`` is per automation: the others run from the enrolment on."""
    from activecampaign_emulator.seed import default_seed

    seed = default_seed()
    next(a for a in seed["automations"] if str(a["id"]) == "2")["complete_after_first_poll"] = True
    emulator.reset(seed)
    cid = _contact(api)
    welcome = _enrol(api, cid, "1").json()["contactAutomation"]["id"]  # 300 s, not held
    emulator.advance(301)
    assert _get(api, welcome)["status"] == "2"
    automations = {a["id"]: a["complete_after_first_poll"] for a in emulator.state()["automations"]}
    assert (automations["1"], automations["2"]) == (False, True)


def test_complete_after_first_poll_must_be_a_boolean(emulator: EmulatorFixture) -> None:
    bad = {"automations": [{"name": "Held", "complete_after_first_poll": "yes"}]}
    response = httpx.post(f"{emulator.url}/_emulator/seed", json=bad)
    assert response.status_code == 400
    assert "complete_after_first_poll must be true or false" in response.text
