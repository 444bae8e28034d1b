"""Tests against a real Airflow deployment (scheduler, dag-processor, triggerer, api-server processes)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest

from tests.deployment.harness import Deployment, missing_requirements

if TYPE_CHECKING:
    from activecampaign_emulator.testing import EmulatorProcess


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "deployment: starts real Airflow processes (scheduler, triggerer, api-server, ...)"
    )


def skip_or_fail(reason: str) -> NoReturn:
    """Skip, or fail when ``AC_REQUIRE_DEPLOYMENT`` is set (CI sets it)."""
    if os.environ.get("AC_REQUIRE_DEPLOYMENT", "") not in ("", "0"):
        pytest.fail(
            f"{reason} (AC_REQUIRE_DEPLOYMENT is set, so this is an error, not a skip)", pytrace=False
        )
    pytest.skip(reason)


#: DAG files every shared-deployment test adds here (one file per feature; dag ids prefixed
#: ``shared_``). The folder is the deployment's DAGs folder as it is, so a new file needs no wiring.
SHARED_DAGS = Path(__file__).parent / "dags" / "shared"
#: The webhook receiver's token in the shared deployment (tests only; never a real secret).
SHARED_WEBHOOK_TOKEN = "shared-webhooks-test-token-0123456789"


@dataclass
class SharedDeployment:
    """One real Airflow deployment and one emulator process for the whole test session.

    Starting Airflow (migrate, api-server, scheduler, dag-processor, triggerer) takes most of a
    deployment test's time, so the tests that only need *a* real deployment share this one:
    LocalExecutor, SQLite by default (``AC_DEPLOYMENT_DATABASE=postgres`` for PostgreSQL), the
    emulator at speed 1 with its rate limit on, ``activecampaign_default`` pointing at it. Tests
    must not assume they are alone: use their own dag ids, contacts and emulator objects.
    """

    deployment: Deployment
    emulator: EmulatorProcess
    #: ``activecampaign_default``'s extra ``webhook_token``: the webhook receiver's secret URL part.
    webhook_token: str = SHARED_WEBHOOK_TOKEN


@pytest.fixture(scope="session")
def shared_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedDeployment]:
    database = os.environ.get("AC_DEPLOYMENT_DATABASE", "sqlite")
    missing = missing_requirements("local", database)
    if missing:
        skip_or_fail("A real Airflow deployment needs " + "; ".join(missing))
    from activecampaign_emulator.testing import connection_json, start_emulator_process

    home = tmp_path_factory.mktemp("shared-airflow")
    with start_emulator_process(speed=1, rate_limit=True) as emulator:
        connection = connection_json(
            emulator.url,
            emulator.api_key,
            requests_per_second=5,
            imports_per_minute=100,
            webhook_token=SHARED_WEBHOOK_TOKEN,
        )
        with Deployment(
            dags_folder=SHARED_DAGS,
            executor="local",
            database=database,
            connections={"activecampaign_default": connection},
            env={
                "AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL": "1",
                # Asset-scheduled DAGs (webhooks -> asset events) need the scheduler to create runs
                # itself; shared DAGs with a time schedule must therefore use schedule=None.
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "True",
                # The emulator's account host: the asset URIs of dags/shared/shared_webhooks_*.py.
                "AC_WEBHOOKS_ACCOUNT_HOST": emulator.url.split("://", 1)[1].rstrip("/"),
            },
            home=home / "airflow",
        ) as deployment:
            yield SharedDeployment(deployment=deployment, emulator=emulator)
