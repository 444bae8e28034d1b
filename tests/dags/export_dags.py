"""DAGs for the export and API-operator integration tests (run with ``dag.test()`` via ``run_dag``).

``export_everything``: every resource in one run, in full (the "every record once" test).
``export_windowed``: daily windows of contacts, deals and accounts (the boundary and backfill test).
``api_*``: the API operator with its endpoint, query and body from the run's conf.
Output goes under ``dag_run.conf['output_dir']``, one file per resource and data interval.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, CronDataIntervalTimetable

from airflow_provider_activecampaign.exports.registry import RESOURCES
from airflow_provider_activecampaign.operators.api import ActiveCampaignApiOperator
from airflow_provider_activecampaign.operators.export import ActiveCampaignExportOperator

START = datetime(2024, 1, 1)
OUTPUT = "{{ dag_run.conf['output_dir'] }}"


def _dag(dag_id: str, schedule: Any = None) -> DAG:
    return DAG(
        dag_id,
        schedule=schedule,
        start_date=START,
        catchup=False,
        render_template_as_native_obj=True,
        tags=["tests", "export"],
        default_args={"retries": 0, "retry_delay": timedelta(0)},
    )


with _dag("export_everything"):
    for _name in RESOURCES:
        ActiveCampaignExportOperator(
            task_id=_name,
            resource=_name,
            mode="full",
            output_path=OUTPUT + f"/{_name}.jsonl",
            parallel_reads=2,
        )


with _dag("api_get_paged"):
    ActiveCampaignApiOperator(
        task_id="call",
        endpoint="{{ dag_run.conf['endpoint'] }}",
        query="{{ dag_run.conf.get('query') }}",
        paginate=True,
        output_path="{{ dag_run.conf.get('output_path') }}",
    )


with _dag("api_call"):
    ActiveCampaignApiOperator(
        task_id="call",
        endpoint="{{ dag_run.conf['endpoint'] }}",
        method="{{ dag_run.conf.get('method', 'GET') }}",
        query="{{ dag_run.conf.get('query') }}",
        body="{{ dag_run.conf.get('body') }}",
    )


with _dag("api_v1_call"):
    ActiveCampaignApiOperator(
        task_id="call",
        api_action="{{ dag_run.conf['api_action'] }}",
        method="{{ dag_run.conf.get('method', 'GET') }}",
        query="{{ dag_run.conf.get('query') }}",
        body="{{ dag_run.conf.get('body') }}",
    )


with _dag("export_windowed", schedule=CronDataIntervalTimetable("@daily", timezone="UTC")):
    for _name in ("contacts", "deals", "accounts"):
        ActiveCampaignExportOperator(
            task_id=_name,
            resource=_name,
            mode="incremental",
            output_path=OUTPUT + f"/{_name}/" + "{{ data_interval_start | ds }}.jsonl",
            parallel_reads=2,
        )


with _dag("export_with_deletes", schedule=CronDataIntervalTimetable("@daily", timezone="UTC")):
    # Contacts read by the API's date filter (ids reconciled by an id walk); deals in full (free).
    ActiveCampaignExportOperator(
        task_id="contacts",
        resource="contacts",
        mode="auto",
        capture_deletes=True,
        output_path=OUTPUT + "/contacts/{{ data_interval_start | ds }}.jsonl",
        parallel_reads=2,
    )
    ActiveCampaignExportOperator(
        task_id="deals",
        resource="deals",
        mode="full",
        capture_deletes=True,
        output_path=OUTPUT + "/deals/{{ data_interval_start | ds }}.jsonl",
        parallel_reads=2,
    )
