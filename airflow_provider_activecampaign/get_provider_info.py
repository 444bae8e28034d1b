"""The provider's description, read by Airflow through the ``apache_airflow_provider`` entry point.

The connection form is declared here (``ui-field-behaviour`` and ``conn-fields``): since Airflow 3.2
the UI builds forms from this metadata without importing the hook.
"""

from __future__ import annotations

from typing import Any

PACKAGE = "airflow_provider_activecampaign"


def get_provider_info() -> dict[str, Any]:
    from airflow_provider_activecampaign import __version__

    return {
        "package-name": "airflow-provider-activecampaign",
        "name": "ActiveCampaign",
        "description": "Sync contacts, drive automations and send campaigns in "
        "[ActiveCampaign](https://www.activecampaign.com/), safely and within its rate limits.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "ActiveCampaign",
                "external-doc-url": "https://developers.activecampaign.com/reference/overview",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": "ActiveCampaign",
                "python-modules": [
                    f"{PACKAGE}.hooks.activecampaign",
                    f"{PACKAGE}.hooks.activecampaign_async",
                ],
            }
        ],
        "operators": [
            {
                "integration-name": "ActiveCampaign",
                "python-modules": [
                    f"{PACKAGE}.operators.contacts",
                    f"{PACKAGE}.operators.automations",
                    f"{PACKAGE}.operators.campaigns",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "ActiveCampaign",
                "python-modules": [
                    f"{PACKAGE}.sensors.contacts",
                    f"{PACKAGE}.sensors.automations",
                    f"{PACKAGE}.sensors.campaigns",
                ],
            }
        ],
        "triggers": [
            {
                "integration-name": "ActiveCampaign",
                "python-modules": [
                    f"{PACKAGE}.triggers.contacts",
                    f"{PACKAGE}.triggers.automations",
                    f"{PACKAGE}.triggers.campaigns",
                ],
            }
        ],
        "extra-links": [f"{PACKAGE}.links.ActiveCampaignCampaignLink"],
        "connection-types": [
            {
                "connection-type": "activecampaign",
                "hook-class-name": f"{PACKAGE}.hooks.activecampaign.ActiveCampaignHook",
                "hook-name": "ActiveCampaign",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "login"],
                    "relabeling": {"host": "API URL", "password": "API Key"},
                    "placeholders": {
                        "host": "https://<account>.api-us1.com",
                        "password": "API key from Settings → Developer",
                        "extra": '{"timeout": 30, "requests_per_second": 5, "max_retries": 5}',
                    },
                },
                "conn-fields": {
                    "timeout": {
                        "label": "Request timeout (seconds)",
                        "description": "How long one HTTP request may take before it is abandoned.",
                        "schema": {"type": ["number", "null"], "minimum": 1, "default": 30},
                    },
                    "requests_per_second": {
                        "label": "Requests per second",
                        "description": "This process's share of the account's limit of 5 requests/s, "
                        "shared by every API key of the account. Lower it if other tools use the account.",
                        "schema": {"type": ["number", "null"], "minimum": 0.1, "default": 5},
                    },
                    "imports_per_minute": {
                        "label": "Bulk imports per minute",
                        "description": "This process's share of the bulk importer's limit of 100 "
                        "multi-contact imports per minute.",
                        "schema": {"type": ["number", "null"], "minimum": 1, "default": 100},
                    },
                    "account_timezone": {
                        "label": "Account time zone",
                        "description": "IANA zone of the API user (Settings → My Settings), e.g. "
                        "America/Chicago. Campaign send times are given to ActiveCampaign in it.",
                        "schema": {"type": ["string", "null"], "default": "UTC"},
                    },
                    "app_url": {
                        "label": "App URL",
                        "description": "The ActiveCampaign web app address for links from task pages, "
                        "e.g. https://youraccount.activehosted.com (derived from the API URL if empty).",
                        "schema": {"type": ["string", "null"]},
                    },
                    "max_retries": {
                        "label": "Max retries",
                        "description": "How often a failed call is retried when that is safe: rate "
                        "limits, and server or network errors on calls that cannot duplicate anything.",
                        "schema": {"type": ["integer", "null"], "minimum": 0, "maximum": 20, "default": 5},
                    },
                },
            }
        ],
    }
