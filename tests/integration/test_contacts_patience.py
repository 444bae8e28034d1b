"""The contact sync under contention: 429 storms and 5xx bursts on the bulk importer are waited out.

Nothing is lost and nothing imported twice; a storm longer than ``max_wait`` fails with a message
that says what was sent. Against the emulator over loopback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture

from airflow_provider_activecampaign.contacts import sync as contacts_sync
from airflow_provider_activecampaign.exceptions import (
    ActiveCampaignAmbiguousWriteError,
    ActiveCampaignRateLimitError,
)
from tests.integration.contacts_support import api_counts, contacts, fast_seed, run_sync, use_emulator

pytestmark = pytest.mark.integration


def sync(tmp_path: Path, **options: Any) -> dict[str, Any]:
    return run_sync(tmp_path, sync_below=0, **options)


def test_a_429_storm_on_half_the_bulk_imports_is_waited_out(
    emulator: EmulatorFixture, tmp_path: Path
) -> None:
    use_emulator(emulator, speed=20, seed=fast_seed())
    # Another integration spends the budget: half of the imports are answered 429, Retry-After 1 s.
    emulator.add_fault(
        "POST", "/api/3/import/bulk_import", "http_429", probability=0.5, seed=3, retry_after=1
    )
    result = sync(tmp_path, contacts=contacts(1_500))

    assert (result["submitted"], result["succeeded"], result["failed"]) == (1_500, 1_500, 0)
    used = api_counts(emulator)
    assert used["POST /api/3/import/bulk_import 429"] >= 2  # the storm did happen
    state = emulator.state()
    assert state["counters"]["imports_submitted"] == 6  # each batch applied once: a 429 is not applied
    assert sorted(c["email"] for c in state["contacts"]) == sorted(c["email"] for c in contacts(1_500))


def test_six_503s_in_a_row_on_the_importer_are_waited_out(
    emulator: EmulatorFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(contacts_sync, "RESUBMIT_BACKOFF", 0.02)  # the back-off's shape, faster
    use_emulator(emulator, speed=20, seed=fast_seed())
    emulator.add_fault("POST", "/api/3/import/bulk_import", "http_503", times=6)
    result = sync(tmp_path, contacts=contacts(500))

    assert (result["submitted"], result["succeeded"]) == (500, 500)
    assert api_counts(emulator)["POST /api/3/import/bulk_import 503"] == 6
    state = emulator.state()
    assert state["counters"]["imports_submitted"] == 2
    assert len(state["contacts"]) == 500


def test_a_429_storm_longer_than_max_wait_fails_and_says_so(
    emulator: EmulatorFixture, tmp_path: Path
) -> None:
    use_emulator(emulator, speed=20, seed=fast_seed(), max_wait=3)
    emulator.add_fault("POST", "/api/3/import/bulk_import", "http_429", probability=1.0, retry_after=1)
    with pytest.raises(ActiveCampaignRateLimitError) as raised:
        sync(tmp_path, contacts=contacts(300))
    message = str(raised.value)
    assert "Still throttled after" in message
    assert "max_wait=3 s" in message
    assert "ActiveCampaign acted on none of them" in message
    assert "Before this failure the sync had submitted 0 of 300 records" in message
    assert "Re-running the task sends every record again" in message
    assert emulator.state()["counters"].get("imports_submitted", 0) == 0
    assert emulator.state()["contacts"] == []


def test_ambiguous_failures_longer_than_max_wait_say_how_often_the_batch_was_sent(
    emulator: EmulatorFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(contacts_sync, "RESUBMIT_BACKOFF", 0.2)
    use_emulator(emulator, speed=20, seed=fast_seed(), max_wait=2)
    emulator.add_fault("POST", "/api/3/import/bulk_import", "http_503", probability=1.0)
    with pytest.raises(ActiveCampaignAmbiguousWriteError) as raised:
        sync(tmp_path, contacts=contacts(300))
    sent = api_counts(emulator)["POST /api/3/import/bulk_import 503"]
    message = str(raised.value)
    assert sent >= 2
    assert f"was sent {sent} times over" in message
    assert "not sent again" not in message
    assert "Before this failure the sync had submitted 0 of 300 records" in message
