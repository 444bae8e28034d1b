"""Reads the recorded answer of another task's Human-in-the-loop question, in the triggerer.

A task may only read its own HITL row through the Task SDK; the triggerer reads any task
instance's (as Airflow's own ``HITLTrigger`` does). The apply task defers to this trigger for one
read of the approval task's answer, so it decides from what the reviewer recorded, not from the
approval task's state (see :mod:`airflow_provider_activecampaign.contacts.approval`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_activecampaign.triggers.base import first_check_after


class PlanApprovalAnswerTrigger(BaseTrigger):
    """Fire once with the answer recorded for the HITL question of task instance ``ti_id``.

    :param ti_id: The approval task instance's id (what it recorded before it waited).
    :param settle: The approval task has ended when this runs, so its answer, if any, is already
        stored; a missing answer is read again for this long (seconds) before it counts as none.
    """

    def __init__(self, *, ti_id: str, settle: float = 10.0, poll_interval: float = 2.0) -> None:
        super().__init__()
        self.ti_id = ti_id
        self.settle = float(settle)
        self.poll_interval = float(poll_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{type(self).__module__}.{type(self).__qualname__}", {
            "ti_id": self.ti_id,
            "settle": self.settle,
            "poll_interval": self.poll_interval,
        }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow.sdk.execution_time.hitl import get_hitl_detail_content_detail
        from asgiref.sync import sync_to_async

        read = sync_to_async(get_hitl_detail_content_detail)
        try:
            # Never fire within a moment of the deferral (apache/airflow#72716: see triggers/base.py).
            await asyncio.sleep(first_check_after())
            deadline = asyncio.get_running_loop().time() + self.settle
            while True:
                answer = await read(ti_id=UUID(self.ti_id))
                if answer.response_received or asyncio.get_running_loop().time() >= deadline:
                    break
                await asyncio.sleep(self.poll_interval)
        except Exception as error:  # the row is gone (a cleared task), the API refused: say so
            yield TriggerEvent({"status": "error", "message": f"{type(error).__name__}: {error}"})
            return
        user = answer.responded_by_user
        yield TriggerEvent(
            {
                "status": "success",
                "response_received": bool(answer.response_received),
                "chosen_options": list(answer.chosen_options or []),
                "responded_by": user.name if user is not None else None,
                "responded_at": answer.responded_at.isoformat() if answer.responded_at else None,
            }
        )
