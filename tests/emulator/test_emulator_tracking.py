"""Event tracking (v3 switch, event names, the trackcmp ``/event`` endpoint) and the opt-in
monthly contact-delete limit."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
from activecampaign_emulator.pytest_plugin import EmulatorFixture

Check = Callable[[httpx.Response, str], dict[str, Any]]


def _track(emulator: EmulatorFixture, **fields: str) -> httpx.Response:
    tracking = emulator.event_tracking()
    form = {
        "actid": tracking["actid"],
        "key": tracking["key"],
        "event": "trial_started",
        "eventdata": "plan=pro",
        "visit": json.dumps({"email": "Trial@Example.com"}),
        **fields,
    }
    return httpx.post(emulator.event_url, data=form, timeout=10)


def test_switch_and_event_names_match_the_examples(api: httpx.Client, check_example: Check) -> None:
    assert check_example(api.get("eventTracking"), "event_tracking_get") == {
        "eventTracking": {"enabled": False}
    }
    on = check_example(
        api.put("eventTracking", json={"eventTracking": {"enabled": True}}), "event_tracking_put"
    )
    assert on == {"eventTracking": {"enabled": True}}
    assert api.get("eventTracking").json() == {"eventTracking": {"enabled": True}}
    assert api.put("eventTracking", json={"eventTracking": {}}).status_code == 400
    listed = check_example(api.get("eventTrackingEvents"), "event_tracking_events_list")
    assert listed == {
        "eventTrackingEvents": [{"name": "trial_started"}, {"name": "invoice_paid"}],
        "meta": {"total": 2},
    }
    created = check_example(
        api.post("eventTrackingEvents", json={"eventTrackingEvent": {"name": "my new fab event"}}),
        "event_tracking_event_create",
    )
    assert created == {"eventTrackingEvent": {"name": "my new fab event"}}
    assert (
        api.post("eventTrackingEvents", json={"eventTrackingEvent": {"name": "my new fab event"}}).status_code
        == 422
    )
    assert api.post("eventTrackingEvents", json={"eventTrackingEvent": {"name": "x" * 33}}).status_code == 422
    assert api.delete("eventTrackingEvents/my%20new%20fab%20event").json() == {}
    assert [e["name"] for e in api.get("eventTrackingEvents").json()["eventTrackingEvents"]] == [
        "trial_started",
        "invoice_paid",
    ]


def test_events_are_recorded_once_each_when_tracking_is_on(
    emulator: EmulatorFixture, api: httpx.Client
) -> None:
    emulator.set_event_tracking(True)
    cid = api.post("contact/sync", json={"contact": {"email": "trial@example.com"}}).json()["contact"]["id"]
    answers = [_track(emulator, eventdata=f"n={n}") for n in range(5)]
    assert {a.status_code for a in answers} == {200}
    assert [a.json() for a in answers] == [{"success": 1, "message": "Event spawned"}] * 5
    tracking = emulator.event_tracking()
    assert (tracking["saved"], tracking["dropped"]) == (5, 0)
    assert [e["eventdata"] for e in tracking["events"]] == [f"n={n}" for n in range(5)]
    assert {(e["email"], e["contact"], e["saved"]) for e in tracking["events"]} == {
        ("trial@example.com", cid, True)
    }
    assert emulator.state()["event_tracking"]["saved"] == 5
    _track(emulator, event="brand_new_event")
    assert "brand_new_event" in emulator.event_tracking()["event_names"]
    # /event is another host in real life: no Api-Token needed, not counted against 5 req/s
    assert emulator.requests()["requests"][-1]["path"] == "/event"


def test_disabled_tracking_answers_success_but_saves_nothing(emulator: EmulatorFixture) -> None:
    """V1:track_event_add: events sent while tracking is off are dropped though the call succeeds."""
    answer = _track(emulator)
    assert answer.json() == {"success": 1, "message": "Event spawned"}
    tracking = emulator.event_tracking()
    assert (tracking["enabled"], tracking["saved"], tracking["dropped"]) == (False, 0, 1)
    assert tracking["events"][0]["saved"] is False


def test_bad_credentials_and_input_are_refused_in_the_body(emulator: EmulatorFixture) -> None:
    emulator.set_event_tracking(True)
    missing = _track(emulator, actid="")
    assert (missing.status_code, missing.json()) == (
        200,
        {"success": 0, "message": "An account ID must be provided."},
    )
    for fields in ({"key": "wrong"}, {"actid": "1"}, {"event": ""}, {"event": "e" * 33}, {"visit": "{}"}):
        answer = _track(emulator, **fields)
        assert answer.status_code == 200
        assert answer.json()["success"] == 0, fields
    assert emulator.event_tracking()["events"] == []
    query_style = httpx.post(
        emulator.event_url,
        params={
            "actid": emulator.event_tracking()["actid"],
            "key": emulator.event_tracking()["key"],
            "event": "by_query",
            "visit": json.dumps({"email": "q@example.com"}),
        },
        timeout=10,
    )
    assert query_style.json()["success"] == 1  # reported: URL params work too


def test_contact_delete_limit_is_opt_in_and_monthly(
    emulator: EmulatorFixture, api: httpx.Client, check_example: Check
) -> None:
    ids = [
        api.post("contact/sync", json={"contact": {"email": f"d{n}@example.com"}}).json()["contact"]["id"]
        for n in range(4)
    ]
    check_example(api.delete(f"contacts/{ids[0]}"), "contact_delete")
    emulator.set_contact_delete_limit(2)  # the deletion above counts towards this month's limit
    assert api.delete(f"contacts/{ids[1]}").status_code == 200
    refused = api.delete(f"contacts/{ids[2]}")
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["code"] == "delete_limit_reached"
    assert api.get(f"contacts/{ids[2]}").status_code == 200  # refused means not deleted
    assert emulator.state()["contact_deletion"] == {"monthly_limit": 2, "deleted_this_month": 2}
    emulator.advance(32 * 86_400)  # a new month: the allowance is back
    assert api.delete(f"contacts/{ids[2]}").status_code == 200
    emulator.set_contact_delete_limit(None)
    assert api.delete(f"contacts/{ids[3]}").status_code == 200
