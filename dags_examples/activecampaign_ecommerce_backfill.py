"""A daily warehouse -> ActiveCampaign e-commerce (Deep Data) upsert: customers, then their orders.

Every day the shop's customers and orders exports (JSON Lines; ``sql=`` works the same) are
upserted into one store connection by ``externalid``: a customer or order already there is updated
only where it differs, a new one is created once, and a re-run (or a retry after a timeout) never
creates anything twice. Bad rows (an invalid email, an amount with a decimal point where cents are
expected) are reported with their row and field while the others are written.

Orders are sent with ``source=0`` (historical): they start no "Makes a purchase" or abandoned-cart
automation, which is what a backfill from a warehouse wants. Send live orders with ``source=1``
only from a DAG written for that.

The exports shipped in ``data/`` are used by default, so the DAG runs anywhere; point the params
at your warehouse's storage (any ObjectStoragePath URI) and ``store`` at your connection (its id,
``externalid`` or name: ``GET /connections``). Safe to unpause: ``catchup=False`` runs today only.
"""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import Param, dag

from airflow_provider_activecampaign.operators.ecommerce import (
    ActiveCampaignUpsertEcomCustomersOperator,
    ActiveCampaignUpsertEcomOrdersOperator,
)

ACTIVECAMPAIGN_CONN_ID = "activecampaign_default"
DATA = Path(__file__).parent / "data"


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["activecampaign", "example"],
    doc_md=__doc__,
    params={
        "store": Param("examplestore", type="string", description="The e-commerce connection."),
        "customers": Param((DATA / "shop_customers.jsonl").as_uri(), type="string"),
        "orders": Param((DATA / "shop_orders.jsonl").as_uri(), type="string"),
    },
)
def activecampaign_ecommerce_backfill() -> None:
    # [START ecommerce]
    customers = ActiveCampaignUpsertEcomCustomersOperator(
        task_id="customers",
        activecampaign_conn_id=ACTIVECAMPAIGN_CONN_ID,
        connection="{{ params.store }}",
        source_path="{{ params.customers }}",
        field_map={"id": "externalid", "opted_in": "acceptsMarketing"},
        max_failure_ratio=0.05,
    )
    orders = ActiveCampaignUpsertEcomOrdersOperator(
        task_id="orders",
        activecampaign_conn_id=ACTIVECAMPAIGN_CONN_ID,
        connection="{{ params.store }}",
        source_path="{{ params.orders }}",
        currency="USD",
        source=0,  # historical: no "Makes a purchase" automation fires (the default, said out loud)
        max_failure_ratio=0.05,
    )
    customers >> orders
    # [END ecommerce]


activecampaign_ecommerce_backfill()
