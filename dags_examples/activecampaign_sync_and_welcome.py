"""Sync customers into ActiveCampaign every day and start the welcome series for the new ones.

What it does, once a day:

1. **Sync every customer** from ``data/customers.csv`` (shipped beside this file), or from a SQL
   table when the ``sql_conn_id`` param names an Airflow database connection. Each contact gets its
   name, phone and custom fields (Company, Plan, Interests, Birthday, Lifetime value), a
   subscription to the *Customers* list, the ``customer`` tag and the tags of its ``tags`` column.
   The sync is an upsert by email: running it again changes nothing more.
2. **Pick the new customers**: those whose ``signup_date`` falls in the run's data interval, from
   ``data_interval_start``'s date up to but not including ``data_interval_end``'s date. Manual runs
   follow the same rule. ``airflow dags test activecampaign_sync_and_welcome 2025-06-15`` covers
   2025-06-14; on a real deployment, a run triggered from the UI or with ``airflow dags trigger``
   gets the interval that ends *now*, whatever logical date it is given. To run it for a chosen day
   there, backfill that day (``airflow backfill create --dag-id activecampaign_sync_and_welcome
   --from-date 2025-06-14 --to-date 2025-06-14``) or trigger it through the REST API with
   ``data_interval_start``/``data_interval_end`` (docs/examples.md shows both). We deliberately do
   not treat everyone as new on a manual run: a second manual run would send the welcome emails
   again to every customer who had already finished them. Contacts the sync rejected or that
   failed are left out, so the welcome step only sees contacts that exist.
3. **Enrol them in the "Welcome series" automation.** The operator reads each contact's enrolments
   first and, with ``skip_completed=True``, skips a contact who has ever been in it, even one who
   finished it long ago: nobody gets the welcome emails twice, whichever runs name them. A retry or
   a cleared re-run of the task never enrols anyone twice either.
4. **Wait until they have finished it**, in the triggerer (deferrable), not in a worker slot.

Rejected rows: a customer export always has a few bad rows. ``customers.csv`` has three on purpose:
two malformed emails and a Plan that is not one of the field's options. They are not sent; every one
is written, with its row, field and reason, to the failures report at
``{reports_base}/activecampaign_sync_and_welcome/<run_id>/rejected_customers.jsonl`` (also in the
sync task's log and its XCom ``failures_path``). ``max_failure_ratio=0.1`` lets the run succeed with
up to 10 % bad rows; more than that means the export itself is broken, and the task fails after
syncing every valid row. When workers do not share a disk, point ``reports_base`` at shared storage
(``s3://...``): with more than 20 bad rows the next task reads the report.

Before the first run against a real account, create in ActiveCampaign: the *Customers* list; the
custom fields *Company* (text), *Plan* (dropdown: Free, Pro, Enterprise), *Interests* (list box:
Python, Airflow, Data, Marketing), *Birthday* (date) and *Lifetime value* (number); and an
automation named *Welcome series* (its start trigger is yours to choose; the DAG enrols contacts in
it directly). Tags that do not exist yet are created by the sync. Unpausing it runs the latest day
only (``catchup=False``).

Configuration, all in one place: the connection id is ``ACTIVECAMPAIGN_CONN_ID`` below; everything
else is a DAG param (trigger with ``conf`` to change it for one run). The waits poll every
``[activecampaign_examples] poll_seconds`` (default 300 s: the welcome series takes days);
``scripts/run_example.py`` shortens it because its emulated account runs 60 times faster than real
time.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterator, Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import (
    BaseHook,
    CronDataIntervalTimetable,
    ObjectStoragePath,
    Param,
    TriggerRule,
    conf,
    dag,
    task,
)

from airflow_provider_activecampaign.operators.automations import (
    ActiveCampaignAddContactsToAutomationOperator,
)
from airflow_provider_activecampaign.operators.contacts import ActiveCampaignSyncContactsOperator
from airflow_provider_activecampaign.sensors.automations import ActiveCampaignAutomationCompletedSensor

log = logging.getLogger(__name__)

#: The one place the ActiveCampaign connection is named.
ACTIVECAMPAIGN_CONN_ID = "activecampaign_default"
#: The customer export shipped with this example (a file:// URI; any ObjectStoragePath URI works).
CUSTOMERS_CSV = (Path(__file__).parent / "data" / "customers.csv").as_uri()
#: Where run reports go unless the ``reports_base`` param says otherwise (any ObjectStoragePath URI).
REPORTS_BASE = "file:///tmp/activecampaign-examples"
#: Seconds between checks while waiting for ActiveCampaign (set in airflow.cfg or
#: AIRFLOW__ACTIVECAMPAIGN_EXAMPLES__POLL_SECONDS).
POLL_SECONDS = conf.getfloat("activecampaign_examples", "poll_seconds", fallback=300.0)
#: Pause before a failed task is retried (``retry_delay_seconds`` in the same section).
RETRY_DELAY = timedelta(
    seconds=conf.getfloat("activecampaign_examples", "retry_delay_seconds", fallback=300.0)
)

SYNC_TASKS = ("sync_from_csv", "sync_from_sql")


def signups_from_csv(uri: str, first_day: date, end_day: date) -> Iterator[str]:
    """Emails of the CSV's customers with ``first_day <= signup_date < end_day``."""
    with ObjectStoragePath(uri).open("r", encoding="utf-8", newline="") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=1):
            try:
                signed_up = date.fromisoformat((row.get("signup_date") or "").strip())
            except ValueError:
                log.warning("Row %d has no valid signup_date (%r); skipped.", number, row.get("signup_date"))
                continue
            if first_day <= signed_up < end_day:
                yield (row.get("email") or "").strip()


def signups_from_sql(conn_id: str, table: str, first_day: date, end_day: date) -> Iterator[str]:
    """Emails of the table's customers with ``first_day <= signup_date < end_day``."""
    hook = BaseHook.get_connection(conn_id).get_hook()
    mark = hook.placeholder  # "%s" or "?", whatever the driver takes
    rows = hook.get_records(
        f"SELECT email FROM {table} WHERE signup_date >= {mark} AND signup_date < {mark}",
        parameters=(first_day.isoformat(), end_day.isoformat()),
    )
    for (email,) in rows:
        yield str(email).strip()


def not_synced(sync_result: Mapping[str, Any]) -> set[str]:
    """Emails (lower-cased) the sync rejected or ActiveCampaign did not import.

    The sync's result lists up to 20 of them inline; beyond that, they are read from its report.
    """
    failures = sync_result.get("failures")
    if failures is None:
        with ObjectStoragePath(sync_result["failures_path"]).open("r", encoding="utf-8") as handle:
            failures = [json.loads(line) for line in handle if line.strip()]
    return {str(failure.get("email") or "").lower() for failure in failures}


@dag(
    dag_id="activecampaign_sync_and_welcome",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=pendulum.datetime(2025, 6, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": RETRY_DELAY},
    params={
        "customers_csv": Param(CUSTOMERS_CSV, type="string", description="CSV of customers (a URI)."),
        "sql_conn_id": Param(
            None,
            type=["null", "string"],
            description="Read customers from this SQL connection's table instead of the CSV.",
        ),
        "customers_table": Param(
            "customers",
            type="string",
            pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$",  # a name only: it becomes part of the SQL
            description="The customers table (with sql_conn_id).",
        ),
        "welcome_automation": Param("Welcome series", type="string", description="Name or id."),
        "reports_base": Param(REPORTS_BASE, type="string", description="Where rejected rows go (a URI)."),
    },
    tags=["activecampaign", "example"],
    doc_md=__doc__,
)
def activecampaign_sync_and_welcome() -> None:
    @task.branch
    def choose_source(**context: Any) -> str:
        """The SQL table when ``sql_conn_id`` is set, else the CSV."""
        return "sync_from_sql" if context["params"]["sql_conn_id"] else "sync_from_csv"

    # [START sync_contacts]
    sync_options: dict[str, Any] = {
        "activecampaign_conn_id": ACTIVECAMPAIGN_CONN_ID,
        # Columns email, first_name, last_name, phone are the contact; company, plan, interests,
        # birthday and lifetime_value match custom fields by title or personalisation tag.
        # signup_date only decides who is new: it is not written to ActiveCampaign.
        "field_map": {"signup_date": None},
        "subscribe_lists": ["Customers"],
        "tags": ["customer"],
        "tags_column": "tags",
        # Up to 10 % bad rows is normal for this export; above that, fail (after syncing the rest).
        "max_failure_ratio": 0.1,
        "failures_path": "{{ params.reports_base }}/{{ dag.dag_id }}/{{ run_id }}/rejected_customers.jsonl",
    }
    sync_from_csv = ActiveCampaignSyncContactsOperator(
        task_id="sync_from_csv",
        source_path="{{ params.customers_csv }}",
        **sync_options,
    )
    sync_from_sql = ActiveCampaignSyncContactsOperator(
        task_id="sync_from_sql",
        sql="SELECT * FROM {{ params.customers_table }}",
        sql_conn_id="{{ params.sql_conn_id }}",
        **sync_options,
    )
    # [END sync_contacts]

    # [START select_new_customers]
    @task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    def select_new_customers(**context: Any) -> list[str]:
        """Customers who signed up in this run's data interval and were synced."""
        params = context["params"]
        first_day = context["data_interval_start"].date()
        end_day = context["data_interval_end"].date()
        synced = next(r for r in context["ti"].xcom_pull(task_ids=list(SYNC_TASKS)) if r)
        skipped = not_synced(synced)
        if params["sql_conn_id"]:
            signups = signups_from_sql(params["sql_conn_id"], params["customers_table"], first_day, end_day)
        else:
            signups = signups_from_csv(params["customers_csv"], first_day, end_day)
        new: list[str] = []
        left_out: list[str] = []
        for email in signups:
            (left_out if email.lower() in skipped else new).append(email)
        log.info("%d customers signed up from %s to before %s.", len(new) + len(left_out), first_day, end_day)
        if left_out:
            log.warning("Not welcomed, not synced: %s (see %s).", left_out, synced["failures_path"])
        return new

    new_customers = select_new_customers()
    # [END select_new_customers]

    # [START enroll_and_wait]
    enroll = ActiveCampaignAddContactsToAutomationOperator(
        task_id="enroll_in_welcome_series",
        activecampaign_conn_id=ACTIVECAMPAIGN_CONN_ID,
        automation="{{ params.welcome_automation }}",
        contacts=new_customers,
        # A welcome series is sent once per person: skip anyone ever enrolled in it, even by
        # another DAG run (reported in "skipped_previously_enrolled"). No extra request.
        skip_completed=True,
    )
    wait_for_welcome = ActiveCampaignAutomationCompletedSensor(
        task_id="wait_for_welcome_series",
        activecampaign_conn_id=ACTIVECAMPAIGN_CONN_ID,
        contact_automation_ids=enroll.output,
        deferrable=True,
        poke_interval=POLL_SECONDS,
        timeout=timedelta(days=14),
    )
    # [END enroll_and_wait]

    choose_source() >> [sync_from_csv, sync_from_sql] >> new_customers
    enroll >> wait_for_welcome


activecampaign_sync_and_welcome()
