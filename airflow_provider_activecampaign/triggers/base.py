"""A polling trigger skeleton shared by the import, automation and campaign triggers.

Each concrete trigger only says what to fetch and when it is done; the loop, the error event and
the JSON-only serialization live here once.
"""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_activecampaign.exceptions import ActiveCampaignError
from airflow_provider_activecampaign.hooks.activecampaign_async import ActiveCampaignAsyncHook

#: How long a trigger waits before its first check, by default (``[activecampaign]
#: trigger_first_check_after``). Its task checked just before deferring, so the trigger looks again
#: only after a pause: a wait that ends at once then never fires within a second or two of the
#: deferral, which Airflow 3.3 can misread as a failure and retry (apache/airflow#72716).
FIRST_CHECK_AFTER = 5.0


def first_check_after() -> float:
    """The pause before a trigger's first check (the Airflow config may change it; tests set 0)."""
    from airflow.sdk import conf

    try:
        return max(
            0.0, conf.getfloat("activecampaign", "trigger_first_check_after", fallback=FIRST_CHECK_AFTER)
        )
    except ValueError:
        return FIRST_CHECK_AFTER


#: How long deferrable operators and sensors keep checking in the worker before deferring (seconds):
#: a wait that ends soon ends there, without a trip through the triggerer.
DEFAULT_DEFER_AFTER = 10.0

#: Extra time the deferral gets beyond ``timeout``: the trigger's own deadline fires first and says
#: which enrolments were still running; this only catches a trigger that stopped answering.
DEFERRAL_GRACE = timedelta(minutes=5)


class ActiveCampaignPollTrigger(BaseTrigger):
    """Poll ActiveCampaign until :meth:`check` reports done, then fire one event.

    Subclasses implement ``check(hook) -> dict | None`` (``None`` while still waiting, else the
    event payload, which must hold only JSON values) and ``serialize_kwargs()``. Errors become an
    event with ``status: "error"`` and the message, so the task fails with it instead of hanging.
    The first check comes after :func:`first_check_after` seconds (see :data:`FIRST_CHECK_AFTER`).
    """

    def __init__(self, *, activecampaign_conn_id: str, poll_interval: float = 30.0) -> None:
        super().__init__()
        self.activecampaign_conn_id = activecampaign_conn_id
        self.poll_interval = float(poll_interval)

    @abstractmethod
    async def check(self, hook: ActiveCampaignAsyncHook) -> dict[str, Any] | None:
        """One poll: ``None`` while waiting, else the success payload."""

    @abstractmethod
    def serialize_kwargs(self) -> dict[str, Any]:
        """The subclass's own ``__init__`` keyword arguments, as JSON values."""

    def serialize(self) -> tuple[str, dict[str, Any]]:
        path = f"{type(self).__module__}.{type(self).__qualname__}"
        return path, {
            "activecampaign_conn_id": self.activecampaign_conn_id,
            "poll_interval": self.poll_interval,
            **self.serialize_kwargs(),
        }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        async with ActiveCampaignAsyncHook(activecampaign_conn_id=self.activecampaign_conn_id) as hook:
            try:
                await asyncio.sleep(first_check_after())
                while True:
                    payload = await self.check(hook)
                    if payload is not None:
                        yield TriggerEvent({"status": "success", **payload})
                        return
                    await asyncio.sleep(self.poll_interval)
            except ActiveCampaignError as error:
                yield TriggerEvent({"status": "error", "message": str(error)})
            except Exception as error:
                yield TriggerEvent({"status": "error", "message": f"{type(error).__name__}: {error}"})
