"""A DAG whose deferrable tasks' triggers fire within a second of deferring (real-deployment test).

Per pair ``i`` (``PAIRS`` of them): ``submit_i`` syncs ``conf["submit"][i]`` without waiting,
``wait_i`` (``ActiveCampaignBulkImportSensor``, deferrable) waits for the batches ``submit_i``
returned, then ``sync_i`` syncs ``conf["sync"][i]`` and waits for its imports in the triggerer.
Tasks have one retry, so a spurious failure shows as ``up_for_retry`` and a second try.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_activecampaign.operators.contacts import ActiveCampaignSyncContactsOperator
from airflow_provider_activecampaign.sensors.contacts import ActiveCampaignBulkImportSensor

PAIRS = 3
#: The test's own emulator (its importer holds batches): a connection the test adds while it runs.
CONN_ID = "activecampaign_fast_triggers"

with DAG(
    "shared_fast_triggers",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    render_template_as_native_obj=True,
    max_active_runs=8,
    tags=["tests", "deployment"],
    default_args={"retries": 1, "retry_delay": timedelta(seconds=1)},
):
    for i in range(PAIRS):
        sync = ActiveCampaignSyncContactsOperator(
            task_id=f"sync_{i}",
            activecampaign_conn_id=CONN_ID,
            contacts=f"{{{{ dag_run.conf['sync'][{i}] }}}}",
            failures_path=f"{{{{ dag_run.conf['failures_dir'] }}}}/{{{{ run_id }}}}-sync_{i}.jsonl",
            sync_below=0,
            deferrable=True,
            wait_for_completion=True,
            poll_interval=0.2,
            defer_after=2,  # held imports never finish in the worker: defer after 2 s of checking
        )
        submit = ActiveCampaignSyncContactsOperator(
            task_id=f"submit_{i}",
            activecampaign_conn_id=CONN_ID,
            contacts=f"{{{{ dag_run.conf['submit'][{i}] }}}}",
            failures_path=f"{{{{ dag_run.conf['failures_dir'] }}}}/{{{{ run_id }}}}-submit_{i}.jsonl",
            sync_below=0,
            wait_for_completion=False,
        )
        (
            submit
            >> ActiveCampaignBulkImportSensor(
                task_id=f"wait_{i}",
                activecampaign_conn_id=CONN_ID,
                batch_ids=submit.output,
                deferrable=True,
                defer_after=2,
                poke_interval=0.2,
                timeout=120,
            )
            >> sync
        )
