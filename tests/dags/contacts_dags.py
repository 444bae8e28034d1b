"""DAGs for the contact integration tests (run with ``dag.test()`` through the ``run_dag`` fixture).

Inputs come from the run's ``conf``; templates render to native objects, so a list stays a list.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, CronDataIntervalTimetable

from airflow_provider_activecampaign.operators.contacts import (
    ActiveCampaignExportContactsOperator,
    ActiveCampaignSyncContactsOperator,
)
from airflow_provider_activecampaign.sensors.contacts import ActiveCampaignBulkImportSensor

START = datetime(2024, 1, 1)


def _dag(dag_id: str, schedule: Any = None) -> DAG:
    return DAG(
        dag_id,
        schedule=schedule,
        start_date=START,
        catchup=False,
        render_template_as_native_obj=True,
        tags=["tests", "contacts"],
        default_args={"retries": 0, "retry_delay": timedelta(0)},
    )


with _dag("contacts_sync_deferrable"):
    ActiveCampaignSyncContactsOperator(
        task_id="sync",
        contacts="{{ dag_run.conf['contacts'] }}",
        subscribe_lists="{{ dag_run.conf.get('subscribe_lists') }}",
        tags="{{ dag_run.conf.get('tags') }}",
        failures_path="{{ dag_run.conf['failures_path'] }}",
        max_failure_ratio=0.5,
        deferrable=True,
        defer_after=0,  # defer as soon as everything is sent: these DAGs test the deferral
        poll_interval=0.2,
    )


with _dag("contacts_sensor_modes"):
    # One submit-then-wait pair per sensor mode, chained, so each sensor meets a running import.
    previous = None
    for mode, deferrable in (("poke", False), ("reschedule", False), ("poke", True)):
        name = "deferrable" if deferrable else mode
        submit = ActiveCampaignSyncContactsOperator(
            task_id=f"submit_{name}",
            contacts=f"{{{{ dag_run.conf['contacts_{name}'] }}}}",
            failures_path=f"{{{{ dag_run.conf['failures_path'] }}}}-{name}",
            wait_for_completion=False,
            sync_below=0,
        )
        wait = ActiveCampaignBulkImportSensor(
            task_id=f"wait_{name}",
            batch_ids=submit.output,
            mode=mode,
            deferrable=deferrable,
            defer_after=0,
            poke_interval=0.2,
            timeout=60,
        )
        if previous is not None:
            previous >> submit
        submit >> wait
        previous = wait


with _dag("contacts_sync_sql"):
    ActiveCampaignSyncContactsOperator(
        task_id="sync",
        sql="{{ dag_run.conf['sql'] }}",
        sql_conn_id="{{ dag_run.conf['sql_conn_id'] }}",
        field_map={"customer_email": "email", "internal_id": None},
        subscribe_lists=["Customers"],
        failures_path="{{ dag_run.conf['failures_path'] }}",
        poll_interval=0.2,
    )


# Real data intervals: a run covers the day before its logical date.
with _dag("contacts_export_daily", schedule=CronDataIntervalTimetable("@daily", timezone="UTC")):
    ActiveCampaignExportContactsOperator(
        task_id="export",
        output_path="{{ dag_run.conf['output_path'] }}",
        include_lists=True,
        include_tags=True,
    )


# Airflow 3's plain cron schedule: every run's data interval is empty (start == end).
with _dag("contacts_export_cron", schedule="@daily"):
    ActiveCampaignExportContactsOperator(task_id="export", output_path="{{ dag_run.conf['output_path'] }}")
