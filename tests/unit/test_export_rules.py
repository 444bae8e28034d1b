"""The export's registry and window rules: names, incremental choices, exact boundaries, date filters."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from airflow_provider_activecampaign.exports.registry import RESOURCES, Incremental, Paging, get_resource
from airflow_provider_activecampaign.exports.windows import (
    NoWindowError,
    Window,
    api_date_filter,
    record_time,
    resolve_window,
    window_of,
)
from airflow_provider_activecampaign.records.dates import UnparseableDateError

ISSUE_RESOURCES = {
    "contacts", "deals", "pipelines", "stages", "accounts", "account_contacts", "lists", "tags",
    "fields", "deal_fields", "account_fields", "automations", "contact_automations", "campaigns",
    "messages", "users", "notes", "deal_tasks", "ecom_connections", "ecom_customers", "ecom_orders",
    "ecom_order_products",
}  # fmt: skip

DAY = datetime(2024, 3, 2, tzinfo=UTC)
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def test_every_resource_the_issue_names_is_registered_once() -> None:
    assert set(RESOURCES) >= ISSUE_RESOURCES
    collections = [(resource.endpoint, resource.key) for resource in RESOURCES.values()]
    assert len(collections) == len(set(collections))  # each collection (or sideloaded list) described once


def test_every_stream_the_singer_tap_reads_is_exportable() -> None:
    """Parity with tap-activecampaign 1.3.1: each of its streams' (path, list key) is a resource of ours."""
    tap = json.loads((FIXTURES / "tap_activecampaign_streams.json").read_text(encoding="utf-8"))["streams"]
    assert len(tap) == 59
    ours = {(resource.endpoint, resource.key) for resource in RESOURCES.values()}
    # The tap reads order products per order (ecomOrders/{id}/orderProducts); we read the one listing.
    tap_collections = {
        ("ecomOrderProducts", key) if path.startswith("ecomOrders/") else (path, key)
        for path, key in ((stream["path"], stream["data_key"]) for stream in tap.values())
    }
    missing = sorted(tap_collections - ours)
    assert missing == [], f"streams the tap reads that no resource exports: {missing}"


def test_only_the_collections_with_a_documented_date_filter_are_read_incrementally_by_the_api() -> None:
    by_api = {name for name, resource in RESOURCES.items() if resource.incremental is Incremental.API}
    assert by_api == {"contacts", "deals"}
    for name in by_api:
        assert RESOURCES[name].filter_after == "filters[updated_after]"
    for resource in RESOURCES.values():
        assert resource.why, f"{resource.name} has no stated reason for its incremental/full choice"
        if resource.incremental is Incremental.LOCAL:
            assert resource.updated_field
    assert RESOURCES["contacts"].paging is Paging.ID_GREATER
    assert RESOURCES["deals"].pivot is not None
    assert RESOURCES["accounts"].pivot is not None


def test_an_unknown_resource_lists_the_valid_names() -> None:
    with pytest.raises(
        ValueError,
        match=r"resource 'deal'. Did you mean 'deals'.*: account_contacts, account_field_values, account_fie",
    ):
        get_resource("deal")


def test_a_window_is_half_open_to_the_second() -> None:
    window = Window(DAY, DAY + timedelta(days=1))
    assert window.contains(DAY)
    assert window.contains(DAY + timedelta(hours=23, minutes=59, seconds=59))
    assert not window.contains(DAY + timedelta(days=1))  # 00:00:00 belongs to the next day
    assert not window.contains(DAY - timedelta(seconds=1))
    assert not window.contains(None)
    assert Window(None, None).contains(None)


def test_the_api_date_filter_is_a_day_wider_on_each_side() -> None:
    assert api_date_filter(Window(DAY, DAY + timedelta(days=1))) == ("2024-03-01", "2024-03-04")
    assert api_date_filter(Window(None, DAY)) == (None, "2024-03-03")


def local_midnight(day: str, offset_hours: float) -> datetime:
    """When ``day`` starts in an account at ``offset_hours`` (where a filter's date counts from)."""
    return datetime.fromisoformat(day).replace(tzinfo=UTC) - timedelta(hours=offset_hours)


@pytest.mark.parametrize("offset", [14, 5.5, 0, -5, -12])
@pytest.mark.parametrize(
    ("start", "end"),
    [
        (DAY, DAY + timedelta(days=1)),
        (DAY + timedelta(hours=10), DAY + timedelta(hours=21, minutes=30)),  # ends late in the UTC day
        (DAY + timedelta(hours=23, minutes=59), DAY + timedelta(days=1, hours=9, minutes=59, seconds=59)),
    ],
)
def test_the_api_date_filter_covers_the_window_at_any_account_offset(
    start: datetime, end: datetime, offset: float
) -> None:
    """Even with strict ``>``/``<``, every record in ``[start, end)`` passes (no record is lost)."""
    after, before = api_date_filter(Window(start, end))
    assert after is not None
    assert before is not None
    assert local_midnight(after, offset) < start
    assert local_midnight(before, offset) >= end
    # Nothing the filter lets through is "far outside" (no false warning of an ignored filter).
    window = Window(start, end)
    assert not window.far_outside(local_midnight(after, offset))
    assert not window.far_outside(local_midnight(before, offset) - timedelta(seconds=1))


def test_a_window_ending_late_in_the_utc_day_reaches_two_days_on() -> None:
    """At +14 h, the next UTC date's midnight is 10:00 UTC of the end's own day: too early."""
    assert api_date_filter(Window(DAY, DAY + timedelta(hours=21, minutes=30))) == ("2024-03-01", "2024-03-04")
    assert api_date_filter(Window(DAY, DAY + timedelta(hours=9))) == ("2024-03-01", "2024-03-03")


def test_far_outside_means_no_date_filter_could_have_let_it_through() -> None:
    window = Window(DAY, DAY + timedelta(days=1))
    assert not window.far_outside(DAY - timedelta(days=2, hours=23))
    assert window.far_outside(DAY - timedelta(days=3, seconds=1))
    assert not window.far_outside(DAY + timedelta(days=3, hours=23))
    assert window.far_outside(DAY + timedelta(days=4))
    assert not window.far_outside(None)


def test_record_times_in_every_shape_the_api_uses() -> None:
    assert record_time("2024-03-02T07:51:31-05:00") == datetime(2024, 3, 2, 12, 51, 31, tzinfo=UTC)
    assert record_time("2018-11-06 02:26:07") == datetime(2018, 11, 6, 2, 26, 7, tzinfo=UTC)
    assert record_time("2018-11-06 02:26:07", "Europe/Berlin") == datetime(2018, 11, 6, 1, 26, 7, tzinfo=UTC)
    assert record_time("0000-00-00 00:00:00") is None
    assert record_time(None) is None
    # SPEC POST /ecomOrders' example: a one-digit hour.
    assert record_time("2019-09-06T2:10:00-05:00") == datetime(2019, 9, 6, 7, 10, tzinfo=UTC)
    # Not a date: raised for the caller to count and report (it used to be None: dropped silently).
    with pytest.raises(UnparseableDateError, match="'not a date'"):
        record_time("not a date")


def test_resolve_window_uses_the_data_interval_or_the_last_success_on_empty_intervals() -> None:
    end = DAY + timedelta(days=1)
    assert resolve_window({"data_interval_start": DAY, "data_interval_end": end}) == (DAY, end)
    previous = DAY - timedelta(days=1)
    empty = {"data_interval_start": end, "data_interval_end": end, "prev_data_interval_end_success": previous}
    assert resolve_window(empty) == (previous, end)
    assert resolve_window({}, updated_after="2024-01-01", use_data_interval=False) == ("2024-01-01", None)
    with pytest.raises(NoWindowError, match="no data interval"):
        resolve_window({})


def test_a_window_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match=r"ends .* before it starts"):
        window_of("2024-03-02", "2024-03-01")
