"""The emulator's campaigns module: documented shapes, v1 semantics, sending, reports, time.

Real loopback HTTP against the session emulator (``api`` fixture from tests/emulator/conftest.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture

Shape = Callable[[Any, Any], list[str]]

#: SPEC GET /api/3/campaigns/{id}, response 200 (verbatim).
CAMPAIGN_GET = json.loads(
    '{"campaign":{"type":"single","userid":"1","segmentid":"0","bounceid":"-1","realcid":"0","sendid":"0"'
    ',"threadid":"0","seriesid":"0","formid":"0","basetemplateid":"13b1432dc41b75dda9ff86d84a8593d2b2b941'
    '9f","basemessageid":"0","addressid":"0","source":"web","name":"Matt Litmus test","cdate":"2018-10-10'
    'T11:59:43-05:00","mdate":"2018-10-10T12:00:23-05:00","sdate":null,"ldate":null,"send_amt":"0","total'
    '_amt":"0","opens":"0","uniqueopens":"0","linkclicks":"0","uniquelinkclicks":"0","subscriberclicks":"'
    '0","forwards":"0","uniqueforwards":"0","hardbounces":"0","softbounces":"0","unsubscribes":"0","unsub'
    'reasons":"0","updates":"0","socialshares":"0","replies":"0","uniquereplies":"0","status":"0","public'
    '":"1","mail_transfer":"0","mail_send":"0","mail_cleanup":"0","mailer_log_file":"0","tracklinks":"all'
    '","tracklinksanalytics":"0","trackreads":"1","trackreadsanalytics":"1","analytics_campaign_name":"",'
    '"tweet":"0","facebook":"0","survey":"","embed_images":"0","htmlunsub":"0","textunsub":"0","htmlunsub'
    'data":null,"textunsubdata":null,"recurring":"day1","willrecur":"0","split_type":"even","split_conten'
    't":"0","split_offset":"2","split_offset_type":"day","split_winner_messageid":"0","split_winner_await'
    'ing":"0","responder_offset":"0","responder_type":"subscribe","responder_existing":"0","reminder_fiel'
    'd":"sdate","reminder_format":null,"reminder_type":"month_day","reminder_offset":"0","reminder_offset'
    '_type":"day","reminder_offset_sign":"+","reminder_last_cron_run":null,"activerss_interval":"day1","a'
    'ctiverss_url":null,"activerss_items":"10","ip4":"643992596","laststep":"designer","managetext":"0","'
    'schedule":"0","scheduleddate":null,"waitpreview":"0","deletestamp":null,"replysys":"0","links":{"use'
    'r":"https://:account.api-us1.com/api/:version/campaigns/1/user","automation":"https://:account.api-u'
    's1.com/api/:version/campaigns/1/automation","campaignMessage":"https://:account.api-us1.com/api/:ver'
    'sion/campaigns/1/campaignMessage","links":"https://:account.api-us1.com/api/:version/campaigns/1/lin'
    'ks","aggregateRevenues":"https://:account.api-us1.com/api/:version/campaigns/1/aggregateRevenues"},"'
    'id":"1","user":"1","automation":null}}'
)
#: SPEC POST /api/3/campaign, response 200 (verbatim).
CAMPAIGN_CREATE = json.loads('{"id":149,"name":"Campaign Name","type":"single","canSplitContent":false}')
#: SPEC POST /api/3/messages, response 201 (verbatim).
MESSAGE_CREATE = json.loads(
    '{"message":{"fromname":"AC Admin","fromemail":"noreply@example.com","reply2":"hello@example.com","su'
    'bject":"You are subscribing to %LISTNAME%","preheader_text":"Pre-header Text","text":"hello","html":'
    '"<div>hello</div>","links":{"user":"https://yourAccountName.api-us1.com/api/3/messages/28/user","hyp'
    'erlinks":"https://yourAccountName.api-us1.com/api/3/messages/28/hyperlinks"},"id":"28"}}'
)
#: SPEC GET /api/3/campaigns/{id}/links, response 200 (verbatim).
CAMPAIGN_LINKS = json.loads(
    '{"links":[{"campaignid":"1","messageid":"3","link":"open","name":"Read Tracker","ref":"","tracked":"'
    '1","links":{"campaign":"https://:account.api-us1.com/api/3/links/1/campaign","message":"https://:acc'
    'ount.api-us1.com/api/3/links/1/message"},"id":"1","campaign":"1","message":"3"},{"campaignid":"1","m'
    'essageid":"0","link":"open","name":"Read Tracker","ref":"","tracked":"1","links":{"campaign":"https:'
    '//:account.api-us1.com/api/3/links/2/campaign","message":"https://:account.api-us1.com/api/3/links/2'
    '/message"},"id":"2","campaign":"1","message":null}]}'
)


@pytest.fixture
def v1(emulator: EmulatorFixture) -> Iterator[Callable[..., dict[str, Any]]]:
    """Call ``/admin/api.php`` like the hook does: action and output in the query, form body, key header."""
    emulator.configure(rate_limit=False)
    with httpx.Client(base_url=emulator.url, headers={"Api-Token": emulator.api_key}, timeout=10) as client:

        def call(
            api_action: str, method: str = "GET", data: dict[str, Any] | None = None, /, **params: Any
        ) -> dict[str, Any]:
            query = {"api_action": api_action, "api_output": "json", **params}
            response = client.request(method, "/admin/api.php", params=query, data=data)
            assert response.status_code == 200, response.text  # v1 reports failures in the body
            body: dict[str, Any] = response.json()
            return body

        yield call


@pytest.fixture
def members(emulator: EmulatorFixture) -> list[str]:
    emulator.seed(
        {
            "contacts": [
                {"email": "a@example.com", "lists": {"1": 1}},
                {"email": "b@example.com", "lists": {"1": 1, "2": 1}},
                {"email": "c@example.com", "lists": {"2": 1}},
                {"email": "unsubscribed@example.com", "lists": {"1": 2}},
                {"email": "elsewhere@example.com", "lists": {"3": 1}},
            ]
        }
    )
    return ["a@example.com", "b@example.com", "c@example.com"]


def create(v1: Callable[..., dict[str, Any]], **fields: Any) -> dict[str, Any]:
    data = {"type": "single", "name": "Test", "sdate": "2000-01-01 00:00:00", "status": 1, "public": 1}
    data.update({"p[1]": 1, "m[1]": 100})
    data.update(fields)
    return v1("campaign_create", "POST", {k: v for k, v in data.items() if v is not None})


def campaign_state(emulator: EmulatorFixture, campaign_id: str) -> dict[str, Any]:
    return next(c for c in emulator.state()["campaigns"] if c["id"] == campaign_id)


# -- v3 shapes ------------------------------------------------------------------------------------


def test_v3_campaign_has_the_documented_shape(
    api: httpx.Client, v1: Callable[..., dict[str, Any]], shape: Shape
) -> None:
    campaign_id = create(v1, status=0)["id"]
    response = api.get(f"campaigns/{campaign_id}")
    assert response.status_code == 200
    body = response.json()
    assert shape(body, CAMPAIGN_GET) == []
    assert body["campaign"]["status"] == "0"
    assert body["campaign"]["send_amt"] == "0"
    # SPEC GET /api/3/campaigns: each listed campaign has the single campaign's documented shape.
    listed = api.get("campaigns").json()
    assert listed["meta"]["total"] == "1"
    assert shape(listed["campaigns"][0], CAMPAIGN_GET["campaign"]) == []


def test_v3_unknown_campaign_is_404(api: httpx.Client) -> None:
    response = api.get("campaigns/77")
    assert response.status_code == 404
    assert response.json() == {"message": "No Result found for Campaign with id 77"}


def test_v3_create_campaign_returns_an_integer_id(api: httpx.Client, shape: Shape) -> None:
    response = api.post(
        "campaign", json={"name": "Campaign Name", "type": "single", "canSplitContent": False}
    )
    assert response.status_code == 200
    assert shape(response.json(), CAMPAIGN_CREATE) == []
    assert isinstance(response.json()["id"], int)
    assert api.get(f"campaigns/{response.json()['id']}").json()["campaign"]["status"] == "0"


def test_v3_create_campaign_lists_missing_fields(api: httpx.Client) -> None:
    response = api.post("campaign", json={"type": 5})
    assert response.status_code == 400
    assert response.json() == {"errors": ["Field name is required", "Field type must be of type string"]}


def test_v3_edit_campaign(api: httpx.Client) -> None:
    campaign_id = api.post("campaign", json={"name": "Draft", "type": "single"}).json()["id"]
    empty = api.put(f"campaigns/{campaign_id}/edit")
    assert (empty.status_code, empty.json()) == (406, {"message": "Empty request body"})
    unknown = api.put("campaigns/999/edit", json={"name": "x"})
    assert (unknown.status_code, unknown.json()) == (400, {"message": "Campaign not found"})
    edited = api.put(
        f"campaigns/{campaign_id}/edit",
        json={"name": "Renamed", "listIds": [1, 2], "scheduledDate": "2030-01-01T09:00:00-05:00"},
    )
    assert edited.status_code == 200
    body = edited.json()
    assert (body["id"], body["name"], body["listIds"], body["status"]) == (campaign_id, "Renamed", [1, 2], 0)
    # Editing sets the date; the schedule call is not emulated, so it stays a draft.
    assert api.get(f"campaigns/{campaign_id}").json()["campaign"]["status"] == "0"
    bad_list = api.put(f"campaigns/{campaign_id}/edit", json={"listIds": [99]})
    assert bad_list.status_code == 400


def test_v3_campaigns_paging_and_ordering(api: httpx.Client, v1: Callable[..., dict[str, Any]]) -> None:
    for day in (3, 1, 2):
        create(v1, name=f"Day {day}", status=0, sdate=f"2031-01-0{day} 09:00:00")
    page = api.get("campaigns", params={"limit": 2, "offset": 1}).json()
    assert page["meta"]["total"] == "3"
    assert [c["name"] for c in page["campaigns"]] == ["Day 1", "Day 2"]
    ordered = api.get("campaigns", params={"orders[sdate]": "DESC"}).json()
    assert [c["name"] for c in ordered["campaigns"]] == ["Day 3", "Day 2", "Day 1"]


def test_v3_messages(api: httpx.Client, shape: Shape) -> None:
    payload = {
        "message": {
            "fromname": "AC Admin",
            "fromemail": "noreply@example.com",
            "reply2": "hello@example.com",
            "subject": "Hi",
            "html": "<p>x</p>",
        }
    }
    created = api.post("messages", json=payload)
    assert created.status_code == 201
    assert shape(created.json(), MESSAGE_CREATE) == []
    message_id = created.json()["message"]["id"]
    # SPEC GET /api/3/messages/{id} and SPEC GET /api/3/messages: the created message's shape.
    read = api.get(f"messages/{message_id}").json()
    assert read["message"]["html"] == "<p>x</p>"
    assert shape(read, MESSAGE_CREATE) == []
    listed = api.get("messages").json()
    assert listed["meta"]["total"] == "2"  # the seeded one too
    assert [shape(m, MESSAGE_CREATE["message"]) for m in listed["messages"]] == [[], []]
    missing = api.post("messages", json={"message": {"subject": "no sender"}})
    assert missing.status_code == 400
    assert api.get("messages/999").status_code == 404


def test_v3_campaign_links(api: httpx.Client, v1: Callable[..., dict[str, Any]], shape: Shape) -> None:
    campaign_id = create(v1, status=0)["id"]
    body = api.get(f"campaigns/{campaign_id}/links").json()
    assert shape(body, CAMPAIGN_LINKS) == []
    assert [link["message"] for link in body["links"]] == ["1", None]


# -- v1 -------------------------------------------------------------------------------------------


def test_v1_failures_answer_200_with_result_code_0(v1: Callable[..., dict[str, Any]]) -> None:
    no_list = create(v1, **{"p[1]": None})
    assert no_list["result_code"] == 0
    assert "list" in no_list["result_message"]
    assert create(v1, **{"m[1]": None, "m[9]": 100})["result_code"] == 0  # unknown message
    assert create(v1, sdate="tomorrow")["result_code"] == 0
    assert create(v1, name=None)["result_code"] == 0
    assert create(v1, status=2)["result_code"] == 0
    assert v1("campaign_create", "GET", name="x")["result_code"] == 0  # writes must be POSTs
    assert v1("no_such_action")["result_code"] == 0


def test_v1_key_in_header_or_query_and_403_without(emulator: EmulatorFixture) -> None:
    query = {"api_action": "campaign_list", "api_output": "json", "ids": "all"}
    assert httpx.get(f"{emulator.url}/admin/api.php", params=query).status_code == 403
    with_query_key = httpx.get(f"{emulator.url}/admin/api.php", params={**query, "api_key": emulator.api_key})
    assert with_query_key.json()["result_code"] == 0  # authenticated; nothing to list yet


def test_v1_campaign_list(v1: Callable[..., dict[str, Any]], members: list[str]) -> None:
    first = create(v1, name="Spring news", status=0, **{"p[2]": 2})["id"]
    create(v1, name="Autumn news", status=0)
    found = v1("campaign_list", ids=first, full=1)
    assert found["result_code"] == 1
    row = found["0"]
    assert row["name"] == "Spring news"
    assert "1" not in found
    assert [item["listid"] for item in row["lists"]] == ["1", "2"]
    assert [item["messageid"] for item in row["messages"]] == ["1"]
    assert [
        found_row["name"]
        for key, found_row in v1("campaign_list", **{"filters[name]": "news"}).items()
        if key.isdigit()
    ] == [
        "Spring news",
        "Autumn news",
    ]
    assert v1("campaign_list", ids="999")["result_message"] == "Failed: Nothing is returned"


def test_v1_test_send_is_not_a_delivery(
    emulator: EmulatorFixture, v1: Callable[..., dict[str, Any]], members: list[str]
) -> None:
    draft = create(v1, status=0)["id"]
    sent = v1(
        "campaign_send", email="QA@example.com", campaignid=draft, messageid=1, type="mime", action="test"
    )
    assert (sent["result_code"], sent["result_message"]) == (1, "Message sent")
    assert (
        v1("campaign_send", email="qa@example.com", campaignid=draft, messageid=7, action="test")[
            "result_code"
        ]
        == 0
    )
    state = emulator.state()
    assert [(t["email"], t["campaign"]) for t in state["campaign_test_sends"]] == [("qa@example.com", draft)]
    assert state["campaign_deliveries"] == {}
    assert campaign_state(emulator, draft)["sends"] == 0


def test_v1_message_add(api: httpx.Client, v1: Callable[..., dict[str, Any]]) -> None:
    added = v1(
        "message_add",
        "POST",
        {"format": "mime", "subject": "S", "fromemail": "f@example.com", "html": "<b>h</b>"},
    )
    assert added["result_code"] == 1
    assert api.get(f"messages/{added['id']}").json()["message"]["html"] == "<b>h</b>"
    assert v1("message_add", "POST", {"subject": "S", "fromemail": "nope"})["result_code"] == 0


# -- sending --------------------------------------------------------------------------------------


def test_send_reaches_each_active_member_once(
    emulator: EmulatorFixture, v1: Callable[..., dict[str, Any]], members: list[str]
) -> None:
    emulator.seed({"campaign_settings": {"send_rate": 1}})
    campaign_id = create(v1, **{"p[2]": 2})["id"]
    started = campaign_state(emulator, campaign_id)
    assert (started["status_name"], started["total_amt"], started["sends"]) == ("sending", 3, 1)
    assert started["send_amt"] < 3
    emulator.advance(10)
    done = campaign_state(emulator, campaign_id)
    assert (done["status_name"], done["send_amt"], done["total_amt"], done["sends"]) == ("completed", 3, 3, 1)
    assert done["ldate"] is not None
    deliveries = emulator.state()["campaign_deliveries"]
    assert {d["email"]: d["by_campaign"] for d in deliveries.values()} == {
        email: {campaign_id: 1} for email in members
    }


def test_future_send_waits_for_its_time(
    emulator: EmulatorFixture, api: httpx.Client, v1: Callable[..., dict[str, Any]], members: list[str]
) -> None:
    campaign_id = create(v1, sdate="2099-01-01 09:00:00")["id"]
    body = api.get(f"campaigns/{campaign_id}").json()["campaign"]
    assert (body["status"], body["send_amt"], body["total_amt"]) == ("1", "0", "0")
    assert body["sdate"] == "2099-01-01T09:00:00-05:00"  # read in the account's timezone
    emulator.advance(80 * 365 * 86400)
    body = api.get(f"campaigns/{campaign_id}").json()["campaign"]
    assert (body["status"], body["send_amt"], body["total_amt"]) == ("5", "2", "2")


def test_report_numbers_are_deterministic_and_agree_everywhere(
    emulator: EmulatorFixture, api: httpx.Client, v1: Callable[..., dict[str, Any]]
) -> None:
    seed = {
        "contacts": [{"email": f"r{i}@example.com", "lists": {"1": 1}} for i in range(200)],
        "campaign_settings": {"send_rate": 1000},
    }
    emulator.seed(seed)
    campaign_id = create(v1)["id"]
    emulator.advance(5)
    report = campaign_state(emulator, campaign_id)["report"]
    v3 = api.get(f"campaigns/{campaign_id}").json()["campaign"]
    totals = v1("campaign_report_totals", campaignid=campaign_id)
    for key, value in report.items():
        assert v3[key] == totals[key] == str(value), key
    # Rates near the defaults: about half open, a few percent bounce.
    assert 70 <= report["uniqueopens"] <= 130
    assert 0 < report["hardbounces"] + report["softbounces"] < 25
    assert report["uniquelinkclicks"] <= report["uniqueopens"] <= report["opens"]

    emulator.reset()
    emulator.configure(rate_limit=False)
    emulator.seed(seed)
    again = create(v1)["id"]
    emulator.advance(5)
    assert again == campaign_id
    assert campaign_state(emulator, again)["report"] == report


def test_v1_report_lists_show_each_outcome_once_its_moment_has_come(
    emulator: EmulatorFixture, v1: Callable[..., dict[str, Any]]
) -> None:
    emulator.seed(
        {
            "contacts": [{"email": f"l{i}@example.com", "lists": {"1": 1}} for i in range(60)],
            "campaign_settings": {"rates": {"bounce": 0.1, "open": 0.6, "click": 0.5, "unsubscribe": 0.1}},
        }
    )
    campaign_id = create(v1)["id"]
    emulator.advance(5)  # delivered; opens come 1 minute to 6 hours later
    report = campaign_state(emulator, campaign_id)["report"]

    def rows(action: str, **params: Any) -> list[dict[str, Any]]:
        answer = v1(action, campaignid=campaign_id, **params)
        if answer["result_code"] == 0:
            assert answer["result_message"] == "Failed: Nothing is returned"
            return []
        return [answer[str(i)] for i in range(len([k for k in answer if k.isdigit()]))]

    def every_page(action: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for page in range(1, 100):
            batch = rows(action, page=page)
            if not batch:
                return found
            assert len(batch) <= 20
            found += batch
        raise AssertionError("the list never ended")

    bounces = every_page("campaign_report_bounce_list")
    assert len(bounces) == report["hardbounces"] + report["softbounces"] > 0  # at delivery
    assert {b["type"] for b in bounces} <= {"hard", "soft"}
    assert len({b["id"] for b in bounces}) == len(bounces)
    early = every_page("campaign_report_open_list")
    assert len(early) < report["uniqueopens"]  # most opens are still to come

    emulator.advance(7 * 3600)
    opened = every_page("campaign_report_open_list")
    assert len(opened) == report["uniqueopens"] > 20  # more than one page
    assert sum(int(row["times"]) for row in opened) == report["opens"]
    assert len({row["subscriberid"] for row in opened}) == len(opened)
    links = rows("campaign_report_link_list", page=2)  # one answer: page is not documented here
    clickers = [(link["id"], info["subscriberid"]) for link in links for info in link["info"]]
    assert len(clickers) == len(set(clickers)) == report["uniquelinkclicks"] > 0
    assert {s for _, s in clickers} <= {row["subscriberid"] for row in opened}
    assert len(every_page("campaign_report_unsubscription_list")) == report["unsubscribes"] > 0
    assert v1("campaign_report_open_list", campaignid="999")["result_message"] == "Campaign not found"


def test_seeded_campaigns_and_settings(emulator: EmulatorFixture, members: list[str]) -> None:
    emulator.seed(
        {
            "campaigns": [
                {"id": 9, "name": "Stopped", "status": 4, "lists": [1], "messages": [1], "send_amt": 1},
                {"id": 10, "name": "Half", "status": 2, "lists": [1], "messages": [1]},
            ],
            "campaign_settings": {"send_rate": 1000},
        }
    )
    stopped = campaign_state(emulator, "9")
    assert (stopped["status_name"], stopped["send_amt"], stopped["total_amt"]) == ("stopped", 1, 2)
    emulator.advance(1)
    assert campaign_state(emulator, "10")["status_name"] == "completed"
    assert campaign_state(emulator, "9")["status_name"] == "stopped"  # stopped never resumes
    with pytest.raises(RuntimeError, match="unknown list"):
        emulator.seed({"campaigns": [{"name": "x", "lists": [42]}]})
    with pytest.raises(RuntimeError, match="unknown keys"):
        emulator.seed({"campaign_settings": {"speed": 3}})
    with pytest.raises(RuntimeError, match="unknown timezone"):
        emulator.seed({"campaign_settings": {"timezone": "Mars/Olympus"}})


def test_sdate_is_read_in_the_account_zone_across_dst(
    emulator: EmulatorFixture, api: httpx.Client, v1: Callable[..., dict[str, Any]]
) -> None:
    emulator.seed({"campaign_settings": {"timezone": "America/New_York"}})
    spring = create(v1, sdate="2030-03-10 08:00:00", status=0)["id"]  # the day clocks go forward
    winter = create(v1, sdate="2030-03-09 08:00:00", status=0)["id"]
    twice = create(v1, sdate="2030-11-03 01:30:00", status=0)["id"]  # occurs twice: first is EDT
    sdates = {cid: api.get(f"campaigns/{cid}").json()["campaign"]["sdate"] for cid in (spring, winter, twice)}
    assert sdates == {
        spring: "2030-03-10T08:00:00-04:00",
        winter: "2030-03-09T08:00:00-05:00",
        twice: "2030-11-03T01:30:00-04:00",
    }


def test_state_shows_campaigns_and_send_counts(
    emulator: EmulatorFixture, v1: Callable[..., dict[str, Any]], members: list[str]
) -> None:
    campaign_id = create(v1)["id"]
    emulator.advance(5)
    state = emulator.state()
    [campaign] = state["campaigns"]
    assert campaign["id"] == campaign_id
    assert campaign["sends"] == 1
    assert campaign["copies_by_contact"] == {"1": 1, "2": 1}
    assert state["counters"]["campaigns_sent"] == 1
    assert state["counters"]["campaign_copies_delivered"] == 2
    contact = emulator.contact("a@example.com")
    assert contact is not None
    assert json.dumps(state["campaign_settings"])  # plain JSON
