"""What a send was asked for, read from rendered parameters: blanks mean "not given", checks before any call.

Templated fields render ``None`` as ``"None"`` and unset ones as ``""``; reading them here, once,
keeps every later step from guessing which of the two it holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_activecampaign.campaigns.api import (
    ActiveCampaignCampaignError,
    as_list,
    check_emails,
    default_campaign_name,
)

#: The parameters that make a new message (a message given by id or by a draft needs none).
MESSAGE_PARTS = ("subject", "from_name", "from_email", "reply_to", "html", "text")


def blank_to_none(value: Any) -> str | None:
    """Templated fields render ``None`` as ``"None"`` and unset ones as ``""``: both mean "not given"."""
    if value is None:
        return None
    text = str(value).strip()
    return None if text in ("", "None") else text


def check_send_parameters(
    task_id: str,
    *,
    campaign_id: Any,
    message_id: Any,
    parts: Mapping[str, Any],
    lists: Any,
    poll_interval: float,
) -> None:
    """Refuse, when the DAG is parsed, a send whose parameters cannot name one campaign to send."""
    given = [part for part, value in parts.items() if value is not None]
    if campaign_id is not None and given:
        raise ValueError(
            f"{task_id}: give either campaign_id (a draft to send) or the parts of a new "
            f"message ({', '.join(given)}), not both."
        )
    if campaign_id is None and message_id is None and not given:
        raise ValueError(
            f"{task_id}: nothing to send. Give campaign_id (a draft), message_id, or the "
            "message parts subject, from_name, from_email and html and/or text."
        )
    if campaign_id is None and lists is None:
        raise ValueError(f"{task_id}: lists is required when sending a new campaign.")
    if poll_interval <= 0:
        raise ValueError(f"{task_id}: poll_interval must be positive.")


@dataclass(frozen=True)
class NewMessage:
    """The parts of a message to create, as rendered (blank or ``"None"`` parts are not given)."""

    subject: Any = None
    from_name: Any = None
    from_email: Any = None
    reply_to: Any = None
    html: Any = None
    text: Any = None

    @classmethod
    def from_parts(cls, parts: Mapping[str, Any]) -> NewMessage:
        return cls(**{part: parts.get(part) for part in MESSAGE_PARTS})

    def check(self) -> None:
        """Every part a send needs is there and the addresses are valid, before anything is written."""
        missing = [
            part for part in ("subject", "from_name", "from_email") if not blank_to_none(getattr(self, part))
        ]
        if not (blank_to_none(self.html) or blank_to_none(self.text)):
            missing.append("html or text")
        if missing:
            raise ActiveCampaignCampaignError(
                f"The new message lacks {', '.join(missing)}. Nothing was sent.",
                hint="Give every message part, or message_id= of an existing message.",
            )
        check_emails([str(self.from_email)], "from_email")
        if blank_to_none(self.reply_to):
            check_emails([str(self.reply_to)], "reply_to")

    def create_arguments(self) -> dict[str, Any]:
        """The keyword arguments of :func:`~.api.create_message`; reply-to defaults to the sender."""
        from_email = str(self.from_email).strip()
        return {
            "subject": str(self.subject),
            "from_name": str(self.from_name),
            "from_email": from_email,
            "reply_to": str(blank_to_none(self.reply_to) or from_email),
            "html": blank_to_none(self.html),
            "text": blank_to_none(self.text),
        }


@dataclass(frozen=True)
class SendRequest:
    """One send as asked: the campaign's name (its idempotency key) and where its parts come from."""

    name: str
    template_id: str | None
    message_id: str | None
    message: NewMessage
    lists: list[str]
    segment_id: str | None
    max_recipients: str | None
    test_emails: list[str]

    @property
    def dry_run(self) -> bool:
        return bool(self.test_emails)

    @property
    def exclude(self) -> list[str]:
        """The draft sent from is never "this task's campaign", even if it carries the name."""
        return [self.template_id] if self.template_id else []


def campaign_name(given: Any, context: Mapping[str, Any]) -> str:
    """The name the DAG gave, else the task instance's own (``<dag_id>.<task_id> <run_id>``)."""
    name = blank_to_none(given)
    if name:
        return name
    ti = context["ti"]
    map_index = ti.map_index if ti.map_index is not None else -1
    return default_campaign_name(ti.dag_id, ti.task_id, context["run_id"], map_index)


def read_send_request(
    *,
    name: str,
    campaign_id: Any,
    message_id: Any,
    parts: Mapping[str, Any],
    lists: Any,
    segment_id: Any,
    max_recipients: Any,
    test_emails: Any,
) -> SendRequest:
    """The rendered parameters as one :class:`SendRequest`; the test addresses are checked here."""
    return SendRequest(
        name=name,
        template_id=blank_to_none(campaign_id),
        message_id=blank_to_none(message_id),
        message=NewMessage.from_parts(parts),
        lists=as_list(lists),
        segment_id=blank_to_none(segment_id),
        max_recipients=blank_to_none(max_recipients),
        test_emails=check_emails(as_list(test_emails), "test_emails"),
    )
