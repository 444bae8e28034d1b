"""Emit, every hour, the ActiveCampaign events that no webhook delivered.

ActiveCampaign sends each webhook once and never retries a failed delivery, and mass operations
such as imports send none. This DAG reads the account for the last two hours' unsubscribes (from
the ``Newsletter`` list) and tag additions (tag ``customer``), compares them with the events already
on the assets ``activecampaign://<account host>/events/unsubscribe`` and ``.../contact_tag_added``
(from the webhook or an earlier run), and adds one asset event per change that is missing, in the
webhook's shape with ``"source": "reconcile"``. DAGs scheduled on those assets
(``activecampaign_on_unsubscribe``) then run for them as for a webhook.

Why it is safe to unpause and to re-run: ``catchup=False`` starts only the latest hour; windows
overlap (two hours read every hour) and a change already on the asset is never emitted again, so a
re-run or an overlap adds nothing. A tag *removal* leaves nothing to read back in the account: only
the webhook reports it. Cost: about 3 requests per watched list or tag and page of 100 contacts,
within the account's 5 requests/s.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import conf, dag

from airflow_provider_activecampaign.operators.webhooks import ActiveCampaignReconcileWebhookEventsOperator

#: The one place the ActiveCampaign connection is named.
ACTIVECAMPAIGN_CONN_ID = "activecampaign_default"
#: The host of the account's API URL: it names the assets the events land on (airflow.cfg
#: ``[activecampaign_examples] account_host`` or AIRFLOW__ACTIVECAMPAIGN_EXAMPLES__ACCOUNT_HOST).
ACCOUNT_HOST = conf.get("activecampaign_examples", "account_host", fallback="youraccount.api-us1.com")


@dag(
    schedule="@hourly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["activecampaign", "example", "webhooks"],
)
def activecampaign_reconcile_webhooks() -> None:
    # [START reconcile]
    ActiveCampaignReconcileWebhookEventsOperator(
        task_id="reconcile",
        activecampaign_conn_id=ACTIVECAMPAIGN_CONN_ID,
        account_host=ACCOUNT_HOST,
        lists=["Newsletter"],
        tags=["customer"],
        lookback=timedelta(hours=2),
    )
    # [END reconcile]


activecampaign_reconcile_webhooks()
