"""The automation operators and sensor as Airflow sees them: parameters, deferral, resumption."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)
from pytest_mock import MockerFixture

from airflow_provider_activecampaign.automations.enrolments import EnrolmentReport
from airflow_provider_activecampaign.operators.automations import (
    RESULT_XCOM_KEY,
    ActiveCampaignAddContactsToAutomationOperator,
    ActiveCampaignRemoveContactsFromAutomationOperator,
)
from airflow_provider_activecampaign.sensors.automations import ActiveCampaignAutomationCompletedSensor
from airflow_provider_activecampaign.triggers.automations import ActiveCampaignAutomationCompletedTrigger

OPERATORS = "airflow_provider_activecampaign.operators.automations"


@pytest.fixture(autouse=True)
def _no_connection_needed(mocker: MockerFixture) -> None:
    """The request deadline reads the connection's timeouts; these tests have no connection."""
    mocker.patch(f"{OPERATORS}.request_deadline_seconds", return_value=65.0)


def context(try_number: int = 1) -> dict[str, Any]:
    ti = SimpleNamespace(
        try_number=try_number,
        dag_id="enrol",
        run_id="manual__2024-05-01",
        task_id="add",
        map_index=-1,
        start_date=datetime(2024, 5, 1, tzinfo=UTC),
        pushed={},
    )
    ti.xcom_push = lambda key, value: ti.pushed.__setitem__(key, value)
    ti.xcom_pull = lambda task_ids, key, map_indexes: ti.pushed[key]
    return {"ti": ti, "dag_run": SimpleNamespace(run_after=datetime(2024, 5, 1, tzinfo=UTC))}


def test_templated_fields() -> None:
    for cls in (
        ActiveCampaignAddContactsToAutomationOperator,
        ActiveCampaignRemoveContactsFromAutomationOperator,
    ):
        assert {"automation", "contacts", "activecampaign_conn_id"} <= set(cls.template_fields)
    assert {"contact_automation_ids", "automation", "contacts"} <= set(
        ActiveCampaignAutomationCompletedSensor.template_fields
    )


@pytest.mark.parametrize("ratio", [-0.1, 1.5])
def test_max_failure_ratio_is_checked_when_the_dag_is_parsed(ratio: float) -> None:
    with pytest.raises(ValueError, match="max_failure_ratio"):
        ActiveCampaignAddContactsToAutomationOperator(
            task_id="add", automation=1, contacts=[], max_failure_ratio=ratio
        )


def _enrolled(mocker: MockerFixture, report: EnrolmentReport) -> Any:
    mocker.patch(f"{OPERATORS}.resolve_automation", return_value="7")
    return mocker.patch(f"{OPERATORS}.Enroller.run", return_value=report)


def test_skip_completed_with_allow_reentry_fails_when_the_dag_is_parsed() -> None:
    with pytest.raises(ValueError, match=r"allow_reentry=True and skip_completed=True") as error:
        ActiveCampaignAddContactsToAutomationOperator(
            task_id="add", automation="W", contacts=[], allow_reentry=True, skip_completed=True
        )
    assert "Set at most one of them" in str(error.value)


@pytest.mark.parametrize("skip_completed", [False, True])
def test_skip_completed_reaches_the_enroller(mocker: MockerFixture, skip_completed: bool) -> None:
    mocker.patch(f"{OPERATORS}.resolve_automation", return_value="7")
    enroller = mocker.patch(f"{OPERATORS}.Enroller")
    enroller.return_value.run.return_value = EnrolmentReport(total=0)
    op = ActiveCampaignAddContactsToAutomationOperator(
        task_id="add", automation="W", contacts=[], skip_completed=skip_completed
    )

    result = op.execute(context())  # type: ignore[arg-type]

    assert enroller.call_args.kwargs["skip_completed"] is skip_completed
    assert result["skipped_previously_enrolled"] == []  # the key is there either way


def test_the_result_and_a_failure_ratio_that_is_exceeded(mocker: MockerFixture) -> None:
    report = EnrolmentReport(enrolled={"a@b.co": "1"}, not_found=["x@y.co"], total=2)
    _enrolled(mocker, report)
    op = ActiveCampaignAddContactsToAutomationOperator(
        task_id="add", automation="W", contacts=["a@b.co", "x@y.co"]
    )
    ctx = context()

    expected = r"1 of 2 contacts \(50%\) failed or were not found, above max_failure_ratio 0 \(0%\)"
    with pytest.raises(AirflowFailException, match=expected + r".*'x@y.co': not found") as caught:
        op.execute(ctx)  # type: ignore[arg-type]
    assert type(caught.value) is AirflowFailException  # a retry would fail the same contacts again
    assert f"Every one is listed in XCom {RESULT_XCOM_KEY!r}." in str(caught.value)
    assert ctx["ti"].pushed[RESULT_XCOM_KEY]["not_found"] == ["x@y.co"]

    tolerant = ActiveCampaignAddContactsToAutomationOperator(
        task_id="add", automation="W", contacts=["a@b.co", "x@y.co"], max_failure_ratio=0.5
    )
    assert tolerant.execute(context()) == report.as_result()  # type: ignore[arg-type]


def test_a_wrong_contacts_shape_fails_without_retrying(mocker: MockerFixture) -> None:
    mocker.patch(f"{OPERATORS}.resolve_automation", return_value="7")
    op = ActiveCampaignAddContactsToAutomationOperator(
        task_id="add", automation="W", contacts={"succeeded": 3}
    )

    with pytest.raises(AirflowFailException, match="dict with keys 'succeeded'"):
        op.execute(context())  # type: ignore[arg-type]


def test_a_repeated_try_tells_the_enroller_about_earlier_tries(mocker: MockerFixture) -> None:
    mocker.patch(f"{OPERATORS}.resolve_automation", return_value="7")
    enroller = mocker.patch(f"{OPERATORS}.Enroller")
    enroller.return_value.run.return_value = EnrolmentReport(total=0)
    op = ActiveCampaignAddContactsToAutomationOperator(task_id="add", automation="W", contacts=[])

    op.execute(context(try_number=1))  # type: ignore[arg-type]
    op.execute(context(try_number=2))  # type: ignore[arg-type]

    first, second = (call.kwargs["earlier_tries_since"] for call in enroller.call_args_list)
    assert first is None
    assert second is not None
    assert second < datetime(2024, 5, 1, tzinfo=UTC)


def test_waiting_defers_to_the_trigger_with_enrolled_and_skipped_ids(mocker: MockerFixture) -> None:
    report = EnrolmentReport(
        enrolled={"a@b.co": "1"}, skipped_already_active=["c@d.co"], active_ids={"c@d.co": "9"}, total=2
    )
    _enrolled(mocker, report)
    op = ActiveCampaignAddContactsToAutomationOperator(
        task_id="add",
        automation="W",
        contacts=["a@b.co", "c@d.co"],
        wait_for_completion=True,
        deferrable=True,
        poll_interval=15,
        timeout=600,
    )
    ctx = context()

    with pytest.raises(TaskDeferred) as deferred:
        op.execute(ctx)  # type: ignore[arg-type]

    trigger = deferred.value.trigger
    assert isinstance(trigger, ActiveCampaignAutomationCompletedTrigger)
    assert trigger.contact_automation_ids == ["1", "9"]
    assert trigger.poll_interval == 15
    assert trigger.deadline is not None
    assert deferred.value.method_name == "execute_complete"
    # resumed: the result comes back from XCom (dag.test() and the triggerer alike)
    assert op.execute_complete(ctx, {"status": "success", "completed": ["1", "9"], "exited": []}) == (  # type: ignore[arg-type]
        report.as_result()
    )
    with pytest.raises(AirflowException, match="still running: 9"):
        op.execute_complete(ctx, {"status": "timeout", "message": "1 enrolment(s) still running: 9"})  # type: ignore[arg-type]


def test_the_sensor_needs_ids_or_automation_and_contacts() -> None:
    with pytest.raises(ValueError, match="either contact_automation_ids, or both"):
        ActiveCampaignAutomationCompletedSensor(task_id="s")
    with pytest.raises(ValueError, match="either contact_automation_ids, or both"):
        ActiveCampaignAutomationCompletedSensor(task_id="s", contact_automation_ids=["1"], automation="W")
    with pytest.raises(ValueError, match="either contact_automation_ids, or both"):
        ActiveCampaignAutomationCompletedSensor(task_id="s", automation="W")


def _sensor(mocker: MockerFixture, rows: dict[str, dict[str, Any]], **options: Any) -> Any:
    mocker.patch(
        "airflow_provider_activecampaign.automations.enrolments.read_enrolment",
        side_effect=lambda hook, ident: rows[ident],
    )
    return ActiveCampaignAutomationCompletedSensor(task_id="s", contact_automation_ids=list(rows), **options)


def test_the_deferrable_sensor_pokes_once_then_defers(mocker: MockerFixture) -> None:
    sensor = _sensor(
        mocker, {"1": {"status": "2", "completed": 1}, "2": {"status": "1"}}, deferrable=True, timeout=60
    )

    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})

    assert deferred.value.trigger.contact_automation_ids == ["1", "2"]


def test_the_deferrable_sensor_does_not_defer_when_already_done(mocker: MockerFixture) -> None:
    sensor = _sensor(mocker, {"1": {"status": "2", "completed": 1}}, deferrable=True)

    assert sensor.execute({}) == {"completed": ["1"], "exited": []}


@pytest.mark.parametrize("soft_fail", [False, True])
def test_a_trigger_timeout_fails_or_with_soft_fail_skips(mocker: MockerFixture, soft_fail: bool) -> None:
    sensor = _sensor(mocker, {"1": {"status": "1"}}, deferrable=True, timeout=60, soft_fail=soft_fail)
    event = {"status": "timeout", "running": ["1"], "message": "1 enrolment(s) still running: 1"}

    expected = AirflowSkipException if soft_fail else AirflowSensorTimeout
    with pytest.raises(expected) as error:
        sensor.resume_execution("execute_complete", {"event": event}, {})
    if not soft_fail:
        assert "still running: 1" in str(error.value)


def test_poke_mode_timeout_names_what_is_still_running(mocker: MockerFixture) -> None:
    sensor = _sensor(mocker, {"1": {"status": "1", "contact": "4"}}, poke_interval=0.01, timeout=0.05)

    with pytest.raises(AirflowSensorTimeout, match=r"still running: 1 \(contact 4\)"):
        sensor.execute({})


def test_poke_mode_soft_fail_skips_with_what_is_still_running(mocker: MockerFixture) -> None:
    sensor = _sensor(
        mocker, {"1": {"status": "1", "contact": "4"}}, poke_interval=0.01, timeout=0.05, soft_fail=True
    )

    with pytest.raises(AirflowSkipException, match=r"still running: 1 \(contact 4\)"):
        sensor.execute({})


def test_removal_failures_above_the_ratio_fail_the_task_without_retry(mocker: MockerFixture) -> None:
    """The one failure-ratio rule (records/ratio.py): AirflowFailException, counts, where the result is."""
    from airflow_provider_activecampaign.automations.enrolments import RemovalReport

    report = RemovalReport(
        removed={"a@b.co": ["11"]}, failed=[{"contact": "x@y.co", "reason": "HTTP 500"}], total=2
    )
    mocker.patch(f"{OPERATORS}.resolve_automation", return_value="7")
    mocker.patch(f"{OPERATORS}.Remover.run", return_value=report)
    op = ActiveCampaignRemoveContactsFromAutomationOperator(
        task_id="remove", automation="W", contacts=["a@b.co", "x@y.co"]
    )
    ctx = context()

    with pytest.raises(AirflowFailException) as caught:
        op.execute(ctx)  # type: ignore[arg-type]

    assert type(caught.value) is AirflowFailException
    message = str(caught.value)
    assert (
        ": 1 of 2 contacts (50%) failed, above max_failure_ratio 0 (0%). First: 'x@y.co': HTTP 500."
        in message
    )
    assert "Every one is listed in XCom 'removal_result'." in message
    assert ctx["ti"].pushed["removal_result"]["failed"] == [{"contact": "x@y.co", "reason": "HTTP 500"}]

    tolerant = ActiveCampaignRemoveContactsFromAutomationOperator(
        task_id="remove", automation="W", contacts=["a@b.co", "x@y.co"], max_failure_ratio=0.5
    )
    assert tolerant.execute(context())["failed"] == report.as_result()["failed"]  # type: ignore[arg-type]
