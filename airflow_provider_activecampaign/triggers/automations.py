"""The trigger that waits, in the triggerer, until automation enrolments have finished."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from airflow_provider_activecampaign.automations.enrolments import FINISHED, enrolment_phase, summarize
from airflow_provider_activecampaign.exceptions import ActiveCampaignNotFoundError
from airflow_provider_activecampaign.hooks.activecampaign_async import ActiveCampaignAsyncHook
from airflow_provider_activecampaign.triggers.base import ActiveCampaignPollTrigger

#: Enrolments read at once per poll; the account's rate limit paces them whatever this is.
CONCURRENT_READS = 2


class ActiveCampaignAutomationCompletedTrigger(ActiveCampaignPollTrigger):
    """Poll ``GET /contactAutomations/{id}`` until every enrolment has completed or exited.

    Finished enrolments are not read again, so each poll costs one request per enrolment still
    running. The event's ``status`` is ``success`` (with ``completed`` and ``exited`` ids),
    ``missing`` (ids ActiveCampaign no longer has: they can never finish), ``timeout`` (``deadline``
    passed; ``running`` describes what is left) or ``error``.

    :param contact_automation_ids: The enrolments to wait for.
    :param deadline: Unix time after which the trigger gives up with a ``timeout`` event, so the
        task's error can say which enrolments were still running.
    """

    def __init__(
        self,
        contact_automation_ids: Sequence[str | int],
        *,
        activecampaign_conn_id: str = ActiveCampaignAsyncHook.default_conn_name,
        poll_interval: float = 30.0,
        deadline: float | None = None,
    ) -> None:
        super().__init__(activecampaign_conn_id=activecampaign_conn_id, poll_interval=poll_interval)
        self.contact_automation_ids = [str(i) for i in contact_automation_ids]
        self.deadline = None if deadline is None else float(deadline)
        self._rows: dict[str, dict[str, Any] | None] = {}

    def serialize_kwargs(self) -> dict[str, Any]:
        return {"contact_automation_ids": list(self.contact_automation_ids), "deadline": self.deadline}

    async def check(self, hook: ActiveCampaignAsyncHook) -> dict[str, Any] | None:
        pending = [i for i in self.contact_automation_ids if not self._finished(i)]
        gate = asyncio.Semaphore(CONCURRENT_READS)

        async def read(ident: str) -> None:
            async with gate:
                try:
                    body = await hook.get(f"contactAutomations/{ident}")
                except ActiveCampaignNotFoundError:
                    self._rows[ident] = None
                    return
                self._rows[ident] = dict(body.get("contactAutomation") or {})

        await asyncio.gather(*(read(ident) for ident in pending))
        state = summarize({ident: self._rows.get(ident) for ident in self.contact_automation_ids})
        if state.missing:
            return {"status": "missing", "missing": state.missing, "message": state.describe_missing()}
        if state.done:
            return state.as_result()
        if self.deadline is not None and time.time() >= self.deadline:
            return {
                "status": "timeout",
                "running": list(state.running),
                "message": state.describe_running(),
                **state.as_result(),
            }
        return None

    def _finished(self, ident: str) -> bool:
        row = self._rows.get(ident)
        return row is not None and enrolment_phase(row) in FINISHED
