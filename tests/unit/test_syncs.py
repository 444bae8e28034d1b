"""The sync machinery on its own: state file, fingerprints, changes, plan files, removal caps."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_activecampaign.contacts.audience.fingerprint import ALWAYS_SEND, fingerprint, key_digest
from airflow_provider_activecampaign.contacts.audience.mirror import RemovalCap, RemovalCapExceededError
from airflow_provider_activecampaign.contacts.audience.plan import PlanFile, PlanMismatchError, PlanWriter
from airflow_provider_activecampaign.contacts.audience.state import (
    CLEAN,
    DIRTY,
    REJECTED,
    StateChanges,
    SyncState,
    iter_departed,
    load_state,
    save_state,
)


def _state(count: int) -> SyncState:
    changes = StateChanges()
    for i in range(count):
        changes.set(key_digest(f"u{i}@example.com"), 1000 + i, CLEAN, f"u{i}@example.com")
    return SyncState().evolve(changes, {"last_run_at": "2025-01-01T00:00:00+00:00"})


def test_fingerprints_ignore_key_order_and_never_equal_always_send() -> None:
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": "1"})
    assert ALWAYS_SEND not in {fingerprint(i) for i in range(1000)}
    assert key_digest("a@example.com") != key_digest("b@example.com")


def test_state_round_trips_through_a_file_and_finds_every_key(tmp_path: Path) -> None:
    state = _state(500)
    path = ObjectStoragePath(f"file://{tmp_path}/s/state")
    save_state(path, state)
    loaded = load_state(path)
    assert loaded.problem is None
    assert loaded.digest
    assert list(loaded.state.keys) == sorted(loaded.state.keys)
    for i in (0, 250, 499):
        index = loaded.state.find(key_digest(f"u{i}@example.com"))
        assert loaded.state.fingerprints[index] == 1000 + i
        assert loaded.state.label(index) == f"u{i}@example.com"
    assert loaded.state.find(key_digest("nobody@example.com")) == -1
    assert loaded.state.meta["last_run_at"].startswith("2025")
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["state"]  # no temporary file left


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_a_damaged_state_loads_empty_with_the_reason(tmp_path: Path, damage: str) -> None:
    path = ObjectStoragePath(f"file://{tmp_path}/state")
    save_state(path, _state(50))
    data = (tmp_path / "state").read_bytes()
    if damage == "truncate":
        data = data[:-10]
    elif damage == "flip":
        data = data[:-5] + bytes([data[-5] ^ 1]) + data[-4:]
    else:
        data = b"not a state"
    (tmp_path / "state").write_bytes(data)
    loaded = load_state(path)
    assert len(loaded.state) == 0
    assert loaded.problem
    assert "not a readable state file" in loaded.problem


def test_evolve_updates_inserts_and_removes_and_the_last_change_wins() -> None:
    state = _state(100)
    changes = StateChanges()
    changes.set(key_digest("u5@example.com"), 7, DIRTY)  # label kept from the old entry
    changes.set(key_digest("u5@example.com"), 8, REJECTED)
    changes.set(key_digest("new@example.com"), 9, CLEAN, "new@example.com")
    changes.remove(key_digest("u6@example.com"))
    new = state.evolve(changes)
    assert len(new) == 100
    index = new.find(key_digest("u5@example.com"))
    assert (new.fingerprints[index], new.statuses[index], new.label(index)) == (8, REJECTED, "u5@example.com")
    assert new.find(key_digest("u6@example.com")) == -1
    assert new.label(new.find(key_digest("new@example.com"))) == "new@example.com"
    assert list(new.keys) == sorted(new.keys)
    for i in (0, 50, 99):  # untouched entries copied intact, labels aligned
        if i != 6:
            assert new.label(new.find(key_digest(f"u{i}@example.com"))) == f"u{i}@example.com"


def test_departed_are_the_keys_not_seen() -> None:
    seen = bytearray(b"\x01\x00\x01\x00\x00")
    assert list(iter_departed(SyncState(), seen)) == [1, 3, 4]


def test_removal_cap_parses_counts_ratios_and_both() -> None:
    assert RemovalCap.parse(10) == RemovalCap(10, None)
    assert RemovalCap.parse(0.2) == RemovalCap(None, 0.2)
    assert RemovalCap.parse({"count": 5, "ratio": 0.5}) == RemovalCap(5, 0.5)
    assert RemovalCap.parse(None).ratio == 0.1
    with pytest.raises(ValueError, match="max_removals"):
        RemovalCap.parse("lots")
    RemovalCap(5, 0.5).check(5, 10)
    with pytest.raises(RemovalCapExceededError, match=r"6 contacts left the source.*count of 5"):
        RemovalCap(5, None).check(6, 1000)
    with pytest.raises(RemovalCapExceededError, match=r"60% of the 10 contacts"):
        RemovalCap(None, 0.5).check(6, 10)


def test_a_plan_reads_back_only_with_its_digest(tmp_path: Path) -> None:
    writer = PlanWriter(ObjectStoragePath(f"file://{tmp_path}/p/plan.gz"))
    writer.add({"op": "upsert", "row": 1})
    writer.add({"op": "depart", "key": 5})
    digest = writer.finish({"counts": {"sends": 1}})
    with PlanFile(ObjectStoragePath(f"file://{tmp_path}/p/plan.gz"), digest) as plan:
        assert plan.header["items"] == 2
        assert [item["op"] for item in plan.items()] == ["upsert", "depart"]
    with pytest.raises(PlanMismatchError, match="changed after it was planned"):
        PlanFile(ObjectStoragePath(f"file://{tmp_path}/p/plan.gz"), "0" * 64)
