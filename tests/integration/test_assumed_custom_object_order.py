"""The custom-object readers, whatever order a schema's records are listed in.

SPEC ``GET /customObjects/records/{schemaId}`` declares no order and no order parameter, so the
emulator's creation order is *assumed* (switch ``custom_object_records_creation_order``; off:
newest first). The export reads a schema's pages by offset, several at once; the writer reads a
schema's records one page after another before it writes. Both must come out the same either way,
with records created between two pages: newest first, a record created mid-read shifts every later
record one offset on, so a page read after it repeats a record and a page read before it, further
on, has already passed the one pushed into the gap.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture

from airflow_provider_activecampaign.operators.customobjects import (
    ActiveCampaignUpsertCustomObjectRecordsOperator,
)
from airflow_provider_activecampaign.operators.export import ActiveCampaignExportOperator
from tests.integration.contacts_support import read_jsonl, run_operator
from tests.integration.test_custom_objects import SCHEMA, earlier_records

pytestmark = pytest.mark.integration

MODES = pytest.mark.parametrize("creation_order", [True, False], ids=["creation-order", "newest-first"])
RECORDS_PATH = "/api/3/customObjects/records/{schemaId}"
MID_READ = 3


def _stored(emulator: EmulatorFixture) -> list[str]:
    """The schema's records' external ids, from the emulator's own state (not the list)."""
    [stored] = emulator.state()["custom_objects"].values()
    return [record["externalId"] for record in stored]


def _answered_reads(emulator: EmulatorFixture) -> list[dict[str, Any]]:
    """The record-list GETs answered so far, in the order they were answered."""
    return [
        entry
        for entry in emulator.requests()["requests"]
        if entry["method"] == "GET" and entry["template"] == RECORDS_PATH and entry["status"] is not None
    ]


def _with_records_created_mid_read(
    emulator: EmulatorFixture, read: Callable[[], Any], answered_first: int
) -> Any:
    """Run ``read`` while its second record-list GET is held 3 s; once ``answered_first`` others
    were answered, create ``MID_READ`` records; check the held page was answered after them."""
    emulator.add_fault("GET", RECORDS_PATH, "slow", delay=0.0, times=1)
    emulator.add_fault("GET", RECORDS_PATH, "slow", delay=3.0, times=1)
    outcome: list[Any] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(read())
        except BaseException as error:  # reported by the main thread
            failure.append(error)

    reader = threading.Thread(target=run, daemon=True)
    reader.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (
        emulator.client.faults()[1]["fired"] == 0 or len(_answered_reads(emulator)) < answered_first
    ):
        time.sleep(0.02)
    assert emulator.client.faults()[1]["fired"] == 1, "the second page was never held"
    assert len(_answered_reads(emulator)) == answered_first, "the pages around the held one were not read"
    with httpx.Client(base_url=f"{emulator.url}/api/3", headers={"Api-Token": emulator.api_key}) as api:
        [schema] = api.get("customObjects/schemas").json()["schemas"]
        for n in range(MID_READ):
            body = {"record": {"externalId": f"mid-{n}", "fields": [{"id": "plan", "value": "new"}]}}
            assert api.post(f"customObjects/records/{schema['id']}", json=body).status_code == 201
    reader.join(60)
    assert not reader.is_alive()
    assert failure == []
    # The log lists requests as they were answered: the held page after the records were created.
    log = emulator.requests()["requests"]
    created = [n for n, e in enumerate(log) if e["method"] == "POST" and e["template"] == RECORDS_PATH]
    [held] = [n for n, e in enumerate(log) if e["template"] == RECORDS_PATH and e["fault"] == "slow"][1:]
    assert len(created) == MID_READ
    assert max(created) < held
    return outcome[0]


@MODES
def test_the_export_writes_every_record_once_with_records_created_between_pages(
    emulator: EmulatorFixture, tmp_path: Path, creation_order: bool
) -> None:
    """450 records: five pages. The first is read alone, then two at a time (``parallel_reads=2``):
    the held page is the first of those two, so pages further on are read before the records are
    created and the held one after; the export waits for those three pages before creating."""
    emulator.seed({"custom_objects": [{**SCHEMA, "records": earlier_records(450)}]})
    emulator.configure(speed=50)
    emulator.set_assumed(custom_object_records_creation_order=creation_order)
    output = tmp_path / "records.jsonl"
    operator = ActiveCampaignExportOperator(
        task_id="export",
        resource="custom_object_records",
        mode="full",
        output_path=str(output),
        parallel_reads=2,
    )
    _with_records_created_mid_read(emulator, lambda: operator.execute({}), answered_first=4)

    written = Counter(str(row["externalId"]) for row in read_jsonl(output))
    assert set(written.values()) == {1}  # nothing twice
    assert {f"old-{n}" for n in range(450)} <= set(written)  # nothing that existed before is lost
    assert set(written) <= set(_stored(emulator))


@MODES
def test_the_writer_knows_every_record_with_records_created_between_its_pages(
    emulator: EmulatorFixture, tmp_path: Path, creation_order: bool
) -> None:
    """250 records, each sent again unchanged: the writer's read must know every one, or it writes
    one again. Its second page is held while records are created."""
    emulator.seed({"custom_objects": [{**SCHEMA, "records": earlier_records(250)}]})
    emulator.configure(speed=50)
    emulator.set_assumed(custom_object_records_creation_order=creation_order)
    rows = [{"external_id": f"old-{n}", "Plan": "old"} for n in range(250)]
    operator = ActiveCampaignUpsertCustomObjectRecordsOperator(
        task_id="records",
        schema="subscription",
        records=rows,
        failures_path=str(tmp_path / "failures.jsonl"),
        max_failure_ratio=0,
    )
    result = _with_records_created_mid_read(emulator, lambda: run_operator(operator), answered_first=1)

    assert (result["created"], result["updated"], result["unchanged"]) == (0, 0, 250)
    writes = emulator.state()["custom_object_writes"]
    # The seed wrote each stored record once; the writer wrote none of them, only the test did.
    assert writes == {
        **{f"subscription:old-{n}": 1 for n in range(250)},
        **{f"subscription:mid-{n}": 1 for n in range(MID_READ)},
    }
