"""Land the whole ActiveCampaign account in the warehouse every day: one file per resource and day.

Every run exports, for its data interval (one day, ``[start, end)``), the deals and contacts that
changed (read with ActiveCampaign's ``filters[updated_after]`` date filter and a day of overlap,
then cut exactly on each record's own update time), and full snapshots of the small reference
collections (pipelines, stages, users, custom field definitions). Each file is written whole or not
at all, with ``<file>.manifest.json`` beside it (count, window, columns), to
``{export_base}/activecampaign/<resource>/date=<data_interval_start>/<resource>.jsonl``.

Why it is safe to unpause and to backfill:

* **Unpausing runs one day, not every day since start_date** (``catchup=False``). Fill earlier
  days on purpose: ``airflow backfill create --dag-id activecampaign_warehouse_export
  --from-date 2025-06-01 --to-date 2025-06-14``. Consecutive windows share no record, so a
  backfill of N days holds each change once.
* **It only reads.** Nothing in ActiveCampaign changes; the account's 5 requests/s are shared with
  your other DAGs through the provider's limiter.
* **The output path is a function of the interval alone**, so a re-run overwrites its own day's
  files, and the loads downstream stay idempotent.
* **Downstream DAGs follow the files, not the clock**: each export's outlet is its output folder
  (``{export_base}/activecampaign/<resource>``), so a DAG with ``schedule=[Asset(...)]`` on it
  runs after each new file; the asset event's ``extra`` holds the path, count and window.

Configuration: the connection id is ``ACTIVECAMPAIGN_CONN_ID`` below; ``EXPORT_BASE`` (any
``ObjectStoragePath`` URI, from ``[activecampaign_examples] export_base``) is where the files go.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronDataIntervalTimetable, conf, dag

from airflow_provider_activecampaign.operators.export import ActiveCampaignExportOperator

#: The one place the ActiveCampaign connection is named.
ACTIVECAMPAIGN_CONN_ID = "activecampaign_default"
#: Where exports go (any ObjectStoragePath URI: s3://bucket/lake, gs://..., file:///...); airflow.cfg
#: ``[activecampaign_examples] export_base`` or AIRFLOW__ACTIVECAMPAIGN_EXAMPLES__EXPORT_BASE.
EXPORT_BASE = conf.get(
    "activecampaign_examples", "export_base", fallback="file:///tmp/activecampaign-examples"
)
#: Pause before a failed task is retried (airflow.cfg ``[activecampaign_examples]``, or
#: AIRFLOW__ACTIVECAMPAIGN_EXAMPLES__RETRY_DELAY_SECONDS).
RETRY_DELAY = timedelta(
    seconds=conf.getfloat("activecampaign_examples", "retry_delay_seconds", fallback=300.0)
)
#: What changed each day (incremental: the API filters by update date).
CHANGED_EACH_DAY = ("deals", "contacts")
#: Small reference collections, a full snapshot each day.
SNAPSHOTS = ("pipelines", "stages", "users", "deal_fields", "fields")


@dag(
    dag_id="activecampaign_warehouse_export",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=pendulum.datetime(2025, 6, 1, tz="UTC"),
    # Unpausing starts the latest day only; earlier days are backfilled on purpose (docstring).
    catchup=False,
    max_active_runs=2,
    default_args={"retries": 2, "retry_delay": RETRY_DELAY},
    tags=["activecampaign", "example"],
    doc_md=__doc__,
)
def activecampaign_warehouse_export() -> None:
    # [START export_resources]
    for resource in (*CHANGED_EACH_DAY, *SNAPSHOTS):
        ActiveCampaignExportOperator(
            task_id=f"export_{resource}",
            activecampaign_conn_id=ACTIVECAMPAIGN_CONN_ID,
            resource=resource,
            # deals/contacts: the day's changes; the others: "auto" reads them in full.
            mode="auto",
            output_path=(
                f"{EXPORT_BASE}/activecampaign/{resource}/"
                "date={{ data_interval_start | ds }}/" + f"{resource}.jsonl"
            ),
        )
    # [END export_resources]


activecampaign_warehouse_export()
