"""Plan, a human approval (the standard ApprovalOperator), apply: on the shared real deployment.

The scheduler parks ``approve`` in ``awaiting_input``; the test answers through the api-server's
HITL REST API, as a reviewer's click in the Required Actions page does.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import DAG

from airflow_provider_activecampaign.operators.contacts import (
    ActiveCampaignApplyContactsPlanOperator,
    ActiveCampaignSyncContactsOperator,
)

with DAG(
    "shared_audience_approval",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    render_template_as_native_obj=True,
    tags=["tests", "audience", "deployment"],
    max_active_runs=1,
    default_args={"retries": 0, "retry_delay": timedelta(0)},
):
    plan = ActiveCampaignSyncContactsOperator(
        task_id="plan",
        mode="plan",
        only_changed=True,
        mirror=True,
        max_removals={"ratio": 0.5},
        contacts="{{ dag_run.conf['contacts'] }}",
        tags=["customer"],
        subscribe_lists=["Newsletter"],
        state_path="{{ dag_run.conf['state_path'] }}",
    )
    approve = ApprovalOperator(
        task_id="approve",
        subject="Apply the customer audience sync?",
        body="Planned: {{ ti.xcom_pull(task_ids='plan')['counts'] }}",
    )
    apply = ActiveCampaignApplyContactsPlanOperator(
        task_id="apply",
        plan=plan.output,
        failures_path="{{ dag_run.conf['failures_path'] }}",
        poll_interval=0.2,
    )
    plan >> approve >> apply
