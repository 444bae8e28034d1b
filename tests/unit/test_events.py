"""Event tracking: no API key to the tracking host, the event key masked, resent only if not recorded."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
from airflow.sdk.log import redact
from pytest_mock import MockerFixture

from airflow_provider_activecampaign.events.tracking import (
    ActiveCampaignEventTrackingDisabledError,
    EventTracker,
    build_event,
)
from airflow_provider_activecampaign.exceptions import (
    ActiveCampaignAmbiguousWriteError,
    ActiveCampaignConfigError,
    ActiveCampaignValidationError,
)
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.hooks.transport import (
    DEFAULT_EVENT_TRACKING_URL,
    TransportSettings,
    prepare_tracking_call,
)
from airflow_provider_activecampaign.records.failures import RecordRejected
from tests.helpers.fakes import API_KEY, connection_json, response

BASE = "https://acct.api-us1.com"
CONN_ID = "ac_events"


@pytest.fixture
def event_key(monkeypatch: pytest.MonkeyPatch) -> str:
    key = secrets.token_hex(20)
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}",
        connection_json(
            BASE,
            requests_per_second=1000,
            event_tracking_actid="650123456",
            event_tracking_secret=key,
        ),
    )
    return key


@pytest.fixture
def sent(mocker: MockerFixture) -> list[requests.PreparedRequest]:
    """Every request as it leaves requests (after the session's headers are merged in)."""
    mocker.patch.object(time, "sleep")
    return []


def _adapter(
    mocker: MockerFixture, sent: list[requests.PreparedRequest], *answers: requests.Response
) -> None:
    queue = list(answers)

    def send(self: Any, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        sent.append(request)
        answer = queue.pop(0)
        answer.request = request
        return answer

    mocker.patch.object(requests.adapters.HTTPAdapter, "send", send)


def _settings(**extra: Any) -> TransportSettings:
    return TransportSettings.from_connection_fields(
        host=BASE, port=None, password=API_KEY, extra=extra, defaults={}
    )


def test_tracking_extras_are_read_and_the_event_key_stays_out_of_the_repr() -> None:
    settings = _settings(event_tracking_actid=" 65 ", event_tracking_secret="s3cr3t-event-key")
    assert (settings.event_tracking_actid, settings.event_tracking_url) == ("65", DEFAULT_EVENT_TRACKING_URL)
    assert "s3cr3t-event-key" not in repr(settings)
    assert _settings(event_tracking_url="http://127.0.0.1:9/event").event_tracking_url.endswith(":9/event")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://trackcmp.net/event", "not HTTPS"),
        ("https://trackcmp.net/event?key=x", "query string"),
        ("ftp://trackcmp.net/event", "not an http"),
    ],
)
def test_bad_tracking_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(ActiveCampaignConfigError, match=message):
        _settings(event_tracking_url=url)


def test_a_tracking_call_without_the_extras_says_which_are_missing() -> None:
    with pytest.raises(
        ActiveCampaignConfigError, match="no event_tracking_actid and no event_tracking_secret"
    ):
        prepare_tracking_call(_settings(), {"event": "x"})


def test_the_tracking_call_removes_the_api_key_and_scrubs_the_event_key() -> None:
    call = prepare_tracking_call(
        _settings(event_tracking_actid="65", event_tracking_secret="s3cr3t-event-key"), {"event": "paid"}
    )
    assert call.url == DEFAULT_EVENT_TRACKING_URL
    assert call.headers == {"Api-Token": None}
    assert call.form == {"actid": "65", "key": "s3cr3t-event-key", "event": "paid"}
    assert not call.idempotent
    assert "s3cr3t-event-key" not in (call.display_body or "")
    assert "s3cr3t-event-key" not in call.display_url


def test_the_event_key_is_masked_when_the_hook_reads_the_connection(event_key: str) -> None:
    assert redact(f"k={event_key}") == f"k={event_key}"  # not masked yet: the test can fail
    ActiveCampaignHook(activecampaign_conn_id=CONN_ID).settings  # noqa: B018
    assert redact(f"k={event_key}") == "k=***"
    # Airflow's API and UI hide the extra by its name, too.
    assert redact({"event_tracking_secret": "anything"}) == {"event_tracking_secret": "***"}


def test_an_event_goes_to_the_tracking_host_without_the_api_key(
    event_key: str, mocker: MockerFixture, sent: list[requests.PreparedRequest]
) -> None:
    _adapter(mocker, sent, response(200, {"success": 1, "message": "Event spawned"}))
    hook = ActiveCampaignHook(activecampaign_conn_id=CONN_ID)
    event = build_event({"email": "Ann@Example.com", "event": "invoice_paid", "eventdata": {"amount": 12}})

    answer = hook.track_event(event.form())

    assert answer["success"] == 1
    (request,) = sent
    assert request.url == DEFAULT_EVENT_TRACKING_URL
    assert "Api-Token" not in request.headers
    assert API_KEY not in str(request.headers)
    assert API_KEY not in str(request.body)
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = parse_qs(str(request.body))
    assert form["actid"] == ["650123456"]
    assert form["key"] == [event_key]
    assert form["event"] == ["invoice_paid"]
    assert json.loads(form["visit"][0]) == {"email": "Ann@Example.com"}
    assert json.loads(form["eventdata"][0]) == {"amount": 12}


def test_a_throttled_event_is_retried_and_a_lost_answer_is_not(
    event_key: str, mocker: MockerFixture, sent: list[requests.PreparedRequest]
) -> None:
    _adapter(
        mocker,
        sent,
        response(429, {"message": "Too Many Requests"}, headers={"Retry-After": "0"}),
        response(200, {"success": 1}),
        response(500, {"message": "boom"}),
    )
    hook = ActiveCampaignHook(activecampaign_conn_id=CONN_ID)
    form = build_event({"email": "a@example.com", "event": "x"}).form()
    assert hook.track_event(form)["success"] == 1
    assert len(sent) == 2  # the 429 was not recorded: resent
    with pytest.raises(ActiveCampaignAmbiguousWriteError) as caught:
        hook.track_event(form)
    assert len(sent) == 3  # the 500 may have been recorded: not resent
    assert event_key not in str(caught.value)
    assert API_KEY not in str(caught.value)


class _Hook:
    """The API side an EventTracker reads: the settings and GET /eventTracking, /eventTrackingEvents."""

    def __init__(self, enabled: Any, actid: str = "65", secret: str = "k") -> None:
        self.settings = _settings(event_tracking_actid=actid, event_tracking_secret=secret)
        self.enabled = enabled
        self.activecampaign_conn_id = "conn"
        self.tracked: list[dict[str, str]] = []
        self.created: list[str] = []

    def get(self, endpoint: str, params: Any = None) -> Any:
        assert endpoint == "eventTracking"
        return {"eventTracking": {"enabled": self.enabled}}

    def paginate(self, endpoint: str, *, key: str, params: Any = None) -> Any:
        return iter([{"name": "trial_started"}, *({"name": n} for n in self.created)])

    def post(self, endpoint: str, json: Any = None, **_: Any) -> Any:
        self.created.append(json["eventTrackingEvent"]["name"])
        return json

    def track_event(self, form: dict[str, str]) -> Any:
        self.tracked.append(form)
        return {"success": 1}


@pytest.mark.parametrize("enabled", [False, None, "0"])
def test_tracking_switched_off_is_refused_before_anything_is_sent(enabled: Any) -> None:
    hook = _Hook(enabled)
    with pytest.raises(ActiveCampaignEventTrackingDisabledError, match="none was sent"):
        EventTracker(hook).check_enabled()  # type: ignore[arg-type]
    assert hook.tracked == []


def test_missing_tracking_extras_are_refused_before_reading_the_account() -> None:
    hook = _Hook(True, secret="")
    with pytest.raises(
        ActiveCampaignConfigError, match="no event_tracking_secret extra, so no event was sent"
    ):
        EventTracker(hook).check_enabled()  # type: ignore[arg-type]


def test_a_missing_event_name_is_created_once() -> None:
    hook = _Hook(True)
    tracker = EventTracker(hook)  # type: ignore[arg-type]
    tracker.check_enabled()
    for _ in range(3):
        tracker.ensure_name("invoice_paid")
    tracker.ensure_name("Trial_Started")
    assert hook.created == ["invoice_paid"]
    with pytest.raises(RecordRejected, match="not an event of this account"):
        EventTracker(hook, create_events=False).ensure_name("churned")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("record", "field", "reason"),
    [
        ({"email": "not-an-email", "event": "x"}, "email", "not a valid email"),
        ({"email": "a@example.com"}, "event", "no event name"),
        ({"email": "a@example.com", "event": "x" * 33}, "event", "at most 32"),
    ],
)
def test_bad_events_are_rejected_before_sending(record: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(RecordRejected, match=reason) as caught:
        build_event(record)
    assert caught.value.field == field


def test_the_operator_event_name_applies_when_the_record_has_none() -> None:
    event = build_event({"email": " a@example.com ", "eventdata": "plain text"}, event="signed_up")
    assert event.form() == {
        "event": "signed_up",
        "visit": '{"email": "a@example.com"}',
        "eventdata": "plain text",
    }


def test_the_connection_form_hides_the_event_key() -> None:
    from airflow_provider_activecampaign.get_provider_info import get_provider_info

    fields = get_provider_info()["connection-types"][0]["conn-fields"]
    assert fields["event_tracking_secret"]["schema"]["format"] == "password"  # a password widget
    assert fields["event_tracking_actid"]["schema"]["type"] == ["string", "null"]
    assert fields["event_tracking_url"]["schema"]["default"] == DEFAULT_EVENT_TRACKING_URL


@pytest.mark.parametrize("duplicate_answer", ["422", "201"])
def test_a_name_created_meanwhile_ends_the_same_whether_a_duplicate_is_refused_or_accepted(
    duplicate_answer: str,
) -> None:
    """What ``POST /eventTrackingEvents`` answers for an existing name is undocumented (the emulator
    assumes 422 ``duplicate``). Created by someone else after the tracker read the names, the name
    is there either way: the event goes on, no error, the name created at most once."""
    hook = _Hook(True)
    tracker = EventTracker(hook)  # type: ignore[arg-type]
    tracker.ensure_name("trial_started")  # reads the names once
    hook.created.append("invoice_paid")  # another tool creates it now

    def post(endpoint: str, json: Any = None, **_: Any) -> Any:
        if duplicate_answer == "422":
            raise ActiveCampaignValidationError("ActiveCampaign rejected POST: duplicate", status=422)
        return json  # accepted, nothing new

    hook.post = post  # type: ignore[method-assign]
    tracker.ensure_name("invoice_paid")
    tracker.ensure_name("invoice_paid")
    assert hook.created == ["invoice_paid"]
    assert tracker.tally.created_event_names == (0 if duplicate_answer == "422" else 1)
