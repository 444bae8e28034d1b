"""Send one campaign at most once per name: look it up, create and schedule it in one call, read back.

Never twice, by construction:

1. The campaign's name is the send's idempotency key. Before anything else every campaign is read
   and that name looked for; one handed to the sending engine (any status but draft) is reported,
   never sent again.
2. The campaign is created and scheduled in **one** v1 ``campaign_create`` call, so no retry can
   fall between "created" and "scheduled".
3. That call is on the write journal and never repeated by the transport: an ambiguous failure is
   read back by name; a later try does not create again until the lost create has settled.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from airflow_provider_activecampaign.campaigns.api import (
    DRAFT,
    ActiveCampaignCampaignError,
    as_int,
    create_campaign,
    create_message,
    dry_run_campaign_name,
    find_campaigns_named,
    get_campaign,
    get_message,
    sdate_mismatch,
    send_test_copy,
    status_code,
    status_name,
)
from airflow_provider_activecampaign.campaigns.audience import Audience, choose_audience, count_recipients
from airflow_provider_activecampaign.campaigns.request import NewMessage, SendRequest
from airflow_provider_activecampaign.campaigns.result import dry_run_result, send_result
from airflow_provider_activecampaign.campaigns.schedule import SendTime, check_account_timezone
from airflow_provider_activecampaign.exceptions import ActiveCampaignAmbiguousWriteError, ActiveCampaignError
from airflow_provider_activecampaign.records.journal import (
    Outcome,
    Resolution,
    WriteJournal,
    lost_answer,
    request_deadline_seconds,
    times,
)

if TYPE_CHECKING:
    from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook

#: Seconds to wait before each read-back after an ambiguous create (the write may lag a moment).
READ_BACK_DELAYS = (0.0, 1.0)
#: The journal's name for campaign creates (each one schedules a send).
WRITER = "campaigns"


class CampaignSender:
    """Send (or find) one task instance's campaign; the caller publishes the result and waits.

    :param hook: The account to send in.
    :param journal: The task instance's write journal (the caller closes it).
    :param log: Where the decisions are logged: the task's logger (Airflow's or a standard one).
    """

    def __init__(self, hook: ActiveCampaignHook, journal: WriteJournal, log: Any) -> None:
        self.hook = hook
        self.journal = journal
        self.log = log

    def send(self, request: SendRequest, when: SendTime, *, verify_account_timezone: bool) -> dict[str, Any]:
        """The send's result: found from an earlier try, created now, or a dry run's test copies."""
        if not request.dry_run:
            earlier = self._find_earlier(request)
            if earlier is not None:
                return earlier
        audience = choose_audience(self.hook, request)
        counted = count_recipients(self.hook, audience.list_ids, request.max_recipients)
        self.log.info("Active members: %s (total %d).", counted.describe(), counted.total)
        if request.dry_run:
            return self._dry_run(request, audience, when.sdate, counted.total)
        for warning in when.warnings:
            self.log.warning(warning)
        if audience.message_id:
            message = get_message(self.hook, audience.message_id)
        else:
            message = self._create_message(request.message)
        lenient = check_account_timezone(message, when, verify=verify_account_timezone)
        if lenient:
            self.log.warning(lenient)
        return self._create(request, audience, str(message["id"]), when, counted.total)

    # ----------------------------------------------------------------------------------------------

    def _find(self, request: SendRequest) -> list[dict[str, Any]]:
        return find_campaigns_named(self.hook, [request.name], exclude=request.exclude)[request.name]

    def _find_earlier(self, request: SendRequest) -> dict[str, Any] | None:
        """An earlier try's campaign, reported; ``None`` when this try may create it."""
        name = request.name
        mine = self._find(request)
        if mine:
            self.journal.resolve(WRITER, name, read_back=lambda intent: str(mine[0].get("id")))
            return self._existing(name, mine, created=False)
        # An earlier try's campaign_create whose answer was lost may still land: not created
        # again until a read-back after its deadline plus write_settle_seconds finds nothing.
        decision = self.journal.resolve(WRITER, name, read_back=lambda intent: bool(self._find(request)))
        if decision.resolution is Resolution.APPLIED:
            found = self._find(request)
            if found:
                return self._existing(name, found, created=False)
        if decision.resolution is Resolution.UNKNOWN:
            raise ActiveCampaignError(
                f"campaign_create for {name!r} was sent {times(decision.sent)} by an earlier try of "
                "this task whose answer never arrived, and no campaign with that name is found yet: "
                "ActiveCampaign may still create it, so it was not created again (nothing was sent).",
                hint="Retry after write_settle_seconds: the retry reads the name back first and "
                "creates the campaign only if it is still missing.",
            )
        return None

    def _existing(self, name: str, found: list[dict[str, Any]], *, created: bool) -> dict[str, Any]:
        """This task instance's campaign exists: report it, never send it again."""
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
        return send_result(campaign, name, counted=None, created=created, intended=None)

    def _create(
        self, request: SendRequest, audience: Audience, message_id: str, when: SendTime, counted: int
    ) -> dict[str, Any]:
        """Create and schedule in one journaled call; an ambiguous answer is read back, never resent."""
        name = request.name
        self.log.info(
            "Creating campaign %r for lists %s with message %s, sending at %s (%s in %s).",
            name,
            audience.list_ids,
            message_id,
            when.at.isoformat(),
            when.sdate,
            when.timezone,
        )
        intent = self.journal.intent(
            WRITER,
            name,
            {
                "lists": audience.list_ids,
                "message": message_id,
                "sdate": when.sdate,
                "segment": audience.segment_id,
            },
            deadline_seconds=request_deadline_seconds(self.hook),
        )
        try:
            campaign_id = create_campaign(
                self.hook,
                name=name,
                list_ids=audience.list_ids,
                message_id=message_id,
                sdate=when.sdate,
                schedule=True,
                segment_id=audience.segment_id,
            )
        except ActiveCampaignAmbiguousWriteError as error:
            self.journal.outcome(intent, Outcome.AMBIGUOUS)
            return self._read_back(request, error)
        except BaseException:
            self.journal.outcome(intent, Outcome.REFUSED)
            raise
        self.journal.outcome(intent, Outcome.APPLIED, ref=campaign_id)
        campaign = get_campaign(self.hook, campaign_id)
        mismatch = sdate_mismatch(campaign, when.at)
        if mismatch:
            self.log.warning(mismatch)
        result = send_result(campaign, name, counted=counted, created=True, intended=when.at)
        self.log.info("Campaign %s %r is %s.", campaign_id, name, result["status"])
        return result

    def _read_back(self, request: SendRequest, error: ActiveCampaignAmbiguousWriteError) -> dict[str, Any]:
        """campaign_create may have happened: read back by name; never create again."""
        name = request.name
        self.log.warning(
            "campaign_create may or may not have been applied; reading back by name. %s", error.summary
        )
        for delay in READ_BACK_DELAYS:
            if delay:
                time.sleep(delay)
            found = self._find(request)
            if found:
                self.log.info("Found campaign %r after the ambiguous failure: it was created.", name)
                return self._existing(name, found, created=True)
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

    def _create_message(self, message: NewMessage) -> dict[str, Any]:
        created = create_message(self.hook, **message.create_arguments())
        self.log.info("Created message %s (%r).", created["id"], message.subject)
        return created

    def _dry_run(
        self, request: SendRequest, audience: Audience, sdate: str, recipients: int
    ) -> dict[str, Any]:
        """Send test copies from a draft and stop: nothing reaches the lists."""
        message_id = audience.message_id
        if request.template_id:
            campaign_id, created = request.template_id, False
        else:
            if message_id is None:
                message_id = str(self._create_message(request.message)["id"])
            campaign_id = create_campaign(
                self.hook,
                name=dry_run_campaign_name(request.name),
                list_ids=audience.list_ids,
                message_id=message_id,
                sdate=sdate,
                schedule=False,
                segment_id=audience.segment_id,
            )
            created = True
        assert message_id is not None  # resolved from the draft or created above
        for email in request.test_emails:
            send_test_copy(self.hook, campaign_id=campaign_id, message_id=message_id, email=email)
        self.log.info(
            "Dry run: test copies of campaign %s sent to %s; the %d active members of lists %s got nothing.",
            campaign_id,
            ", ".join(request.test_emails),
            recipients,
            audience.list_ids,
        )
        return dry_run_result(
            campaign_id, request.name, recipients=recipients, created=created, test_emails=request.test_emails
        )
