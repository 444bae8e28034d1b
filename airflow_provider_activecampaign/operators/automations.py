"""Operators that add contacts to an ActiveCampaign automation and remove them from it.

The rules that keep a contact from being enrolled twice live in
:mod:`airflow_provider_activecampaign.automations.enrolments`; see ``docs/operators/automations.md``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import Context, conf
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_activecampaign.automations.enrolments import (
    Enroller,
    EnrolmentReport,
    Remover,
    check_reentry_options,
    describe_problems,
    earlier_tries_since,
    resolve_automation,
    wait_until_finished,
)
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.operators.base import ActiveCampaignBaseOperator, check_failure_ratio
from airflow_provider_activecampaign.records.journal import WriteJournal, request_deadline_seconds
from airflow_provider_activecampaign.records.ratio import enforce_failure_ratio
from airflow_provider_activecampaign.records.refs import ParsedContacts, parse_contacts
from airflow_provider_activecampaign.triggers.automations import ActiveCampaignAutomationCompletedTrigger
from airflow_provider_activecampaign.triggers.base import DEFERRAL_GRACE

#: XCom key of the enrolment result while the task waits (deferred) and when it fails.
RESULT_XCOM_KEY = "enrolment_result"


def _resolve_with_label(hook: ActiveCampaignHook, automation: str | int) -> tuple[str, str]:
    """The automation's id, and how logs and errors name it: ``automation 'Welcome' (id 3)``."""
    automation_id = resolve_automation(hook, automation)
    label = f"automation {automation!r}" + (
        f" (id {automation_id})" if str(automation) != automation_id else ""
    )
    return automation_id, label


def _parse(contacts: Any) -> ParsedContacts:
    try:
        return parse_contacts(contacts)
    except TypeError as error:
        raise AirflowFailException(str(error)) from None


def _default_timeout() -> float:
    return conf.getfloat("sensors", "default_timeout", fallback=7 * 24 * 3600.0)


class ActiveCampaignAddContactsToAutomationOperator(ActiveCampaignBaseOperator):
    """Enrol contacts in an automation, never twice, and optionally wait until they finish it.

    :param automation: The automation's id or exact name (case-insensitive); resolved once, before
        anything is written. (templated)
    :param contacts: Emails and/or contact ids: a list, an upstream ``.output``, a dict with an
        ``emails``, ``contact_ids`` or ``contacts`` list, or a string of them (see the guide for every
        accepted shape). (templated)
    :param create_missing: Create contacts whose email does not exist yet (``contact/sync``, an
        upsert). Otherwise they are reported in ``not_found``.
    :param allow_reentry: Enrol contacts even when they are running through the automation right now.
        A task and its retries still never enrol a contact twice.
    :param skip_completed: Skip contacts who have ever been in the automation (running, completed or
        exited), so a later DAG run does not start it again for them (a welcome series sent once).
        Costs no extra request. Cannot be combined with ``allow_reentry``.
    :param max_failure_ratio: Fail the task when ``(failed + not_found) / total`` exceeds this
        (default 0.0: any problem fails it, after every other contact has been handled).
    :param wait_for_completion: After enrolling, wait until the enrolled (and skipped, still running)
        contacts have finished the automation.
    :param deferrable: Wait in the triggerer instead of a worker slot.
    :param poll_interval: Seconds between status checks while waiting.
    :param timeout: Seconds to wait for completion before failing (default: ``[sensors] default_timeout``).
    :param read_back_delay: The longest the task waits for an enrolment whose POST got no answer,
        and that a read-back did not find at once, to settle (the request's deadline plus
        ``[activecampaign] write_settle_seconds``); a read-back after that decides whether it is sent
        once more. Not settled by then: reported ``unknown``, not sent again in this try.
    :param max_workers: Contacts handled at once; overlaps round trips, the account's rate limit
        still applies to the total.
    :param progress_every: Log progress (done/total, rate, time left) every this many contacts.

    Returns ``{"enrolled": {contact: contact_automation_id}, "skipped_already_active": [...],
    "skipped_previously_enrolled": [...], "not_found": [...], "failed": [{"contact", "reason"}]}``,
    keyed by the contacts as given (``skipped_previously_enrolled`` is empty without
    ``skip_completed``).
    """

    template_fields: Sequence[str] = (*ActiveCampaignBaseOperator.template_fields, "automation", "contacts")
    template_fields_renderers = {"contacts": "json"}

    def __init__(
        self,
        *,
        automation: str | int,
        contacts: Any,
        create_missing: bool = False,
        allow_reentry: bool = False,
        skip_completed: bool = False,
        max_failure_ratio: float = 0.0,
        wait_for_completion: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 60.0,
        timeout: float | None = None,
        read_back_delay: float = 60.0,
        max_workers: int = 2,
        progress_every: int = 100,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.automation = automation
        self.contacts = contacts
        self.create_missing = create_missing
        check_reentry_options(allow_reentry=allow_reentry, skip_completed=skip_completed)
        self.allow_reentry = allow_reentry
        self.skip_completed = skip_completed
        self.max_failure_ratio = check_failure_ratio(max_failure_ratio)
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        if poll_interval <= 0:
            raise ValueError("poll_interval must be a positive number of seconds.")
        self.poll_interval = float(poll_interval)
        self.timeout = float(timeout) if timeout is not None else _default_timeout()
        self.read_back_delay = float(read_back_delay)
        self.max_workers = int(max_workers)
        self.progress_every = int(progress_every)

    def execute(self, context: Context) -> dict[str, Any]:
        automation_id, label = _resolve_with_label(self.hook, self.automation)
        parsed = _parse(self.contacts)
        since = earlier_tries_since(context)
        if since is not None:
            self.log.info(
                "This is a repeated try: enrolments in %s that started since %s were made by an earlier "
                "try of this task and will not be made again.",
                label,
                since.isoformat(timespec="seconds"),
            )
        self.log.info("Enrolling %d contact(s) in %s.", parsed.total, label)
        with WriteJournal.for_task(context) as journal:
            report = Enroller(
                self.hook,
                automation_id,
                create_missing=self.create_missing,
                allow_reentry=self.allow_reentry,
                skip_completed=self.skip_completed,
                earlier_tries_since=since,
                read_back_delay=self.read_back_delay,
                max_workers=self.max_workers,
                progress_every=self.progress_every,
                logger=self.log,
                journal=journal,
                deadline_seconds=request_deadline_seconds(self.hook),
            ).run(parsed)
        result = report.as_result()
        self._log_report(report, label)
        context["ti"].xcom_push(key=RESULT_XCOM_KEY, value=result)
        problems = [{"contact": key, "reason": "not found"} for key in report.not_found] + report.failed
        enforce_failure_ratio(
            len(problems),
            report.total,
            self.max_failure_ratio,
            report=f"XCom {RESULT_XCOM_KEY!r}",
            task=f"Enrolling in {label}",
            what="contacts",
            happened="failed or were not found",
            first=describe_problems(problems),
            after="The others were enrolled; a re-run never enrols anyone twice.",
        )
        ids = report.ids_to_wait_for()
        if not self.wait_for_completion or not ids:
            return result
        if self.deferrable:
            self.log.info("Waiting in the triggerer for %d enrolment(s) to finish.", len(ids))
            self.defer(
                trigger=ActiveCampaignAutomationCompletedTrigger(
                    ids,
                    activecampaign_conn_id=self.activecampaign_conn_id,
                    poll_interval=self.poll_interval,
                    deadline=time.time() + self.timeout,
                ),
                method_name="execute_complete",
                timeout=timedelta(seconds=self.timeout) + DEFERRAL_GRACE,
            )
        state = wait_until_finished(
            self.hook, ids, poll_interval=self.poll_interval, timeout=self.timeout, logger=self.log
        )
        self.log.info("%d enrolment(s) completed, %d exited early.", len(state.completed), len(state.exited))
        return result

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger: return the enrolment result, or fail with what is still running."""
        status = event.get("status")
        if status == "missing":
            # Removed while we waited: not retried, since a retry could not see the removed
            # enrolment and would enrol the contact again.
            raise AirflowFailException(f"Waiting for the enrolments to finish failed: {event.get('message')}")
        if status != "success":
            raise AirflowException(
                f"Waiting for the enrolments to finish failed ({status}): {event.get('message', event)}"
            )
        self.log.info(
            "%d enrolment(s) completed, %d exited early.",
            len(event.get("completed") or []),
            len(event.get("exited") or []),
        )
        ti = context["ti"]
        result: dict[str, Any] = ti.xcom_pull(
            task_ids=ti.task_id, key=RESULT_XCOM_KEY, map_indexes=ti.map_index
        )
        return result

    def _log_report(self, report: EnrolmentReport, label: str) -> None:
        self.log.info(
            "%s: %d enrolled (%d of them by an earlier try), %d skipped (already running), %d skipped "
            "(enrolled before), %d not found, %d failed, %d contact(s) created.",
            label,
            len(report.enrolled),
            len(report.from_earlier_tries),
            len(report.skipped_already_active),
            len(report.skipped_previously_enrolled),
            len(report.not_found),
            len(report.failed),
            len(report.created_contacts),
        )
        for item in report.failed[:20]:
            self.log.warning("Not enrolled: %r: %s", item["contact"], item["reason"])
        if report.not_found:
            shown = ", ".join(repr(key) for key in report.not_found[:20])
            self.log.warning(
                "Not found in ActiveCampaign: %s%s", shown, " …" if len(report.not_found) > 20 else ""
            )


class ActiveCampaignRemoveContactsFromAutomationOperator(ActiveCampaignBaseOperator):
    """Remove contacts from an automation (``DELETE /contactAutomations/{id}`` per enrolment).

    Safe to repeat: a contact that is not (or no longer) in the automation is reported in
    ``not_enrolled``, a contact that does not exist in ``not_found``; neither fails the task.

    :param automation: The automation's id or exact name. (templated)
    :param contacts: Emails and/or contact ids, in any shape the add operator accepts. (templated)
    :param include_completed: Also delete finished enrolments (their history). By default only
        running enrolments are removed.
    :param max_failure_ratio: Fail the task when ``failed / total`` exceeds this (default 0.0).
    :param max_workers: Contacts handled at once (the account's rate limit still applies).
    :param progress_every: Log progress every this many contacts.

    Returns ``{"removed": {contact: [contact_automation_id, ...]}, "not_enrolled": [...],
    "not_found": [...], "failed": [{"contact", "reason"}]}``.
    """

    template_fields: Sequence[str] = (*ActiveCampaignBaseOperator.template_fields, "automation", "contacts")
    template_fields_renderers = {"contacts": "json"}

    def __init__(
        self,
        *,
        automation: str | int,
        contacts: Any,
        include_completed: bool = False,
        max_failure_ratio: float = 0.0,
        max_workers: int = 2,
        progress_every: int = 100,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.automation = automation
        self.contacts = contacts
        self.include_completed = include_completed
        self.max_failure_ratio = check_failure_ratio(max_failure_ratio)
        self.max_workers = int(max_workers)
        self.progress_every = int(progress_every)

    def execute(self, context: Context) -> dict[str, Any]:
        automation_id, label = _resolve_with_label(self.hook, self.automation)
        parsed = _parse(self.contacts)
        self.log.info("Removing %d contact(s) from %s.", parsed.total, label)
        report = Remover(
            self.hook,
            automation_id,
            include_completed=self.include_completed,
            max_workers=self.max_workers,
            progress_every=self.progress_every,
            logger=self.log,
        ).run(parsed)
        result = report.as_result()
        self.log.info(
            "%s: %d contact(s) removed, %d were not in it, %d not found, %d failed.",
            label,
            len(report.removed),
            len(report.not_enrolled),
            len(report.not_found),
            len(report.failed),
        )
        for item in report.failed[:20]:
            self.log.warning("Not removed: %r: %s", item["contact"], item["reason"])
        try:
            enforce_failure_ratio(
                len(report.failed),
                report.total,
                self.max_failure_ratio,
                report="XCom 'removal_result'",
                task=f"Removing from {label}",
                what="contacts",
                happened="failed",
                first=describe_problems(report.failed),
                after="The others were removed; a re-run removes only what is still there.",
            )
        except AirflowFailException:
            context["ti"].xcom_push(key="removal_result", value=result)
            raise
        return result
