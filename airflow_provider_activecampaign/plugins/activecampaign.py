"""The Airflow plugin: mounts the webhook receiver in the api-server at ``/activecampaign``.

Registered through the package's ``airflow.plugins`` entry point only: Airflow also loads plugins
named in provider info, and a plugin found both ways is reported as an import error
("already registered").
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from airflow_provider_activecampaign.plugins.receiver import create_app

URL_PREFIX = "/activecampaign"


class ActiveCampaignWebhooksPlugin(AirflowPlugin):
    """ActiveCampaign webhooks -> Airflow asset events (``activecampaign://<host>/events/<type>``)."""

    name = "activecampaign_webhooks"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "ActiveCampaign webhooks"}]
