"""A DAG scheduled on an export's asset runs after the export, on the shared real deployment.

The scheduler, not the test, starts the consumer: the export task's asset event (with its ``extra``:
path, count, window) is what queues it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.deployment.conftest import SharedDeployment

pytestmark = pytest.mark.deployment

PRODUCER = "shared_export_producer"
CONSUMER = "shared_export_consumer"


def test_a_dag_scheduled_on_the_export_asset_runs_after_the_export(
    shared_deployment: SharedDeployment, tmp_path: Path
) -> None:
    deployment = shared_deployment.deployment
    deployment.wait_for_dag(CONSUMER)
    deployment.api.patch(f"/dags/{CONSUMER}", json={"is_paused": False}).raise_for_status()
    output = tmp_path / "tags.jsonl"

    run_id = deployment.trigger(PRODUCER, conf={"output_path": str(output)})
    assert deployment.wait_for_run(PRODUCER, run_id) == "success"

    consumer_run = None
    deadline = time.monotonic() + 90
    while consumer_run is None and time.monotonic() < deadline:
        runs = deployment.api.get(f"/dags/{CONSUMER}/dagRuns").json().get("dag_runs", [])
        consumer_run = next((r["dag_run_id"] for r in runs if r.get("run_type") == "asset_triggered"), None)
        time.sleep(0.5)
    assert consumer_run is not None, "the scheduler did not start the DAG scheduled on the export's asset"
    assert deployment.wait_for_run(CONSUMER, consumer_run) == "success"

    rows = [json.loads(line) for line in output.read_text().splitlines()]
    events = deployment.xcom(CONSUMER, consumer_run, "read_event")
    assert len(events) == 1
    assert events[0]["path"] == str(output)
    assert events[0]["count"] == len(rows) >= 3  # the default account's tags
    assert events[0]["resource"] == "tags"
    assert events[0]["source"].startswith("activecampaign://127.0.0.1:")
