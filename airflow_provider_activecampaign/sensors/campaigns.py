"""Wait until a campaign has finished sending, then return its report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context, PokeReturnValue, conf

from airflow_provider_activecampaign.campaigns.api import (
    ActiveCampaignCampaignError,
    campaign_report,
    describe_progress,
    finish_outcome,
    get_campaign,
    raise_for_outcome,
)
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.links import (
    CAMPAIGN_URL_XCOM_KEY,
    ActiveCampaignCampaignLink,
    campaign_app_url,
)
from airflow_provider_activecampaign.sensors.base import ActiveCampaignDeferrableSensor
from airflow_provider_activecampaign.triggers.campaigns import ActiveCampaignCampaignSentTrigger


class ActiveCampaignCampaignSentSensor(ActiveCampaignDeferrableSensor):
    """Wait until a campaign is completed; return its report (sends, opens, clicks, bounces …).

    Fails at once, without retries, when the campaign is stopped or disabled: it will never finish.
    Drafts, scheduled, sending and paused campaigns are waited for (a person may still send or
    resume them); ``timeout`` bounds the wait.

    :param campaign_id: The campaign to wait for (templated), e.g.
        ``"{{ ti.xcom_pull(task_ids='send')['campaign_id'] }}"``.
    :param activecampaign_conn_id: The ActiveCampaign connection.
    :param deferrable: Wait in the triggerer instead of holding a worker slot.
    :return: ``{"campaign_id", "name", "status", "sends", "recipients", "opens", "unique_opens",
        "clicks", "unique_clicks", "bounces", "hard_bounces", "soft_bounces", "unsubscribes",
        "forwards", "unique_forwards", "replies", "unique_replies", "started_at", "finished_at"}``.
    """

    template_fields: Sequence[str] = ("campaign_id", "activecampaign_conn_id")
    operator_extra_links = (ActiveCampaignCampaignLink(),)

    def __init__(
        self,
        *,
        campaign_id: str | int,
        activecampaign_conn_id: str = ActiveCampaignHook.default_conn_name,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(activecampaign_conn_id=activecampaign_conn_id, deferrable=deferrable, **kwargs)
        self.campaign_id = campaign_id
        self._link_pushed = False

    def poke(self, context: Context) -> PokeReturnValue:
        self._check_campaign_id()
        self._push_link(context)
        campaign = get_campaign(self.hook, self.campaign_id)
        outcome = finish_outcome(campaign)
        if outcome is None:
            self.log.info("Waiting: %s", describe_progress(campaign))
            return PokeReturnValue(is_done=False)
        report = campaign_report(campaign)
        raise_for_outcome(outcome, report)
        self.log.info("Done: %s", describe_progress(campaign))
        return PokeReturnValue(is_done=True, xcom_value=report)

    def build_trigger(self) -> ActiveCampaignCampaignSentTrigger:
        return ActiveCampaignCampaignSentTrigger(
            campaign_id=str(self.campaign_id),
            activecampaign_conn_id=self.activecampaign_conn_id,
            poll_interval=self.poke_interval,
        )

    def failed_wait_description(self) -> str:
        return f"Waiting for campaign {self.campaign_id} failed"

    def result_from_event(self, event: dict[str, Any]) -> dict[str, Any]:
        report: dict[str, Any] = event["report"]
        raise_for_outcome(event["outcome"], report)
        return report

    def _check_campaign_id(self) -> None:
        text = str(self.campaign_id).strip() if self.campaign_id is not None else ""
        if not text.isdigit():
            raise ActiveCampaignCampaignError(
                f"campaign_id must be a campaign's numeric id, got {self.campaign_id!r}.",
                hint="If it comes from an upstream task, check that task pushed it: the send operator "
                "pushes it as XCom 'campaign_id' (send.output['campaign_id']).",
            )
        self.campaign_id = text

    def _push_link(self, context: Context) -> None:
        if self._link_pushed:
            return
        self._link_pushed = True
        extra = self.hook.get_connection(self.activecampaign_conn_id).extra_dejson
        url = campaign_app_url(self.hook.base_url, self.campaign_id, extra.get("app_url"))
        context["ti"].xcom_push(key=CAMPAIGN_URL_XCOM_KEY, value=url or "")
