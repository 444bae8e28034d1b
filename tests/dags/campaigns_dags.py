"""DAGs for the campaign integration tests (tests/integration/test_campaigns_*.py).

Every operator argument that a test varies is a template over ``params``, so one DAG serves many
cases through ``run_dag(dag_id, conf={...})``. Arguments that cannot be templated (waiting,
deferral, retries) get a DAG of their own.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG

from airflow_provider_activecampaign.operators.campaigns import ActiveCampaignSendCampaignOperator
from airflow_provider_activecampaign.sensors.campaigns import ActiveCampaignCampaignSentSensor

START = datetime(2024, 1, 1)
PARAMS = {
    "name": "",
    "subject": "Hello %FIRSTNAME%",
    "from_name": "Example Inc",
    "from_email": "news@example.com",
    "reply_to": "",
    "html": "<p>Hello %FIRSTNAME%</p>",
    "text": "",
    "lists": "Newsletter",
    "segment_id": "",
    "send_at": "",
    "account_timezone": "",
    "max_recipients": "",
    "test_emails": "",
    "campaign_id": "",
    "message_id": "",
}
PARTS: dict[str, Any] = {
    "name": "{{ params.name }}",
    "subject": "{{ params.subject }}",
    "from_name": "{{ params.from_name }}",
    "from_email": "{{ params.from_email }}",
    "reply_to": "{{ params.reply_to }}",
    "html": "{{ params.html }}",
    "text": "{{ params.text }}",
}
COMMON: dict[str, Any] = {
    "lists": "{{ params.lists }}",
    "segment_id": "{{ params.segment_id }}",
    "send_at": "{{ params.send_at }}",
    "account_timezone": "{{ params.account_timezone }}",
    "max_recipients": "{{ params.max_recipients }}",
    "test_emails": "{{ params.test_emails }}",
    "message_id": "{{ params.message_id }}",
}


def _send_dag(dag_id: str, **operator_kwargs: Any) -> DAG:
    with DAG(dag_id, schedule=None, start_date=START, catchup=False, params=PARAMS) as dag:
        ActiveCampaignSendCampaignOperator(
            task_id="send",
            retries=1,
            retry_delay=timedelta(0),
            poll_interval=0.2,
            **COMMON,
            **operator_kwargs,
        )
    return dag


campaigns_send = _send_dag("campaigns_send", **PARTS)
campaigns_send_wait = _send_dag("campaigns_send_wait", wait_for_completion=True, deferrable=False, **PARTS)
campaigns_send_deferred = _send_dag(
    "campaigns_send_deferred", wait_for_completion=True, deferrable=True, **PARTS
)
campaigns_send_draft = _send_dag(
    "campaigns_send_draft", campaign_id="{{ params.campaign_id }}", name="{{ params.name }}"
)


with DAG(
    "campaigns_sensor", schedule=None, start_date=START, catchup=False, params={"campaign_id": ""}
) as sensor_dag:
    ActiveCampaignCampaignSentSensor(
        task_id="sent", campaign_id="{{ params.campaign_id }}", poke_interval=0.2, timeout=60
    )

with DAG(
    "campaigns_sensor_deferred", schedule=None, start_date=START, catchup=False, params={"campaign_id": ""}
) as deferred_sensor_dag:
    ActiveCampaignCampaignSentSensor(
        task_id="sent",
        campaign_id="{{ params.campaign_id }}",
        poke_interval=0.2,
        timeout=60,
        deferrable=True,
        defer_after=0,  # defer after the first poke: these DAGs test the deferral
    )

# The weekly-newsletter shape: send an HTML file template, then wait for the send and keep its report.
with DAG(
    "campaigns_newsletter",
    schedule=None,
    start_date=START,
    catchup=False,
    params={"lists": "Newsletter", "issue": "1"},
) as newsletter_dag:
    send = ActiveCampaignSendCampaignOperator(
        task_id="send",
        subject="Newsletter #{{ params.issue }}",
        from_name="Example Inc",
        from_email="news@example.com",
        html="campaigns_newsletter.html",
        lists="{{ params.lists }}",
        max_recipients=1000,
    )
    report = ActiveCampaignCampaignSentSensor(
        task_id="report",
        campaign_id=send.output["campaign_id"],  # type: ignore[index]  # the XCom key the operator pushes
        poke_interval=0.2,
        timeout=60,
        deferrable=True,
        defer_after=0,
    )
    send >> report
