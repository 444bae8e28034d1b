"""Campaign analytics streams: v1 report-list answers parsed, paged and planned (a fake v1 hook)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from airflow_provider_activecampaign.exceptions import ActiveCampaignValidationError
from airflow_provider_activecampaign.exports.registry import RESOURCES
from airflow_provider_activecampaign.exports.reports import (
    ReportListReader,
    export_rows,
    is_nothing_returned,
    report_rows,
)
from airflow_provider_activecampaign.exports.runner import ResourceExporter
from airflow_provider_activecampaign.exports.windows import Window
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook

OPENS = RESOURCES["campaign_opens"]
CLICKS = RESOURCES["campaign_link_clicks"]
BOUNCES = RESOURCES["campaign_bounces"]
EVERYTHING = Window(None, None)
DAY = datetime(2024, 3, 2, tzinfo=UTC)


def refused(message: str) -> ActiveCampaignValidationError:
    """What the hook raises for a v1 answer with ``result_code`` 0 (the body as the transport keeps it)."""
    body = {"result_code": 0, "result_message": message, "result_output": "json"}
    return ActiveCampaignValidationError(
        f"ActiveCampaign refused campaign_report_open_list: {message}", response_body=json.dumps(body)
    )


def numbered(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        **{str(i): row for i, row in enumerate(rows)},
        "result_code": 1,
        "result_message": "Success: Something is returned",
        "result_output": "json",
    }


class FakeV1:
    """``GET /campaigns`` and v1 report lists, ``page_size`` rows a page; ``ignore_page`` repeats page 1."""

    activecampaign_conn_id = "fake"

    def __init__(self, campaigns: list[dict[str, Any]], opens: Mapping[str, list[dict[str, Any]]]) -> None:
        self.campaigns = campaigns
        self.opens = opens
        self.page_size = 20
        self.ignore_page = False
        self.legacy: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def get(self, endpoint: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        assert endpoint == "campaigns"
        offset, limit = int((params or {}).get("offset", 0)), int((params or {}).get("limit", 20))
        return {"campaigns": self.campaigns[offset : offset + limit], "meta": {"total": len(self.campaigns)}}

    def legacy_request(self, action: str, *, params: Mapping[str, Any] | None = None, **_: Any) -> Any:
        query = dict(params or {})
        with self._lock:
            self.legacy.append((action, query))
        rows = self.opens.get(str(query["campaignid"]), [])
        page = 1 if self.ignore_page else int(query.get("page", 1))
        rows = rows[(page - 1) * self.page_size : page * self.page_size]
        if not rows:
            raise refused("Failed: Nothing is returned")
        return numbered(rows)


def opens(campaign: str, count: int, start: datetime = DAY) -> list[dict[str, Any]]:
    return [
        {"subscriberid": str(n + 1), "email": f"c{n + 1}@example.com", "times": "1",
         "tstamp": (start + timedelta(minutes=30 * n)).strftime("%Y-%m-%d %H:%M:%S")}
        for n in range(count)
    ]  # fmt: skip


def campaign(ident: str, uniqueopens: int | None, sdate: str = "2024-03-01 09:00:00") -> dict[str, Any]:
    row: dict[str, Any] = {"id": ident, "sdate": sdate, "status": "5"}
    if uniqueopens is not None:
        row["uniqueopens"] = str(uniqueopens)
    return row


def reader(hook: FakeV1, window: Window = EVERYTHING) -> ReportListReader:
    assert OPENS.report_list is not None
    return ReportListReader(
        OPENS.report_list, lambda: cast(ActiveCampaignHook, hook), window=window, timezone="UTC"
    )


# -- parsing -----------------------------------------------------------------------------------


def test_numbered_rows_come_in_number_order_without_the_envelope() -> None:
    answer = numbered([{"subscriberid": str(n)} for n in range(12)])
    rows = report_rows(answer, "campaign_report_open_list")
    assert [row["subscriberid"] for row in rows] == [str(n) for n in range(12)]  # "10" after "9"
    assert report_rows({"result_code": 1, "result_message": "ok"}, "x") == []
    with pytest.raises(ValueError, match="campaign_report_open_list answered list"):
        report_rows([{"subscriberid": "1"}], "campaign_report_open_list")


def test_nothing_returned_is_an_empty_list_and_any_other_refusal_is_an_error() -> None:
    assert is_nothing_returned(refused("Failed: Nothing is returned"))
    assert not is_nothing_returned(refused("Campaign not found"))
    assert not is_nothing_returned(ActiveCampaignValidationError("no body"))

    class Refusing(FakeV1):
        def legacy_request(self, action: str, **_: Any) -> Any:
            raise refused("You are not authorized to access this file")

    with pytest.raises(ActiveCampaignValidationError, match="not authorized"):
        reader(Refusing([], {})).read(campaign("1", 3))


def test_a_campaign_with_no_rows_is_one_request_and_no_row() -> None:
    hook = FakeV1([], {})
    assert reader(hook).read(campaign("7", None)) == []
    assert hook.legacy == [("campaign_report_open_list", {"campaignid": "7", "page": 1})]


def test_link_clicks_become_one_row_per_link_and_contact_whether_info_is_a_list_or_numbered() -> None:
    assert CLICKS.report_list is not None
    link = {"id": "71", "name": "Web copy", "link": "https://example.com/w", "tracked": "1", "a_unique": "2"}
    clicks = [
        {"email": "a@example.com", "subscriberid": "2", "tstamp": "2024-03-02 11:52:16", "times": "1"},
        {"email": "b@example.com", "subscriberid": "5", "tstamp": "2024-03-02 12:00:00", "times": "3"},
    ]
    as_list = export_rows(CLICKS.report_list, "9", [{**link, "info": clicks}])
    as_numbered = export_rows(CLICKS.report_list, "9", [{**link, "info": {"1": clicks[1], "0": clicks[0]}}])
    assert as_list == as_numbered
    assert [(r["id"], r["linkid"], r["link"], r["times"]) for r in as_list] == [
        ("9-71-2", "71", "https://example.com/w", "1"),
        ("9-71-5", "71", "https://example.com/w", "3"),
    ]
    assert export_rows(CLICKS.report_list, "9", [{**link, "info": None}]) == []


def test_bounces_keep_their_own_id_and_opens_get_campaign_and_contact() -> None:
    assert BOUNCES.report_list is not None
    assert OPENS.report_list is not None
    bounce = {
        "id": "3",
        "email": "x@example.com",
        "subscriberid": "4",
        "tstamp": "2011-03-07",
        "type": "hard",
    }
    assert export_rows(BOUNCES.report_list, "7", [bounce]) == [{**bounce, "campaignid": "7"}]
    assert export_rows(OPENS.report_list, "7", [{"subscriberid": "4"}])[0]["id"] == "7-4"


# -- paging ------------------------------------------------------------------------------------


def test_pages_are_read_until_the_campaigns_count_is_reached() -> None:
    hook = FakeV1([], {"1": opens("1", 45)})
    rows = reader(hook).read(campaign("1", 45))
    assert [row["id"] for row in rows] == [f"1-{n}" for n in range(1, 46)]
    assert [query["page"] for _, query in hook.legacy] == [1, 2, 3]  # no fourth "nothing" request


def test_without_a_count_pages_are_read_until_nothing_is_returned() -> None:
    hook = FakeV1([], {"1": opens("1", 40)})
    rows = reader(hook).read(campaign("1", None))
    assert len(rows) == len({row["id"] for row in rows}) == 40
    assert [query["page"] for _, query in hook.legacy] == [1, 2, 3]  # page 3: nothing returned


def test_reading_stops_at_the_first_page_that_reaches_the_count() -> None:
    hook = FakeV1([], {"1": opens("1", 30)})
    rows = reader(hook).read(campaign("1", 25))  # page 2 reaches 25: the whole page is kept
    assert len(rows) == 30


@pytest.mark.parametrize("page_size", [1, 7, 20, 50, 250])
@pytest.mark.parametrize("counted", [True, False], ids=["with a count", "without a count"])
def test_the_page_size_does_not_matter(page_size: int, counted: bool) -> None:
    """V1 does not publish the report lists' page size (the emulator's 20 is *assumed*)."""
    hook = FakeV1([], {"1": opens("1", 45)})
    hook.page_size = page_size
    rows = reader(hook).read(campaign("1", 45 if counted else None))
    assert [row["id"] for row in rows] == [f"1-{n}" for n in range(1, 46)]
    full_pages = -(-45 // page_size)
    assert len(hook.legacy) == full_pages + (0 if counted else 1)  # without: one "nothing returned"


def test_a_server_that_ignores_page_is_read_once_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    hook = FakeV1([], {"1": opens("1", 20)})
    hook.ignore_page = True
    with caplog.at_level(logging.WARNING):
        rows = reader(hook).read(campaign("1", None))
    assert len(rows) == 20
    assert len(hook.legacy) == 2
    assert "ignored `page`" in caplog.text


# -- request plan ------------------------------------------------------------------------------


def test_only_campaigns_that_can_hold_rows_of_the_window_are_asked(tmp_path: Path) -> None:
    campaigns = [
        campaign("1", 0),  # a draft, or nobody opened: no request
        campaign("2", 3, sdate="2024-03-01 09:00:00"),
        campaign("3", 2, sdate="2024-03-05 09:00:00"),  # sent after the window: no request
        campaign("4", 2, sdate="2024-02-20 09:00:00"),  # opened inside and before the window
    ]
    rows = {
        "2": opens("2", 3, DAY + timedelta(hours=1)),
        "3": opens("3", 2, DAY + timedelta(days=3)),
        "4": opens("4", 2, DAY - timedelta(minutes=30)),
    }
    hook = FakeV1(campaigns, rows)
    as_hook = cast(ActiveCampaignHook, hook)
    window = Window(DAY, DAY + timedelta(days=1))
    exporter = ResourceExporter(
        as_hook, OPENS, window=window, mode="local", hook_factory=lambda: as_hook, parallel=2
    )
    staged = tmp_path / "opens.jsonl"
    stats = exporter.run(staged)

    exported = [json.loads(line) for line in staged.read_text().splitlines()]
    assert sorted(query["campaignid"] for _, query in hook.legacy) == ["2", "4"]
    # Campaign 4's first open (23:30 the day before) is outside the window, its second inside.
    assert sorted(row["id"] for row in exported) == ["2-1", "2-2", "2-3", "4-2"]
    assert stats.count == 4
    assert stats.outside_window == 1
    assert {"campaignid", "subscriberid", "email", "times", "tstamp"} <= set(stats.columns)
