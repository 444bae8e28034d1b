"""Custom-field values of an export read in bulk, with or without ``meta.total`` on the lists.

The reference's examples of ``GET /accountCustomFieldData`` and ``/dealCustomFieldData`` carry no
``meta``; the emulator adds ``meta.total`` (*assumed*, switch ``custom_field_meta_total``). Issue 22:
given the reference's shape, the export fell back to one request per record (61 requests for 60
accounts holding 20 values). In both modes the values must now come from the bulk listing, paged
until a short page.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture
from activecampaign_emulator.seed import default_seed

from airflow_provider_activecampaign.operators.export import ActiveCampaignExportOperator
from tests.integration.contacts_support import use_emulator

pytestmark = pytest.mark.integration


def value_reads(emulator: EmulatorFixture, endpoint: str) -> int:
    counts = emulator.requests()["counts"]
    return sum(n for key, n in counts.items() if key.startswith(f"GET /api/3/{endpoint} "))


@pytest.mark.parametrize("meta_total", [True, False], ids=["emulator-meta-total", "reference-shape"])
def test_sixty_accounts_holding_twenty_values_cost_one_value_read(
    emulator: EmulatorFixture, tmp_path: Path, meta_total: bool
) -> None:
    seed = default_seed()
    seed["accounts"] = [
        {"name": f"Account {n}", "fields": {"Warehouse id": f"w{n}"} if n < 20 else {}} for n in range(60)
    ]
    use_emulator(emulator, speed=20, seed=seed)
    emulator.set_assumed(custom_field_meta_total=meta_total)
    output = tmp_path / "accounts.jsonl"
    ActiveCampaignExportOperator(
        task_id="export", resource="accounts", mode="full", output_path=str(output)
    ).execute({})
    rows = {row["name"]: row for row in map(json.loads, output.read_text().splitlines())}
    assert len(rows) == 60
    assert {
        name: row["fields"]["Warehouse id"] for name, row in rows.items() if row["fields"]["Warehouse id"]
    } == {f"Account {n}": f"w{n}" for n in range(20)}
    assert value_reads(emulator, "accountCustomFieldData") == 1


@pytest.mark.parametrize("meta_total", [True, False], ids=["emulator-meta-total", "reference-shape"])
def test_a_window_of_three_deals_among_many_values_reads_per_deal(
    emulator: EmulatorFixture, tmp_path: Path, meta_total: bool
) -> None:
    """Bulk costs more than the window's records: per-record reads (without a total: at most twice)."""
    seed = default_seed()
    inside, outside = "2024-03-01T12:00:00+00:00", "2024-01-01T00:00:00+00:00"
    seed["deals"] = [
        {
            "title": f"D{n}",
            "pipeline": 1,
            "mdate": inside if n < 3 else outside,
            "fields": {"External key": f"k{n}"},
        }
        for n in range(450)
    ]
    use_emulator(emulator, speed=20, seed=seed)
    emulator.set_assumed(custom_field_meta_total=meta_total)
    output = tmp_path / "deals.jsonl"
    ActiveCampaignExportOperator(
        task_id="export",
        resource="deals",
        mode="incremental",
        updated_after="2024-03-01",
        updated_before="2024-03-02",
        output_path=str(output),
    ).execute({})
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert sorted(row["fields"]["External key"] for row in rows) == ["k0", "k1", "k2"]
    # 450 values = 5 bulk pages; 3 deals = 3 requests. With a total: the probe + 3; without: at most
    # 3 bulk pages are read before switching to per-deal reads.
    assert value_reads(emulator, "dealCustomFieldData") <= (4 if meta_total else 6)
