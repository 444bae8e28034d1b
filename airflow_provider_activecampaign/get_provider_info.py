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
                    f"{PACKAGE}.operators.base",
                    f"{PACKAGE}.operators.contacts",
                    f"{PACKAGE}.operators.automations",
                    f"{PACKAGE}.operators.campaigns",
                    f"{PACKAGE}.operators.export",
                    f"{PACKAGE}.operators.api",
                    f"{PACKAGE}.operators.deals",
                    f"{PACKAGE}.operators.accounts",
                    f"{PACKAGE}.operators.customobjects",
                    f"{PACKAGE}.operators.ecommerce",
                    f"{PACKAGE}.operators.events",
                    f"{PACKAGE}.operators.erasure",
                    f"{PACKAGE}.operators.approval",
                    f"{PACKAGE}.operators.webhooks",
                ],
            }
        ],
        "asset-uris": [
            {
                "schemes": ["activecampaign"],
                "handler": f"{PACKAGE}.hooks.lineage.sanitize_uri",
                "factory": f"{PACKAGE}.hooks.lineage.create_asset",
                "to_openlineage_converter": f"{PACKAGE}.hooks.lineage.convert_asset_to_openlineage",
            }
        ],
        "sensors": [
            {
                "integration-name": "ActiveCampaign",
                "python-modules": [
                    f"{PACKAGE}.sensors.base",
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
                    f"{PACKAGE}.triggers.base",
                    f"{PACKAGE}.triggers.contacts",
                    f"{PACKAGE}.triggers.automations",
                    f"{PACKAGE}.triggers.campaigns",
                    f"{PACKAGE}.triggers.approval",
                ],
            }
        ],
        "extra-links": [f"{PACKAGE}.links.ActiveCampaignCampaignLink"],
        "config": {
            "activecampaign": {
                "description": "Deployment-wide defaults of every ActiveCampaign connection (a "
                "connection's extras override them). See the deployment guide.",
                "options": {
                    "rate_limit_backend": {
                        "description": "Where the account's rate-limit window is kept: 'local' (every "
                        "process of one host shares it through a file; enough when all ActiveCampaign "
                        "tasks and the triggerer run on one machine), 'memory' (one process), a "
                        "redis:// or rediss:// URL, or the id of an Airflow Redis connection: every "
                        "worker, pod and triggerer that reaches that Redis shares one window. Use "
                        "Redis with CeleryExecutor, KubernetesExecutor or several machines.",
                        "version_added": "0.2.0",
                        "type": "string",
                        "example": "redis://redis:6379/1",
                        "default": "local",
                        "sensitive": True,
                    },
                    "budget_share": {
                        "description": "The fraction of the account's 5 requests/s and 100 bulk "
                        "imports/min this Airflow may use, when the API key is shared with other "
                        "integrations. Rounded down to whole requests per second: 0.5 gives 2 per second.",
                        "version_added": "0.2.0",
                        "type": "float",
                        "example": "0.6",
                        "default": "1.0",
                    },
                    "max_wait": {
                        "description": "How long, in seconds, one API call may wait out throttling "
                        "(429s, the importer's per-minute limit) and transient server or network "
                        "failures before its task fails.",
                        "version_added": "0.2.0",
                        "type": "float",
                        "example": "1800",
                        "default": "900",
                    },
                    "trigger_first_check_after": {
                        "description": "Seconds a deferred ActiveCampaign task's trigger waits before "
                        "its first check (the task checked just before deferring). Keeps trigger events "
                        "from arriving within a second or two of the deferral, which Airflow 3.3 can "
                        "misread as a failed try and retry (apache/airflow#72716).",
                        "version_added": "0.2.0",
                        "type": "float",
                        "example": "0",
                        "default": "5",
                    },
                    "write_journal_path": {
                        "description": "Where the write journal lives: an intent before every write "
                        "that could act twice, its outcome after, so a retry or re-run never repeats "
                        "one (see never-twice.md). Any ObjectStoragePath URI or local path; every "
                        "worker that may run a retry must reach it (a shared disk or an object store). "
                        "Default: $AIRFLOW_HOME/activecampaign/journal.",
                        "version_added": "0.4.0",
                        "type": "string",
                        "example": "s3://airflow-state/activecampaign/journal",
                        "default": None,
                    },
                    "write_settle_seconds": {
                        "description": "How long after a write's request deadline a read-back must wait "
                        "before 'not found' may count as 'not applied' (ActiveCampaign may apply a "
                        "timed-out write seconds later). Until then the item is reported unknown and "
                        "not sent again in that try.",
                        "version_added": "0.4.0",
                        "type": "float",
                        "example": "120",
                        "default": "60",
                    },
                    "webhook_conn_ids": {
                        "description": "Comma-separated ActiveCampaign connections whose webhooks the "
                        "receiver plugin accepts (each one's extra webhook_token is the secret in its URL).",
                        "version_added": "0.3.0",
                        "type": "string",
                        "example": "activecampaign_default,activecampaign_eu",
                        "default": "activecampaign_default",
                    },
                    "webhook_api_conn_id": {
                        "description": "A connection to Airflow's own REST API (host = api-server URL, "
                        "login/password = a user allowed to create asset events) through which the "
                        "receiver records asset events. Empty: [api] base_url and the simple auth "
                        "manager's token, for local set-ups only.",
                        "version_added": "0.3.0",
                        "type": "string",
                        "example": "airflow_api",
                        "default": "",
                    },
                    "webhook_max_concurrent_writes": {
                        "description": "Asset events the receiver records at once per api-server "
                        "worker (1 is safe with SQLite; raise it with PostgreSQL).",
                        "version_added": "0.3.0",
                        "type": "integer",
                        "example": "4",
                        "default": "1",
                    },
                },
            }
        },
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
                        "extra": '{"timeout": 30, "budget_share": 1.0, "max_wait": 900}',
                    },
                },
                "conn-fields": {
                    "timeout": {
                        "label": "Request timeout (seconds)",
                        "description": "How long one HTTP request may take before it is abandoned.",
                        "schema": {"type": ["number", "null"], "minimum": 0.1, "default": 30},
                    },
                    "requests_per_second": {
                        "label": "Requests per second",
                        "description": "The account's limit (5 for ActiveCampaign), shared by every API "
                        "key of the account. One limiter per account keeps Airflow under it: shared by "
                        "every process on the host (rate-limit backend local, the default), or by every "
                        "host through Redis. To leave room for other integrations, lower Budget share.",
                        "schema": {"type": ["number", "null"], "minimum": 0.01, "default": 5},
                    },
                    "imports_per_minute": {
                        "label": "Bulk imports per minute",
                        "description": "The bulk importer's limit of multi-contact imports per minute "
                        "(100 for ActiveCampaign), shared like Requests per second.",
                        "schema": {"type": ["number", "null"], "minimum": 0.01, "default": 100},
                    },
                    "budget_share": {
                        "label": "Budget share",
                        "description": "The fraction (0-1] of the account's budget this Airflow uses, "
                        "when the key is shared with other integrations. Default: [activecampaign] "
                        "budget_share of the Airflow configuration (1.0).",
                        "schema": {"type": ["number", "null"], "minimum": 0.001, "maximum": 1},
                    },
                    "max_wait": {
                        "label": "Max wait (seconds)",
                        "description": "How long one call waits out throttling and transient failures "
                        "before the task fails. Default: [activecampaign] max_wait (900).",
                        "schema": {"type": ["number", "null"], "minimum": 0},
                    },
                    "rate_limit_backend": {
                        "label": "Rate-limit backend",
                        "description": "Overrides [activecampaign] rate_limit_backend for this "
                        "connection: local, memory, or the id of an Airflow Redis connection (keeps "
                        "the Redis password out of this form).",
                        "schema": {"type": ["string", "null"]},
                    },
                    "account_timezone": {
                        "label": "Account time zone",
                        "description": "IANA zone of the API user (Settings → My Settings), e.g. "
                        "America/Chicago. Campaign send times are given to ActiveCampaign in it; when "
                        "empty, a scheduled send assumes UTC and logs a warning.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "app_url": {
                        "label": "App URL",
                        "description": "The ActiveCampaign web app address for links from task pages, "
                        "e.g. https://youraccount.activehosted.com (derived from the API URL if empty).",
                        "schema": {"type": ["string", "null"]},
                    },
                    "max_retries": {
                        "label": "Max retries",
                        "description": "At most this many retries of a server or network error on calls "
                        "that cannot duplicate anything (empty: as many as Max wait allows). 429s are "
                        "always waited out within Max wait.",
                        "schema": {"type": ["integer", "null"], "minimum": 0, "maximum": 100},
                    },
                    "event_tracking_actid": {
                        "label": "Event tracking account id",
                        "description": "The actid shown in ActiveCampaign Settings → Tracking → Event "
                        "Tracking (not the API key). Needed only to track custom events.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "event_tracking_secret": {
                        "label": "Event key",
                        "description": "The Event Key from Settings → Tracking → Event Tracking: a secret, "
                        "hidden and masked like the API key. Needed only to track custom events.",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "webhook_token": {
                        "label": "Webhook token",
                        "description": "The secret in the webhook receiver's URL "
                        "(/activecampaign/webhooks/<token>, at least 16 characters): hidden and masked. "
                        "Needed only to receive webhooks; rotate it by changing it here and re-registering.",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "event_tracking_url": {
                        "label": "Event tracking URL",
                        "description": "Where events are posted (default https://trackcmp.net/event; "
                        "the emulator's /event for tests).",
                        "schema": {"type": ["string", "null"], "default": "https://trackcmp.net/event"},
                    },
                },
            }
        ],
    }
