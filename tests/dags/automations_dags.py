"""DAGs for the automation integration tests (run with ``dag.test()`` through the ``run_dag`` fixture).

Each DAG takes its inputs from the run's ``conf`` (``automation``, ``contacts`` or
``contact_automation_ids``); the options that cannot be templated differ per DAG id.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_activecampaign.operators.automations import (
    ActiveCampaignAddContactsToAutomationOperator,
    ActiveCampaignRemoveContactsFromAutomationOperator,
)
from airflow_provider_activecampaign.sensors.automations import ActiveCampaignAutomationCompletedSensor

START = datetime(2024, 1, 1)
FAST = {"read_back_delay": 0.2, "progress_every": 250}


@task
def from_conf(key: str, **context: Any) -> Any:
    """The run's ``conf[key]`` as a native value (a list stays a list)."""
    return context["dag_run"].conf.get(key)


def _dag(dag_id: str, retries: int = 0) -> DAG:
    return DAG(
        dag_id,
        schedule=None,
        start_date=START,
        catchup=False,
        tags=["tests", "automations"],
        default_args={"retries": retries, "retry_delay": timedelta(0)},
    )


def add_dag(dag_id: str, *, retries: int = 0, **options: Any) -> DAG:
    with _dag(dag_id, retries) as dag:
        ActiveCampaignAddContactsToAutomationOperator(
            task_id="add",
            automation="{{ dag_run.conf['automation'] }}",
            contacts=from_conf("contacts"),
            **{**FAST, **options},
        )
    return dag


def remove_dag(dag_id: str, **options: Any) -> DAG:
    with _dag(dag_id) as dag:
        ActiveCampaignRemoveContactsFromAutomationOperator(
            task_id="remove",
            automation="{{ dag_run.conf['automation'] }}",
            contacts=from_conf("contacts"),
            **options,
        )
    return dag


def sensor_dag(dag_id: str, *, by_contacts: bool = False, **options: Any) -> DAG:
    with _dag(dag_id) as dag:
        targets: dict[str, Any] = (
            {"automation": "{{ dag_run.conf['automation'] }}", "contacts": from_conf("contacts")}
            if by_contacts
            else {"contact_automation_ids": from_conf("contact_automation_ids")}
        )
        ActiveCampaignAutomationCompletedSensor(task_id="wait", **targets, **options)
    return dag


automations_add = add_dag("automations_add")
automations_add_tolerant = add_dag("automations_add_tolerant", max_failure_ratio=1.0)
automations_add_create_missing = add_dag(
    "automations_add_create_missing", create_missing=True, max_failure_ratio=1.0
)
automations_add_reentry = add_dag("automations_add_reentry", allow_reentry=True)
automations_add_skip_completed = add_dag("automations_add_skip_completed", skip_completed=True)
automations_add_sequential = add_dag("automations_add_sequential", max_workers=1)
automations_add_retry = add_dag("automations_add_retry", retries=1)
automations_add_retry_reentry = add_dag("automations_add_retry_reentry", retries=1, allow_reentry=True)
_WAIT: dict[str, Any] = {"wait_for_completion": True, "poll_interval": 0.1, "timeout": 60}
automations_add_wait = add_dag("automations_add_wait", deferrable=False, **_WAIT)
automations_add_wait_deferrable = add_dag("automations_add_wait_deferrable", deferrable=True, **_WAIT)
automations_remove = remove_dag("automations_remove")

_SENSE: dict[str, Any] = {"poke_interval": 0.1, "timeout": 60}
_GIVE_UP: dict[str, Any] = {"poke_interval": 0.1, "timeout": 0.5}
automations_sensor_poke = sensor_dag("automations_sensor_poke", mode="poke", **_SENSE)
automations_sensor_reschedule = sensor_dag("automations_sensor_reschedule", mode="reschedule", **_SENSE)
automations_sensor_deferrable = sensor_dag("automations_sensor_deferrable", deferrable=True, **_SENSE)
automations_sensor_contacts = sensor_dag("automations_sensor_contacts", by_contacts=True, **_SENSE)
automations_sensor_soft_fail = sensor_dag("automations_sensor_soft_fail", soft_fail=True, **_GIVE_UP)
automations_sensor_soft_fail_deferrable = sensor_dag(
    "automations_sensor_soft_fail_deferrable", deferrable=True, soft_fail=True, **_GIVE_UP
)
automations_sensor_timeout = sensor_dag("automations_sensor_timeout", **_GIVE_UP)
