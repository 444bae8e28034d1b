"""Hook lineage of writes: a real contacts sync (``dag.test()``, emulator over loopback) reports the
collections it changed to Airflow's own ``HookLineageCollector``, as ``activecampaign://`` assets.

Airflow hands a real collector to tasks only when a hook-lineage reader plugin (OpenLineage, for
one) is installed; here the real class is given to the run directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture
from airflow.sdk.lineage import HookLineageCollector

from tests.integration.contacts_support import contacts, fast_seed, use_emulator

pytestmark = pytest.mark.integration


def test_a_contacts_sync_reports_what_it_read_and_wrote(
    emulator: EmulatorFixture, run_dag: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import airflow.sdk.lineage

    use_emulator(emulator, speed=10, seed=fast_seed())
    collector = HookLineageCollector()
    monkeypatch.setattr(airflow.sdk.lineage, "get_hook_lineage_collector", lambda: collector)
    conf = {
        "contacts": contacts(300),  # two bulk imports (250 + 50)
        "subscribe_lists": ["Newsletter"],
        "tags": ["imported"],
        "failures_path": str(tmp_path / "failures.jsonl"),
    }

    dagrun = run_dag("contacts_sync_deferrable", conf=conf)

    assert run_dag.task_states(dagrun) == {"sync": "success"}
    host = emulator.url.split("://", 1)[1].rstrip("/")
    lineage = collector.collected_assets
    written = {info.asset.uri: info.count for info in lineage.outputs}
    read = {info.asset.uri for info in lineage.inputs}
    # Both bulk imports changed contacts (POST /import/bulk_import), counted once per answered write.
    assert written == {f"activecampaign://{host}/contacts": 2}, written
    # List names and custom fields were resolved by reading the account's lists and fields.
    assert {f"activecampaign://{host}/lists", f"activecampaign://{host}/fields"} <= read, read
    assert len(emulator.state()["contacts"]) == 300
