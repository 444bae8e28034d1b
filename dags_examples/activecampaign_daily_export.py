"""Export the contacts that changed each day to JSON Lines, one file per day; safe to backfill.

Every run writes the contacts created or updated in its data interval (one day), with their custom
fields (keyed by field title), list memberships and tags, to
``{export_base}/activecampaign_daily_export/date=<data_interval_start>/contacts.jsonl``, one JSON
object per line, ready for a warehouse ``COPY`` or an external table partitioned by ``date``.

Why backfills and re-runs are safe:

* **The window comes from the data interval, never from "now".** A run for 2025-06-14 exports what
  changed on 2025-06-14, whether it runs that night, a week later in a backfill, or again after a
  fix.
* **Unpausing it runs one day, not every day since start_date** (``catchup=False``): the scheduler
  starts the latest complete day only. Fill earlier days on purpose, as many as you choose, with a
  backfill: ``airflow backfill create --dag-id activecampaign_daily_export --from-date 2025-06-01
  --to-date 2025-06-14`` (one run per day, ``max_active_runs`` at a time; the dates are the days
  exported).
* **Windows overlap a little, files don't.** Each window starts 5 minutes (``overlap``) before its
  interval, so a contact updated on the boundary while the clocks of Airflow and ActiveCampaign
  disagree is never missed. A contact may therefore appear in two consecutive days' files; within
  one file each contact appears once. Deduplicate across days by ``id`` and keep the latest ``udate``
  (e.g. ``QUALIFY ROW_NUMBER() OVER (PARTITION BY id ORDER BY udate DESC) = 1``).
* **The output path is a function of the interval alone**, so a re-run overwrites its own day's file
  instead of adding a second one, and downstream loads stay idempotent.

A contact's ``udate`` moves when its own attributes or custom field values change; list and tag
changes alone may not move it, so they show up with the contact's next change.

Configuration: the connection id is ``ACTIVECAMPAIGN_CONN_ID`` below; ``export_base`` (any
``ObjectStoragePath`` URI: ``s3://bucket/exports``, ``gs://...``, a local ``file://`` path) is a
DAG param.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, conf, dag

from airflow_provider_activecampaign.operators.contacts import ActiveCampaignExportContactsOperator

#: The one place the ActiveCampaign connection is named.
ACTIVECAMPAIGN_CONN_ID = "activecampaign_default"
#: Where exports go unless the ``export_base`` param says otherwise (any ObjectStoragePath URI).
EXPORT_BASE = "file:///tmp/activecampaign-examples"
#: Pause before a failed task is retried (airflow.cfg ``[activecampaign_examples]``, or
#: AIRFLOW__ACTIVECAMPAIGN_EXAMPLES__RETRY_DELAY_SECONDS).
RETRY_DELAY = timedelta(
    seconds=conf.getfloat("activecampaign_examples", "retry_delay_seconds", fallback=300.0)
)


@dag(
    dag_id="activecampaign_daily_export",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=pendulum.datetime(2025, 6, 1, tz="UTC"),
    # Unpausing starts the latest day only; earlier days are backfilled on purpose (docstring).
    catchup=False,
    # Backfills run a few days at a time: each run is a handful of requests, and every run shares
    # the account's 5 requests/s with the other DAGs (see docs/rate-limits.md for a pool).
    max_active_runs=3,
    default_args={"retries": 2, "retry_delay": RETRY_DELAY},
    params={
        "export_base": Param(EXPORT_BASE, type="string", description="Where the files go (a URI)."),
    },
    tags=["activecampaign", "example"],
    doc_md=__doc__,
)
def activecampaign_daily_export() -> None:
    # [START export_contacts]
    ActiveCampaignExportContactsOperator(
        task_id="export_changed_contacts",
        activecampaign_conn_id=ACTIVECAMPAIGN_CONN_ID,
        # One file per data interval: a re-run or a backfill of a day overwrites that day's file.
        output_path=(
            "{{ params.export_base }}/{{ dag.dag_id }}/date={{ data_interval_start | ds }}/contacts.jsonl"
        ),
        # The window is the run's data interval (the default), started 5 minutes early.
        overlap=timedelta(minutes=5),
        include_lists=True,
        include_tags=True,
    )
    # [END export_contacts]


activecampaign_daily_export()
