"""Plan, a human approval, apply: on the shared real deployment (tests/deployment/test_audience_approval.py).

The scheduler parks ``approve`` in ``awaiting_input``; the test answers through the api-server's
HITL REST API, as a reviewer's click in the Required Actions page does. ``apply`` decides from the
recorded answer, whatever state the scheduler leaves ``approve`` in (apache/airflow#72716).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_activecampaign.operators.approval import (
    ActiveCampaignApplyApprovedPlanOperator,
    ActiveCampaignPlanApprovalOperator,
)
from airflow_provider_activecampaign.operators.contacts import ActiveCampaignSyncContactsOperator

with DAG(
    "shared_audience_approval",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    render_template_as_native_obj=True,
    tags=["tests", "audience", "deployment"],
    max_active_runs=4,
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
    approve = ActiveCampaignPlanApprovalOperator(
        task_id="approve",
        plan=plan.output,
        subject="Apply the customer audience sync?",
        # An answer recorded but never resumed (SQLite, no row locks) is resumed with that answer
        # by the scheduler's timeout sweep: the run still ends as decided, this much later.
        response_timeout=timedelta(seconds=120),
    )
    apply = ActiveCampaignApplyApprovedPlanOperator(
        task_id="apply",
        approval_task_id="approve",
        plan=plan.output,
        failures_path="{{ dag_run.conf['failures_path'] }}",
        poll_interval=0.2,
        answer_settle=3.0,
    )
    plan >> approve >> apply
