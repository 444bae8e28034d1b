"""The trigger that waits, in the triggerer, until a campaign has finished sending."""

from __future__ import annotations

from typing import Any

from airflow_provider_activecampaign.campaigns.api import (
    campaign_report,
    describe_progress,
    finish_outcome,
)
from airflow_provider_activecampaign.hooks.activecampaign_async import ActiveCampaignAsyncHook
from airflow_provider_activecampaign.triggers.base import ActiveCampaignPollTrigger


class ActiveCampaignCampaignSentTrigger(ActiveCampaignPollTrigger):
    """Poll ``GET /campaigns/{id}`` until the campaign is completed, stopped or disabled.

    The event is ``{"status": "success", "outcome": "completed"|"stopped"|"disabled",
    "campaign_id", "report": {...}}``; the task decides what a stopped campaign means.
    """

    def __init__(self, *, campaign_id: str, activecampaign_conn_id: str, poll_interval: float = 30.0) -> None:
        super().__init__(activecampaign_conn_id=activecampaign_conn_id, poll_interval=poll_interval)
        self.campaign_id = str(campaign_id)

    def serialize_kwargs(self) -> dict[str, Any]:
        return {"campaign_id": self.campaign_id}

    async def check(self, hook: ActiveCampaignAsyncHook) -> dict[str, Any] | None:
        campaign = (await hook.get(f"campaigns/{self.campaign_id}"))["campaign"]
        outcome = finish_outcome(campaign)
        if outcome is None:
            self.log.info("Waiting: %s", describe_progress(campaign))
            return None
        return {"outcome": outcome, "campaign_id": self.campaign_id, "report": campaign_report(campaign)}
