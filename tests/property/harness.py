"""Run one point of the property suite: a writer, a fault at one request, the retries Airflow makes.

A point is ``(writer, mode, index[, delay])``. Every try runs in a child process
(:mod:`tests.property.runner`) that talks to the emulator through the :class:`HoldingProxy`:

1. try 1, with the fault armed (the proxy SIGKILLs the child, or holds a write and applies it late);
2. try 2 if try 1 did not succeed (same run id, as Airflow's retry: ``retries=1``, no delay);
3. for ``late``: once the held write reached the server and the settle period has passed, a later
   run (the task cleared and run again, same run id), which must resolve what was left ``unknown``;
4. the writer's ``check`` reads the emulator's final state and the task's reports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.property.proxy import Fault, HoldingProxy

if TYPE_CHECKING:
    from activecampaign_emulator.testing import RunningEmulator

    from tests.property.writers import Writer

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "tests" / "property" / "dags"
MODES = ("kill_after", "kill_before", "late", "kill_read")
LATE_DELAYS = (0.5, 3.0, 10.0)
#: The connection's request timeout in ``late`` points: the held write times out after this.
LATE_TIMEOUT = 1.0
#: ``write_settle_seconds`` for the children: above the longest late delay (10 s) minus the
#: timeout, so a write applied late is never read back as "not applied" too early.
SETTLE_SECONDS = 12.0
TRY_TIMEOUT = 300.0


@dataclass(frozen=True)
class Point:
    writer: str
    mode: str  # "clean" or one of MODES
    index: int = 0
    delay: float = 0.0

    @property
    def slug(self) -> str:
        tail = f"-{self.delay:g}s" if self.mode == "late" else ""
        return f"{self.writer}-{self.mode}-{self.index}{tail}"


@dataclass
class Verdict:
    """What the writer's check found in the final state."""

    duplicates: int = 0
    lost: int = 0
    report_problems: list[str] = field(default_factory=list)

    @property
    def report_true(self) -> bool:
        return not self.report_problems


@dataclass
class Cell:
    point: Point
    verdict: Verdict
    tries: list[dict[str, Any]]
    fired: str | None
    writes_seen: int
    reads_seen: int
    seconds: float

    @property
    def ok(self) -> bool:
        """Invariants held, and the fault fired (a point past the writer's last request proves nothing)."""
        fired = self.point.mode == "clean" or self.fired is not None
        return fired and self.verdict.duplicates == 0 and self.verdict.lost == 0 and self.verdict.report_true

    def line(self) -> str:
        v = self.verdict
        problems = "; ".join(v.report_problems)[:300]
        return (
            f"{self.point.writer:<22} {self.point.mode:<11} {self.point.index:>3} "
            f"{(f'{self.point.delay:g}s' if self.point.mode == 'late' else ''):>4} "
            f"dup={v.duplicates:<3} lost={v.lost:<3} report={'true' if v.report_true else 'FALSE':<5} "
            f"{'ok' if self.ok else 'FAIL'}  tries={[t.get('state') for t in self.tries]} "
            f"fired={self.fired} {problems}"
        )


@dataclass
class Context:
    """Where a point runs: the emulator, the proxy, a scratch folder and the conf files' inputs."""

    server: RunningEmulator
    proxy: HoldingProxy
    processes: TaskProcesses
    workdir: Path

    @property
    def client(self) -> Any:
        return self.server.client


class TaskProcesses:
    """The fork server of :mod:`tests.property.runner`: one pre-imported process forks every try.

    Started once (``with TaskProcesses(env) as processes:``) with the environment every try shares;
    each try adds its own (connection through the proxy, journal path, settle period).
    """

    def __init__(self) -> None:
        env = dict(os.environ)
        env["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS)
        env["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = json.dumps(
            [
                {
                    "name": "property",
                    "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                    "kwargs": {"path": str(DAGS), "refresh_interval": 0},
                }
            ]
        )
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        env.pop("AIRFLOW_CONN_ACTIVECAMPAIGN_DEFAULT", None)
        self._env = env
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> TaskProcesses:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.property.runner", "--serve"],
            cwd=ROOT,
            env=self._env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        ready = self._answer()
        if not ready.get("ready"):
            raise RuntimeError(f"the task fork server did not start: {ready}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            try:
                self._process.wait(30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def _answer(self) -> dict[str, Any]:
        assert self._process is not None
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError("the task fork server exited")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def run(self, command: dict[str, Any], proxy: HoldingProxy) -> int:
        """Fork one try; the proxy may kill it. Returns its exit code (-9: SIGKILLed)."""
        assert self._process is not None
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps(command) + "\n")
        self._process.stdin.flush()
        proxy.set_pid(int(self._answer()["pid"]))
        try:
            return int(self._answer()["status"])
        finally:
            proxy.set_pid(None)


def child_env(ctx: Context, writer: Writer, *, timeout: float) -> dict[str, str]:
    """A try's own environment: the connection through the proxy, the journal, the settle period."""
    extra: dict[str, Any] = {
        "requests_per_second": ctx.server.client_requests_per_second(),
        "timeout": timeout,
        **writer.connection_extra(ctx.proxy.url),
    }
    connection = {"conn_type": "activecampaign", "host": ctx.proxy.url, "password": ctx.server.api_key}
    return {
        "AIRFLOW_CONN_ACTIVECAMPAIGN_DEFAULT": json.dumps({**connection, "extra": extra}),
        "AIRFLOW__ACTIVECAMPAIGN__WRITE_JOURNAL_PATH": str(ctx.workdir / "journal"),
        "AIRFLOW__ACTIVECAMPAIGN__WRITE_SETTLE_SECONDS": str(SETTLE_SECONDS),
        "AIRFLOW_PROVIDER_ACTIVECAMPAIGN_RATELIMIT_DIR": str(ctx.workdir / "ratelimit"),
    }


def run_try(
    ctx: Context, writer: Writer, run_id: str, conf_file: Path, env: dict[str, str], *, clear: bool = False
) -> dict[str, Any]:
    """One try in a forked task process; ``{"state": "killed"}`` when the proxy killed it."""
    log = ctx.workdir / f"try-{len(list(ctx.workdir.glob('try-*.log'))) + 1}.log"
    command = {
        "dag_id": writer.dag_id,
        "run_id": run_id,
        "conf": str(conf_file),
        "clear": clear,
        "env": env,
        "log": str(log),
    }
    code = ctx.processes.run(command, ctx.proxy)
    if code == -9:
        return {"state": "killed", "log": str(log)}
    lines = [line for line in log.read_text().splitlines() if line.startswith("RESULT ")]
    if not lines:
        return {"state": f"exit {code}", "log": str(log)}
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    result["log"] = str(log)
    return result


def run_point(
    server: RunningEmulator,
    proxy: HoldingProxy,
    processes: TaskProcesses,
    writer: Writer,
    point: Point,
    workdir: Path,
) -> Cell:
    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    ctx = Context(server=server, proxy=proxy, processes=processes, workdir=workdir)
    proxy.arm(None)
    conf = writer.prepare(ctx)
    conf_file = workdir / "conf.json"
    conf_file.write_text(json.dumps(conf))
    run_id = f"property__{point.slug}__{int(time.time() * 1000)}"
    late = point.mode == "late"
    env = child_env(ctx, writer, timeout=LATE_TIMEOUT if late else writer.timeout)

    fault = None if point.mode == "clean" else Fault(point.mode, point.index, point.delay)
    proxy.arm(fault)
    tries = [run_try(ctx, writer, run_id, conf_file, env)]
    fired, writes_seen, reads_seen = proxy.log.fired, len(proxy.log.writes), proxy.log.reads
    late_at = proxy.log.fired_at or time.monotonic()
    proxy.arm(None)
    if tries[-1]["state"] != "success":
        tries.append(run_try(ctx, writer, run_id, conf_file, env))
    if late and fired:
        proxy.wait_late_applied(point.delay + 30)
        # The later run: after the held write's deadline plus the settle period (as a scheduled run
        # the next day would be); the task cleared and run again, so per-run names stay the same.
        wait = late_at + LATE_TIMEOUT + SETTLE_SECONDS + 0.5 - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        tries.append(run_try(ctx, writer, run_id, conf_file, env, clear=True))
    verdict = writer.check(ctx, conf, tries)
    return Cell(point, verdict, tries, fired, writes_seen, reads_seen, time.monotonic() - started)
