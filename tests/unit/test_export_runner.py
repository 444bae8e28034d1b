"""ResourceExporter against an in-memory hook: paging, duplicates, the window cut, pivots, ignored filters."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from airflow_provider_activecampaign.exports.registry import RESOURCES
from airflow_provider_activecampaign.exports.runner import ResourceExporter
from airflow_provider_activecampaign.exports.windows import Window
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook

DAY = datetime(2024, 3, 2, tzinfo=UTC)
WINDOW = Window(DAY, DAY + timedelta(days=1))


def stamp(moment: datetime) -> str:
    return moment.isoformat()


class FakeHook:
    """Collections served ``limit``/``offset`` style; ``repeat_at`` repeats a record at a page boundary."""

    activecampaign_conn_id = "fake"
    base_url = "https://acme.api-us1.com"

    def __init__(
        self, collections: Mapping[str, list[dict[str, Any]]], *, honour_filter: bool = True
    ) -> None:
        self.collections = collections
        self.honour_filter = honour_filter
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.legacy: list[tuple[str, dict[str, Any]]] = []
        self.repeat_at: int | None = None
        self._lock = threading.Lock()

    def get(self, endpoint: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        query = dict(params or {})
        with self._lock:
            self.calls.append((endpoint, query))
        rows = list(self.collections[endpoint])
        if self.honour_filter and "filters[updated_after]" in query:
            after = query["filters[updated_after]"]
            rows = [r for r in rows if r["mdate"][:10] >= after]
        if "filters[dealId]" in query:
            rows = [r for r in rows if str(r["dealId"]) == str(query["filters[dealId]"])]
        offset, limit = int(query.get("offset", 0)), int(query.get("limit", 20))
        total = len(rows)
        if self.repeat_at is not None and offset >= self.repeat_at:
            # A record inserted before the read position: the rest shifts by one, so the previous
            # page's last record comes again and the collection grows past the first page's total.
            rows = [*rows[: self.repeat_at], rows[self.repeat_at - 1], *rows[self.repeat_at :]]
        page = rows[offset : offset + limit]
        return {endpoint: page, "meta": {"total": str(total)}}

    def iter_pages(
        self, endpoint: str, *, key: str, params: Mapping[str, Any] | None = None
    ) -> Iterator[Any]:
        offset = 0
        while True:
            page = self.get(endpoint, {**(params or {}), "limit": 100, "offset": offset})
            yield page
            if len(page[key]) < 100:
                return
            offset += 100

    def paginate(self, endpoint: str, *, key: str, params: Mapping[str, Any] | None = None) -> Iterator[Any]:
        for page in self.iter_pages(endpoint, key=key, params=params):
            yield from page[key]

    def legacy_request(self, action: str, *, params: Mapping[str, Any] | None = None, **_: Any) -> Any:
        self.legacy.append((action, dict(params or {})))
        return {"result_code": 1, "result_message": "ok", "opens": "3", "campaignid": params["campaignid"]}  # type: ignore[index]


def deals(count: int, start: datetime, step: timedelta) -> list[dict[str, Any]]:
    return [
        {"id": str(n + 1), "title": f"Deal {n + 1}", "stage": "1", "group": "1",
         "mdate": stamp(start + step * n), "links": {"x": "y"}}
        for n in range(count)
    ]  # fmt: skip


def deal_collections(
    rows: list[dict[str, Any]], values: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "deals": rows,
        "dealStages": [{"id": "1", "title": "Qualified"}],
        "dealGroups": [{"id": "1", "title": "Sales"}],
        "dealCustomFieldMeta": [
            {"id": "1", "fieldLabel": "Lead source", "fieldType": "text"},
            {"id": "2", "fieldLabel": "Products", "fieldType": "multiselect"},
        ],
        "dealCustomFieldData": values or [],
    }


def run(
    hook: FakeHook, tmp_path: Path, resource: str = "deals", **options: Any
) -> tuple[Any, list[dict[str, Any]]]:
    options.setdefault("window", WINDOW)
    options.setdefault("mode", "api")
    as_hook = cast(ActiveCampaignHook, hook)
    exporter = ResourceExporter(
        as_hook, RESOURCES[resource], hook_factory=lambda: as_hook, parallel=3, **options
    )
    staged = tmp_path / "staged.jsonl"
    stats = exporter.run(staged)
    rows = [json.loads(line) for line in staged.read_text().splitlines()]
    return stats, rows


def test_a_window_holds_exactly_its_records_each_once_in_id_order(tmp_path: Path) -> None:
    # 600 deals, one every 4 minutes from 20 hours before the window: two overlapping pages repeat a record.
    rows = deals(600, DAY - timedelta(hours=20), timedelta(minutes=4))  # the last ends 20 h later
    hook = FakeHook(deal_collections(rows))
    hook.repeat_at = 400
    stats, out = run(hook, tmp_path)

    expected = [r["id"] for r in rows if DAY <= datetime.fromisoformat(r["mdate"]) < DAY + timedelta(days=1)]
    assert [r["id"] for r in out] == expected
    assert stats.count == len(expected) == 300
    assert stats.duplicates == 1
    assert stats.api_filter == {
        "filters[updated_after]": "2024-03-01",
        "filters[updated_before]": "2024-03-04",
    }
    assert not stats.filter_ignored
    assert "links" not in out[0]
    assert out[0]["stage_title"] == "Qualified"
    assert out[0]["pipeline_title"] == "Sales"
    assert "fields.Lead source" in stats.columns
    assert "stage_title" in stats.columns


def test_a_filter_the_api_ignores_is_noticed_and_the_window_still_exact(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = deals(50, DAY - timedelta(days=10), timedelta(hours=6))
    hook = FakeHook(deal_collections(rows), honour_filter=False)
    with caplog.at_level(logging.WARNING):
        stats, out = run(hook, tmp_path, logger=logging.getLogger("test"))
    assert stats.filter_ignored
    assert "ignored filters[updated_after]=2024-03-01" in caplog.text
    assert [r["id"] for r in out] == ["41", "42", "43", "44"]  # 00:00, 06:00, 12:00, 18:00 of the day


def test_custom_fields_by_name_read_per_record_when_that_is_cheaper(tmp_path: Path) -> None:
    rows = deals(3, DAY + timedelta(hours=1), timedelta(hours=1))
    values = [{"id": str(n), "dealId": 2, "customFieldId": 1, "fieldValue": "web"} for n in range(1, 2)]
    values += [{"id": "9", "dealId": 3, "customFieldId": 2, "fieldValue": "||A||B||"}]
    values += [
        {"id": str(100 + n), "dealId": 1000 + n, "customFieldId": 1, "fieldValue": "x"} for n in range(500)
    ]
    hook = FakeHook(deal_collections(rows, values))
    _, out = run(hook, tmp_path)
    assert [r["fields"] for r in out] == [
        {"Lead source": None, "Products": None},
        {"Lead source": "web", "Products": None},
        {"Lead source": None, "Products": ["A", "B"]},
    ]
    per_record = [q for e, q in hook.calls if e == "dealCustomFieldData" and "filters[dealId]" in q]
    assert len(per_record) == 3  # 3 records: cheaper than reading 6 pages of values


def test_custom_fields_read_as_one_collection_when_that_is_cheaper(tmp_path: Path) -> None:
    rows = deals(250, DAY, timedelta(minutes=5))
    values = [{"id": str(n), "dealId": n, "customFieldId": 1, "fieldValue": f"v{n}"} for n in range(1, 251)]
    hook = FakeHook(deal_collections(rows, values))
    _, out = run(hook, tmp_path)
    assert all(r["fields"]["Lead source"] == f"v{r['id']}" for r in out)
    assert not [q for e, q in hook.calls if "filters[dealId]" in q]


def test_a_full_read_keeps_everything_and_sends_no_filter(tmp_path: Path) -> None:
    rows = deals(130, DAY - timedelta(days=30), timedelta(days=1))
    hook = FakeHook(deal_collections(rows))
    stats, out = run(hook, tmp_path, mode="full")
    assert stats.count == 130
    assert len(out) == 130
    assert not any("filters[updated_after]" in q for _, q in hook.calls)


def test_campaigns_get_their_v1_report_totals(tmp_path: Path) -> None:
    campaigns = [{"id": str(n), "name": f"C{n}", "mdate": stamp(DAY)} for n in (1, 2)]
    hook = FakeHook({"campaigns": campaigns})
    _, out = run(hook, tmp_path, resource="campaigns", mode="full")
    assert [r["report"] for r in out] == [
        {"opens": "3", "campaignid": "1"},
        {"opens": "3", "campaignid": "2"},
    ]
    assert sorted(str(call) for call in hook.legacy) == [
        str(("campaign_report_totals", {"campaignid": "1"})),
        str(("campaign_report_totals", {"campaignid": "2"})),
    ]


def test_impossible_modes_are_refused() -> None:
    hook = FakeHook({})
    with pytest.raises(ValueError, match="no API date filter"):
        ResourceExporter(hook, RESOURCES["lists"], window=WINDOW, mode="api")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no update time"):
        ResourceExporter(hook, RESOURCES["tags"], window=WINDOW, mode="local")  # type: ignore[arg-type]


def test_a_local_window_on_a_resource_without_an_api_filter(tmp_path: Path) -> None:
    lists = [
        {"id": str(n), "name": f"L{n}", "udate": stamp(DAY + timedelta(hours=n * 6))} for n in range(-1, 6)
    ]
    hook = FakeHook({"lists": lists})
    stats, out = run(hook, tmp_path, resource="lists", mode="local")
    assert [r["id"] for r in out] == ["0", "1", "2", "3"]
    assert stats.api_filter == {}


def test_an_order_dated_as_the_reference_writes_it_is_exported_not_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # SPEC POST /ecomOrders' example writes "2019-09-06T2:10:00-05:00" (one-digit hour).
    orders = [
        {"id": "1", "updatedDate": "2019-09-06T2:10:00-05:00"},
        {"id": "2", "updatedDate": "2019-09-06T07:10:00-05:00"},
        {"id": "3", "updatedDate": "2019-09-09T07:10:00-05:00"},  # outside the window
    ]
    window = Window(datetime(2019, 9, 6, tzinfo=UTC), datetime(2019, 9, 7, tzinfo=UTC))
    stats, out = run(FakeHook({"ecomOrders": orders}), tmp_path, "ecom_orders", window=window, mode="local")
    assert [row["id"] for row in out] == ["1", "2"]
    assert stats.count == 2
    assert stats.outside_window == 1
    assert stats.unparseable_dates == 0


def test_an_unparseable_date_is_counted_warned_and_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    orders = [
        {"id": "1", "updatedDate": "Friday morning"},
        {"id": "2", "updatedDate": "2019-09-06T07:10:00-05:00"},
    ]
    window = Window(datetime(2019, 9, 6, tzinfo=UTC), datetime(2019, 9, 7, tzinfo=UTC))
    with caplog.at_level(logging.WARNING):
        stats, out = run(
            FakeHook({"ecomOrders": orders}), tmp_path, "ecom_orders", window=window, mode="local"
        )
    # Kept (a record is never lost for a date we cannot read), counted, and named in a warning.
    assert [row["id"] for row in out] == ["1", "2"]
    assert stats.unparseable_dates == 1
    assert "'Friday morning'" in caplog.text
    assert "updatedDate" in caplog.text
    # The runner's wording (the resource and the record's id), kept when it took up WindowCut.
    assert "ecom_orders 1: updatedDate " in caplog.text
    assert "; the record is exported whatever the window (check the value in ActiveCampaign)." in caplog.text


def test_a_local_read_never_reports_an_ignored_filter(tmp_path: Path) -> None:
    """No filter was sent: records far outside the window are expected, not a sign of one ignored."""
    lists = [{"id": str(n), "name": f"L{n}", "udate": stamp(DAY - timedelta(days=30 - n))} for n in range(40)]
    stats, out = run(FakeHook({"lists": lists}), tmp_path, resource="lists", mode="local")
    assert [r["id"] for r in out] == ["30"]
    assert (stats.read, stats.outside_window, stats.filter_ignored) == (40, 39, False)


def test_the_counts_add_up_over_a_window_cut(tmp_path: Path) -> None:
    rows = deals(600, DAY - timedelta(hours=20), timedelta(minutes=4))
    hook = FakeHook(deal_collections(rows))
    hook.repeat_at = 400
    stats, _ = run(hook, tmp_path)
    assert stats.read == 601  # every deal, one twice
    assert stats.read == stats.count + stats.outside_window + stats.duplicates
    assert stats.outside_window == 300


class FakeContactExporter:
    """``ContactExporter``'s signature: hands each contact to ``keep`` and writes the kept ones."""

    contacts: list[dict[str, Any]] = []

    def __init__(self, hook: Any, *, keep: Any, **_: Any) -> None:
        self.keep = keep

    def export(self, handle: Any, query: Mapping[str, Any]) -> int:
        kept = [c for c in self.contacts if self.keep(c)]
        for contact in kept:
            handle.write(json.dumps(contact) + "\n")
        return len(kept)


@pytest.mark.parametrize("far", [False, True], ids=["filter-honoured", "filter-ignored"])
def test_contacts_are_cut_by_the_same_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, far: bool
) -> None:
    contacts = [
        {"id": "1", "udate": stamp(DAY - timedelta(seconds=1)), "early": 1},
        {"id": "2", "udate": stamp(DAY), "email": "a@example.com"},
        {"id": "3", "udate": "garbled", "phone": "1"},
        {"id": "4", "udate": stamp(DAY + timedelta(days=1)), "late": 1},
    ]
    if far:
        contacts.append({"id": "5", "udate": stamp(DAY - timedelta(days=30)), "ancient": 1})
    monkeypatch.setattr(FakeContactExporter, "contacts", contacts)
    exporter = ResourceExporter(
        cast(ActiveCampaignHook, FakeHook({})),
        RESOURCES["contacts"],
        window=WINDOW,
        mode="api",
        contact_exporter=FakeContactExporter,
        logger=logging.getLogger("test.contacts"),
    )
    staged = tmp_path / "staged.jsonl"
    with caplog.at_level(logging.WARNING, logger="test.contacts"):
        stats = exporter.run(staged)
    assert [json.loads(line)["id"] for line in staged.read_text().splitlines()] == ["2", "3"]
    assert (stats.count, stats.read, stats.outside_window, stats.unparseable_dates) == (
        2,
        len(contacts),
        len(contacts) - 2,
        1,
    )
    assert stats.filter_ignored is far
    assert stats.columns == ["id", "udate", "email", "phone"]  # the kept contacts' columns only
    assert "contacts 3: udate 'garbled'" in caplog.text
