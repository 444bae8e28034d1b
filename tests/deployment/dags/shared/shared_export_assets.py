"""An export and a DAG scheduled on its asset (tests/deployment/test_export_assets.py, shared deployment)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Asset, task

from airflow_provider_activecampaign.operators.export import ActiveCampaignExportOperator

#: The asset the export declares; the consumer is scheduled on it.
TAGS_EXPORT = Asset("file:///tmp/shared-export-assets/tags")

with DAG(
    "shared_export_producer",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["tests", "export"],
    default_args={"retries": 0},
):
    ActiveCampaignExportOperator(
        task_id="export_tags",
        resource="tags",
        mode="full",
        output_path="{{ dag_run.conf['output_path'] }}",
        outlets=[TAGS_EXPORT],
    )


with DAG(
    "shared_export_consumer",
    schedule=[TAGS_EXPORT],
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["tests", "export"],
    default_args={"retries": 0},
):

    @task
    def read_event(*, triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        """What the export told Airflow: the asset event's extra (path, count, window)."""
        return [dict(event.extra) for event in triggering_asset_events[TAGS_EXPORT]]

    read_event()
