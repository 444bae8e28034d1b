"""Send a campaign to ActiveCampaign lists, at most once per task instance.

Never twice, by construction:

1. Every campaign this operator sends carries a name that identifies the task instance
   (``<dag_id>.<task_id> <run_id>`` unless ``name`` is given). Before anything else the operator
   reads every campaign and looks for that name; if it exists and was handed to the sending engine
   (any status but draft), nothing is created or sent: the task reports it and, if asked, waits.
2. The campaign is created and scheduled in **one** call (v1 ``campaign_create``), so there is no
   window between "created" and "scheduled" for a retry to fall into.
3. That call is never repeated by the transport. If it fails after reaching ActiveCampaign
   (:class:`~airflow_provider_activecampaign.exceptions.ActiveCampaignAmbiguousWriteError`), the
   operator reads back by name instead of creating again.

See docs/campaigns.md for the API calls and their reasons, and docs/operators/campaigns.md for
the user guide.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pendulum
from airflow.sdk import Context, conf

from airflow_provider_activecampaign.campaigns.api import (
    DRAFT,
    AccountTimezone,
    ActiveCampaignCampaignError,
    account_wall_time,
    as_int,
    as_list,
    assumed_utc_warning,
    campaign_report,
    check_emails,
    count_active_members,
    create_campaign,
    create_message,
    default_campaign_name,
    describe_progress,
    dry_run_campaign_name,
    find_campaigns_named,
    finish_outcome,
    get_campaign,
    get_message,
    parse_api_datetime,
    parse_send_at,
    raise_for_outcome,
    read_draft_parts,
    resolve_timezone,
    sdate_mismatch,
    send_test_copy,
    status_code,
    status_name,
    timezone_disagreement,
)
from airflow_provider_activecampaign.exceptions import ActiveCampaignAmbiguousWriteError, ActiveCampaignError
from airflow_provider_activecampaign.links import (
    CAMPAIGN_URL_XCOM_KEY,
    ActiveCampaignCampaignLink,
    campaign_app_url,
)
from airflow_provider_activecampaign.operators.base import ActiveCampaignBaseOperator
from airflow_provider_activecampaign.records.journal import (
    Outcome,
    Resolution,
    WriteJournal,
    lost_answer,
    request_deadline_seconds,
    times,
)
from airflow_provider_activecampaign.triggers.campaigns import ActiveCampaignCampaignSentTrigger

#: XCom key holding the campaign id on its own, so ``send.output["campaign_id"]`` resolves to it.
CAMPAIGN_ID_XCOM_KEY = "campaign_id"
#: XCom key holding the send result while the task waits (it survives a deferral).
SEND_RESULT_XCOM_KEY = "campaign_send"
#: Seconds to wait before each read-back after an ambiguous create (the write may lag a moment).
READ_BACK_DELAYS = (0.0, 1.0)
#: The journal's name for campaign creates (each one schedules a send).
WRITER = "campaigns"
_MESSAGE_PARTS = ("subject", "from_name", "from_email", "reply_to", "html", "text")


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
        parts = {
            part: value
            for part, value in zip(
                _MESSAGE_PARTS, (subject, from_name, from_email, reply_to, html, text), strict=True
            )
            if value is not None
        }
        if campaign_id is not None and parts:
            raise ValueError(
                f"{self.task_id}: give either campaign_id (a draft to send) or the parts of a new "
                f"message ({', '.join(parts)}), not both."
            )
        if campaign_id is None and message_id is None and not parts:
            raise ValueError(
                f"{self.task_id}: nothing to send. Give campaign_id (a draft), message_id, or the "
                "message parts subject, from_name, from_email and html and/or text."
            )
        if campaign_id is None and lists is None:
            raise ValueError(f"{self.task_id}: lists is required when sending a new campaign.")
        if poll_interval <= 0:
            raise ValueError(f"{self.task_id}: poll_interval must be positive.")
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

    # ----------------------------------------------------------------------------------------------
    # execute
    # ----------------------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        hook = self.hook
        extra = hook.get_connection(self.activecampaign_conn_id).extra_dejson
        tz_setting = _blank_to_none(self.account_timezone) or _blank_to_none(extra.get("account_timezone"))
        account_tz = resolve_timezone(tz_setting)
        send_at = parse_send_at(self.send_at, now=pendulum.now("UTC"))
        sdate, ambiguity = account_wall_time(send_at, account_tz)
        name = self._campaign_name(context)
        template_id = _blank_to_none(self.campaign_id)
        test_emails = check_emails(as_list(self.test_emails), "test_emails")
        exclude = [template_id] if template_id else []

        journal = WriteJournal.for_task(context)
        if not test_emails:
            mine = find_campaigns_named(hook, [name], exclude=exclude)[name]
            if mine:
                journal.resolve(WRITER, name, read_back=lambda intent: str(mine[0].get("id")))
                journal.close()
                return self._continue_existing(context, name, mine, created=False)
            # An earlier try's campaign_create whose answer was lost may still land: not created
            # again until a read-back after its deadline plus write_settle_seconds finds nothing.
            decision = journal.resolve(
                WRITER,
                name,
                read_back=lambda intent: bool(find_campaigns_named(hook, [name], exclude=exclude)[name]),
            )
            if decision.resolution is Resolution.APPLIED:
                found = find_campaigns_named(hook, [name], exclude=exclude)[name]
                if found:
                    journal.close()
                    return self._continue_existing(context, name, found, created=False)
            if decision.resolution is Resolution.UNKNOWN:
                journal.close()
                raise ActiveCampaignError(
                    f"campaign_create for {name!r} was sent {times(decision.sent)} by an earlier try of "
                    "this task whose answer never arrived, and no campaign with that name is found yet: "
                    "ActiveCampaign may still create it, so it was not created again (nothing was sent).",
                    hint="Retry after write_settle_seconds: the retry reads the name back first and "
                    "creates the campaign only if it is still missing.",
                )

        list_ids, message_id, segment_id = self._audience_and_message(template_id)
        recipients = self._check_recipients(list_ids)
        if test_emails:
            return self._dry_run(
                context, name, template_id, list_ids, message_id, segment_id, sdate, recipients, test_emails
            )

        if ambiguity:
            self.log.warning(ambiguity)
        if tz_setting is None and _blank_to_none(self.send_at) is not None:
            self.log.warning(assumed_utc_warning(sdate))
        message = get_message(hook, message_id) if message_id else self._create_message()
        message_id = str(message["id"])
        self._check_account_timezone(message, account_tz, configured=tz_setting is not None)
        self.log.info(
            "Creating campaign %r for lists %s with message %s, sending at %s (%s in %s).",
            name,
            list_ids,
            message_id,
            send_at.isoformat(),
            sdate,
            account_tz,
        )
        intent = journal.intent(
            WRITER,
            name,
            {"lists": list_ids, "message": message_id, "sdate": sdate, "segment": segment_id},
            deadline_seconds=request_deadline_seconds(hook),
        )
        try:
            campaign_id = create_campaign(
                hook,
                name=name,
                list_ids=list_ids,
                message_id=message_id,
                sdate=sdate,
                schedule=True,
                segment_id=segment_id,
            )
        except ActiveCampaignAmbiguousWriteError as error:
            journal.outcome(intent, Outcome.AMBIGUOUS)
            journal.close()
            return self._resolve_ambiguous_create(context, name, exclude, error)
        except BaseException:
            journal.outcome(intent, Outcome.REFUSED)
            journal.close()
            raise
        journal.outcome(intent, Outcome.APPLIED, ref=campaign_id)
        journal.close()

        campaign = get_campaign(hook, campaign_id)
        mismatch = sdate_mismatch(campaign, send_at)
        if mismatch:
            self.log.warning(mismatch)
        result = self._result(campaign, name, counted=recipients, created=True, intended=send_at)
        self.log.info("Campaign %s %r is %s.", campaign_id, name, result["status"])
        self._publish_link(context, campaign_id, extra)
        if self.wait_for_completion:
            return self._wait(context, result)
        return result

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger saw the campaign finish (or fail)."""
        if event.get("status") != "success":
            raise ActiveCampaignError(f"Waiting for the campaign failed: {event.get('message')}")
        report: dict[str, Any] = event["report"]
        raise_for_outcome(event["outcome"], report)
        previous = context["ti"].xcom_pull(key=SEND_RESULT_XCOM_KEY) or {
            "campaign_id": event.get("campaign_id"),
            "name": report.get("name"),
            "scheduled_for": None,
            "created": None,
        }
        return _finished(dict(previous), report)

    # ----------------------------------------------------------------------------------------------
    # steps
    # ----------------------------------------------------------------------------------------------

    def _campaign_name(self, context: Context) -> str:
        given = _blank_to_none(self.name)
        if given:
            return given
        ti = context["ti"]
        map_index = ti.map_index if ti.map_index is not None else -1
        return default_campaign_name(ti.dag_id, ti.task_id, context["run_id"], map_index)

    def _continue_existing(
        self, context: Context, name: str, found: list[dict[str, Any]], *, created: bool
    ) -> dict[str, Any]:
        """This task instance's campaign exists: report it (and wait), never send it again."""
        handed_over = [c for c in found if status_code(c) != DRAFT]
        ids = ", ".join(str(c.get("id")) for c in found)
        if not handed_over:
            raise ActiveCampaignCampaignError(
                f"A draft campaign named {name!r} already exists (id {ids}). This operator only sends "
                "campaigns it schedules itself, in one call, and never sends a second campaign with "
                "the same name; nothing was sent.",
                hint="Delete or rename that draft in ActiveCampaign, or give the task another name=.",
            )
        campaign = max(handed_over, key=lambda c: as_int(c.get("id")))
        if len(handed_over) > 1:
            self.log.warning(
                "%d campaigns are named %r (ids %s); following the newest.", len(handed_over), name, ids
            )
        self.log.warning(
            "Campaign %s %r already exists and is %s: it was scheduled by an earlier try or run of this "
            "task instance, so it is NOT sent again.",
            campaign.get("id"),
            name,
            status_name(status_code(campaign)),
        )
        result = self._result(campaign, name, counted=None, created=created, intended=None)
        extra = self.hook.get_connection(self.activecampaign_conn_id).extra_dejson
        self._publish_link(context, result["campaign_id"], extra)
        if self.wait_for_completion:
            return self._wait(context, result)
        return result

    def _resolve_ambiguous_create(
        self, context: Context, name: str, exclude: list[str], error: ActiveCampaignAmbiguousWriteError
    ) -> dict[str, Any]:
        """campaign_create may have happened: read back by name; never create again."""
        self.log.warning(
            "campaign_create may or may not have been applied; reading back by name. %s", error.summary
        )
        for delay in READ_BACK_DELAYS:
            if delay:
                time.sleep(delay)
            found = find_campaigns_named(self.hook, [name], exclude=exclude)[name]
            if found:
                self.log.info("Found campaign %r after the ambiguous failure: it was created.", name)
                return self._continue_existing(context, name, found, created=True)
        # Retryable on purpose: the next try reads back by name before creating anything.
        raise ActiveCampaignError(
            f"campaign_create for {name!r} was sent once; {lost_answer(error)}, and no campaign with "
            "that name is found yet. It was not created again here.",
            hint="Retrying the task is safe: it looks for the campaign by name before creating one, and "
            "does not create it again until the lost create has settled (write_settle_seconds).",
            method=error.method,
            url=error.url,
            status=error.status,
            response_body=error.response_body,
        ) from error

    def _audience_and_message(self, template_id: str | None) -> tuple[list[str], str | None, str | None]:
        """Resolve the lists (names or ids), message and segment to send, before anything is written.

        A draft's segment is kept unless ``segment_id`` is given: dropping it would widen the audience.
        """
        hook = self.hook
        message_id = _blank_to_none(self.message_id)
        segment_id = _blank_to_none(self.segment_id)
        wanted = as_list(self.lists)
        if template_id:
            draft = get_campaign(hook, template_id)
            code = status_code(draft)
            if code != DRAFT:
                raise ActiveCampaignCampaignError(
                    f"Campaign {template_id} {draft.get('name')!r} is {status_name(code)}, not a draft; "
                    "campaign_id must name a draft to send from. Nothing was sent.",
                    hint="Pick the draft in ActiveCampaign, or build the campaign from its parts.",
                )
            draft_lists, draft_messages = read_draft_parts(hook, template_id)
            wanted = wanted or draft_lists
            if segment_id is None and _blank_to_none(draft.get("segmentid")) not in (None, "0"):
                segment_id = str(draft["segmentid"])
            if message_id is None:
                if len(draft_messages) != 1:
                    raise ActiveCampaignCampaignError(
                        f"Draft {template_id} has {len(draft_messages)} messages; exactly one is needed "
                        "(split tests are not supported). Nothing was sent.",
                        hint="Pass message_id= to choose the message.",
                    )
                message_id = draft_messages[0]
        elif message_id is None:
            self._check_message_parts()
        if not wanted:
            raise ActiveCampaignCampaignError(
                "No lists to send to. Nothing was sent.", hint="Pass lists= (names or ids)."
            )
        resolved = hook.resolve_ids("lists", key="lists", wanted=wanted, kind="list")
        return list(dict.fromkeys(resolved[item] for item in wanted)), message_id, segment_id

    def _check_message_parts(self) -> None:
        missing = [
            part for part in ("subject", "from_name", "from_email") if not _blank_to_none(getattr(self, part))
        ]
        if not (_blank_to_none(self.html) or _blank_to_none(self.text)):
            missing.append("html or text")
        if missing:
            raise ActiveCampaignCampaignError(
                f"The new message lacks {', '.join(missing)}. Nothing was sent.",
                hint="Give every message part, or message_id= of an existing message.",
            )
        check_emails([str(self.from_email)], "from_email")
        if _blank_to_none(self.reply_to):
            check_emails([str(self.reply_to)], "reply_to")

    def _check_recipients(self, list_ids: list[str]) -> int:
        """Count active members (an upper bound: a contact on two lists gets one copy) and apply the guard."""
        counts = count_active_members(self.hook, list_ids)
        total = sum(counts.values())
        detail = ", ".join(f"list {lid}: {n}" for lid, n in counts.items())
        limit = _blank_to_none(self.max_recipients)
        if limit is not None:
            try:
                maximum = int(limit)
            except ValueError:
                raise ActiveCampaignCampaignError(
                    f"max_recipients must be a number, got {limit!r}."
                ) from None
            if total > maximum:
                overlap = (
                    " (at most: a contact on several lists is counted once per list)"
                    if len(counts) > 1
                    else ""
                )
                raise ActiveCampaignCampaignError(
                    f"The lists have {total} active members{overlap} ({detail}), more than "
                    f"max_recipients={maximum}. Nothing was created or sent.",
                    hint="Check the lists and segment, or raise max_recipients if this audience is intended.",
                )
        self.log.info("Active members: %s (total %d).", detail, total)
        return total

    def _check_account_timezone(
        self, message: dict[str, Any], tz: AccountTimezone, *, configured: bool
    ) -> None:
        """Refuse to schedule when ActiveCampaign's own dates show another timezone than the one used."""
        problem = timezone_disagreement(message.get("cdate") or message.get("mdate"), tz)
        if problem is None:
            return
        if not self.verify_account_timezone:
            self.log.warning("%s verify_account_timezone=False: sending anyway.", problem)
            return
        assumed = "" if configured else " No account_timezone is configured, so UTC was assumed."
        raise ActiveCampaignCampaignError(
            f"{problem}{assumed} The campaign would send at the wrong hour, so nothing was sent.",
            hint="Set account_timezone= on the operator, or the connection extra account_timezone, to "
            "the IANA name of the API user's timezone in ActiveCampaign (Settings → My Settings), "
            "e.g. 'America/Chicago'.",
        )

    def _create_message(self) -> dict[str, Any]:
        from_email = str(self.from_email).strip()
        message = create_message(
            self.hook,
            subject=str(self.subject),
            from_name=str(self.from_name),
            from_email=from_email,
            reply_to=str(_blank_to_none(self.reply_to) or from_email),
            html=_blank_to_none(self.html),
            text=_blank_to_none(self.text),
        )
        self.log.info("Created message %s (%r).", message["id"], self.subject)
        return message

    def _dry_run(
        self,
        context: Context,
        name: str,
        template_id: str | None,
        list_ids: list[str],
        message_id: str | None,
        segment_id: str | None,
        sdate: str,
        recipients: int,
        test_emails: list[str],
    ) -> dict[str, Any]:
        """Send test copies from a draft and stop: nothing reaches the lists."""
        hook = self.hook
        if template_id:
            campaign_id, created = template_id, False
        else:
            if message_id is None:
                message_id = str(self._create_message()["id"])
            campaign_id = create_campaign(
                hook,
                name=dry_run_campaign_name(name),
                list_ids=list_ids,
                message_id=message_id,
                sdate=sdate,
                schedule=False,
                segment_id=segment_id,
            )
            created = True
        assert message_id is not None  # resolved from the draft or created above
        for email in test_emails:
            send_test_copy(hook, campaign_id=campaign_id, message_id=message_id, email=email)
        self.log.info(
            "Dry run: test copies of campaign %s sent to %s; the %d active members of lists %s got nothing.",
            campaign_id,
            ", ".join(test_emails),
            recipients,
            list_ids,
        )
        extra = hook.get_connection(self.activecampaign_conn_id).extra_dejson
        self._publish_link(context, campaign_id, extra)
        return {
            "campaign_id": campaign_id,
            "name": name,
            "status": "test_sent",
            "scheduled_for": None,
            "recipients": recipients,
            "created": created,
            "dry_run": True,
            "test_emails": test_emails,
        }

    def _result(
        self,
        campaign: dict[str, Any],
        name: str,
        *,
        counted: int | None,
        created: bool,
        intended: pendulum.DateTime | None,
    ) -> dict[str, Any]:
        reported = parse_api_datetime(campaign.get("sdate"))
        scheduled = reported or intended
        total = as_int(campaign.get("total_amt"))
        return {
            "campaign_id": str(campaign.get("id")),
            "name": name,
            "status": status_name(status_code(campaign)),
            "scheduled_for": scheduled.isoformat() if scheduled else None,
            # Our count when we just checked the lists; else ActiveCampaign's, once it has one.
            "recipients": counted if counted is not None else (total or None),
            "created": created,
        }

    def _wait(self, context: Context, result: dict[str, Any]) -> dict[str, Any]:
        campaign_id = result["campaign_id"]
        context["ti"].xcom_push(key=SEND_RESULT_XCOM_KEY, value=result)
        deadline = time.monotonic() + self.wait_timeout if self.wait_timeout else None
        while True:
            campaign = get_campaign(self.hook, campaign_id)
            outcome = finish_outcome(campaign)
            if outcome is not None:
                report = campaign_report(campaign)
                raise_for_outcome(outcome, report)
                return _finished(result, report)
            if self.deferrable:
                self.log.info("Deferring: %s", describe_progress(campaign))
                self.defer(
                    trigger=ActiveCampaignCampaignSentTrigger(
                        campaign_id=campaign_id,
                        activecampaign_conn_id=self.activecampaign_conn_id,
                        poll_interval=self.poll_interval,
                    ),
                    method_name="execute_complete",
                    timeout=timedelta(seconds=self.wait_timeout) if self.wait_timeout else None,
                )
            if deadline is not None and time.monotonic() > deadline:
                raise ActiveCampaignError(
                    f"Gave up waiting after {self.wait_timeout} s: {describe_progress(campaign)}.",
                    hint="The campaign keeps sending in ActiveCampaign. Re-running this task will not "
                    "send it again; it will wait again.",
                )
            self.log.info("Waiting: %s", describe_progress(campaign))
            time.sleep(self.poll_interval)

    def _publish_link(self, context: Context, campaign_id: str, extra: dict[str, Any]) -> None:
        """XCom ``campaign_id`` (so ``send.output["campaign_id"]`` works) and the app link."""
        context["ti"].xcom_push(key=CAMPAIGN_ID_XCOM_KEY, value=str(campaign_id))
        url = campaign_app_url(self.hook.base_url, campaign_id, extra.get("app_url"))
        # Pushed even when empty, so the extra link finds a value instead of logging a miss.
        context["ti"].xcom_push(key=CAMPAIGN_URL_XCOM_KEY, value=url or "")
        if url:
            self.log.info("Campaign in ActiveCampaign: %s", url)


def _blank_to_none(value: Any) -> str | None:
    """Templated fields render ``None`` as ``"None"`` and unset ones as ``""``: both mean "not given"."""
    if value is None:
        return None
    text = str(value).strip()
    return None if text in ("", "None") else text


def _finished(result: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
    return {**result, "status": report["status"], "recipients": report["recipients"], "report": report}
