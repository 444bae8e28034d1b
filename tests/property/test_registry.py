"""A new operator that can write cannot be added without joining the property suite's registry."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import airflow_provider_activecampaign.operators as operators_package
from airflow_provider_activecampaign.get_provider_info import get_provider_info
from tests.property.dags import property_dags
from tests.property.writers import PENDING, READ_ONLY, WRITERS

#: Bases that are never a task of their own.
BASES = {
    "airflow_provider_activecampaign.operators.base:ActiveCampaignBaseOperator",
    "airflow_provider_activecampaign.operators.base:ActiveCampaignRecordsOperator",
    "airflow_provider_activecampaign.sensors.base:ActiveCampaignDeferrableSensor",
}


def _operator_modules() -> set[str]:
    info = get_provider_info()
    listed = {
        m for group in ("operators", "sensors") for entry in info[group] for m in entry["python-modules"]
    }
    found = {
        f"{operators_package.__name__}.{m.name}" for m in pkgutil.iter_modules(operators_package.__path__)
    }
    return listed | found


def _operator_classes() -> set[str]:
    from airflow.sdk import BaseOperator

    classes: set[str] = set()
    for module_name in _operator_modules():
        module = importlib.import_module(module_name)
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module_name and issubclass(cls, BaseOperator) and not name.startswith("_"):
                classes.add(f"{module_name}:{name}")
    return classes - BASES


def test_every_operator_is_a_registered_writer_or_listed_read_only() -> None:
    registered = {w.operator for w in WRITERS.values()} | set(PENDING)
    missing = sorted(_operator_classes() - registered - READ_ONLY)
    assert not missing, (
        f"operators neither in tests/property/writers.py WRITERS nor READ_ONLY: {missing}. "
        "A writer must join the property suite (how to build it, seed it and check its final state)."
    )


def test_registry_names_only_real_operators() -> None:
    known = _operator_classes()
    stale = sorted(({w.operator for w in WRITERS.values()} | READ_ONLY | set(PENDING)) - known)
    assert not stale, f"registry entries that are no operator of the provider: {stale}"
    assert not READ_ONLY & {w.operator for w in WRITERS.values()}


def test_every_writer_has_a_dag_with_its_operator() -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(Path(property_dags.__file__).parent))
    assert not bag.import_errors
    for writer in WRITERS.values():
        dag = bag.dags.get(writer.dag_id)
        assert dag is not None, writer.name
        task = dag.get_task("write")
        assert f"{type(task).__module__}:{type(task).__name__}" == writer.operator, writer.name
