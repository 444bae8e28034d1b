"""The provider description Airflow reads: names, connection form, module lists."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
from importlib.metadata import distribution, entry_points
from pathlib import Path
from typing import Any

import pytest

import airflow_provider_activecampaign
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


def _defined_classes() -> dict[str, set[str]]:
    """``{section: modules}`` of every module of the package that defines a hook, operator, sensor or
    trigger class (private ones included: they are still Airflow classes in that module). Found by
    importing every module of the package, so a module added tomorrow is checked too."""
    from airflow.sdk import BaseHook, BaseOperator, BaseSensorOperator
    from airflow.triggers.base import BaseTrigger

    kinds = (("sensors", BaseSensorOperator), ("operators", BaseOperator), ("triggers", BaseTrigger))
    found: dict[str, set[str]] = {"hooks": set(), "operators": set(), "sensors": set(), "triggers": set()}
    package = airflow_provider_activecampaign
    for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        if info.name.rpartition(".")[2] == "__main__":
            continue
        module = importlib.import_module(info.name)
        for cls in vars(module).values():
            if not inspect.isclass(cls) or cls.__module__ != module.__name__:
                continue
            section = next((name for name, base in kinds if issubclass(cls, base)), None)
            if section is None and issubclass(cls, BaseHook):
                section = "hooks"
            if section is not None:
                found[section].add(module.__name__)
    return found


def test_every_module_defining_an_airflow_class_is_listed() -> None:
    """Airflow's provider listing and docs tooling see only the modules get_provider_info() names."""
    defined = _defined_classes()
    # The scan itself works: the faces everyone knows are found where they are.
    assert "airflow_provider_activecampaign.hooks.activecampaign" in defined["hooks"]
    assert "airflow_provider_activecampaign.operators.webhooks" in defined["operators"]
    assert "airflow_provider_activecampaign.sensors.contacts" in defined["sensors"]
    assert "airflow_provider_activecampaign.triggers.contacts" in defined["triggers"]
    for section, modules in defined.items():
        listed = {module for entry in INFO[section] for module in entry["python-modules"]}
        missing = sorted(modules - listed)
        assert missing == [], f"add to get_provider_info()['{section}']: {missing}"
        stale = sorted(listed - modules)
        assert stale == [], f"get_provider_info()['{section}'] lists modules without such a class: {stale}"


@pytest.mark.parametrize("key", ["handler", "factory", "to_openlineage_converter"])
def test_every_asset_uri_function_imports(key: str) -> None:
    for entry in INFO["asset-uris"]:
        module, _, name = entry[key].rpartition(".")
        assert callable(getattr(importlib.import_module(module), name))
