"""Send the weekly newsletter: refresh the audience, send once, wait for the send, keep the report.

What it does, every Tuesday at 09:00 UTC:

0. **Send only this week's issue.** A scheduled run goes ahead only if it starts within
   ``send_within_hours`` (a DAG param, default 6) of its own Tuesday 09:00. Unpausing the DAG on a
   Friday makes the scheduler start the run for the Tuesday just gone (``catchup=False`` still runs
   the latest past tick); that run is skipped instead of sending last week's newsletter three days
   late, and the next one goes out next Tuesday. Runs you start yourself always send: a manual run
   (the UI's trigger button, ``airflow dags trigger``, ``airflow dags test``) and a backfill
   (``airflow backfill create --dag-id activecampaign_weekly_newsletter --from-date 2025-06-17
   --to-date 2025-06-17`` sends the issue of that Tuesday, named after it).
1. **Refresh the audience**: subscribe everyone in ``data/newsletter_subscribers.csv`` (shipped
   beside this file) to the *Newsletter* list and update their names and interests. Contacts who
   unsubscribed are never re-subscribed (the bulk importer refuses it and the row is reported).
   ``exclude_automations=True``: the *Welcome series* starts when someone subscribes to
   *Newsletter*, and a weekly refresh must not send it to every subscriber who is new to the list.
2. **Send the campaign** to the list, with the HTML body rendered from
   ``templates/newsletter.html`` (a Jinja template: ``template_ext`` of the operator includes
   ``.html``). ``max_recipients`` guards the send: if the list has more active members than that
   (a bad audience refresh, the wrong list), nothing is created or sent and the task fails. The
   campaign's name, ``Weekly newsletter <ds>``, is what makes the send happen **once**: a retry,
   a cleared task or a second run for the same date finds the campaign by name and waits for it
   instead of sending another.
3. **Wait for the send** to finish, in the triggerer (deferrable), not in a worker slot.
4. **Store the report** (sends, opens, clicks, bounces, unsubscribes ...) as JSON at
   ``{reports_base}/activecampaign_weekly_newsletter/<ds>/campaign_report.json``; ``reports_base``
   is any ``ObjectStoragePath`` URI (``s3://...``, ``gs://...``; a local ``file://`` path by default).

ActiveCampaign reads a campaign's send time in the time zone of the API user. Set the connection
extra ``account_timezone`` to it (Settings → My Settings in ActiveCampaign, e.g.
``"America/Chicago"``); the operator refuses to send when it can see that the timezone is wrong.

Before the first run against a real account, create in ActiveCampaign: the *Newsletter* list, the
custom field *Interests* (the CSV's ``interests`` column), and a sender address you may send from
(``news@example.com`` below: change it to a verified one).

Configuration: the connection id is ``ACTIVECAMPAIGN_CONN_ID`` below; the rest are DAG params. The
wait polls every ``[activecampaign_examples] poll_seconds`` (default 60 s).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import CronTriggerTimetable, ObjectStoragePath, Param, conf, dag, task

from airflow_provider_activecampaign.operators.campaigns import ActiveCampaignSendCampaignOperator
from airflow_provider_activecampaign.operators.contacts import ActiveCampaignSyncContactsOperator
from airflow_provider_activecampaign.sensors.campaigns import ActiveCampaignCampaignSentSensor

#: The one place the ActiveCampaign connection is named.
ACTIVECAMPAIGN_CONN_ID = "activecampaign_default"
#: The newsletter audience shipped with this example (a file:// URI; any ObjectStoragePath URI works).
SUBSCRIBERS_CSV = (Path(__file__).parent / "data" / "newsletter_subscribers.csv").as_uri()
#: Where reports go unless the ``reports_base`` param says otherwise (any ObjectStoragePath URI).
REPORTS_BASE = "file:///tmp/activecampaign-examples"
#: Seconds between checks while waiting for the send (airflow.cfg, or
#: AIRFLOW__ACTIVECAMPAIGN_EXAMPLES__POLL_SECONDS).
POLL_SECONDS = conf.getfloat("activecampaign_examples", "poll_seconds", fallback=60.0)
#: Pause before a failed task is retried (``retry_delay_seconds`` in the same section).
RETRY_DELAY = timedelta(
    seconds=conf.getfloat("activecampaign_examples", "retry_delay_seconds", fallback=300.0)
)
#: A scheduled run later than this after its own time is a stale week's: it sends nothing.
SEND_WITHIN_HOURS = 6


# [START newsletter_is_due]
def newsletter_is_due(
    run_type: str, scheduled_for: datetime, now: datetime, within: timedelta
) -> tuple[bool, str]:
    """Whether a run may send, and why: runs started by a person always; scheduled ones only on time."""
    if run_type != "scheduled":
        return True, f"A {run_type} run: sending the issue for {scheduled_for:%Y-%m-%d}."
    late = now - scheduled_for
    if late <= within:
        return True, f"On schedule ({late} after {scheduled_for:%Y-%m-%d %H:%M}): sending."
    return False, (
        f"Not sending the issue for {scheduled_for:%Y-%m-%d %H:%M}: this scheduled run started {late} "
        f"after its time (more than send_within_hours={within.total_seconds() / 3600:g}), e.g. on the "
        "first unpause. Trigger the DAG by hand or backfill that date to send it anyway."
    )


# [END newsletter_is_due]


@dag(
    dag_id="activecampaign_weekly_newsletter",
    schedule=CronTriggerTimetable("0 9 * * 2", timezone="UTC"),
    start_date=pendulum.datetime(2025, 6, 1, tz="UTC"),
    catchup=False,  # after a pause, not every missed issue; this_weeks_issue skips a stale one too
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": RETRY_DELAY},
    params={
        "subscribers_csv": Param(SUBSCRIBERS_CSV, type="string", description="The audience (a URI)."),
        "headline": Param("This week at Example Inc", type="string"),
        "max_recipients": Param(
            1000,
            type="integer",
            minimum=1,
            description="Refuse to send if the Newsletter list has more active members than this.",
        ),
        "reports_base": Param(REPORTS_BASE, type="string", description="Where reports go (a URI)."),
        "send_within_hours": Param(
            SEND_WITHIN_HOURS,
            type="number",
            minimum=0,
            description="A scheduled run that starts later than this after its Tuesday 09:00 sends nothing.",
        ),
    },
    tags=["activecampaign", "example"],
    doc_md=__doc__,
)
def activecampaign_weekly_newsletter() -> None:
    # [START this_weeks_issue]
    @task.short_circuit
    def this_weeks_issue(**context: Any) -> bool:
        """Skip the whole run when it is a stale scheduled one (see ``newsletter_is_due``)."""
        run_type = context["dag_run"].run_type
        due, reason = newsletter_is_due(
            run_type=str(getattr(run_type, "value", run_type)),
            scheduled_for=context["data_interval_end"],
            now=pendulum.now("UTC"),
            within=timedelta(hours=float(context["params"]["send_within_hours"])),
        )
        print(reason)
        return due

    # [END this_weeks_issue]

    # [START refresh_audience]
    refresh_audience = ActiveCampaignSyncContactsOperator(
        task_id="refresh_audience",
        activecampaign_conn_id=ACTIVECAMPAIGN_CONN_ID,
        source_path="{{ params.subscribers_csv }}",
        subscribe_lists=["Newsletter"],
        exclude_automations=True,
        max_failure_ratio=0.05,
        failures_path="{{ params.reports_base }}/{{ dag.dag_id }}/{{ ds }}/audience_failures.jsonl",
    )
    # [END refresh_audience]

    # [START send_campaign]
    send_newsletter = ActiveCampaignSendCampaignOperator(
        task_id="send_newsletter",
        activecampaign_conn_id=ACTIVECAMPAIGN_CONN_ID,
        name="Weekly newsletter {{ ds }}",  # one campaign per week, whatever retries or re-runs do
        subject="{{ params.headline }}",
        from_name="Example Inc",
        from_email="news@example.com",
        reply_to="reply@example.com",
        html="templates/newsletter.html",  # rendered with Jinja, path relative to this file
        lists=["Newsletter"],
        max_recipients="{{ params.max_recipients }}",
    )
    # [END send_campaign]

    # [START wait_for_send]
    wait_for_send = ActiveCampaignCampaignSentSensor(
        task_id="wait_for_send",
        activecampaign_conn_id=ACTIVECAMPAIGN_CONN_ID,
        campaign_id="{{ ti.xcom_pull(task_ids='send_newsletter')['campaign_id'] }}",
        deferrable=True,
        defer_after=0,  # a send to a whole list takes minutes: wait in the triggerer straight away
        poke_interval=POLL_SECONDS,
        timeout=timedelta(hours=12),
    )
    # [END wait_for_send]

    # [START store_report]
    @task
    def store_report(report: Any, destination: str) -> str:
        """Write the sensor's report (a dict) as JSON to any object storage, or a local file."""
        path = ObjectStoragePath(destination)
        if path.protocol in ("", "file", "local"):
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2, sort_keys=True), encoding="utf-8")
        return str(path)

    stored = store_report(
        wait_for_send.output,
        destination="{{ params.reports_base }}/{{ dag.dag_id }}/{{ ds }}/campaign_report.json",
    )
    # [END store_report]

    this_weeks_issue() >> refresh_audience >> send_newsletter >> wait_for_send >> stored


activecampaign_weekly_newsletter()
