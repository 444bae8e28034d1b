"""Plan approval that ends as the reviewer decided, whatever the scheduler does with the approval task.

``ActiveCampaignPlanApprovalOperator`` is Airflow's ``ApprovalOperator`` that states the plan's
digest in its question and records, before it waits, which question it asked about which plan.
``ActiveCampaignApplyApprovedPlanOperator`` applies a plan only when the recorded answer to that
question approves that exact plan, and runs whatever state the approval task ended in (Airflow 3.3
can mark an answered approval task FAILED: apache/airflow#72716). See docs/operators/audience-sync.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from airflow_provider_activecampaign.contacts.approval import (
    APPROVAL_REQUEST_KEY,
    ApprovalRefused,
    ApprovalRequest,
    check_approved,
    question_body,
)
from airflow_provider_activecampaign.contacts.audience.service import plan_reference
from airflow_provider_activecampaign.operators.contacts import ActiveCampaignApplyContactsPlanOperator
from airflow_provider_activecampaign.triggers.approval import PlanApprovalAnswerTrigger


class ActiveCampaignPlanApprovalOperator(ApprovalOperator):
    """Ask a person to approve one plan (Approve / Reject), in the Airflow UI's *Required actions*.

    The question shows the plan's counts and its SHA-256 digest; before waiting, the task records
    (XCom ``approval_request``) its task instance id and that digest, so that
    :class:`ActiveCampaignApplyApprovedPlanOperator` can read the answer itself.

    :param plan: The plan task's return value (``plan_task.output``). (templated)
    :param subject: The question's title. (templated)
    :param body: Text shown above the counts and the digest. (templated)

    Other arguments (``response_timeout``, ``assigned_users``, ``notifiers`` ...) are
    ``ApprovalOperator``'s.
    """

    template_fields: Sequence[str] = (*ApprovalOperator.template_fields, "plan")

    def __init__(
        self,
        *,
        plan: Any,
        subject: str = "Apply this ActiveCampaign audience sync plan?",
        body: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(subject=subject, body=body, **kwargs)
        self.plan = plan

    def execute(self, context: Context) -> Any:
        path, digest = plan_reference(self.plan)
        counts = self.plan.get("counts") if isinstance(self.plan, Mapping) else None
        self.body = question_body(counts, digest, self.body)
        request = ApprovalRequest(ti_id=str(context["ti"].id), plan_digest=digest, plan_path=path)
        context["ti"].xcom_push(key=APPROVAL_REQUEST_KEY, value=request.to_json())
        return super().execute(context)


class ActiveCampaignApplyApprovedPlanOperator(ActiveCampaignApplyContactsPlanOperator):
    """Apply a plan only when the reviewer's recorded answer approves that exact plan.

    Runs once the approval task has ended in any state (``trigger_rule="all_done"``), reads the
    answer to the question it recorded (through the triggerer: a short deferral) and then applies
    the plan on "Approve" of the same digest, is skipped on "Reject", and fails without applying
    anything when nobody answered, the approval asked about another plan, or it asked nothing.

    :param approval_task_id: The :class:`ActiveCampaignPlanApprovalOperator` task. (templated)
    :param answer_settle: Seconds a missing answer is read again before it counts as none.

    Other arguments are :class:`ActiveCampaignApplyContactsPlanOperator`'s.
    """

    template_fields: Sequence[str] = (
        *ActiveCampaignApplyContactsPlanOperator.template_fields,
        "approval_task_id",
    )

    def __init__(
        self,
        *,
        approval_task_id: str = "approve",
        answer_settle: float = 10.0,
        trigger_rule: str = "all_done",
        **kwargs: Any,
    ) -> None:
        super().__init__(trigger_rule=trigger_rule, **kwargs)
        self.approval_task_id = approval_task_id
        self.answer_settle = float(answer_settle)

    def _request(self, context: Context) -> tuple[ApprovalRequest | None, str]:
        _, digest = plan_reference(self.plan, self.plan_digest)
        recorded = context["ti"].xcom_pull(task_ids=self.approval_task_id, key=APPROVAL_REQUEST_KEY)
        return ApprovalRequest.from_json(recorded), digest

    def execute(self, context: Context) -> dict[str, Any]:
        request, digest = self._request(context)
        if request is None or request.plan_digest != digest:
            self._decide(request, {"response_received": False}, digest)  # raises: says why
        assert request is not None
        self.log.info(
            "Reading the recorded answer to %s's question (task instance %s) about plan %s.",
            self.approval_task_id,
            request.ti_id,
            digest,
        )
        self.defer(
            trigger=PlanApprovalAnswerTrigger(ti_id=request.ti_id, settle=self.answer_settle),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.answer_settle + 300),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        if event.get("status") != "success":
            raise AirflowFailException(
                f"Could not read the answer to {self.approval_task_id!r}'s question: "
                f"{event.get('message')}. Nothing was applied."
            )
        request, digest = self._request(context)
        who = self._decide(request, event, digest)
        self.log.info("%s approved the plan %s: applying it.", who, digest)
        return super().execute(context)

    def _decide(self, request: ApprovalRequest | None, answer: Mapping[str, Any], digest: str) -> str:
        try:
            return check_approved(request, answer, digest, self.approval_task_id)
        except ApprovalRefused as refused:
            if refused.rejected:
                raise AirflowSkipException(str(refused)) from None
            raise AirflowFailException(str(refused)) from None
