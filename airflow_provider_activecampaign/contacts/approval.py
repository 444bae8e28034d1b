"""What a plan approval records and how an apply decides from it: never from the approval task's state.

Airflow 3.3 can end a Human-in-the-loop task differently from the reviewer's answer: the scheduler
may mark it FAILED right after the answer resumes it (an executor "finished" report for a task that
is already queued again, apache/airflow#72716), so an approved plan would not be applied. The
approval task therefore records, before it parks, *which question* it asked (its task instance id,
whose HITL row holds the answer) and *about which plan* (the plan file's SHA-256). The apply task
runs whatever the approval task's state, reads the recorded answer of that question itself, and
applies only an "Approve" of the very digest it is about to apply. See docs/operators/audience-sync.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: The XCom key under which the approval task records its question, before it waits for the answer.
APPROVAL_REQUEST_KEY = "approval_request"
APPROVE = "Approve"
REJECT = "Reject"


@dataclass(frozen=True)
class ApprovalRequest:
    """One question asked: the task instance whose HITL row holds the answer, and the plan it is about."""

    ti_id: str
    plan_digest: str
    plan_path: str

    def to_json(self) -> dict[str, str]:
        return {"ti_id": self.ti_id, "plan_digest": self.plan_digest, "plan_path": self.plan_path}

    @classmethod
    def from_json(cls, value: Any) -> ApprovalRequest | None:
        """The recorded request, or ``None`` when nothing (or something malformed) was recorded."""
        if not isinstance(value, Mapping):
            return None
        fields = [value.get(name) for name in ("ti_id", "plan_digest", "plan_path")]
        if not all(isinstance(field, str) and field for field in fields):
            return None
        return cls(*fields)  # type: ignore[arg-type]


class ApprovalRefused(Exception):
    """The plan may not be applied: rejected (``rejected=True``), unanswered or for another plan."""

    def __init__(self, message: str, *, rejected: bool = False) -> None:
        super().__init__(message)
        self.rejected = rejected


def question_body(counts: Any, plan_digest: str, extra: str | None = None) -> str:
    """The text the reviewer reads: the plan's counts and its digest (what an answer approves)."""
    lines = [f"Planned: {counts}", f"Plan digest (SHA-256): {plan_digest}"]
    if extra:
        lines.insert(0, extra)
    return "\n\n".join(lines)


def check_approved(
    request: ApprovalRequest | None, answer: Mapping[str, Any], plan_digest: str, approval_task_id: str
) -> str:
    """Who approved (for the log), when ``answer`` approves exactly ``plan_digest``; else raise.

    :param request: What the approval task recorded before it waited (``None``: it asked nothing).
    :param answer: The recorded HITL answer: ``response_received``, ``chosen_options``, ``responded_by``.
    """
    if request is None:
        raise ApprovalRefused(
            f"The approval task {approval_task_id!r} recorded no question (it did not run, or failed "
            "before asking), so nothing was approved and nothing was applied. Clear the approval task "
            "and this one to ask again."
        )
    if request.plan_digest != plan_digest:
        raise ApprovalRefused(
            f"The approval task {approval_task_id!r} asked about the plan with digest "
            f"{request.plan_digest}, but this task was given the plan {plan_digest}: an answer approves "
            "one exact plan, so nothing was applied. Pass the same plan task's result to both tasks."
        )
    if not answer.get("response_received"):
        raise ApprovalRefused(
            f"Nobody answered the approval question of {approval_task_id!r} (task instance "
            f"{request.ti_id}) before it ended, so nothing was applied. Clear the approval task and this "
            "one to ask again."
        )
    chosen = list(answer.get("chosen_options") or [])
    who = str(answer.get("responded_by") or "someone")
    if chosen == [APPROVE]:
        return who
    if chosen == [REJECT]:
        raise ApprovalRefused(f"{who} rejected the plan {plan_digest}: nothing was applied.", rejected=True)
    raise ApprovalRefused(
        f"The approval answer {chosen!r} is neither {APPROVE!r} nor {REJECT!r}: nothing was applied."
    )
