"""Fan-out DAG for ``benchmarks/many_workers.py``: one mapped sync per source file, one account.

``conf["paths"]`` lists JSON Lines files of contacts; each becomes one mapped
``ActiveCampaignSyncContactsOperator`` that waits (in its worker) for its imports. Retries come from
``AC_BENCH_RETRIES`` in the environment of the process that parses the file (the harness passes
it to every Airflow process).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_activecampaign.operators.contacts import ActiveCampaignSyncContactsOperator

with DAG(
    "deployment_many_workers",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["benchmarks", "deployment"],
    default_args={
        "retries": int(os.environ.get("AC_BENCH_RETRIES", "0")),
        "retry_delay": timedelta(seconds=float(os.environ.get("AC_BENCH_RETRY_DELAY", "5"))),
    },
):

    @task
    def source_files(**context: Any) -> list[str]:
        return list(context["dag_run"].conf["paths"])

    ActiveCampaignSyncContactsOperator.partial(
        task_id="sync",
        source_format="jsonl",
        sync_below=int(os.environ.get("AC_BENCH_SYNC_BELOW", "0")),
        poll_interval=float(os.environ.get("AC_BENCH_POLL_INTERVAL", "1")),
        failures_path="{{ dag_run.conf['failures_dir'] }}/{{ ti.map_index }}.jsonl",
    ).expand(source_path=source_files())
