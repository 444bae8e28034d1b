"""Unit tests of campaigns_api: the send-time rule (DST included), statuses, reports, calls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pendulum
import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_activecampaign.campaigns import api
from airflow_provider_activecampaign.exceptions import ActiveCampaignError, ActiveCampaignValidationError
from airflow_provider_activecampaign.links import app_base_url, campaign_app_url

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


# -- send time ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "zone", "sdate"),
    [
        # New York springs forward at 02:00 on 2025-03-09: the offset changes from -05:00 to -04:00.
        ("2025-03-09T06:59:00+00:00", "America/New_York", "2025-03-09 01:59:00"),
        ("2025-03-09T07:00:00+00:00", "America/New_York", "2025-03-09 03:00:00"),
        ("2025-03-09T12:00:00+00:00", "America/New_York", "2025-03-09 08:00:00"),
        ("2025-03-08T12:00:00+00:00", "America/New_York", "2025-03-08 07:00:00"),
        # Berlin's changes fall on other dates than New York's.
        ("2025-03-30T08:00:00+00:00", "Europe/Berlin", "2025-03-30 10:00:00"),
        ("2025-03-29T08:00:00+00:00", "Europe/Berlin", "2025-03-29 09:00:00"),
        ("2025-03-09T12:00:00+00:00", "Europe/Berlin", "2025-03-09 13:00:00"),
        # Southern hemisphere: Sydney leaves DST in April.
        ("2025-04-06T00:00:00+00:00", "Australia/Sydney", "2025-04-06 10:00:00"),
        ("2025-04-05T00:00:00+00:00", "Australia/Sydney", "2025-04-05 11:00:00"),
        ("2025-03-09T12:00:00+00:00", "UTC", "2025-03-09 12:00:00"),
    ],
)
def test_account_wall_time_follows_the_zone_at_the_send_instant(moment: str, zone: str, sdate: str) -> None:
    text, warning = api.account_wall_time(datetime.fromisoformat(moment), api.resolve_timezone(zone))
    assert text == sdate
    assert warning is None


def test_a_repeated_wall_time_warns() -> None:
    # 05:30Z and 06:30Z on 2025-11-02 are both 01:30 in New York.
    zone = api.resolve_timezone("America/New_York")
    for moment in ("2025-11-02T05:30:00+00:00", "2025-11-02T06:30:00+00:00"):
        text, warning = api.account_wall_time(datetime.fromisoformat(moment), zone)
        assert text == "2025-11-02 01:30:00"
        assert warning is not None
        assert "occurs twice" in warning


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-03-09T08:00:00-04:00", "2025-03-09T12:00:00+00:00"),
        ("2025-03-09T12:00:00Z", "2025-03-09T12:00:00+00:00"),
        (datetime(2025, 3, 9, 8, tzinfo=timezone(timedelta(hours=-4))), "2025-03-09T12:00:00+00:00"),
        (pendulum.datetime(2025, 3, 9, 8, tz="America/New_York"), "2025-03-09T12:00:00+00:00"),
        (None, NOW.isoformat()),
        ("", NOW.isoformat()),
        ("None", NOW.isoformat()),
    ],
)
def test_parse_send_at(value: Any, expected: str) -> None:
    assert api.parse_send_at(value, now=NOW).isoformat() == expected


@pytest.mark.parametrize("value", ["2025-03-09 08:00", datetime(2025, 3, 9, 8), "next tuesday", 12])
def test_parse_send_at_refuses_naive_or_unparseable_values(value: Any) -> None:
    with pytest.raises(api.ActiveCampaignCampaignError) as caught:
        api.parse_send_at(value, now=NOW)
    assert isinstance(caught.value, AirflowFailException)  # bad input: no retry


def test_resolve_timezone() -> None:
    assert str(api.resolve_timezone(None)) == "UTC"
    assert str(api.resolve_timezone("  ")) == "UTC"
    with pytest.raises(api.ActiveCampaignCampaignError, match="not a timezone name"):
        api.resolve_timezone("Eastern Time")


def test_timezone_disagreement_compares_at_the_stamp_instant() -> None:
    new_york = api.resolve_timezone("America/New_York")
    assert api.timezone_disagreement("2025-01-15T10:00:00-05:00", new_york) is None
    assert api.timezone_disagreement("2025-07-15T10:00:00-04:00", new_york) is None
    problem = api.timezone_disagreement("2025-07-15T10:00:00-05:00", new_york)
    assert problem is not None
    assert "-05:00" in problem
    assert "-04:00" in problem
    assert api.timezone_disagreement("2025-07-15T10:00:00-05:00", api.resolve_timezone("UTC")) is not None
    assert api.timezone_disagreement("2025-07-15 10:00:00", new_york) is None  # no offset: no verdict
    assert api.timezone_disagreement(None, new_york) is None


def test_sdate_mismatch() -> None:
    intended = datetime(2025, 3, 9, 12, tzinfo=UTC)
    assert api.sdate_mismatch({"sdate": "2025-03-09T08:00:00-04:00"}, intended) is None
    assert api.sdate_mismatch({"sdate": None}, intended) is None
    warning = api.sdate_mismatch({"sdate": "2025-03-09T08:00:00-05:00"}, intended)
    assert warning is not None
    assert "account_timezone" in warning


# -- statuses and reports -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("0", None),
        ("1", None),
        ("2", None),
        ("3", None),
        ("4", "stopped"),
        ("5", "completed"),
        ("6", "disabled"),
    ],
)
def test_finish_outcome(status: str, outcome: str | None) -> None:
    assert api.finish_outcome({"status": status}) == outcome


CAMPAIGN = {
    "id": "12",
    "name": "News",
    "status": "5",
    "send_amt": "100",
    "total_amt": "100",
    "opens": "60",
    "uniqueopens": "45",
    "linkclicks": "20",
    "uniquelinkclicks": "15",
    "hardbounces": "2",
    "softbounces": "3",
    "unsubscribes": "1",
    "forwards": "4",
    "uniqueforwards": "3",
    "replies": "6",
    "uniquereplies": "5",
    "sdate": "2025-03-09T08:00:00-04:00",
    "ldate": "2025-03-09T08:05:00-04:00",
}


def test_campaign_report_uses_ints_and_plain_names() -> None:
    assert api.campaign_report(CAMPAIGN) == {
        "campaign_id": "12",
        "name": "News",
        "status": "completed",
        "sends": 100,
        "recipients": 100,
        "opens": 60,
        "unique_opens": 45,
        "clicks": 20,
        "unique_clicks": 15,
        "bounces": 5,
        "hard_bounces": 2,
        "soft_bounces": 3,
        "unsubscribes": 1,
        "forwards": 4,
        "unique_forwards": 3,
        "replies": 6,
        "unique_replies": 5,
        "started_at": "2025-03-09T08:00:00-04:00",
        "finished_at": "2025-03-09T08:05:00-04:00",
    }


def test_raise_for_outcome() -> None:
    api.raise_for_outcome("completed", {})
    with pytest.raises(api.ActiveCampaignCampaignFailedError, match="is stopped: 40 of 100") as caught:
        api.raise_for_outcome("stopped", {"campaign_id": "1", "name": "x", "sends": 40, "recipients": 100})
    assert isinstance(caught.value, AirflowFailException)


# -- names and inputs ----------------------------------------------------------------------------


def test_default_campaign_name_identifies_the_task_instance() -> None:
    assert (
        api.default_campaign_name("weekly", "send", "scheduled__2025-01-06")
        == "weekly.send scheduled__2025-01-06"
    )
    assert api.default_campaign_name("weekly", "send", "r1", 3) == "weekly.send #3 r1"
    assert api.dry_run_campaign_name("weekly.send r1") == "weekly.send r1 [test]"


def test_same_name_ignores_html_escaping_and_padding() -> None:
    assert api.same_name("Tips &amp; tricks ", "Tips & tricks")
    assert not api.same_name("Tips & tricks 2", "Tips & tricks")


def test_as_list_and_check_emails() -> None:
    assert api.as_list("a, b,,c") == ["a", "b", "c"]
    assert api.as_list(["1", 2]) == ["1", "2"]
    assert api.as_list(None) == []
    assert api.check_emails(["QA@Example.com"], "test_emails") == ["qa@example.com"]
    with pytest.raises(api.ActiveCampaignCampaignError, match="'qa@'"):
        api.check_emails(["qa@", "ok@example.com"], "test_emails")


def test_check_emails_uses_the_providers_one_email_rule() -> None:
    """Before emails.py this regex took a..b@ and a.@; o'brien@ and jörg@ were (and are) fine."""
    assert api.check_emails(["O'Brien@Example.com", "Jörg@example.de"], "test_emails") == [
        "o'brien@example.com",
        "jörg@example.de",
    ]
    with pytest.raises(api.ActiveCampaignCampaignError) as error:
        api.check_emails(["a..b@example.com", "ok@example.com", "ann.@example.com"], "from_email")
    assert str(error.value).startswith(
        "from_email has addresses that are not valid: 'a..b@example.com' is not a valid email address: "
        "it cannot have two periods in a row; 'ann.@example.com' is not a valid email address: it cannot "
        "have a period immediately before the @-sign."
    )


def test_app_urls() -> None:
    assert app_base_url("https://acme.api-us1.com") == "https://acme.activehosted.com"
    assert app_base_url("https://acme.api-eu7.com") == "https://acme.activehosted.com"
    assert app_base_url("http://127.0.0.1:8765") is None
    assert app_base_url("http://127.0.0.1:8765", " https://app.example/ ") == "https://app.example"
    assert (
        campaign_app_url("https://acme.api-us1.com", 9)
        == "https://acme.activehosted.com/report/#/campaign/9/overview"
    )
    assert campaign_app_url("https://api.example.org", 9) is None


# -- calls (one class, mocked hook) --------------------------------------------------------------


class FakeHook:
    """Records calls; answers from a table keyed by endpoint."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str, Any]] = []

    def get(self, endpoint: str, params: Any = None) -> Any:
        self.calls.append(("GET", endpoint, params))
        return self.answers[endpoint]

    def post(self, endpoint: str, json: Any = None) -> Any:
        self.calls.append(("POST", endpoint, json))
        return self.answers[f"POST {endpoint}"]

    def legacy_request(
        self, action: str, *, params: Any = None, data: Any = None, method: str = "GET"
    ) -> Any:
        self.calls.append((method, action, data if data is not None else params))
        answer = self.answers[action]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def paginate(self, endpoint: str, *, key: str, params: Any = None) -> Any:
        self.calls.append(("PAGINATE", endpoint, params))
        return iter(self.answers[endpoint])


def test_create_message_reads_back_and_refuses_lost_content() -> None:
    hook: Any = FakeHook(
        {
            "POST messages": {"message": {"id": "8"}},
            "messages/8": {
                "message": {"id": "8", "subject": "Hi", "html": "", "cdate": "2025-01-01T00:00:00-05:00"}
            },
        }
    )
    with pytest.raises(api.ActiveCampaignCampaignError, match="without its html"):
        api.create_message(
            hook,
            subject="Hi",
            from_name="A",
            from_email="a@example.com",
            reply_to="a@example.com",
            html="<p>",
            text=None,
        )
    sent = hook.calls[0][2]["message"]
    assert sent["fromemail"] == sent["email"] == "a@example.com"  # schema and example disagree: send both
    hook.answers["messages/8"]["message"]["html"] = "<p>"
    stored = api.create_message(
        hook,
        subject="Hi",
        from_name="A",
        from_email="a@example.com",
        reply_to="a@example.com",
        html="<p>",
        text=None,
    )
    assert stored["id"] == "8"
    assert stored["cdate"] == "2025-01-01T00:00:00-05:00"


def test_create_campaign_form() -> None:
    hook: Any = FakeHook({"campaign_create": {"id": "31", "result_code": 1}})
    campaign_id = api.create_campaign(
        hook,
        name="N",
        list_ids=["1", "4"],
        message_id="8",
        sdate="2025-03-09 08:00:00",
        schedule=True,
        segment_id="5",
    )
    assert campaign_id == "31"
    method, action, data = hook.calls[0]
    assert (method, action) == ("POST", "campaign_create")
    assert data["status"] == 1
    assert data["sdate"] == "2025-03-09 08:00:00"
    assert (data["p[1]"], data["p[4]"], data["m[8]"], data["segmentid"]) == ("1", "4", 100, "5")
    assert data["type"] == "single"


def test_create_campaign_without_an_id_is_a_retryable_error() -> None:
    hook: Any = FakeHook({"campaign_create": {"result_code": 1}})
    with pytest.raises(ActiveCampaignError) as caught:
        api.create_campaign(hook, name="N", list_ids=["1"], message_id="8", sdate="x", schedule=False)
    assert not isinstance(caught.value, AirflowFailException)


def test_create_campaign_refused_by_activecampaign_is_final() -> None:
    refusal = ActiveCampaignValidationError(
        "ActiveCampaign refused campaign_create: List ID 9 does not exist"
    )
    hook: Any = FakeHook({"campaign_create": refusal})
    with pytest.raises(api.ActiveCampaignCampaignError, match=r"List ID 9 does not exist\. Nothing was sent"):
        api.create_campaign(hook, name="N", list_ids=["9"], message_id="8", sdate="x", schedule=True)


def test_find_campaigns_named_reads_every_page_and_matches_exactly() -> None:
    rows = [
        {"id": "1", "name": "Weekly 1"},
        {"id": "2", "name": "Weekly 1 [test]"},
        {"id": "3", "name": "weekly 1"},
        {"id": "4", "name": "Weekly 1"},
        {"id": "5", "name": "Weekly 1"},
    ]
    hook: Any = FakeHook({"campaigns": rows})
    found = api.find_campaigns_named(hook, ["Weekly 1", "Weekly 1 [test]"], exclude=["5"])
    assert [c["id"] for c in found["Weekly 1"]] == ["1", "4"]
    assert [c["id"] for c in found["Weekly 1 [test]"]] == ["2"]


def test_read_draft_parts_accepts_both_row_shapes() -> None:
    row = {"lists": [{"listid": "3"}, {"id": "4"}], "messages": [{"messageid": "9", "id": "100"}]}
    hook: Any = FakeHook({"campaign_list": {"0": row, "result_code": 1}})
    assert api.read_draft_parts(hook, "7") == (["3", "4"], ["9"])
    assert hook.calls[0][2] == {"ids": "7", "full": 1}


def test_send_test_copy_explains_a_refusal() -> None:
    hook: Any = FakeHook(
        {"campaign_send": ActiveCampaignValidationError("ActiveCampaign refused campaign_send: nope")}
    )
    with pytest.raises(api.ActiveCampaignCampaignError, match=r"qa@example\.com was refused"):
        api.send_test_copy(hook, campaign_id="1", message_id="2", email="qa@example.com")
    assert hook.calls[0][2]["action"] == "test"


def test_count_active_members_uses_meta_total() -> None:
    hook: Any = FakeHook({"contacts": {"contacts": [], "meta": {"total": "1234"}}})
    assert api.count_active_members(hook, ["2"]) == {"2": 1234}
    assert hook.calls[0][2] == {"listid": "2", "status": 1, "orders[id]": "ASC", "limit": 1}
