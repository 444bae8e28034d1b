"""The Airflow assets ActiveCampaign events land on (what a DAG's ``schedule`` names)."""

from __future__ import annotations

from airflow.sdk import Asset

from airflow_provider_activecampaign.webhooks.events import asset_uri


def activecampaign_event_asset(account_host: str, event_type: str) -> Asset:
    """``Asset("activecampaign://<account-host>/events/<type>")``, e.g. for ``schedule=[...]``.

    :param account_host: The account's API host, as in its API URL: ``acme.api-us1.com``.
    :param event_type: An ActiveCampaign webhook event: ``unsubscribe``, ``contact_tag_added``...
    """
    return Asset(asset_uri(account_host.strip().lower(), event_type))
