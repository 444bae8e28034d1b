"""DAGs of tests/deployment/test_webhooks_deployment.py (issue #15), on the shared deployment.

``AC_WEBHOOKS_ACCOUNT_HOST`` (set by the ``shared_deployment`` fixture) is the emulator's host:port,
the authority of the assets ``activecampaign://<host>/events/<type>``.
"""

from __future__ import annotations

import os
from typing import Any

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_activecampaign.operators.webhooks import (
    ActiveCampaignReconcileWebhookEventsOperator,
    ActiveCampaignRegisterWebhooksOperator,
)
from airflow_provider_activecampaign.webhooks.assets import activecampaign_event_asset

HOST = os.environ.get("AC_WEBHOOKS_ACCOUNT_HOST", "127.0.0.1")
UNSUBSCRIBE = activecampaign_event_asset(HOST, "unsubscribe")
#: Only the burst test posts "sent" events: a DAG must name the asset for Airflow to know it.
SENT = activecampaign_event_asset(HOST, "sent")
START = pendulum.datetime(2026, 1, 1, tz="UTC")

with DAG(
    "shared_webhooks_register",
    schedule=None,
    start_date=START,
    catchup=False,
    render_template_as_native_obj=True,
):
    ActiveCampaignRegisterWebhooksOperator(
        task_id="register",
        public_base_url="{{ dag_run.conf['public_base_url'] }}",
        events="{{ dag_run.conf['events'] }}",
        webhook_name="{{ dag_run.conf['name'] }}",
        sources=["public", "admin", "api", "system"],
    )

with DAG("shared_webhooks_on_unsubscribe", schedule=[UNSUBSCRIBE], start_date=START, catchup=False):

    @task
    def unsubscribed(**context: Any) -> list[dict[str, Any]]:
        """What a real consumer does: read the contacts out of the triggering events' extra."""
        return [
            {"email": (event.extra.get("contact") or {}).get("email"), "source": event.extra.get("source")}
            for events in context["triggering_asset_events"].values()
            for event in events
        ]

    unsubscribed()

with DAG(
    "shared_webhooks_reconcile",
    schedule=None,
    start_date=START,
    catchup=False,
    render_template_as_native_obj=True,
):
    ActiveCampaignReconcileWebhookEventsOperator(
        task_id="reconcile",
        account_host=HOST,
        lists="{{ dag_run.conf['lists'] }}",
        tags="{{ dag_run.conf['tags'] }}",
        since="{{ dag_run.conf['since'] }}",
        until="{{ dag_run.conf['until'] }}",
    )

with DAG("shared_webhooks_sent_sink", schedule=None, start_date=START, catchup=False):

    @task(inlets=[SENT])
    def never_run() -> None:
        """Names the "sent" asset so that the receiver can record the burst test's events."""

    never_run()
