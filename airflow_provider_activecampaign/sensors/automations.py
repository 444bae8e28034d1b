"""A sensor that waits until contacts have finished an ActiveCampaign automation."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, NoReturn

from airflow.sdk import Context, PokeReturnValue, conf
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
)

from airflow_provider_activecampaign.automations.enrolments import (
    CompletionState,
    Progress,
    is_running,
    map_in_threads,
    parse_contact_automation_ids,
    read_contact_enrolments,
    refresh_unfinished,
    resolve_all,
    resolve_automation,
    summarize,
)
from airflow_provider_activecampaign.exceptions import ActiveCampaignNotFoundError
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.records.refs import ContactResolver, parse_contacts
from airflow_provider_activecampaign.sensors.base import ActiveCampaignDeferrableSensor
from airflow_provider_activecampaign.triggers.automations import ActiveCampaignAutomationCompletedTrigger
from airflow_provider_activecampaign.triggers.base import DEFERRAL_GRACE


class ActiveCampaignAutomationCompletedSensor(ActiveCampaignDeferrableSensor):
    """Wait until automation enrolments have finished (completed, or exited early).

    Name the enrolments either by id (``contact_automation_ids``, e.g. the add operator's
    ``.output``) or as ``automation`` + ``contacts``: then each contact is done when none of its
    enrolments in that automation is still running.

    An enrolment that no longer exists (removed, or a wrong id), a contact that does not exist or
    has never been in the automation fails the task at once: it can never complete. At ``timeout``
    the error lists the enrolments still running; with ``soft_fail`` the task is skipped instead.

    :param contact_automation_ids: Enrolment ids: a list, a comma-separated string, or the add
        operator's result (its ``enrolled`` ids). (templated)
    :param automation: The automation's id or exact name, with ``contacts``. (templated)
    :param contacts: Emails and/or contact ids, in any shape the add operator accepts. (templated)
    :param deferrable: Wait in the triggerer (polling every ``poke_interval``).
    :param max_workers: Enrolments read at once per poke (the account's rate limit still applies).

    Returns ``{"completed": [contact_automation_id, ...], "exited": [...]}``.
    """

    template_fields: Sequence[str] = (
        "contact_automation_ids",
        "automation",
        "contacts",
        "activecampaign_conn_id",
    )
    deferral_grace = DEFERRAL_GRACE
    #: Enrolments last hours or days, and a poke reads each of them: defer after the first poke.
    default_defer_after = 0.0

    def __init__(
        self,
        *,
        contact_automation_ids: Any = None,
        automation: str | int | None = None,
        contacts: Any = None,
        activecampaign_conn_id: str = ActiveCampaignHook.default_conn_name,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        max_workers: int = 2,
        **kwargs: Any,
    ) -> None:
        super().__init__(activecampaign_conn_id=activecampaign_conn_id, deferrable=deferrable, **kwargs)
        by_ids = contact_automation_ids is not None
        by_contacts = automation is not None or contacts is not None
        if by_ids == by_contacts or (by_contacts and (automation is None or contacts is None)):
            raise ValueError(
                "Pass either contact_automation_ids, or both automation and contacts "
                f"(task {kwargs.get('task_id')!r})."
            )
        self.contact_automation_ids = contact_automation_ids
        self.automation = automation
        self.contacts = contacts
        self.max_workers = int(max_workers)
        self._ids: list[str] | None = None
        self._rows: dict[str, dict[str, Any] | None] = {}
        self._state: CompletionState | None = None

    # -- poking --------------------------------------------------------------------------------

    def poke(self, context: Context) -> PokeReturnValue:
        self._state = None
        if self._ids is None and self.contact_automation_ids is None:
            # automation + contacts: resolving reads every row we need, fresh, for this poke.
            self._ids = self._resolve_targets()
            state = summarize({ident: self._rows.get(ident) for ident in self._ids})
        else:
            if self._ids is None:
                self._ids = self._resolve_targets()
            state = refresh_unfinished(self.hook, self._ids, self._rows, self.max_workers)
        if state.missing:
            raise AirflowFailException(state.describe_missing())
        self._state = state
        if state.done:
            self.log.info(
                "All %d enrolment(s) finished: %d completed, %d exited early.",
                len(self._ids),
                len(state.completed),
                len(state.exited),
            )
            return PokeReturnValue(True, state.as_result())
        self.log.info(
            "%d of %d enrolment(s) finished; %s",
            len(self._ids) - len(state.running),
            len(self._ids),
            state.describe_running(limit=5),
        )
        return PokeReturnValue(False)

    def _resolve_targets(self) -> list[str]:
        """The enrolment ids to watch; in ``automation`` + ``contacts`` mode, reads them (and keeps
        the rows just read, so the first poke costs nothing more)."""
        if self.contact_automation_ids is not None:
            try:
                return parse_contact_automation_ids(self.contact_automation_ids)
            except TypeError as error:
                raise AirflowFailException(str(error)) from None
        assert self.automation is not None
        automation_id = resolve_automation(self.hook, self.automation)
        try:
            parsed = parse_contacts(self.contacts)
        except TypeError as error:
            raise AirflowFailException(str(error)) from None
        resolutions = resolve_all(
            ContactResolver(self.hook), parsed, self.max_workers, progress_every=100, logger=self.log
        )
        problems = [f"{item['contact']!r} ({item['reason']})" for item in parsed.invalid]
        problems += [f"{r.ref.key!r} (not found)" for r in resolutions if r.not_found]
        problems += [f"{r.ref.key!r} ({r.reason})" for r in resolutions if r.reason]
        found = [r for r in resolutions if r.contact_id is not None]

        def read(contact_id: str) -> list[dict[str, Any]] | None:
            try:
                return read_contact_enrolments(self.hook, contact_id, automation_id)
            except ActiveCampaignNotFoundError:
                return None

        progress = Progress(self.log, "Reading enrolments", len(found), 100)
        enrolments = map_in_threads(read, [r.contact_id or "" for r in found], self.max_workers, progress)
        ids: list[str] = []
        for resolution, rows in zip(found, enrolments, strict=True):
            if rows is None:
                problems.append(f"{resolution.ref.key!r} (not found)")
                continue
            if not rows:
                problems.append(f"{resolution.ref.key!r} (never enrolled in automation {automation_id})")
                continue
            watched = [row for row in rows if is_running(row)] or rows[-1:]
            for row in watched:
                ident = str(row.get("id"))
                self._rows[ident] = row
                if ident not in ids:
                    ids.append(ident)
        if problems:
            shown = "; ".join(problems[:20]) + (
                f"; and {len(problems) - 20} more" if len(problems) > 20 else ""
            )
            raise AirflowFailException(
                f"Cannot wait for {len(problems)} contact(s) in automation {self.automation!r}: {shown}."
            )
        return ids

    # -- running -------------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        try:
            return super().execute(context)
        except AirflowFailException as error:
            # Deferrable mode: the first poke found enrolments that can never complete.
            if self.deferrable and (self.soft_fail or self.never_fail):
                raise AirflowSkipException(f"Skipping (soft_fail): {error}") from error
            raise
        except AirflowSensorTimeout as error:
            raise AirflowSensorTimeout(self._with_running(error)) from error
        except AirflowSkipException as error:
            if self._state is not None and self._state.running:  # soft_fail at the timeout
                raise AirflowSkipException(self._with_running(error)) from error
            raise

    def _with_running(self, error: BaseException) -> str:
        running = self._state.describe_running() if self._state is not None else "status unknown"
        return f"{error} {running}."

    def build_trigger(self) -> ActiveCampaignAutomationCompletedTrigger:
        assert self._ids is not None
        return ActiveCampaignAutomationCompletedTrigger(
            list(self._ids),
            activecampaign_conn_id=self.activecampaign_conn_id,
            poll_interval=max(self.poke_interval, 0.01),
            deadline=time.time() + self.timeout,
        )

    def result_from_event(self, event: dict[str, Any]) -> dict[str, list[str]]:
        self.log.info(
            "All enrolments finished: %d completed, %d exited early.",
            len(event.get("completed") or []),
            len(event.get("exited") or []),
        )
        return {
            "completed": list(event.get("completed") or []),
            "exited": list(event.get("exited") or []),
        }

    def raise_for_failed_event(self, event: dict[str, Any]) -> NoReturn:
        message = str(event.get("message") or event)
        if event.get("status") == "timeout":
            message = f"Sensor has timed out after {self.timeout:.0f} s. {message}."
            self.log.error(message)
            raise AirflowSensorTimeout(message)
        self.log.error(message)
        if event.get("status") == "missing":
            raise AirflowFailException(message)  # can never complete: retrying would not help
        raise AirflowException(f"Waiting for the automation failed: {message}")
