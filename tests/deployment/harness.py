"""A real Airflow 3 deployment in a temporary ``AIRFLOW_HOME``, for tests and benchmarks.

Not ``dag.test()``: every component is the real ``airflow`` command in its own process group —
``db migrate``, then ``api-server`` (core + execution API, on a free loopback port), ``scheduler``,
``dag-processor``, ``triggerer`` and, with the CeleryExecutor, ``celery worker`` processes — with a
DAGs folder of our choosing. Two shapes:

- ``Deployment(executor="local")``: LocalExecutor on a SQLite metadata database (Airflow 3.3 accepts
  the pair: task processes talk to the execution API, not to the database), or PostgreSQL with
  ``database="postgres"``.
- ``Deployment(executor="celery", workers=3)``: CeleryExecutor, Redis as broker and result backend,
  PostgreSQL metadata database, ``workers`` Celery workers, each its own process with its own
  ``AIRFLOW_PROVIDER_ACTIVECAMPAIGN_RATELIMIT_DIR`` (standing in for separate machines).

Redis (``redis-server``) and PostgreSQL (``/usr/lib/postgresql/<v>/bin``, run as the ``postgres``
user when we are root) are started by the harness in the temp dir on free loopback ports, with
durability off. Nothing is installed: :func:`missing_requirements` says what is absent. Python
packages needed on top of the provider's own: ``psycopg2-binary`` (PostgreSQL) and
``apache-airflow-providers-celery`` + ``redis`` (CeleryExecutor).

Every process listens on 127.0.0.1 only (log servers are not started: ``--skip-serve-logs``), every
wait has a deadline, and :meth:`Deployment.stop` (also run at interpreter exit) kills every process
group it started. Logs stay in ``<home>/logs/*.log``; :meth:`Deployment.log_tails` gives their ends.

Usage::

    with Deployment(dag_files=[...], connections={"activecampaign_default": conn_json}) as d:
        run_id = d.trigger("my_dag", conf={...})
        state = d.wait_for_run("my_dag", run_id, timeout=120)
        tis = d.task_instances("my_dag", run_id)  # [TaskInstanceReport(...)]
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
FINISHED_RUN_STATES = frozenset({"success", "failed"})
#: Environment that must not leak from the caller (a test session's own Airflow settings).
_INHERITED_PREFIXES = ("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_")
_INHERITED_NAMES = ("AIRFLOW_HOME", "AIRFLOW_PROVIDER_ACTIVECAMPAIGN_RATELIMIT_DIR")
_LIVE: set[Deployment] = set()


# --------------------------------------------------------------------------------------------------
# What the machine has
# --------------------------------------------------------------------------------------------------


def postgres_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/<v>/bin`` holding ``initdb`` and ``pg_ctl`` (or ``$AC_PG_BIN``)."""
    configured = os.environ.get("AC_PG_BIN")
    candidates = [configured] if configured else sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def missing_requirements(executor: str = "local", database: str = "sqlite") -> list[str]:
    """What this machine lacks to run a deployment of that shape (empty when nothing is missing)."""
    import importlib.util

    missing: list[str] = []
    if executor == "celery" or database == "postgres":
        if postgres_bin() is None:
            missing.append("PostgreSQL server binaries (Debian: apt-get install postgresql)")
        if importlib.util.find_spec("psycopg2") is None:
            missing.append("the psycopg2 package (pip install psycopg2-binary)")
    if executor == "celery":
        if shutil.which("redis-server") is None:
            missing.append("redis-server (Debian: apt-get install redis-server)")
        for module, package in (
            ("airflow.providers.celery", "apache-airflow-providers-celery"),
            ("redis", "redis"),
        ):
            try:
                found = importlib.util.find_spec(module) is not None
            except ModuleNotFoundError:
                found = False
            if not found:
                missing.append(f"the {package} package")
    return missing


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, deadline: float, process: subprocess.Popen[bytes], what: str) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DeploymentError(f"{what} exited with {process.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise DeploymentError(f"{what} did not listen on 127.0.0.1:{port} in time")


_SPURIOUS_FINISH_NEEDLES = ("but the task instance's state attribute is", "Marking task as UP_FOR_RETRY")


class DeploymentError(RuntimeError):
    """Something in the deployment did not start or finish in time (the message holds log tails)."""


# --------------------------------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------------------------------


@dataclass
class TaskInstanceReport:
    task_id: str
    map_index: int
    state: str | None
    try_number: int
    #: The state each earlier try ended in (from the tries endpoint), oldest first.
    earlier_tries: list[str | None] = field(default_factory=list)
    #: Where the last try ran (the Celery worker's host name, here ``workerN@127.0.0.1`` or similar).
    hostname: str | None = None

    @property
    def ever_up_for_retry(self) -> bool:
        """The task instance went through ``up_for_retry`` at least once (a try after the first)."""
        return self.try_number > 1 or "up_for_retry" in self.earlier_tries or self.state == "up_for_retry"

    @property
    def label(self) -> str:
        return self.task_id if self.map_index < 0 else f"{self.task_id}[{self.map_index}]"


@dataclass
class _Process:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path


# --------------------------------------------------------------------------------------------------
# The deployment
# --------------------------------------------------------------------------------------------------


class Deployment:
    """Real Airflow processes in a temporary home; a context manager (or call start/stop).

    :param dag_files: Files copied into the deployment's DAGs folder (or pass ``dags_folder``).
    :param executor: ``"local"`` or ``"celery"``.
    :param database: ``"sqlite"`` or ``"postgres"`` (always PostgreSQL with ``"celery"``).
    :param workers: Celery workers (``"celery"`` only).
    :param worker_concurrency: Task slots per Celery worker; LocalExecutor's parallelism.
    :param connections: ``{conn_id: JSON}``, passed to every process as ``AIRFLOW_CONN_<ID>``.
    :param env: More environment for every process (e.g. ``AIRFLOW__ACTIVECAMPAIGN__...``); the
        text ``{redis_url}`` in a value becomes the harness's Redis URL (``redis://127.0.0.1:<port>``).
    :param worker_env: Per Celery worker extra environment (list index = worker number).
    :param shared_ratelimit_dir: Local executor: one rate-limit folder for every process (one
        machine). Celery: the scheduler/api-server/dag-processor get one, the triggerer another,
        each worker its own.
    """

    def __init__(
        self,
        *,
        dag_files: Iterable[str | Path] = (),
        dags_folder: str | Path | None = None,
        executor: str = "local",
        database: str = "sqlite",
        workers: int = 1,
        worker_concurrency: int = 8,
        connections: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        worker_env: list[Mapping[str, str]] | None = None,
        home: str | Path | None = None,
        keep_home: bool = False,
        startup_timeout: float = 120.0,
    ) -> None:
        if executor not in ("local", "celery"):
            raise ValueError("executor must be 'local' or 'celery'")
        self.executor = executor
        self.database = "postgres" if executor == "celery" else database
        if self.database not in ("sqlite", "postgres"):
            raise ValueError("database must be 'sqlite' or 'postgres'")
        self.workers = workers if executor == "celery" else 0
        self.worker_concurrency = worker_concurrency
        self.connections = dict(connections or {})
        self.extra_env = dict(env or {})
        self.worker_env = [dict(e) for e in (worker_env or [])]
        self.startup_timeout = startup_timeout
        self.keep_home = keep_home
        self._own_home = home is None
        self.home = Path(home) if home else Path(tempfile.mkdtemp(prefix="ac-deployment-"))
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_dir = self.home / "logs"
        self.log_dir.mkdir(exist_ok=True)
        if dags_folder is not None:
            self.dags_folder = Path(dags_folder)
        else:
            self.dags_folder = self.home / "dags"
            self.dags_folder.mkdir(exist_ok=True)
            for dag_file in dag_files:
                shutil.copy(dag_file, self.dags_folder / Path(dag_file).name)
        self.api_port = free_port()
        self.url = f"http://127.0.0.1:{self.api_port}"
        self.redis_port: int | None = None
        self.pg_port: int | None = None
        self._pg_data: Path | None = None
        self._pg_root: Path | None = None
        self._processes: list[_Process] = []
        self._token: str | None = None
        self._http: httpx.Client | None = None
        self.timings: dict[str, float] = {}
        self.ratelimit_dirs: dict[str, Path] = {}

    # ---------------------------------------------------------------------------------- lifecycle

    def __enter__(self) -> Deployment:
        self.start()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is not None and exc_type is not KeyboardInterrupt:
            sys.stderr.write(self.log_tails())
        self.stop()

    def start(self) -> None:
        """Start every server and Airflow component; return when the DAGs folder is parsed."""
        _LIVE.add(self)
        started = time.monotonic()
        try:
            if self.database == "postgres":
                self._start_postgres()
            if self.executor == "celery":
                self._start_redis()
            self.timings["servers"] = time.monotonic() - started
            self._env = self._base_env()
            self._migrate()
            self.timings["migrate"] = time.monotonic() - started
            self._spawn(
                "api-server",
                ["api-server", "--host", "127.0.0.1", "--port", str(self.api_port), "--workers", "1"],
                self._component_env("api-server"),
            )
            self._spawn("scheduler", ["scheduler", "--skip-serve-logs"], self._component_env("scheduler"))
            self._spawn("dag-processor", ["dag-processor"], self._component_env("dag-processor"))
            self._spawn("triggerer", ["triggerer", "--skip-serve-logs"], self._component_env("triggerer"))
            for number in range(self.workers):
                name = f"worker{number}"
                self._spawn(
                    name,
                    [
                        "celery",
                        "worker",
                        "--skip-serve-logs",
                        "--concurrency",
                        str(self.worker_concurrency),
                        "--celery-hostname",
                        f"{name}@127.0.0.1",
                        "--without-gossip",
                        "--without-mingle",
                    ],
                    self._component_env(name, number),
                )
            self._wait_api(time.monotonic() + self.startup_timeout)
            self.timings["api"] = time.monotonic() - started
        except BaseException:
            sys.stderr.write(self.log_tails())
            self.stop()
            raise

    def stop(self) -> None:
        """Kill every process group started (SIGTERM, then SIGKILL), then the servers; idempotent."""
        if self._http is not None:
            self._http.close()
            self._http = None
        for proc in reversed(self._processes):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in reversed(self._processes):
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.process.wait(max(0.1, deadline - time.monotonic()))
            # The group may outlive its leader (forked task runners, gunicorn/uvicorn children).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.process.wait(5)
        self._processes.clear()
        if self._pg_data is not None:
            bindir = postgres_bin()
            if bindir is not None:
                with contextlib.suppress(Exception):
                    self._as_postgres(
                        [
                            str(bindir / "pg_ctl"),
                            "-D",
                            str(self._pg_data),
                            "-m",
                            "immediate",
                            "-w",
                            "-t",
                            "10",
                            "stop",
                        ],
                        timeout=20,
                    )
            self._pg_data = None
        if self._pg_root is not None:
            if self.keep_home:
                with contextlib.suppress(OSError):
                    shutil.copy(self._pg_root / "postgres.log", self.log_dir / "postgres.log")
            shutil.rmtree(self._pg_root, ignore_errors=True)
            self._pg_root = None
        _LIVE.discard(self)
        if self._own_home and not self.keep_home:
            shutil.rmtree(self.home, ignore_errors=True)

    # ------------------------------------------------------------------------------------ servers

    def _as_postgres(
        self, command: list[str], timeout: float, **kwargs: Any
    ) -> subprocess.CompletedProcess[str]:
        user: str | None = None
        if os.geteuid() == 0:
            user = "postgres"
        done = subprocess.run(
            command, user=user, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
        )
        if done.returncode != 0:
            raise DeploymentError(
                f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
            )
        return done

    def _start_postgres(self) -> None:
        bindir = postgres_bin()
        if bindir is None:
            raise DeploymentError("no PostgreSQL binaries (initdb, pg_ctl)")
        # Its own top-level temp dir: the postgres user (when we are root) must be able to reach it,
        # and our home may sit inside folders only we can enter (pytest's tmp_path does).
        pg_root = Path(tempfile.mkdtemp(prefix="ac-deployment-pg-"))
        self._pg_root = pg_root
        data = pg_root / "data"
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(pg_root, entry.pw_uid, entry.pw_gid)
        self._as_postgres(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
            timeout=120,
        )
        self.pg_port = free_port()
        options = (
            f"-p {self.pg_port} -c listen_addresses=127.0.0.1 -k {pg_root} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
            "-c shared_buffers=64MB"
        )
        self._pg_data = data
        self._as_postgres(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(pg_root / "postgres.log"),
                "-w",
                "-t",
                "60",
                "start",
            ],
            timeout=90,
        )
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=self.pg_port, user="postgres", dbname="postgres")
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("CREATE DATABASE airflow")
        connection.close()

    def _start_redis(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise DeploymentError("no redis-server")
        self.redis_port = free_port()
        folder = self.home / "redis"
        folder.mkdir()
        log = self.log_dir / "redis.log"
        with log.open("wb") as handle:
            process = subprocess.Popen(
                [
                    binary,
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(self.redis_port),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(folder),
                    "--protected-mode",
                    "yes",
                ],
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._processes.append(_Process("redis", process, log))
        _wait_for_port(self.redis_port, time.monotonic() + 20, process, "redis-server")

    @property
    def redis_url(self) -> str:
        if self.redis_port is None:
            raise DeploymentError("this deployment runs no Redis")
        return f"redis://127.0.0.1:{self.redis_port}"

    # -------------------------------------------------------------------------------- environment

    def _sql_alchemy_conn(self) -> str:
        if self.database == "postgres":
            return f"postgresql+psycopg2://postgres@127.0.0.1:{self.pg_port}/airflow"
        return f"sqlite:///{self.home / 'airflow.db'}"

    def _base_env(self) -> dict[str, str]:
        from cryptography.fernet import Fernet

        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(_INHERITED_PREFIXES) and key not in _INHERITED_NAMES
        }
        executor = "CeleryExecutor" if self.executor == "celery" else "LocalExecutor"
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "PYTHONUNBUFFERED": "1",
                "AIRFLOW__CORE__EXECUTOR": executor,
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self._sql_alchemy_conn(),
                "AIRFLOW__DATABASE__CHECK_MIGRATIONS": "False",
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
                "AIRFLOW__CORE__PARALLELISM": str(max(8, self.worker_concurrency * max(1, self.workers))),
                "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "64",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
                "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
                "AIRFLOW__API__BASE_URL": self.url,
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.api_port),
                "AIRFLOW__API__EXPOSE_CONFIG": "True",
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
                "AIRFLOW__API_AUTH__JWT_ISSUER": "ac-deployment",
                # Quick loops: a triggered run starts, and a fired trigger resumes, within seconds.
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
                "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
                "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "2",
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
                "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "1",
                "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
                "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "600",
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.home / "task-logs"),
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "2",
                # Nothing phones home.
                "AIRFLOW__CORE__CHECK_FOR_UPDATES": "False",
                "SCARF_ANALYTICS": "false",
                "DO_NOT_TRACK": "1",
            }
        )
        if self.executor == "celery":
            env.update(
                {
                    "AIRFLOW__CELERY__BROKER_URL": f"{self.redis_url}/0",
                    "AIRFLOW__CELERY__RESULT_BACKEND": f"{self.redis_url}/0",
                    "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.worker_concurrency),
                    "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
                    "AIRFLOW__CELERY__OPERATION_TIMEOUT": "10",
                    "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "3600",
                }
            )
        for conn_id, value in self.connections.items():
            env[f"AIRFLOW_CONN_{conn_id.upper()}"] = value
        # Values may name the Redis the harness started: "{redis_url}" -> redis://127.0.0.1:<port>.
        env.update(
            {
                k: v.replace("{redis_url}", self.redis_url) if "{redis_url}" in v else v
                for k, v in self.extra_env.items()
            }
        )
        (self.home / "passwords.json").write_text("{}", encoding="utf-8")
        return env

    def _component_env(self, name: str, worker: int | None = None) -> dict[str, str]:
        """Each stand-in "machine" gets its own rate-limit folder (LocalExecutor: one machine)."""
        env = dict(self._env)
        if self.executor == "local":
            machine = "host"
        elif worker is not None:
            machine = name
        elif name == "triggerer":
            machine = "triggerer"
        else:
            machine = "scheduler"
        folder = self.home / "ratelimit" / machine
        folder.mkdir(parents=True, exist_ok=True)
        self.ratelimit_dirs[name] = folder
        env["AIRFLOW_PROVIDER_ACTIVECAMPAIGN_RATELIMIT_DIR"] = str(folder)
        if worker is not None and worker < len(self.worker_env):
            env.update(self.worker_env[worker])
        return env

    # ---------------------------------------------------------------------------------- processes

    def _airflow(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "airflow", *args]

    def _migrate(self) -> None:
        log = self.log_dir / "db-migrate.log"
        with log.open("wb") as handle:
            done = subprocess.run(
                self._airflow("db", "migrate"),
                env=self._env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                timeout=300,
                check=False,
                start_new_session=True,
            )
        if done.returncode != 0:
            raise DeploymentError(f"airflow db migrate failed ({done.returncode}):\n{self._tail(log, 60)}")

    def _spawn(self, name: str, args: list[str], env: Mapping[str, str]) -> None:
        log = self.log_dir / f"{name}.log"
        with log.open("wb") as handle:
            process = subprocess.Popen(
                self._airflow(*args),
                env=dict(env),
                stdout=handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.home,
            )
        self._processes.append(_Process(name, process, log))

    def check_alive(self) -> None:
        """Raise (with the logs) when a component has exited."""
        for proc in self._processes:
            if proc.process.poll() is not None:
                raise DeploymentError(
                    f"{proc.name} exited with {proc.process.returncode}:\n{self._tail(proc.log_path, 60)}"
                )

    def _wait_api(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                if httpx.get(f"{self.url}/api/v2/monitor/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise DeploymentError(f"the api-server did not answer at {self.url} in time")

    # --------------------------------------------------------------------------------------- logs

    @staticmethod
    def _tail(path: Path, lines: int = 40) -> str:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return f"(no {path})"
        return "\n".join(text.splitlines()[-lines:])

    def log_tails(self, lines: int = 40) -> str:
        """The last ``lines`` of every component's log, headed by its name."""
        parts = []
        for path in sorted(self.log_dir.glob("*.log")):
            parts.append(f"\n===== {path.name} (last {lines} lines) =====\n{self._tail(path, lines)}\n")
        return "".join(parts)

    def grep_logs(self, needle: str, names: Iterable[str] | None = None) -> list[str]:
        """Lines of the component logs (``scheduler``, ``triggerer``, ...) that contain ``needle``."""
        wanted = set(names) if names is not None else None
        hits: list[str] = []
        for path in sorted(self.log_dir.glob("*.log")):
            if wanted is not None and path.stem not in wanted:
                continue
            with contextlib.suppress(OSError):
                hits += [
                    f"{path.stem}: {line}"
                    for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
                    if needle in line
                ]
        return hits

    def spurious_finish_reports(self, dag_id: str | None = None) -> list[str]:
        """Scheduler lines of apache/airflow#72716: an executor "finished" report for a task instance
        that is already queued or running again, and the ``up_for_retry`` it causes (of ``dag_id``'s
        task instances only, when given)."""
        return [
            line
            for line in self.grep_logs("", ["scheduler"])
            if any(n in line for n in _SPURIOUS_FINISH_NEEDLES) and (dag_id is None or dag_id in line)
        ]

    # ------------------------------------------------------------------------------------ REST API

    @property
    def api(self) -> httpx.Client:
        """An authenticated client of ``/api/v2`` (simple auth manager, everyone is admin)."""
        if self._http is None:
            response = httpx.get(f"{self.url}/auth/token", timeout=10)
            response.raise_for_status()
            token = response.json()["access_token"]
            self._http = httpx.Client(
                base_url=f"{self.url}/api/v2", headers={"Authorization": f"Bearer {token}"}, timeout=30
            )
        return self._http

    def _json(self, method: str, path: str, *, conflict_ok: bool = False, **kwargs: Any) -> Any:
        """Call the REST API; a 5xx (SQLite busy while the scheduler writes) is tried again.

        Writes are only ever retried when repeating them is harmless: ``conflict_ok`` marks a write
        whose retry may meet its own first attempt (409), which then counts as done.
        """
        retry = method == "GET" or conflict_ok
        for attempt in range(10 if retry else 1):
            response = self.api.request(method, path, **kwargs)
            if response.status_code < 500 or not retry:
                break
            time.sleep(0.5 * (attempt + 1))
        if conflict_ok and response.status_code == 409 and attempt > 0:
            return {}
        if response.status_code >= 400:
            raise DeploymentError(f"{method} {path} -> {response.status_code}: {response.text[:1000]}")
        return response.json()

    def wait_for_dag(self, dag_id: str, timeout: float = 60.0) -> None:
        """Wait until the dag-processor has serialized ``dag_id``; fail with import errors if any."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            response = self.api.get(f"/dags/{dag_id}/details")
            if response.status_code == 200:
                return
            errors = self.api.get("/importErrors")
            if errors.status_code == 200 and errors.json().get("total_entries"):
                raise DeploymentError(f"DAG import errors: {json.dumps(errors.json())[:3000]}")
            time.sleep(0.5)
        raise DeploymentError(f"DAG {dag_id} was not parsed within {timeout:.0f} s:\n{self.log_tails()}")

    def open_questions(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """The run's Human-in-the-loop requests that nobody has answered yet and whose task waits.

        Only tasks already parked in ``awaiting_input``: the request is written a moment before the
        task parks, and on SQLite (no row locks) an answer in that moment can be recorded without
        resuming the task, which then waits for ever (Airflow 3.3.2; PostgreSQL locks the rows).
        """
        details = self._json("GET", f"/dags/{dag_id}/dagRuns/{run_id}/hitlDetails")["hitl_details"]
        waiting = [d for d in details if not d.get("response_received")]
        return [
            d
            for d in waiting
            if self._json(
                "GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{d['task_instance']['task_id']}"
            )["state"]
            == "awaiting_input"
        ]

    def answer(self, question: Mapping[str, Any], chosen: list[str]) -> None:
        """Answer a Human-in-the-loop request as a reviewer in the UI does (the HITL REST API)."""
        ti = question["task_instance"]
        self._json(
            "PATCH",
            f"/dags/{ti['dag_id']}/dagRuns/{ti['dag_run_id']}/taskInstances/{ti['task_id']}/"
            f"{ti['map_index']}/hitlDetails",
            json={"chosen_options": chosen, "params_input": {}},
            conflict_ok=True,  # a retry after a 5xx that did record the answer: "already answered"
        )

    def fail_run(self, dag_id: str, run_id: str) -> None:
        """Mark a run failed (a test that gives up leaves nothing running in a shared deployment)."""
        self._json("PATCH", f"/dags/{dag_id}/dagRuns/{run_id}", json={"state": "failed"})

    def add_connection(self, conn_id: str, value: str) -> None:
        """Store a connection (``AIRFLOW_CONN_`` JSON) in the metadata database, for every process."""
        fields = json.loads(value)
        body = {
            "connection_id": conn_id,
            "conn_type": fields["conn_type"],
            "host": fields.get("host"),
            "password": fields.get("password"),
            "extra": json.dumps(fields.get("extra") or {}),
        }
        self._json("POST", "/connections", json=body)

    def delete_connection(self, conn_id: str) -> None:
        response = self.api.request("DELETE", f"/connections/{conn_id}")
        if response.status_code >= 400:
            raise DeploymentError(f"DELETE /connections/{conn_id} -> {response.status_code}: {response.text}")

    def trigger(
        self,
        dag_id: str,
        conf: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        wait_for_dag: float = 60.0,
    ) -> str:
        """Unpause ``dag_id`` and start a run with ``conf``; return its run id."""
        self.wait_for_dag(dag_id, wait_for_dag)
        self._json("PATCH", f"/dags/{dag_id}", json={"is_paused": False}, conflict_ok=True)
        # An explicit run id makes a retried POST harmless: its repeat meets the run (409).
        run_id = run_id or f"manual__test_{secrets.token_hex(6)}"
        body: dict[str, Any] = {"logical_date": None, "conf": dict(conf or {}), "dag_run_id": run_id}
        self._json("POST", f"/dags/{dag_id}/dagRuns", json=body, conflict_ok=True)
        return run_id

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self._json("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"])

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 120.0, poll: float = 0.5) -> str:
        """Wait until the run is ``success`` or ``failed``; return that (raise on timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            state = self.run_state(dag_id, run_id)
            if state in FINISHED_RUN_STATES:
                return state
            time.sleep(poll)
        states = {t.label: t.state for t in self.task_instances(dag_id, run_id)}
        raise DeploymentError(f"run {run_id} of {dag_id} not finished in {timeout:.0f} s: {states}")

    def wait_for_runs(self, dag_id: str, run_ids: Iterable[str], timeout: float = 120.0) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        return {
            run_id: self.wait_for_run(dag_id, run_id, max(1.0, deadline - time.monotonic()))
            for run_id in list(run_ids)
        }

    def task_instances(self, dag_id: str, run_id: str) -> list[TaskInstanceReport]:
        """Every task instance of the run: state, try number, and the states of its earlier tries."""
        body = self._json("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 1000})
        reports: list[TaskInstanceReport] = []
        for ti in body["task_instances"]:
            map_index = int(ti.get("map_index", -1))
            path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{ti['task_id']}"
            if map_index >= 0:
                path += f"/{map_index}"
            tries = self._json("GET", f"{path}/tries").get("task_instances", [])
            try_number = int(ti.get("try_number") or 0)
            earlier = [
                t.get("state")
                for t in sorted(tries, key=lambda t: t["try_number"])
                if int(t["try_number"]) < try_number
            ]
            reports.append(
                TaskInstanceReport(
                    ti["task_id"], map_index, ti.get("state"), try_number, earlier, ti.get("hostname")
                )
            )
        return sorted(reports, key=lambda r: (r.task_id, r.map_index))

    def count_in_state(self, state: str, dag_id: str = "~") -> int:
        """How many task instances (of every run of ``dag_id``, or of every DAG) are in ``state`` now."""
        body = self._json(
            "GET", f"/dags/{dag_id}/dagRuns/~/taskInstances", params={"state": state, "limit": 1}
        )
        return int(body.get("total_entries", 0))

    def current_states(self, dag_id: str = "~") -> list[tuple[str, str | None]]:
        """``(task_id, state)`` of every task instance of every run of ``dag_id``, now (one call)."""
        body = self._json("GET", f"/dags/{dag_id}/dagRuns/~/taskInstances", params={"limit": 1000})
        return [(str(ti["task_id"]), ti.get("state")) for ti in body.get("task_instances", [])]

    def deferral_count(self, dag_id: str | None = None) -> int:
        """How many times a task (of ``dag_id``, if given) deferred: logs' "Pausing task as DEFERRED"."""
        count = 0
        logs = self.home / "task-logs"
        for path in (logs / f"dag_id={dag_id}" if dag_id else logs).rglob("attempt=*.log"):
            with contextlib.suppress(OSError):
                count += path.read_text(encoding="utf-8", errors="replace").count("Pausing task as DEFERRED")
        return count

    def xcom(
        self, dag_id: str, run_id: str, task_id: str, map_index: int = -1, key: str = "return_value"
    ) -> Any:
        params: dict[str, Any] = {"deserialize": "true", "stringify": "false"}
        if map_index >= 0:
            params["map_index"] = map_index
        body = self._json(
            "GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}", params=params
        )
        return body.get("value")


@atexit.register
def _stop_all() -> None:
    for deployment in list(_LIVE):
        with contextlib.suppress(Exception):
            deployment.stop()
