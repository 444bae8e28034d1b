"""The deferrable-sensor pattern the ActiveCampaign sensors share."""

from __future__ import annotations

import time
from abc import abstractmethod
from datetime import timedelta
from functools import cached_property
from typing import Any, NoReturn

from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue, conf
from airflow.triggers.base import BaseTrigger

from airflow_provider_activecampaign.exceptions import ActiveCampaignError
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.triggers.base import DEFAULT_DEFER_AFTER

#: The longest pause between two checks while waiting in the worker before deferring.
GRACE_POKE_INTERVAL = 2.0


class ActiveCampaignDeferrableSensor(BaseSensorOperator):
    """A sensor that pokes in a worker, or pokes once and then waits in the triggerer.

    Deferrable mode pokes in the worker for up to ``defer_after`` seconds first (a wait that ends
    soon, such as a bulk import of a few batches, ends there without a trip through the triggerer,
    and without the fast trigger events that apache/airflow#72716 misreads), then defers to
    :meth:`build_trigger` with ``timeout`` (plus :attr:`deferral_grace`). Airflow turns a deferral
    timeout into ``AirflowSensorTimeout`` and applies ``soft_fail``. A ``"success"`` event becomes
    the return value through :meth:`result_from_event`; any other goes to
    :meth:`raise_for_failed_event`.

    :param activecampaign_conn_id: The ActiveCampaign connection.
    :param deferrable: Wait in the triggerer instead of holding a worker slot.
    :param defer_after: In deferrable mode, keep poking in the worker for this long (seconds or a
        timedelta; every ``min(poke_interval, 2 s)``) before deferring. ``0``: defer after one poke.
        Default: 10 s, and 0 for the automations sensor (enrolments last hours, and a poke reads
        every enrolment).
    """

    ui_color = "#356ae6"
    ui_fgcolor = "#ffffff"
    #: Added to ``timeout`` for the deferral, so a trigger's own deadline can report first.
    deferral_grace: timedelta = timedelta(0)
    #: ``defer_after`` when not given: how long a wait of this kind is worth checking in the worker.
    default_defer_after: float = DEFAULT_DEFER_AFTER

    def __init__(
        self,
        *,
        activecampaign_conn_id: str = ActiveCampaignHook.default_conn_name,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        defer_after: timedelta | float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.activecampaign_conn_id = activecampaign_conn_id
        self.deferrable = deferrable
        if defer_after is None:
            defer_after = self.default_defer_after
        self.defer_after = (
            defer_after.total_seconds() if isinstance(defer_after, timedelta) else float(defer_after)
        )

    @cached_property
    def hook(self) -> ActiveCampaignHook:
        return ActiveCampaignHook(activecampaign_conn_id=self.activecampaign_conn_id)

    @abstractmethod
    def build_trigger(self) -> BaseTrigger:
        """The trigger that waits for what the first poke found unfinished."""

    @abstractmethod
    def result_from_event(self, event: dict[str, Any]) -> Any:
        """The task's return value from the trigger's ``"success"`` event."""

    def raise_for_failed_event(self, event: dict[str, Any]) -> NoReturn:
        """Fail the task for a trigger event other than ``"success"``."""
        raise ActiveCampaignError(f"{self.failed_wait_description()}: {event.get('message')}")

    def failed_wait_description(self) -> str:
        return "Waiting failed"

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        deadline = time.monotonic() + self.defer_after
        while True:
            result = self.poke(context)
            if isinstance(result, PokeReturnValue) and result.is_done:
                return result.xcom_value
            left = deadline - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(left, self.poke_interval, GRACE_POKE_INTERVAL))
        self.defer(
            trigger=self.build_trigger(),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout) + self.deferral_grace,
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume after the trigger. ``soft_fail`` turns a failure into a skip (base class)."""
        if event.get("status") == "success":
            return self.result_from_event(event)
        self.raise_for_failed_event(event)
