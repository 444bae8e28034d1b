"""Test set-up shared by every test: an isolated Airflow home and the emulator fixtures.

Airflow reads its configuration from the environment when first imported, so the environment is
prepared here, before any test module imports Airflow.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEST_DAGS = ROOT / "tests" / "dags"
EXAMPLE_DAGS = ROOT / "dags_examples"

_AIRFLOW_HOME = Path(os.environ.get("AC_TEST_AIRFLOW_HOME") or tempfile.mkdtemp(prefix="ac-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(TEST_DAGS)
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = json.dumps(
    [
        {
            "name": "tests",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(TEST_DAGS), "refresh_interval": 0},
        },
        {
            "name": "examples",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(EXAMPLE_DAGS), "refresh_interval": 0},
        },
    ]
)
os.environ.pop("AIRFLOW_CONN_ACTIVECAMPAIGN_DEFAULT", None)
# dag.test() runs triggers in-process, where apache/airflow#72716 cannot happen: their first check
# need not wait (tests/deployment runs real deployments with the default pause).
os.environ["AIRFLOW__ACTIVECAMPAIGN__TRIGGER_FIRST_CHECK_AFTER"] = "0"
# Rate-limit windows are shared through files by every process on the host: keep the test run's
# own, never shared with another run or with the user's real DAG runs.
_RATELIMIT_DIR = Path(tempfile.mkdtemp(prefix="ac-ratelimit-"))
os.environ["AIRFLOW_PROVIDER_ACTIVECAMPAIGN_RATELIMIT_DIR"] = str(_RATELIMIT_DIR)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the run's own Airflow home and rate windows (a home named by the user stays)."""
    if not os.environ.get("AC_TEST_AIRFLOW_HOME"):
        shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)
    shutil.rmtree(_RATELIMIT_DIR, ignore_errors=True)


@pytest.fixture(autouse=True)
def _own_ratelimit_windows(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets empty rate-limit windows (many swap the clock or reset the limiters)."""
    directory = _RATELIMIT_DIR / f"{abs(hash(request.node.nodeid)):x}"
    monkeypatch.setenv("AIRFLOW_PROVIDER_ACTIVECAMPAIGN_RATELIMIT_DIR", str(directory))


@pytest.fixture(autouse=True)
def _own_write_journal(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own write journal (tasks run outside a DAG share one scope otherwise)."""
    monkeypatch.setenv("AIRFLOW__ACTIVECAMPAIGN__WRITE_JOURNAL_PATH", str(tmp_path_factory.mktemp("journal")))


@pytest.fixture(autouse=True)
def _fresh_transport_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with empty client-side rate windows, no key known to have worked, no secret known.

    (A 403 then fails fast, as on a first call; the emulator's own windows are empty after reset. A
    secret is redacted only once the code under test has learnt it, as in a fresh process.)
    """
    from airflow_provider_activecampaign.hooks import transport
    from airflow_provider_activecampaign.hooks.transport import redaction

    monkeypatch.setattr(transport, "_LIMITERS", {})
    monkeypatch.setattr(transport, "_KEY_WORKED", {})
    monkeypatch.setattr(redaction, "SECRETS", redaction.SecretRegistry())


@pytest.fixture(autouse=True)
def secret_leaks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Fail any test in which a test secret appears in a provider exception or a log record.

    See tests/secrets_guard.py: the provider's base exception class and the root logger are watched
    for the emulator's API key, a webhook token, the tracking key and the tests' Redis password.
    (Its value is the list of findings: the guard's own test asserts on it, then empties it.)
    """
    from tests.secrets_guard import guard

    with guard(monkeypatch) as findings:
        yield findings
    if findings:
        pytest.fail("A secret leaked:\n" + "\n".join(dict.fromkeys(findings)), pytrace=False)


@pytest.fixture(scope="session")
def airflow_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite metadata database (once per session), needed by ``dag.test()``.

    One worker migrates a template for the whole run; every worker copies it into its own Airflow
    home (a migration costs seconds of CPU that the run's other workers need).
    """
    from tests.helpers.once import built_once

    marker = _AIRFLOW_HOME / ".migrated"
    if not marker.exists():
        template = built_once(tmp_path_factory, "airflow-db", _migrate)
        shutil.copyfile(template / "airflow.db", _AIRFLOW_HOME / "airflow.db")
        marker.touch()
    return _AIRFLOW_HOME


def _migrate(home: Path) -> None:
    """``airflow db migrate`` into ``home`` (with this run's settings, in that home)."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env={**os.environ, "AIRFLOW_HOME": str(home)},
    )


@pytest.fixture
def run_dag(airflow_db: Path) -> Callable[..., Any]:
    """Run a DAG from ``tests/dags`` or ``dags_examples`` with ``dag.test()``; return the DagRun.

    ``run_dag("dag_id", conf={...})`` -> DagRun; ``run_dag.xcom(dagrun, task_id)`` -> return value.
    """
    from airflow.dag_processing.dagbag import DagBag

    bags: dict[Path, Any] = {}

    def _run(dag_id: str, conf: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        for folder in (TEST_DAGS, EXAMPLE_DAGS):
            bag = bags.get(folder) or bags.setdefault(folder, DagBag(str(folder)))
            dag = bag.get_dag(dag_id)
            if dag is not None:
                return dag.test(run_conf=conf, **kwargs)
        raise LookupError(f"no DAG {dag_id!r} in {TEST_DAGS} or {EXAMPLE_DAGS}")

    _run.xcom = xcom_value  # type: ignore[attr-defined]
    _run.task_states = task_states  # type: ignore[attr-defined]
    _run.reschedules = reschedule_count  # type: ignore[attr-defined]
    return _run


def xcom_value(dagrun: Any, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
    """The XCom a task of a finished ``dag.test()`` run pushed."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter(
                XComModel.dag_id == dagrun.dag_id,
                XComModel.run_id == dagrun.run_id,
                XComModel.task_id == task_id,
                XComModel.key == key,
                XComModel.map_index == map_index,
            )
            .one_or_none()
        )
        if row is None:
            raise LookupError(f"no XCom {key!r} from task {task_id!r} in run {dagrun.run_id}")
        return row.value


def task_states(dagrun: Any) -> dict[str, str]:
    """``{task_id: state}`` of a finished ``dag.test()`` run."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (
            session.query(TaskInstance)
            .filter(TaskInstance.dag_id == dagrun.dag_id, TaskInstance.run_id == dagrun.run_id)
            .all()
        )
        return {ti.task_id: str(ti.state.value if hasattr(ti.state, "value") else ti.state) for ti in rows}


def reschedule_count(dagrun: Any, task_id: str) -> int:
    """How often a task of a finished ``dag.test()`` run was rescheduled (sensors in reschedule mode)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.taskreschedule import TaskReschedule
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = (
            session.query(TaskInstance)
            .filter(TaskInstance.dag_id == dagrun.dag_id, TaskInstance.run_id == dagrun.run_id)
            .filter(TaskInstance.task_id == task_id)
            .one()
        )
        return int(session.query(TaskReschedule).filter(TaskReschedule.ti_id == ti.id).count())
