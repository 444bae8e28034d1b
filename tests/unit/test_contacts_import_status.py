"""The one reading of bulk-import status (``GET /import/info``), used by the sync, sensor and trigger."""

from __future__ import annotations

from typing import Any
from unittest.mock import AsyncMock, MagicMock

import pytest

from airflow_provider_activecampaign.contacts import import_status
from airflow_provider_activecampaign.contacts.import_status import (
    UNKNOWN_BATCH_GRACE,
    ImportInfo,
    ImportWatch,
    UnknownBatchError,
    aread_import_info,
    read_import_info,
)
from airflow_provider_activecampaign.exceptions import (
    ActiveCampaignNotFoundError,
    ActiveCampaignValidationError,
)


def test_import_info_false_status_is_pending() -> None:
    info = ImportInfo.parse("b1", {"status": False})
    assert info.status == "pending"
    assert not info.done


def test_import_info_completed() -> None:
    info = ImportInfo.parse(
        "b1", {"status": "completed", "success": ["1", "2"], "failure": ["x@example.com"]}
    )
    assert info.done
    assert info.to_json() == {
        "status": "completed",
        "succeeded": 2,
        "failed": 1,
        "failed_emails": ["x@example.com"],
    }


@pytest.mark.parametrize("status", ["failed", "interrupted"])
def test_failed_and_interrupted_imports_are_finished(status: str) -> None:
    assert ImportInfo.parse("b1", {"status": status}).done


def test_info_round_trips_through_its_json() -> None:
    info = ImportInfo.parse("b1", {"status": "completed", "success": ["1"], "failure": ["x@example.com"]})
    assert ImportInfo.from_json("b1", info.to_json()) == info


def test_read_asks_import_info_for_the_batch() -> None:
    hook = MagicMock()
    hook.get.return_value = {"status": "completed", "success": ["1", "2"], "failure": []}
    info = read_import_info(hook, "b7")
    hook.get.assert_called_once_with("import/info", params={"batchId": "b7"})
    assert (info.batch_id, info.status, info.succeeded) == ("b7", "completed", 2)


def test_read_of_a_batch_the_importer_does_not_know_yet_is_unknown() -> None:
    hook = MagicMock()
    hook.get.side_effect = ActiveCampaignNotFoundError("No Result found")
    info = read_import_info(hook, "b7")
    assert info.unknown
    assert not info.done


async def test_async_read_reads_the_same_way() -> None:
    hook = MagicMock()
    hook.get = AsyncMock(side_effect=[{"status": False}, ActiveCampaignNotFoundError("No Result found")])
    first = await aread_import_info(hook, "b1")
    second = await aread_import_info(hook, "b1")
    hook.get.assert_awaited_with("import/info", params={"batchId": "b1"})
    assert (first.status, second.status) == ("pending", "unknown")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_watch_tolerates_an_unknown_batch_for_the_grace_then_fails() -> None:
    clock = Clock()
    watch = ImportWatch(["b1"], clock=clock)
    watch.observe(ImportInfo.not_known_yet("b1"))
    clock.now += UNKNOWN_BATCH_GRACE  # exactly the grace: still waiting
    watch.observe(ImportInfo.not_known_yet("b1"))
    clock.now += 1
    with pytest.raises(UnknownBatchError, match="still does not know bulk import b1"):
        watch.observe(ImportInfo.not_known_yet("b1"))


def test_watch_keeps_finished_batches_and_skips_them_next_time() -> None:
    watch = ImportWatch(["a", "b"])
    watch.observe(ImportInfo.parse("a", {"status": "completed", "success": ["1"]}))
    watch.observe(ImportInfo.parse("b", {"status": "active"}))
    assert list(watch.unfinished()) == ["b"]
    assert watch.results() == {"a": {"status": "completed", "succeeded": 1, "failed": 0, "failed_emails": []}}


def test_mapping_holds_no_import_status_any_more() -> None:
    """``contacts/mapping.py`` is pure again: the import status (and its HTTP read) live in one module."""
    from airflow_provider_activecampaign.contacts import mapping

    assert not hasattr(mapping, "ImportInfo")
    assert not hasattr(mapping, "check_unknown_batch")
    assert import_status.ImportInfo is ImportInfo


def test_the_sync_sensor_and_trigger_read_through_the_one_module() -> None:
    from airflow_provider_activecampaign.contacts import sync
    from airflow_provider_activecampaign.sensors import contacts as sensor
    from airflow_provider_activecampaign.triggers import contacts as trigger

    assert sync.read_import_info is read_import_info
    assert sensor.read_import_info is read_import_info
    assert trigger.aread_import_info is aread_import_info


def test_watch_says_how_far_the_batches_are_for_the_sensor_and_trigger_alike() -> None:
    watch = ImportWatch(["a", "b"])
    watch.observe(ImportInfo.parse("a", {"status": "completed", "success": ["1"]}))
    waiting = watch.observe(ImportInfo.parse("b", {"status": "active"}))
    assert watch.progress(waiting) == "Bulk import b is active; 1 of 2 batches finished."


@pytest.mark.parametrize(
    "body",
    [
        {"status": False},  # the emulator's choice: false alone
        {"status": False, "success": [], "failure": []},
        {"status": False, "success": ["1"], "failure": ["x@example.com"]},
    ],
    ids=["alone", "empty-lists", "partial-lists"],
)
def test_a_false_status_is_pending_whatever_keys_come_with_it(body: dict[str, Any]) -> None:
    """The reference says ``false`` may come first, not which keys accompany it."""
    info = ImportInfo.parse("b1", body)
    assert (info.status, info.done, info.unknown) == ("pending", False, False)


def test_an_unknown_batch_answered_with_another_refusal_fails_at_once() -> None:
    """The unknown batch's answer is undocumented (the emulator's 404 is tolerated for a grace);
    answered as a 400 instead, the read fails at once: a batch never known fails either way."""
    hook = MagicMock()
    hook.get.side_effect = ActiveCampaignValidationError(
        "No import batch found with batchId 'b7'.", status=400
    )
    with pytest.raises(ActiveCampaignValidationError):
        read_import_info(hook, "b7")
