"""A daily warehouse -> ActiveCampaign audience sync: only what changed, mirrored, approved by a human.

Every day the ``customers`` table (a JSON Lines export here; ``sql=`` works the same) is compared
with what the sync last sent (its state at ``state_path``): only new and changed customers are
sent, customers who left the table lose the ``customer`` tag and are unsubscribed from the
``Customers`` list (never deleted, never re-subscribed), and nothing is written until someone
approves the plan in the Airflow UI (*Required actions*). A weekly full resync repairs drift made
by hand in ActiveCampaign.

Safe to unpause: ``catchup=False`` runs today only, and the first run's plan (every customer is
new) waits for approval like every other.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import dag

from airflow_provider_activecampaign.operators.contacts import (
    ActiveCampaignApplyContactsPlanOperator,
    ActiveCampaignAudienceSyncOperator,
)

ACTIVECAMPAIGN_CONN_ID = "activecampaign_default"
WAREHOUSE = "s3://warehouse/exports/customers"
STATE = "s3://warehouse/activecampaign/customers.state"


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["activecampaign", "example"],
    doc_md=__doc__,
)
def activecampaign_audience_sync() -> None:
    # [START plan]
    plan = ActiveCampaignAudienceSyncOperator(
        task_id="plan",
        activecampaign_conn_id=ACTIVECAMPAIGN_CONN_ID,
        mode="plan",  # a dry run: reads only, writes the plan
        source_path=WAREHOUSE + "/{{ ds }}.jsonl",
        subscribe_lists=["Customers"],
        tags=["customer"],
        only_changed=True,  # the default: only new and changed customers are sent
        state_path=STATE,
        full_every=timedelta(days=7),
        mirror=True,
        max_removals={"count": 5_000, "ratio": 0.05},
    )
    # [END plan]
    # [START approve]
    approve = ApprovalOperator(
        task_id="approve",
        subject="Apply today's customer audience sync?",
        body="{{ ti.xcom_pull(task_ids='plan')['counts'] }}",
        response_timeout=timedelta(hours=12),
    )
    apply = ActiveCampaignApplyContactsPlanOperator(
        task_id="apply",
        activecampaign_conn_id=ACTIVECAMPAIGN_CONN_ID,
        plan=plan.output,
        max_failure_ratio=0.01,
    )
    plan >> approve >> apply
    # [END approve]


activecampaign_audience_sync()
