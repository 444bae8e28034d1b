"""The property suite's rig: the emulator, the holding proxy in front of it, the task fork server.

Tests marked ``slow`` (the wide sample: every writer in every mode) run only with
``AC_PROPERTY_WIDE=1``; ``python benchmarks/never_twice.py`` runs every point.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.property.harness import TaskProcesses
from tests.property.proxy import HoldingProxy


@dataclass
class Rig:
    server: Any
    proxy: HoldingProxy
    processes: TaskProcesses


@pytest.fixture(scope="session")
def property_rig(activecampaign_emulator_server: Any, airflow_db: Path) -> Iterator[Rig]:
    with HoldingProxy(activecampaign_emulator_server.url) as proxy, TaskProcesses() as processes:
        yield Rig(activecampaign_emulator_server, proxy, processes)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("AC_PROPERTY_WIDE") == "1":
        return
    skip = pytest.mark.skip(reason="the wide property sample: set AC_PROPERTY_WIDE=1")
    for item in items:
        if "slow" in item.keywords and "tests/property" in str(item.fspath):
            item.add_marker(skip)
