"""DAGs for the records writers' integration tests (deals, accounts, events, erasure, custom objects,
e-commerce), run with ``dag.test()`` via ``run_dag``.

Inputs come from the run's ``conf``; templates render to native objects. Each DAG allows one retry
(no delay), so a test can fail the first try and watch the second.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_activecampaign.operators.accounts import ActiveCampaignSyncAccountsOperator
from airflow_provider_activecampaign.operators.customobjects import (
    ActiveCampaignUpsertCustomObjectRecordsOperator,
)
from airflow_provider_activecampaign.operators.deals import ActiveCampaignSyncDealsOperator
from airflow_provider_activecampaign.operators.ecommerce import (
    ActiveCampaignUpsertEcomCustomersOperator,
    ActiveCampaignUpsertEcomOrdersOperator,
)
from airflow_provider_activecampaign.operators.erasure import ActiveCampaignEraseContactsOperator
from airflow_provider_activecampaign.operators.events import ActiveCampaignTrackEventsOperator

START = datetime(2024, 1, 1)


def _dag(dag_id: str) -> DAG:
    return DAG(
        dag_id,
        schedule=None,
        start_date=START,
        catchup=False,
        render_template_as_native_obj=True,
        tags=["tests", "writes"],
        default_args={"retries": 1, "retry_delay": timedelta(0)},
    )


with _dag("writes_deals"):
    ActiveCampaignSyncDealsOperator(
        task_id="deals",
        deals="{{ dag_run.conf['deals'] }}",
        key_field="External key",
        pipeline="Sales",
        failures_path="{{ dag_run.conf['failures_path'] }}",
    )

with _dag("writes_accounts"):
    ActiveCampaignSyncAccountsOperator(
        task_id="accounts",
        accounts="{{ dag_run.conf['accounts'] }}",
        move_contacts="{{ dag_run.conf.get('move_contacts', False) }}",
        failures_path="{{ dag_run.conf['failures_path'] }}",
    )

with _dag("writes_events"):
    ActiveCampaignTrackEventsOperator(
        task_id="events",
        events="{{ dag_run.conf['events'] }}",
        failures_path="{{ dag_run.conf['failures_path'] }}",
        sent_log_path="{{ dag_run.conf.get('sent_log_path') }}",
        max_failure_ratio="{{ dag_run.conf.get('max_failure_ratio', 0) }}",
    )

with _dag("writes_erasure"):
    ActiveCampaignEraseContactsOperator(
        task_id="erase",
        emails="{{ dag_run.conf['emails'] }}",
        audit_path="{{ dag_run.conf['audit_path'] }}",
        dry_run="{{ dag_run.conf.get('dry_run', False) }}",
        max_deletes="{{ dag_run.conf.get('max_deletes', 100) }}",
    )


with _dag("writes_custom_objects"):
    ActiveCampaignUpsertCustomObjectRecordsOperator(
        task_id="records",
        schema="{{ dag_run.conf.get('schema', 'Subscription') }}",
        records="{{ dag_run.conf['records'] }}",
        relationship_columns={"contact_id": "primary-contact"},
        failures_path="{{ dag_run.conf['failures_path'] }}",
        max_failure_ratio=0.5,
    )


with _dag("writes_ecom_customers"):
    ActiveCampaignUpsertEcomCustomersOperator(
        task_id="customers",
        connection="{{ dag_run.conf.get('connection', 'examplestore') }}",
        records="{{ dag_run.conf['records'] }}",
        failures_path="{{ dag_run.conf['failures_path'] }}",
        max_failure_ratio=0.5,
    )

with _dag("writes_ecom_orders"):
    ActiveCampaignUpsertEcomOrdersOperator(
        task_id="orders",
        connection="{{ dag_run.conf.get('connection', 'examplestore') }}",
        records="{{ dag_run.conf['records'] }}",
        currency="USD",
        failures_path="{{ dag_run.conf['failures_path'] }}",
        max_failure_ratio=0.5,
    )
