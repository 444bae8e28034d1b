"""A daily warehouse -> ActiveCampaign audience sync: only what changed, mirrored, approved by a human.

Every day the customers export (JSON Lines; ``sql=`` works the same) is compared with what the
sync last sent (its state at ``state_path``): only new and changed customers are sent, customers
who left the export lose the ``customer`` tag and are unsubscribed from the ``Customers`` list
(never deleted, never re-subscribed), and nothing is written until someone approves the plan in
the Airflow UI (*Required actions*). A weekly full resync repairs drift made by hand in
ActiveCampaign.

The export and the state are local files by default (the export shipped in ``data/``, the state
under ``/tmp/activecampaign-examples``), so the DAG runs anywhere. Point the ``customers`` and
``state_path`` params at your warehouse's storage, e.g. ``s3://warehouse/exports/customers.jsonl``
(any ObjectStoragePath URI: ``s3://`` needs the Amazon provider). The state must be on storage
every worker reaches.

Safe to unpause: ``catchup=False`` runs today only, and the first run's plan (every customer is
new) waits for approval like every other. ``apply`` decides from the reviewer's recorded answer,
so the run ends as decided even when Airflow marks the answered approval task failed.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import Param, dag

from airflow_provider_activecampaign.operators.approval import (
    ActiveCampaignApplyApprovedPlanOperator,
    ActiveCampaignPlanApprovalOperator,
)
from airflow_provider_activecampaign.operators.contacts import ActiveCampaignAudienceSyncOperator

ACTIVECAMPAIGN_CONN_ID = "activecampaign_default"
#: The customers export shipped with this example (a file:// URI; any ObjectStoragePath URI works).
CUSTOMERS = (Path(__file__).parent / "data" / "audience_customers.jsonl").as_uri()
#: What the sync last sent (keep it on storage every worker reaches).
STATE = "file:///tmp/activecampaign-examples/audience/customers.state"


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["activecampaign", "example"],
    doc_md=__doc__,
    params={
        "customers": Param(CUSTOMERS, type="string", description="The customers export (a URI)."),
        "state_path": Param(STATE, type="string", description="The sync's state (a URI)."),
    },
)
def activecampaign_audience_sync() -> None:
    # [START plan]
    plan = ActiveCampaignAudienceSyncOperator(
        task_id="plan",
        activecampaign_conn_id=ACTIVECAMPAIGN_CONN_ID,
        mode="plan",  # a dry run: reads only, writes the plan
        source_path="{{ params.customers }}",
        subscribe_lists=["Customers"],
        tags=["customer"],
        only_changed=True,
        state_path="{{ params.state_path }}",
        full_every=timedelta(days=7),
        mirror=True,
        max_removals={"count": 5_000, "ratio": 0.05},
    )
    # [END plan]
    # [START approve]
    approve = ActiveCampaignPlanApprovalOperator(
        task_id="approve",
        plan=plan.output,  # the question shows its counts and its digest
        subject="Apply today's customer audience sync?",
        response_timeout=timedelta(hours=12),
    )
    apply = ActiveCampaignApplyApprovedPlanOperator(
        task_id="apply",
        activecampaign_conn_id=ACTIVECAMPAIGN_CONN_ID,
        approval_task_id="approve",  # applies only an "Approve" of this very plan
        plan=plan.output,
        max_failure_ratio=0.01,
    )
    plan >> approve >> apply
    # [END approve]


activecampaign_audience_sync()
