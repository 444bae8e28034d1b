"""The plan approval pair decides from the recorded answer, never from the approval task's state.

Unit tests of one class each (the deployment test, tests/deployment/test_audience_approval.py, runs
them on a real scheduler): what apply does for every answer, and what the trigger reads.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException, TaskDeferred

from airflow_provider_activecampaign.contacts.approval import (
    APPROVAL_REQUEST_KEY,
    ApprovalRefused,
    ApprovalRequest,
    check_approved,
)
from airflow_provider_activecampaign.operators.approval import ActiveCampaignApplyApprovedPlanOperator
from airflow_provider_activecampaign.triggers.approval import PlanApprovalAnswerTrigger

DIGEST = "a" * 64
PLAN = {"plan_path": "/tmp/x.plan.jsonl.gz", "plan_digest": DIGEST, "counts": {"creates": 3}}
REQUEST = ApprovalRequest(ti_id="01a25109-0181-74d1-bf67-aa913ffea50f", plan_digest=DIGEST, plan_path="/p")


def _answer(chosen: list[str] | None, received: bool = True) -> dict[str, Any]:
    return {"response_received": received, "chosen_options": chosen, "responded_by": "Ada"}


def test_only_an_approve_of_the_same_digest_approves() -> None:
    assert check_approved(REQUEST, _answer(["Approve"]), DIGEST, "approve") == "Ada"
    with pytest.raises(ApprovalRefused) as rejected:
        check_approved(REQUEST, _answer(["Reject"]), DIGEST, "approve")
    assert rejected.value.rejected
    for request, answer, digest, says in [
        (None, _answer(["Approve"]), DIGEST, "recorded no question"),
        (REQUEST, _answer(["Approve"]), "b" * 64, "asked about the plan with digest"),
        (REQUEST, _answer(None, received=False), DIGEST, "Nobody answered"),
        (REQUEST, _answer(["Approve", "Reject"]), DIGEST, "neither"),
    ]:
        with pytest.raises(ApprovalRefused, match=says) as refused:
            check_approved(request, answer, digest, "approve")
        assert not refused.value.rejected
        assert "nothing was applied" in str(refused.value)


def test_a_recorded_request_round_trips_and_junk_is_no_request() -> None:
    assert ApprovalRequest.from_json(REQUEST.to_json()) == REQUEST
    assert ApprovalRequest.from_json(None) is None
    assert ApprovalRequest.from_json({"ti_id": "x", "plan_digest": ""}) is None


def _context(recorded: Any) -> dict[str, Any]:
    ti = mock.Mock(run_id="manual__1", map_index=-1, dag_id="d", task_id="apply")
    ti.xcom_pull.return_value = recorded
    return {"ti": ti}


def _apply() -> ActiveCampaignApplyApprovedPlanOperator:
    return ActiveCampaignApplyApprovedPlanOperator(task_id="apply", plan=PLAN, approval_task_id="approve")


def test_apply_runs_whatever_the_approval_task_ended_in_and_defers_to_read_the_answer() -> None:
    operator = _apply()
    assert operator.trigger_rule == "all_done"
    context = _context(REQUEST.to_json())
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context)  # type: ignore[arg-type]
    context["ti"].xcom_pull.assert_called_once_with(task_ids="approve", key=APPROVAL_REQUEST_KEY)
    trigger = deferred.value.trigger
    assert isinstance(trigger, PlanApprovalAnswerTrigger)
    assert trigger.ti_id == REQUEST.ti_id


@pytest.mark.parametrize(
    ("recorded", "says"),
    [(None, "recorded no question"), ({**REQUEST.to_json(), "plan_digest": "c" * 64}, "asked about")],
)
def test_apply_without_a_question_about_this_plan_fails_before_reading_anything(
    recorded: Any, says: str
) -> None:
    with pytest.raises(AirflowFailException, match=says):
        _apply().execute(_context(recorded))  # type: ignore[arg-type]


def test_apply_applies_on_approve_skips_on_reject_and_fails_unanswered() -> None:
    operator = _apply()
    context = _context(REQUEST.to_json())
    with mock.patch(
        "airflow_provider_activecampaign.operators.contacts.audience.apply_contacts_plan",
        return_value={"plan_digest": DIGEST, "succeeded": 3},
    ) as apply_plan:
        with pytest.raises(AirflowSkipException, match="rejected"):
            operator.execute_complete(context, {"status": "success", **_answer(["Reject"])})  # type: ignore[arg-type]
        with pytest.raises(AirflowFailException, match="Nobody answered"):
            operator.execute_complete(context, {"status": "success", **_answer(None, received=False)})  # type: ignore[arg-type]
        with pytest.raises(AirflowFailException, match="Could not read the answer"):
            operator.execute_complete(context, {"status": "error", "message": "gone"})  # type: ignore[arg-type]
        assert apply_plan.call_count == 0
        result = operator.execute_complete(context, {"status": "success", **_answer(["Approve"])})  # type: ignore[arg-type]
    assert result == {"plan_digest": DIGEST, "succeeded": 3}
    assert apply_plan.call_count == 1


def _run_trigger(trigger: PlanApprovalAnswerTrigger) -> dict[str, Any]:
    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("no event")

    return asyncio.run(first())


def test_the_trigger_reads_the_other_task_instances_answer_and_serialises_plain_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("airflow_provider_activecampaign.triggers.approval.first_check_after", lambda: 0.0)
    answer = SimpleNamespace(
        response_received=True,
        chosen_options=["Approve"],
        responded_by_user=SimpleNamespace(name="Ada"),
        responded_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    reads: list[Any] = []

    def read(ti_id: Any) -> Any:
        reads.append(ti_id)
        return answer

    monkeypatch.setattr("airflow.sdk.execution_time.hitl.get_hitl_detail_content_detail", read)
    trigger = PlanApprovalAnswerTrigger(ti_id=REQUEST.ti_id, settle=0.0)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_activecampaign.triggers.approval.PlanApprovalAnswerTrigger"
    assert PlanApprovalAnswerTrigger(**kwargs).serialize() == (classpath, kwargs)
    event = _run_trigger(trigger)
    assert [str(t) for t in reads] == [REQUEST.ti_id]
    assert event == {
        "status": "success",
        "response_received": True,
        "chosen_options": ["Approve"],
        "responded_by": "Ada",
        "responded_at": "2026-01-02T03:04:05+00:00",
    }


def test_an_unanswered_question_is_read_again_until_settle_then_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("airflow_provider_activecampaign.triggers.approval.first_check_after", lambda: 0.0)
    nothing = SimpleNamespace(
        response_received=False, chosen_options=None, responded_by_user=None, responded_at=None
    )
    calls = mock.Mock(return_value=nothing)
    monkeypatch.setattr("airflow.sdk.execution_time.hitl.get_hitl_detail_content_detail", calls)
    event = _run_trigger(PlanApprovalAnswerTrigger(ti_id=REQUEST.ti_id, settle=0.3, poll_interval=0.1))
    assert event["response_received"] is False
    assert event["chosen_options"] == []
    assert calls.call_count >= 2
