"""The deals readers, whatever order ``GET /deals`` lists deals in when none is named.

SPEC ``GET /deals`` names no default order (its ``orders[...]`` are title, value, cdate, contact
and next action, none of them unique), so the emulator's id order is *assumed* (switch
``deals_default_order_by_id``; off: newest first). The export pages by offset without naming an
order and the deals writer reads every deal the same way; both must come out the same either way,
even with deals created between two pages (newest first, every later page then starts with
records already read: they are written once).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture

from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.operators.export import ActiveCampaignExportOperator
from tests.integration.contacts_support import read_jsonl, use_emulator
from tests.integration.test_deals_sync import deals, deals_by_key
from tests.integration.writes_support import fresh_crm

pytestmark = pytest.mark.integration

MODES = pytest.mark.parametrize("by_id", [True, False], ids=["id-order", "newest-first"])


def _all_deal_ids() -> list[str]:
    """Every deal id, read in a named order (``orders[cdate]``, then id order by the ids)."""
    hook = ActiveCampaignHook()
    return sorted(
        (str(d["id"]) for d in hook.paginate("deals", key="deals", params={"orders[cdate]": "ASC"})), key=int
    )


@MODES
def test_the_deals_export_writes_every_deal_once_with_deals_created_between_pages(
    emulator: EmulatorFixture, tmp_path: Path, by_id: bool
) -> None:
    fresh_crm(emulator)
    use_emulator(emulator, speed=20)
    emulator.set_assumed(deals_default_order_by_id=by_id)
    before = _all_deal_ids()
    assert len(before) > 200  # three pages at least
    # The first page answers at once; the second is held 2 s while three deals are created.
    emulator.add_fault("GET", "/api/3/deals", "slow", delay=0.0, times=1)
    emulator.add_fault("GET", "/api/3/deals", "slow", delay=2.0, times=1)
    output = tmp_path / "deals.jsonl"
    operator = ActiveCampaignExportOperator(
        task_id="export", resource="deals", mode="full", output_path=str(output)
    )
    failure: list[BaseException] = []

    def export() -> None:
        try:
            operator.execute({})
        except BaseException as error:  # reported by the main thread
            failure.append(error)

    reader = threading.Thread(target=export, daemon=True)
    reader.start()
    deadline = time.monotonic() + 30
    while emulator.client.faults()[1]["fired"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert emulator.client.faults()[1]["fired"] == 1, "the second page was never held"
    with httpx.Client(base_url=f"{emulator.url}/api/3", headers={"Api-Token": emulator.api_key}) as api:
        for n in range(3):
            body = {"deal": {"title": f"Mid-read {n}", "value": 100, "account": 1, "stage": 1, "owner": 1}}
            assert api.post("deals", json=body).status_code == 201
    reader.join(60)
    assert not reader.is_alive()
    assert failure == []

    written = Counter(str(row["id"]) for row in read_jsonl(output))
    assert set(written.values()) == {1}  # nothing twice
    assert set(before) <= set(written)  # nothing that existed before the read is lost
    assert set(written) <= set(_all_deal_ids())


@MODES
def test_the_deals_writer_updates_by_key_whatever_the_listing_order(
    emulator: EmulatorFixture, run_dag: Any, tmp_path: Path, by_id: bool
) -> None:
    fresh_crm(emulator)
    emulator.configure(speed=50)
    emulator.set_assumed(deals_default_order_by_id=by_id)
    conf = {"deals": deals(5), "failures_path": str(tmp_path / "failures.jsonl")}
    first = run_dag("writes_deals", conf=conf)
    changed = deals(5)
    changed[3]["value"] = 4242
    conf = {"deals": changed, "failures_path": str(tmp_path / "again.jsonl")}
    again = run_dag("writes_deals", conf=conf)

    assert run_dag.xcom(first, "deals")["created"] == 5
    result = run_dag.xcom(again, "deals")
    assert (result["created"], result["updated"], result["unchanged"], result["failed"]) == (0, 1, 4, 0)
    assert deals_by_key() == dict.fromkeys((f"inv-{i}" for i in range(5)), 1)
    values = {
        d["title"]: int(d["value"]) for d in emulator.client.deals() if d["title"].startswith("Invoice ")
    }
    assert values["Invoice 3"] == 4242
