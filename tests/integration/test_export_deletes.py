"""Delete capture through ``dag.test()``: a record deleted between two runs appears once, as a tombstone."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture

from tests.integration.contacts_support import read_jsonl, use_emulator

pytestmark = pytest.mark.integration

DAY = datetime(2024, 3, 1, tzinfo=UTC)


def _delete(emulator: EmulatorFixture, path: str) -> None:
    answer = httpx.delete(f"{emulator.url}/api/3/{path}", headers={"Api-Token": emulator.api_key}, timeout=30)
    assert answer.status_code == 200, answer.text


def test_a_deleted_record_appears_once_as_a_tombstone(
    emulator: EmulatorFixture, run_dag: Any, tmp_path: Path
) -> None:
    use_emulator(emulator, speed=20)
    emulator.seed({"contacts": [{"email": f"d{n}@example.com"} for n in range(5)]})
    contacts = {c["email"]: str(c["id"]) for c in emulator.state()["contacts"]}
    deals = [str(deal["id"]) for deal in emulator.client.deals()]
    assert len(deals) >= 3

    def run(day: datetime) -> dict[str, Any]:
        dagrun = run_dag("export_with_deletes", conf={"output_dir": str(tmp_path)}, logical_date=day)
        assert set(run_dag.task_states(dagrun).values()) == {"success"}
        found: dict[str, Any] = {}
        for resource in ("contacts", "deals"):
            path = tmp_path / resource / f"{day - timedelta(days=1):%Y-%m-%d}.jsonl"
            manifest = json.loads(Path(f"{path}.manifest.json").read_text())
            tombstones = [row for row in read_jsonl(path) if row.get("_deleted")]
            found[resource] = (manifest, tombstones)
        return found

    first = run(DAY)
    for resource in ("contacts", "deals"):
        manifest, tombstones = first[resource]
        assert tombstones == []
        assert manifest["deleted"] == 0
        assert manifest["deletes"]["baseline"] is True

    _delete(emulator, f"contacts/{contacts['d2@example.com']}")
    _delete(emulator, f"deals/{deals[0]}")
    _delete(emulator, f"deals/{deals[1]}")

    second = run(DAY + timedelta(days=1))
    manifest, tombstones = second["contacts"]
    assert [row["id"] for row in tombstones] == [contacts["d2@example.com"]]
    assert manifest["deleted"] == 1
    assert manifest["deletes"]["ids_now"] == 4
    manifest, tombstones = second["deals"]
    assert sorted(row["id"] for row in tombstones) == sorted(deals[:2])
    assert all(row["_deleted"] is True and row["_deleted_at"] for row in tombstones)
    assert manifest["deleted"] == 2
    # The deleted deals are not among the exported records any more.
    assert not {
        row["id"] for row in read_jsonl(tmp_path / "deals" / "2024-03-01.jsonl") if not row.get("_deleted")
    } & set(deals[:2])

    third = run(DAY + timedelta(days=2))
    for resource in ("contacts", "deals"):
        manifest, tombstones = third[resource]
        assert tombstones == [], f"{resource}: a delete was reported twice"
        assert manifest["deleted"] == 0
        assert manifest["deletes"]["baseline"] is False
