"""Who a send reaches: lists, segment and message (from the request or a draft), and the recipient guard.

All of it is read and decided before anything is written, so a wrong list name, a draft that is not
a draft, or an audience over ``max_recipients`` fails the task with nothing created or sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from airflow_provider_activecampaign.campaigns.api import (
    DRAFT,
    ActiveCampaignCampaignError,
    count_active_members,
    get_campaign,
    read_draft_parts,
    status_code,
    status_name,
)
from airflow_provider_activecampaign.campaigns.request import SendRequest, blank_to_none
from airflow_provider_activecampaign.records.names import resolve_ids

if TYPE_CHECKING:
    from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook


@dataclass(frozen=True)
class Audience:
    """The list ids, message and segment one send uses; ``message_id`` is ``None`` for a new message."""

    list_ids: list[str]
    message_id: str | None
    segment_id: str | None


@dataclass(frozen=True)
class RecipientCount:
    """Active members per list: ``total`` is an upper bound (a contact on two lists gets one copy)."""

    per_list: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.per_list.values())

    def describe(self) -> str:
        return ", ".join(f"list {lid}: {n}" for lid, n in self.per_list.items())


def choose_audience(hook: ActiveCampaignHook, request: SendRequest) -> Audience:
    """Resolve the lists (names or ids), message and segment to send, before anything is written.

    A draft's segment is kept unless ``segment_id`` is given: dropping it would widen the audience.
    """
    message_id = request.message_id
    segment_id = request.segment_id
    wanted = list(request.lists)
    if request.template_id:
        template_id = request.template_id
        draft = get_campaign(hook, template_id)
        code = status_code(draft)
        if code != DRAFT:
            raise ActiveCampaignCampaignError(
                f"Campaign {template_id} {draft.get('name')!r} is {status_name(code)}, not a draft; "
                "campaign_id must name a draft to send from. Nothing was sent.",
                hint="Pick the draft in ActiveCampaign, or build the campaign from its parts.",
            )
        draft_lists, draft_messages = read_draft_parts(hook, template_id)
        wanted = wanted or draft_lists
        if segment_id is None and blank_to_none(draft.get("segmentid")) not in (None, "0"):
            segment_id = str(draft["segmentid"])
        if message_id is None:
            if len(draft_messages) != 1:
                raise ActiveCampaignCampaignError(
                    f"Draft {template_id} has {len(draft_messages)} messages; exactly one is needed "
                    "(split tests are not supported). Nothing was sent.",
                    hint="Pass message_id= to choose the message.",
                )
            message_id = draft_messages[0]
    elif message_id is None:
        request.message.check()
    if not wanted:
        raise ActiveCampaignCampaignError(
            "No lists to send to. Nothing was sent.", hint="Pass lists= (names or ids)."
        )
    resolved = resolve_ids(hook, "lists", key="lists", wanted=wanted, kind="list")
    return Audience(list(dict.fromkeys(resolved[item] for item in wanted)), message_id, segment_id)


def count_recipients(
    hook: ActiveCampaignHook, list_ids: list[str], max_recipients: str | None
) -> RecipientCount:
    """Count active members and refuse, before anything is created, an audience over the guard."""
    counted = RecipientCount(count_active_members(hook, list_ids))
    if max_recipients is None:
        return counted
    try:
        maximum = int(max_recipients)
    except ValueError:
        raise ActiveCampaignCampaignError(
            f"max_recipients must be a number, got {max_recipients!r}."
        ) from None
    if counted.total > maximum:
        overlap = (
            " (at most: a contact on several lists is counted once per list)"
            if len(counted.per_list) > 1
            else ""
        )
        raise ActiveCampaignCampaignError(
            f"The lists have {counted.total} active members{overlap} ({counted.describe()}), more than "
            f"max_recipients={maximum}. Nothing was created or sent.",
            hint="Check the lists and segment, or raise max_recipients if this audience is intended.",
        )
    return counted
