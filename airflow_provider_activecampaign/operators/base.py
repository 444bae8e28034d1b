"""What every ActiveCampaign operator shares: the connection id and a lazily built hook."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator

from airflow_provider_activecampaign.common.failures import (  # noqa: F401  (re-exported)
    check_failure_ratio,
    failure_ratio_message,
    percent,
)
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook


class ActiveCampaignBaseOperator(BaseOperator):
    """Base of the provider's operators: holds ``activecampaign_conn_id``, builds the hook on first use.

    :param activecampaign_conn_id: The ActiveCampaign connection (default ``activecampaign_default``).
    """

    template_fields: Sequence[str] = ("activecampaign_conn_id",)
    ui_color = "#356ae6"
    ui_fgcolor = "#ffffff"

    def __init__(
        self, *, activecampaign_conn_id: str = ActiveCampaignHook.default_conn_name, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.activecampaign_conn_id = activecampaign_conn_id

    @cached_property
    def hook(self) -> ActiveCampaignHook:
        return ActiveCampaignHook(activecampaign_conn_id=self.activecampaign_conn_id)
