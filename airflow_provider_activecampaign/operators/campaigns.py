"""Send a campaign to ActiveCampaign lists, at most once per task instance.

The operator wires its parameters into the send rules of ``campaigns/`` (request, audience, schedule,
sender, result, waiting) and waits or defers; how "never twice" is built is in
:mod:`airflow_provider_activecampaign.campaigns.sender`. See docs/campaigns.md for the API calls and
their reasons, and docs/operators/campaigns.md for the user guide.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Context, conf

from airflow_provider_activecampaign.campaigns.request import (
    MESSAGE_PARTS,
    campaign_name,
    check_send_parameters,
    read_send_request,
)
from airflow_provider_activecampaign.campaigns.schedule import plan_send_time
from airflow_provider_activecampaign.campaigns.sender import CampaignSender
from airflow_provider_activecampaign.campaigns.waiting import (
    SEND_RESULT_XCOM_KEY,
    check_progress,
    gave_up_waiting,
    resume_after_trigger,
)
from airflow_provider_activecampaign.links import (
    CAMPAIGN_URL_XCOM_KEY,
    ActiveCampaignCampaignLink,
    campaign_app_url,
)
from airflow_provider_activecampaign.operators.base import ActiveCampaignBaseOperator
from airflow_provider_activecampaign.records.journal import WriteJournal
from airflow_provider_activecampaign.triggers.campaigns import ActiveCampaignCampaignSentTrigger

#: XCom key holding the campaign id on its own, so ``send.output["campaign_id"]`` resolves to it.
CAMPAIGN_ID_XCOM_KEY = "campaign_id"

__all__ = ["CAMPAIGN_ID_XCOM_KEY", "SEND_RESULT_XCOM_KEY", "ActiveCampaignSendCampaignOperator"]


class ActiveCampaignSendCampaignOperator(ActiveCampaignBaseOperator):
    """Create a campaign and send it (now or at ``send_at``) to lists, never twice.

    Give either ``campaign_id`` of a draft to send as a template, or the parts of a new campaign:
    a message (``message_id``, or ``subject``, ``from_name``, ``from_email``, ``reply_to``,
    ``html`` and/or ``text``) and ``lists``.

    :param campaign_id: A draft campaign whose message(s) and lists are sent (templated). The draft
        itself stays a draft; a new campaign named ``name`` is sent from it (ActiveCampaign documents
        no call that schedules an existing draft).
    :param name: The campaign's name and this send's idempotency key (templated). Default:
        ``<dag_id>.<task_id> <run_id>``. A campaign with this name is never sent a second time, so
        a custom name must differ per send, e.g. ``"Newsletter {{ ds }}"``.
    :param message_id: An existing message to send (templated).
    :param subject: Subject of a new message (templated).
    :param from_name: Sender name of a new message (templated).
    :param from_email: Sender address of a new message (templated).
    :param reply_to: Reply-to address of a new message (templated; default ``from_email``).
    :param html: HTML body, or a ``.html`` template file rendered with Jinja (templated).
    :param text: Plain-text body (templated).
    :param lists: List names or ids (templated); default: the draft's lists.
    :param segment_id: Send only to this segment of the lists (templated).
    :param send_at: When to send: an aware datetime or an ISO-8601 string with an offset
        (templated). Default: now. Past times send now.
    :param account_timezone: IANA timezone of the API user in ActiveCampaign (Settings → My Settings),
        in which ActiveCampaign reads the send time. Default: the connection extra
        ``account_timezone``, else ``UTC``.
    :param verify_account_timezone: Before scheduling, compare the UTC offset of ActiveCampaign's
        own timestamps (the message's ``cdate``) with ``account_timezone`` and refuse to send when
        they differ. Turn off only if your account shows dates in another zone than it schedules in.
    :param max_recipients: Refuse to send, before creating anything, when the lists have more
        active members than this (templated).
    :param test_emails: Dry run: send a test copy to these addresses (a list, or comma-separated)
        and stop; the lists receive nothing.
    :param wait_for_completion: Wait until the campaign has finished sending and add its report.
    :param poll_interval: Seconds between progress checks while waiting.
    :param wait_timeout: Give up waiting after this many seconds (the campaign keeps sending).
    :param deferrable: Wait in the triggerer instead of holding a worker slot.
    The campaign id is also pushed on its own under the XCom key ``campaign_id``, so
    ``ActiveCampaignCampaignSentSensor(campaign_id=send.output["campaign_id"])`` works.

    :return: ``{"campaign_id", "name", "status", "scheduled_for", "recipients", "created"}``, plus
        ``"report"`` when waiting, and ``"test_emails"``/``"dry_run"`` for a dry run.
        ``recipients`` is the active members counted before sending (per list, so an upper bound
        when lists overlap); for a campaign found from an earlier try, and after waiting, it is
        ActiveCampaign's own ``total_amt``.
    """

    template_fields: Sequence[str] = (
        *ActiveCampaignBaseOperator.template_fields,
        "campaign_id",
        "name",
        "message_id",
        "subject",
        "from_name",
        "from_email",
        "reply_to",
        "html",
        "text",
        "lists",
        "segment_id",
        "send_at",
        "account_timezone",
        "max_recipients",
        "test_emails",
    )
    template_ext: Sequence[str] = (".html",)
    template_fields_renderers = {"html": "html"}
    operator_extra_links = (ActiveCampaignCampaignLink(),)

    def __init__(
        self,
        *,
        campaign_id: str | int | None = None,
        name: str | None = None,
        message_id: str | int | None = None,
        subject: str | None = None,
        from_name: str | None = None,
        from_email: str | None = None,
        reply_to: str | None = None,
        html: str | None = None,
        text: str | None = None,
        lists: Sequence[str | int] | str | None = None,
        segment_id: str | int | None = None,
        send_at: datetime | str | None = None,
        account_timezone: str | None = None,
        max_recipients: int | str | None = None,
        test_emails: Sequence[str] | str | None = None,
        verify_account_timezone: bool = True,
        wait_for_completion: bool = False,
        poll_interval: float = 60.0,
        wait_timeout: float | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_send_parameters(
            self.task_id,
            campaign_id=campaign_id,
            message_id=message_id,
            parts=dict(
                zip(MESSAGE_PARTS, (subject, from_name, from_email, reply_to, html, text), strict=True)
            ),
            lists=lists,
            poll_interval=poll_interval,
        )
        self.campaign_id = campaign_id
        self.name = name
        self.message_id = message_id
        self.subject = subject
        self.from_name = from_name
        self.from_email = from_email
        self.reply_to = reply_to
        self.html = html
        self.text = text
        self.lists = lists
        self.segment_id = segment_id
        self.send_at = send_at
        self.account_timezone = account_timezone
        self.max_recipients = max_recipients
        self.test_emails = test_emails
        self.verify_account_timezone = verify_account_timezone
        self.wait_for_completion = wait_for_completion
        self.poll_interval = poll_interval
        self.wait_timeout = wait_timeout
        self.deferrable = deferrable

    def execute(self, context: Context) -> dict[str, Any]:
        extra = self.hook.get_connection(self.activecampaign_conn_id).extra_dejson
        when = plan_send_time(
            self.send_at,
            account_timezone=self.account_timezone,
            connection_timezone=extra.get("account_timezone"),
        )
        request = read_send_request(
            name=campaign_name(self.name, context),
            campaign_id=self.campaign_id,
            message_id=self.message_id,
            parts={part: getattr(self, part) for part in MESSAGE_PARTS},
            lists=self.lists,
            segment_id=self.segment_id,
            max_recipients=self.max_recipients,
            test_emails=self.test_emails,
        )
        with WriteJournal.for_task(context) as journal:
            result = CampaignSender(self.hook, journal, self.log).send(
                request, when, verify_account_timezone=self.verify_account_timezone
            )
        self._publish_link(context, result["campaign_id"], extra)
        if self.wait_for_completion and not result.get("dry_run"):
            return self._wait(context, result)
        return result

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger saw the campaign finish (or fail)."""
        return resume_after_trigger(context["ti"].xcom_pull(key=SEND_RESULT_XCOM_KEY), event)

    def _wait(self, context: Context, result: dict[str, Any]) -> dict[str, Any]:
        """Poll until the campaign finishes, or hand the wait to the triggerer (the result goes to XCom)."""
        context["ti"].xcom_push(key=SEND_RESULT_XCOM_KEY, value=result)
        deadline = time.monotonic() + self.wait_timeout if self.wait_timeout else None
        while True:
            progress = check_progress(self.hook, result)
            if progress.done is not None:
                return progress.done
            if self.deferrable:
                self.log.info("Deferring: %s", progress.progress)
                self.defer(
                    trigger=ActiveCampaignCampaignSentTrigger(
                        campaign_id=result["campaign_id"],
                        activecampaign_conn_id=self.activecampaign_conn_id,
                        poll_interval=self.poll_interval,
                    ),
                    method_name="execute_complete",
                    timeout=timedelta(seconds=self.wait_timeout) if self.wait_timeout else None,
                )
            if deadline is not None and time.monotonic() > deadline:
                raise gave_up_waiting(self.wait_timeout, progress.progress)
            self.log.info("Waiting: %s", progress.progress)
            time.sleep(self.poll_interval)

    def _publish_link(self, context: Context, campaign_id: str, extra: dict[str, Any]) -> None:
        """XCom ``campaign_id`` (so ``send.output["campaign_id"]`` works) and the app link."""
        context["ti"].xcom_push(key=CAMPAIGN_ID_XCOM_KEY, value=str(campaign_id))
        url = campaign_app_url(self.hook.base_url, campaign_id, extra.get("app_url"))
        # Pushed even when empty, so the extra link finds a value instead of logging a miss.
        context["ti"].xcom_push(key=CAMPAIGN_URL_XCOM_KEY, value=url or "")
        if url:
            self.log.info("Campaign in ActiveCampaign: %s", url)
