"""Operator extra links: a button on the task that opens the campaign in the ActiveCampaign app.

The app lives on another host than the API (``<account>.activehosted.com`` vs
``<account>.api-us1.com``), and ActiveCampaign does not promise the API host is always built from
the account name (reference §1). So the app address is, in order: the connection extra
``app_url``; else ``https://<account>.activehosted.com`` when the API host looks like
``<account>.api-<region>.com``; else no link. The task computes the URL while it runs and keeps it
in XCom (``campaign_url``), as the dbt Cloud provider does with ``job_run_url``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

#: XCom key under which operators and sensors store the campaign's app URL.
CAMPAIGN_URL_XCOM_KEY = "campaign_url"
_API_HOST = re.compile(r"^(?P<account>[a-z0-9][a-z0-9-]*)\.api-[a-z0-9]+\.com$")


def app_base_url(api_base_url: str, app_url: str | None = None) -> str | None:
    """The web app's address for an account, or ``None`` when it cannot be known."""
    if app_url and app_url.strip():
        return app_url.strip().rstrip("/")
    host = (urlsplit(api_base_url).hostname or "").lower()
    match = _API_HOST.match(host)
    if match is None:
        return None
    return f"https://{match.group('account')}.activehosted.com"


def campaign_app_url(api_base_url: str, campaign_id: str | int, app_url: str | None = None) -> str | None:
    """The campaign's report page in the app (path UNCERTAIN, see docs/campaigns.md)."""
    base = app_base_url(api_base_url, app_url)
    if base is None:
        return None
    return f"{base}/report/#/campaign/{campaign_id}/overview"


class ActiveCampaignCampaignLink(BaseOperatorLink):
    """ "ActiveCampaign campaign": the campaign the task sent or waited for."""

    name = "ActiveCampaign campaign"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        value: Any = XCom.get_value(ti_key=ti_key, key=CAMPAIGN_URL_XCOM_KEY)
        return str(value) if value else ""
