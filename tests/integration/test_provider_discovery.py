"""Airflow finds the provider the way a user's installation does: entry point, ProvidersManager, UI, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version
from typing import Any

import pytest

from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook

pytestmark = pytest.mark.integration

PACKAGE = "airflow-provider-activecampaign"
HOOK_CLASS = "airflow_provider_activecampaign.hooks.activecampaign.ActiveCampaignHook"


def test_providers_manager_discovers_the_provider() -> None:
    from airflow.providers_manager import ProvidersManager

    provider = ProvidersManager().providers[PACKAGE]
    assert provider.version == version(PACKAGE)
    assert provider.data["name"] == "ActiveCampaign"
    # No docs are published yet (docs/ ships in the sdist and builds with mkdocs): no URL is claimed.
    assert provider.data.get("documentation-url") is None


def test_the_task_runtime_resolves_the_hook_by_connection_type() -> None:
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    info = ProvidersManagerTaskRuntime().hooks["activecampaign"]
    assert info is not None
    assert info.hook_class_name == HOOK_CLASS
    assert info.connection_id_attribute_name == "activecampaign_conn_id"
    assert info.package_name == PACKAGE
    assert info.connection_testable


def test_a_connection_of_the_type_builds_our_hook() -> None:
    from airflow.sdk import Connection

    connection = Connection(
        conn_id="ac_discovery", conn_type="activecampaign", host="https://acct.api-us1.com", password="k" * 20
    )
    hook = connection.get_hook()
    assert isinstance(hook, ActiveCampaignHook)
    assert hook.activecampaign_conn_id == "ac_discovery"


@pytest.fixture(scope="module")
def form() -> Any:
    """What ``GET /ui/connections/hook_meta`` returns for ``activecampaign`` (the React form's source)."""
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    (meta,) = [m for m in HookMetaService.hook_meta_data() if m.connection_type == "activecampaign"]
    return meta


def test_form_names_the_hook(form: Any) -> None:
    assert form.hook_name == "ActiveCampaign"
    assert form.hook_class_name == HOOK_CLASS


def test_form_relabels_host_and_password(form: Any) -> None:
    fields = form.standard_fields
    assert fields.host.title == "API URL"
    assert fields.host.placeholder == "https://<account>.api-us1.com"
    assert not fields.host.hidden
    assert fields.password.title == "API Key"
    assert not fields.password.hidden


def test_form_hides_login_schema_and_port(form: Any) -> None:
    fields = form.standard_fields
    assert fields.login.hidden
    assert fields.url_schema.hidden
    assert fields.port.hidden


def test_form_has_the_extra_fields(form: Any) -> None:
    extra = form.extra_fields
    assert set(extra) == {
        "timeout",
        "requests_per_second",
        "imports_per_minute",
        "max_retries",
        "budget_share",
        "max_wait",
        "rate_limit_backend",
        "account_timezone",
        "app_url",
        "event_tracking_actid",
        "event_tracking_secret",
        "event_tracking_url",
        "webhook_token",
    }
    assert extra["timeout"]["schema"]["title"] == "Request timeout (seconds)"
    assert extra["timeout"]["value"] == 30
    assert extra["requests_per_second"]["schema"]["title"] == "Requests per second"
    assert extra["requests_per_second"]["value"] == 5
    assert extra["max_retries"]["schema"]["type"] == ["integer", "null"]
    assert extra["max_retries"]["value"] is None  # bounded by max_wait unless set
    assert extra["budget_share"]["schema"]["maximum"] == 1
    assert extra["imports_per_minute"]["value"] == 100
    # Not pre-filled: a value shown in the form would make every UI-made connection look configured.
    assert extra["account_timezone"].get("value") in (None, "")
    assert extra["event_tracking_secret"]["schema"].get("format") == "password"
    assert extra["webhook_token"]["schema"].get("format") == "password"
    assert all(field["description"] for field in extra.values())


def _airflow(*args: str) -> Any:
    result = subprocess.run(
        [sys.executable, "-m", "airflow", *args, "--output", "json"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout[result.stdout.index("[") :])


def test_airflow_providers_list_shows_it() -> None:
    rows = _airflow("providers", "list")
    (row,) = [r for r in rows if r["package_name"] == PACKAGE]
    assert row["version"] == version(PACKAGE)
