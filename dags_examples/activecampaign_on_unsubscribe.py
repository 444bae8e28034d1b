"""React to ActiveCampaign unsubscribes within seconds: a webhook becomes an Airflow asset event.

Two DAGs:

* ``activecampaign_register_webhooks`` (daily, ``catchup=False``) makes the account send
  ``unsubscribe`` and ``contact_tag_added`` webhooks to this Airflow's receiver,
  ``<public URL>/activecampaign/webhooks/<token>``. It is idempotent: a daily run changes nothing,
  unless ActiveCampaign deactivated the webhook (a receiver answered 410) or the token was rotated;
  then it recreates or updates it and says so in the task log. The token is the ActiveCampaign
  connection's extra ``webhook_token``; the public URL is the Airflow Variable
  ``activecampaign_webhook_public_url``.
* ``activecampaign_on_unsubscribe`` is scheduled on the asset
  ``activecampaign://<account host>/events/unsubscribe``. Each accepted webhook is one asset event
  whose ``extra`` holds the normalised delivery (type, UTC ``date_time``, contact id and email, list
  id...); a run receives every event queued since the previous run in
  ``triggering_asset_events`` and, here, appends the contacts to a suppression file that other
  systems read. Events that the webhook missed come from ``activecampaign_reconcile_webhooks``
  in the same shape (``"source": "reconcile"``), so this DAG handles both alike.

Safe to unpause: nothing runs for past dates, and the suppression file is appended to with one
line per event (deduplicate downstream by ``delivery_key``). Set ``ACCOUNT_HOST`` to your API
URL's host (Settings -> Developer: ``https://<account>.api-us1.com``), or set
``[activecampaign_examples] account_host``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import conf, dag, task

from airflow_provider_activecampaign.operators.webhooks import ActiveCampaignRegisterWebhooksOperator
from airflow_provider_activecampaign.webhooks.assets import activecampaign_event_asset

#: The one place the ActiveCampaign connection is named.
ACTIVECAMPAIGN_CONN_ID = "activecampaign_default"
#: The host of the account's API URL: it names the assets the events land on (airflow.cfg
#: ``[activecampaign_examples] account_host`` or AIRFLOW__ACTIVECAMPAIGN_EXAMPLES__ACCOUNT_HOST).
ACCOUNT_HOST = conf.get("activecampaign_examples", "account_host", fallback="youraccount.api-us1.com")
SUPPRESSION_FILE = Path("/tmp/activecampaign-examples/unsubscribed.jsonl")


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    doc_md=__doc__,
    tags=["activecampaign", "example", "webhooks"],
)
def activecampaign_register_webhooks() -> None:
    # [START register_webhooks]
    ActiveCampaignRegisterWebhooksOperator(
        task_id="register_webhooks",
        activecampaign_conn_id=ACTIVECAMPAIGN_CONN_ID,
        public_base_url="{{ var.value.activecampaign_webhook_public_url }}",
        events=["unsubscribe", "contact_tag_added"],
        webhook_name="airflow",
    )
    # [END register_webhooks]


# [START on_unsubscribe]
@dag(
    schedule=[activecampaign_event_asset(ACCOUNT_HOST, "unsubscribe")],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    doc_md=__doc__,
    tags=["activecampaign", "example", "webhooks"],
)
def activecampaign_on_unsubscribe() -> None:
    @task
    def suppress(**context: Any) -> int:
        """Append every unsubscribed contact of the triggering events to the suppression file."""
        lines = [
            json.dumps(
                {
                    "email": (event.extra.get("contact") or {}).get("email"),
                    "list_id": event.extra.get("list_id"),
                    "unsubscribed_at": event.extra.get("date_time"),
                    "delivery_key": event.extra.get("delivery_key"),
                }
            )
            for events in context["triggering_asset_events"].values()
            for event in events
        ]
        SUPPRESSION_FILE.parent.mkdir(parents=True, exist_ok=True)
        with SUPPRESSION_FILE.open("a", encoding="utf-8") as handle:
            handle.writelines(line + "\n" for line in lines)
        return len(lines)

    suppress()


# [END on_unsubscribe]


activecampaign_register_webhooks()
activecampaign_on_unsubscribe()
