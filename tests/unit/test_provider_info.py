"""The provider description Airflow reads: names, connection form, module lists."""

from __future__ import annotations

import importlib
import json
from importlib.metadata import distribution, entry_points
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_activecampaign import __version__
from airflow_provider_activecampaign.get_provider_info import get_provider_info
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook

INFO = get_provider_info()
CONNECTION = INFO["connection-types"][0]


def test_package_name_matches_the_distribution() -> None:
    # Airflow refuses a provider whose package-name differs from the installed distribution.
    assert INFO["package-name"] == distribution("airflow-provider-activecampaign").metadata["Name"]
    assert INFO["versions"] == [__version__]
    assert distribution("airflow-provider-activecampaign").version == __version__


def test_entry_point_points_at_get_provider_info() -> None:
    (point,) = [
        ep
        for ep in entry_points(group="apache_airflow_provider")
        if ep.value.startswith("airflow_provider_activecampaign")
    ]
    assert point.load() is get_provider_info


def test_info_validates_against_airflows_runtime_schema() -> None:
    import jsonschema
    from airflow import providers_manager

    schema_path = Path(providers_manager.__file__).with_name("provider_info.schema.json")
    jsonschema.validate(INFO, json.loads(schema_path.read_text()))


def test_connection_type_matches_the_hook() -> None:
    assert len(INFO["connection-types"]) == 1
    assert CONNECTION["connection-type"] == ActiveCampaignHook.conn_type == "activecampaign"
    assert CONNECTION["hook-name"] == ActiveCampaignHook.hook_name == "ActiveCampaign"
    module, _, name = CONNECTION["hook-class-name"].rpartition(".")
    assert getattr(importlib.import_module(module), name) is ActiveCampaignHook


def test_connection_form_relabels_and_hides_fields() -> None:
    behaviour = CONNECTION["ui-field-behaviour"]
    assert sorted(behaviour["hidden-fields"]) == ["login", "port", "schema"]
    assert behaviour["relabeling"] == {"host": "API URL", "password": "API Key"}
    assert behaviour["placeholders"]["host"] == "https://<account>.api-us1.com"
    assert json.loads(behaviour["placeholders"]["extra"]) == {
        "timeout": 30,
        "budget_share": 1.0,
        "max_wait": 900,
    }


@pytest.mark.parametrize(
    ("name", "json_type", "default"),
    [
        ("timeout", "number", 30),
        ("requests_per_second", "number", 5),
        ("max_retries", "integer", None),
        ("budget_share", "number", None),
        ("max_wait", "number", None),
        ("rate_limit_backend", "string", None),
    ],
)
def test_extra_fields(name: str, json_type: str, default: int | None) -> None:
    field: dict[str, Any] = CONNECTION["conn-fields"][name]
    assert field["label"]
    assert field["description"]
    assert field["schema"]["type"] == [json_type, "null"]
    # Fields without a default fall back to the [activecampaign] section of the Airflow config.
    assert field["schema"].get("default") == default


def test_extra_field_defaults_match_the_transport_defaults() -> None:
    from airflow_provider_activecampaign.hooks import transport

    fields = CONNECTION["conn-fields"]
    assert fields["timeout"]["schema"]["default"] == transport.DEFAULT_TIMEOUT
    assert fields["requests_per_second"]["schema"]["default"] == transport.DEFAULT_REQUESTS_PER_SECOND
    assert fields["max_retries"]["schema"].get("default") == transport.DEFAULT_MAX_RETRIES
    options = INFO["config"]["activecampaign"]["options"]
    assert options["rate_limit_backend"]["default"] == "local"
    assert options["rate_limit_backend"]["sensitive"] is True  # a Redis URL may hold a password
    assert float(options["budget_share"]["default"]) == transport.DEFAULT_BUDGET_SHARE
    assert float(options["max_wait"]["default"]) == transport.DEFAULT_MAX_WAIT


def test_hook_modules_are_listed() -> None:
    (hooks,) = INFO["hooks"]
    assert hooks["python-modules"] == [
        "airflow_provider_activecampaign.hooks.activecampaign",
        "airflow_provider_activecampaign.hooks.activecampaign_async",
    ]


def _listed_modules() -> list[str]:
    return [
        module
        for section in ("hooks", "operators", "sensors", "triggers")
        for entry in INFO.get(section, [])
        for module in entry["python-modules"]
    ]


@pytest.mark.parametrize("module", _listed_modules())
def test_every_listed_module_imports(module: str) -> None:
    importlib.import_module(module)


@pytest.mark.parametrize("path", INFO.get("extra-links", []))
def test_every_listed_extra_link_imports(path: str) -> None:
    module, _, name = path.rpartition(".")
    assert isinstance(getattr(importlib.import_module(module), name), type)
