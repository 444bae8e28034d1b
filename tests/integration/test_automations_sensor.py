"""Waiting for automations against the emulator: the sensor in every mode, and the add operator's
``wait_for_completion``, through dag.test() with the emulator's fast clock."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout

from airflow_provider_activecampaign.sensors.automations import ActiveCampaignAutomationCompletedSensor
from tests.helpers.automations import (
    RE_ENGAGEMENT,
    advance_when_polled,
    count,
    enrol,
    enrolment_counts,
    enrolments,
    seed_automation,
    seed_contacts,
)

pytestmark = pytest.mark.integration

READS = ("GET", "/api/3/contactAutomations/{id}")


@pytest.fixture
def running(emulator: Any) -> dict[str, Any]:
    """Two contacts enrolled in the 1 h re-engagement automation; a 20x clock paces requests fast."""
    emulator.configure(speed=20)
    ids = seed_contacts(emulator, ["ann@example.com", "bob@example.com"])
    enrolment_ids = [enrol(contact, RE_ENGAGEMENT) for contact in ids.values()]
    return {"automation": RE_ENGAGEMENT, "contacts": ids, "enrolments": enrolment_ids}


def _finish_after_first_look(emulator: Any, polls: int, template: str = READS[1]) -> Any:
    """Two hours pass once the code under test has seen the enrolments running."""
    return advance_when_polled(emulator, 7200, method="GET", template=template, polls=polls)


@pytest.mark.parametrize(
    "dag_id", ["automations_sensor_poke", "automations_sensor_reschedule", "automations_sensor_deferrable"]
)
def test_the_sensor_waits_until_every_enrolment_has_completed(
    emulator: Any, run_dag: Any, running: dict[str, Any], dag_id: str
) -> None:
    with _finish_after_first_look(emulator, polls=len(running["enrolments"])):
        dagrun = run_dag(dag_id, conf={"contact_automation_ids": running["enrolments"]})

    assert run_dag.task_states(dagrun)["wait"] == "success"
    assert run_dag.xcom(dagrun, "wait") == {"completed": running["enrolments"], "exited": []}
    assert {row["status"] for row in enrolments(emulator, running["automation"])} == {"completed"}
    # it looked more than once: the enrolments were still running at the first poke
    assert count(emulator, *READS) > len(running["enrolments"])
    if dag_id == "automations_sensor_reschedule":
        assert run_dag.reschedules(dagrun, "wait") >= 1


def test_the_sensor_finds_the_enrolments_from_automation_and_contacts(
    emulator: Any, run_dag: Any, running: dict[str, Any]
) -> None:
    contacts = ["ann@example.com", running["contacts"]["bob@example.com"]]
    with _finish_after_first_look(emulator, polls=2, template="/api/3/contacts/{id}/contactAutomations"):
        dagrun = run_dag(
            "automations_sensor_contacts", conf={"automation": "Re-engagement", "contacts": contacts}
        )

    assert run_dag.task_states(dagrun)["wait"] == "success"
    assert run_dag.xcom(dagrun, "wait") == {"completed": running["enrolments"], "exited": []}


@pytest.mark.parametrize(
    "dag_id", ["automations_sensor_soft_fail", "automations_sensor_soft_fail_deferrable"]
)
def test_soft_fail_skips_the_sensor_at_its_timeout(emulator: Any, run_dag: Any, dag_id: str) -> None:
    ids = seed_contacts(emulator, ["ann@example.com"])
    enrolment = enrol(ids["ann@example.com"], RE_ENGAGEMENT)  # 1 h at speed 1: still running

    dagrun = run_dag(dag_id, conf={"contact_automation_ids": [enrolment]})

    assert run_dag.task_states(dagrun)["wait"] == "skipped"


def test_a_timeout_without_soft_fail_fails_the_sensor(emulator: Any, run_dag: Any) -> None:
    ids = seed_contacts(emulator, ["ann@example.com"])
    enrolment = enrol(ids["ann@example.com"], RE_ENGAGEMENT)

    dagrun = run_dag("automations_sensor_timeout", conf={"contact_automation_ids": [enrolment]})

    assert run_dag.task_states(dagrun)["wait"] == "failed"


def test_the_timeout_message_names_the_enrolments_still_running(emulator: Any) -> None:
    ids = seed_contacts(emulator, ["ann@example.com", "bob@example.com"])
    done_quickly = seed_automation(emulator, "Instant", 0)
    finished = enrol(ids["bob@example.com"], done_quickly)
    still_running = enrol(ids["ann@example.com"], RE_ENGAGEMENT)
    sensor = ActiveCampaignAutomationCompletedSensor(
        task_id="wait", contact_automation_ids=[finished, still_running], poke_interval=0.05, timeout=0.2
    )

    with pytest.raises(AirflowSensorTimeout) as error:
        sensor.execute({})

    message = str(error.value)
    assert f"1 enrolment(s) still running: {still_running} (contact {ids['ann@example.com']}" in message
    assert f" {finished} (" not in message


def test_an_enrolment_that_no_longer_exists_fails_at_once(emulator: Any) -> None:
    sensor = ActiveCampaignAutomationCompletedSensor(
        task_id="wait", contact_automation_ids=["424242"], poke_interval=0.05, timeout=60
    )

    with pytest.raises(AirflowFailException, match="424242"):
        sensor.execute({})
    assert count(emulator, *READS) == 1


def test_a_contact_never_enrolled_fails_the_sensor_at_once(emulator: Any) -> None:
    seed_contacts(emulator, ["ann@example.com"])
    sensor = ActiveCampaignAutomationCompletedSensor(
        task_id="wait",
        automation="Re-engagement",
        contacts=["ann@example.com", "ghost@example.com"],
        poke_interval=0.05,
        timeout=60,
    )

    with pytest.raises(AirflowFailException) as error:
        sensor.execute({})
    assert "'ann@example.com' (never enrolled in automation 2)" in str(error.value)
    assert "'ghost@example.com' (not found)" in str(error.value)


@pytest.mark.parametrize("dag_id", ["automations_add_wait", "automations_add_wait_deferrable"])
def test_the_add_operator_waits_for_completion(emulator: Any, run_dag: Any, dag_id: str) -> None:
    emulator.configure(speed=20)
    ids = seed_contacts(emulator, ["ann@example.com", "bob@example.com"])
    already = enrol(ids["bob@example.com"], RE_ENGAGEMENT)  # skipped, but waited for too

    with _finish_after_first_look(emulator, polls=2):
        dagrun = run_dag(dag_id, conf={"automation": "Re-engagement", "contacts": list(ids)})

    assert run_dag.task_states(dagrun)["add"] == "success"
    result = run_dag.xcom(dagrun, "add")
    assert result["skipped_already_active"] == ["bob@example.com"]
    assert list(result["enrolled"]) == ["ann@example.com"]
    rows = enrolments(emulator, RE_ENGAGEMENT)
    assert {row["status"] for row in rows} == {"completed"}  # both finished before the task did
    assert enrolment_counts(emulator, RE_ENGAGEMENT) == dict.fromkeys(ids.values(), 1)
    assert {row["id"] for row in rows} == {already, result["enrolled"]["ann@example.com"]}
    assert count(emulator, *READS) > 2  # polled while running, and again once time had passed


def test_the_enrolling_operators_own_reads_leave_a_held_enrolment_held(emulator: Any, run_dag: Any) -> None:
    """The emulator control ``complete_after_first_poll`` (which the example-DAG tests rely on to
    meet a welcome series still running) starts an enrolment's clock at its first
    ``GET /contactAutomations/{id}``. The add operator's own reads (before each POST, back after a
    lost answer, and on a second run of the task) must not be that read, or the control would let
    the series finish before the wait starts: they leave it held; the sensor's first read starts it."""
    emulator.configure(speed=20)
    held = str(
        emulator.seed(
            {
                "automations": [
                    {
                        "name": "Held",
                        "status": 1,
                        "multientry": True,
                        "duration_seconds": 60,
                        "complete_after_first_poll": True,
                    }
                ]
            }
        )["automations"][0]
    )
    ids = seed_contacts(emulator, ["ann@example.com", "bob@example.com"])
    emulator.add_fault("POST", "/api/3/contactAutomations", "drop", when="after", times=1)
    first = run_dag("automations_add", conf={"automation": held, "contacts": list(ids)})
    again = run_dag("automations_add", conf={"automation": held, "contacts": list(ids)})

    assert run_dag.task_states(first)["add"] == run_dag.task_states(again)["add"] == "success"
    enrolled = sorted(run_dag.xcom(first, "add")["enrolled"].values())
    assert run_dag.xcom(again, "add")["skipped_already_active"] == list(ids)
    # two reads before the POSTs, one back after the lost answer, two on the second run
    assert count(emulator, "GET", "/api/3/contacts/{id}/contactAutomations") == 5
    assert count(emulator, *READS) == 0
    emulator.advance(86_400)  # a day later the enrolments are still held
    rows = enrolments(emulator, held)
    assert [(row["status"], row["complete_at"]) for row in rows] == [("active", None)] * 2

    dagrun = run_dag("automations_sensor_deferrable", conf={"contact_automation_ids": enrolled})

    assert run_dag.task_states(dagrun)["wait"] == "success"
    assert run_dag.xcom(dagrun, "wait") == {"completed": enrolled, "exited": []}
    assert count(emulator, *READS) > len(enrolled)  # they were running when the sensor first looked
    assert enrolment_counts(emulator, held) == dict.fromkeys(ids.values(), 1)
