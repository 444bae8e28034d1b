#!/usr/bin/env python
"""The main job: the example DAGs, end to end, on a real Airflow, against the ActiveCampaign emulator.

1. A fresh, isolated Airflow home in ``.work/airflow-home`` (SQLite metadata database, no Airflow
   example DAGs, ``dags_examples/`` as the DAG folder) and ``airflow db migrate``.
2. The emulator in a subprocess, its clock running ``--speed`` times faster than real time (60:
   the five-minute welcome series takes five seconds), and the ``activecampaign_default``
   connection pointing at it, paced like a real account at that speed.
3. ``airflow dags test activecampaign_sync_and_welcome 2025-06-15`` (the day after five of the
   customers in ``customers.csv`` signed up), then ``airflow dags test
   activecampaign_weekly_newsletter 2025-06-17``, each in its own process, with its output in
   ``.work/logs/``.
4. A summary of what happened in the emulated account, read from its control API.

It exits non-zero, with the failing task and the end of its log, when anything fails; the emulator
is stopped on every path. ``./scripts/run-example.sh`` installs everything and then runs this file;
any Python environment with Airflow and the provider installed can also run it directly.

Usage: python scripts/run_example.py [--speed 60] [--work-dir .work] [--timeout 300]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
DAGS_FOLDER = ROOT / "dags_examples"
SYNC_DAG = "activecampaign_sync_and_welcome"
NEWSLETTER_DAG = "activecampaign_weekly_newsletter"
#: The sync DAG's run covers 2025-06-14, the day five valid customers of customers.csv signed up.
SYNC_LOGICAL_DATE = "2025-06-15"
#: A Tuesday: the newsletter's logical date, and so its campaign's name.
NEWSLETTER_LOGICAL_DATE = "2025-06-17"
#: The emulated account shows times at UTC-5 all year; campaigns need the account's timezone.
ACCOUNT_TIMEZONE = "Etc/GMT+5"
#: ActiveCampaign's documented limits, per (emulated) second and minute.
REQUESTS_PER_SECOND = 5
IMPORTS_PER_MINUTE = 100
LOG_TAIL_LINES = 40

T = TypeVar("T")


class ExampleFailed(Exception):
    """A step failed; ``log`` is the file with the details."""

    def __init__(self, message: str, log: Path | None = None, details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.log = log
        self.details = list(details)


@dataclass
class DagOutcome:
    dag_id: str
    seconds: float
    log: Path


# --------------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------------


def _raise_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through every ``finally``: the emulator is stopped


def run_logged(command: Sequence[str], log: Path, env: Mapping[str, str], timeout: float) -> float:
    """Run ``command`` with its output in ``log``; return its duration or raise ExampleFailed."""
    started = time.monotonic()
    with log.open("w", encoding="utf-8") as handle:
        process = subprocess.Popen(
            list(command),
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=ROOT,
            start_new_session=True,  # its own process group: stopped as a whole below
        )
        try:
            code = process.wait(timeout)
        except subprocess.TimeoutExpired:
            _stop_group(process)
            raise ExampleFailed(
                f"`{' '.join(command[2:])}` did not finish within {timeout:.0f} s.", log
            ) from None
        except BaseException:
            _stop_group(process)
            raise
    if code != 0:
        raise ExampleFailed(f"`{' '.join(command[2:])}` exited with code {code}.", log)
    return time.monotonic() - started


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group this script started, then SIGKILL it if it lingers."""
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        if process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            continue


def tail(path: Path | None, lines: int = LOG_TAIL_LINES) -> str:
    if path is None or not path.exists():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


# --------------------------------------------------------------------------------------------------
# Airflow
# --------------------------------------------------------------------------------------------------


def airflow_env(home: Path, connection: str, speed: float) -> dict[str, str]:
    """The environment of every Airflow command: nothing inherited from another Airflow set-up."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_")) and key != "AIRFLOW_HOME"
    }
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW_CONN_ACTIVECAMPAIGN_DEFAULT": connection,
            # The DAGs wait and retry on production timescales; the emulated clock runs `speed`
            # times faster, so one emulated minute between checks, five between retries.
            "AIRFLOW__ACTIVECAMPAIGN_EXAMPLES__POLL_SECONDS": f"{max(60.0 / speed, 0.2):g}",
            "AIRFLOW__ACTIVECAMPAIGN_EXAMPLES__RETRY_DELAY_SECONDS": f"{300.0 / speed:g}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def airflow(*args: str) -> list[str]:
    return [sys.executable, "-m", "airflow", *args]


def task_report(home: Path, dag_id: str) -> list[str]:
    """``task: state (tries)`` of the DAG's latest run, read from the metadata database."""
    database = home / "airflow.db"
    if not database.exists():
        return []
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
            rows = conn.execute(
                "SELECT task_id, state, try_number FROM task_instance WHERE dag_id = ? AND run_id = "
                "(SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1) ORDER BY start_date",
                (dag_id, dag_id),
            ).fetchall()
    except sqlite3.Error as error:
        return [f"(could not read task states: {error})"]
    return [f"{task_id}: {state or 'not run'} (try {tries})" for task_id, state, tries in rows]


def run_dag(
    home: Path, env: Mapping[str, str], logs: Path, dag_id: str, *args: str, timeout: float
) -> DagOutcome:
    log = logs / f"{dag_id}.log"
    print(f"==> airflow dags test {dag_id} {' '.join(args)}".rstrip(), flush=True)
    try:
        seconds = run_logged(airflow("dags", "test", dag_id, *args), log, env, timeout)
    except ExampleFailed as error:
        raise ExampleFailed(f"{dag_id} failed: {error}", error.log, task_report(home, dag_id)) from None
    print(f"    success in {seconds:.1f} s", flush=True)
    return DagOutcome(dag_id, seconds, log)


# --------------------------------------------------------------------------------------------------
# The emulated account
# --------------------------------------------------------------------------------------------------


@contextmanager
def emulator(speed: float) -> Iterator[Any]:
    from activecampaign_emulator.testing import start_emulator_process

    print(f"==> starting the ActiveCampaign emulator (clock x{speed:g})", flush=True)
    try:
        process = start_emulator_process(speed=speed)
    except RuntimeError as error:
        raise ExampleFailed(f"The emulator did not start: {error}") from None
    try:
        print(f"    {process.url}", flush=True)
        yield process
    finally:
        process.stop()


def connection_for(url: str, api_key: str, speed: float) -> str:
    from activecampaign_emulator.testing import connection_json

    return connection_json(
        url,
        api_key,
        requests_per_second=REQUESTS_PER_SECOND * speed,
        imports_per_minute=IMPORTS_PER_MINUTE * speed,
        account_timezone=ACCOUNT_TIMEZONE,
    )


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _one(items: list[T], what: str) -> T:
    if len(items) != 1:
        raise ExampleFailed(f"expected one {what}, found {len(items)}: {[str(i) for i in items]}")
    return items[0]


def summarize(
    after_sync: Mapping[str, Any],
    final: Mapping[str, Any],
    requests: Mapping[str, Any],
    reports: Path,
    outcomes: Sequence[DagOutcome],
) -> list[str]:
    """What happened in the emulated account, in a few lines; raises when something is off."""
    lines: list[str] = []
    by_id = {c["id"]: c for c in final["contacts"]}
    synced_before = {c["email"] for c in after_sync["contacts"]}

    # -- DAG 1: sync and welcome ------------------------------------------------------------------
    rejected_path = _one(sorted(reports.glob(f"{SYNC_DAG}/*/rejected_customers.jsonl")), "rejection report")
    rejected = _read_jsonl(rejected_path)
    lists = {item["name"]: item for item in after_sync["lists"]}
    tags = {item["tag"]: item["contacts"] for item in after_sync["tags"]}
    welcome = next(a for a in after_sync["automations"] if a["name"] == "Welcome series")
    enrolments = [e for e in final["enrolments"] if e["automation"] == welcome["id"]]
    twice = {key: n for key, n in final["enrolment_counts"].items() if n > 1}
    completed = sum(1 for e in enrolments if e["status"] == "completed")
    lines += [
        f"{SYNC_DAG} (customers who signed up on 2025-06-14), {outcomes[0].seconds:.0f} s:",
        f"  contacts: {after_sync['counters'].get('contacts_created', 0)} created from "
        f"{len(after_sync['contacts']) + len(rejected)} CSV rows, with their custom fields",
        f"  rejected, not sent: {len(rejected)} rows (the run still succeeded: max_failure_ratio=0.1)",
        *(f"    row {r['row']} {r['email']!r}, {r['field']}: {r['reason']}" for r in rejected),
        f"    report: {_rel(rejected_path)}",
        f"  lists: Customers {lists['Customers']['subscribed']} subscribed; "
        f"tags: customer {tags.get('customer', 0)}, vip {tags.get('vip', 0)}",
        f"  Welcome series: {len(enrolments)} new customers enrolled, {completed} completed it; "
        f"{len(twice)} enrolled twice",
        "    " + ", ".join(sorted(by_id[e["contact"]]["email"] for e in enrolments)),
    ]

    # -- DAG 2: weekly newsletter -----------------------------------------------------------------
    newsletter = next(item for item in final["lists"] if item["name"] == "Newsletter")
    audience = [c for c in final["contacts"] if c["lists"].get(newsletter["id"], {}).get("status") == 1]
    new_readers = [c for c in audience if c["email"] not in synced_before]
    campaigns = [c for c in final["campaigns"] if c["name"].startswith("Weekly newsletter")]
    campaign = _one(campaigns, "newsletter campaign")
    copies: Counter[int] = Counter(campaign["copies_by_contact"].values())
    report_path = _one(sorted(reports.glob(f"{NEWSLETTER_DAG}/*/campaign_report.json")), "campaign report")
    report = json.loads(report_path.read_text(encoding="utf-8"))
    welcome_after = next(a for a in final["automations"] if a["id"] == welcome["id"])
    lines += [
        "",
        f"{NEWSLETTER_DAG}, {outcomes[1].seconds:.0f} s:",
        f"  audience: {len(audience)} on the Newsletter list ({len(new_readers)} new contacts, "
        f"{len(audience) - len(new_readers)} existing customers); welcome series not started for "
        f"them (exclude_automations): {welcome_after['entered'] - welcome['entered']} new enrolments",
        f"  campaign {campaign['id']} {campaign['name']!r}: {campaign['status_name']}, sent to "
        f"{campaign['send_amt']} recipients, started sending {campaign['sends']} time(s), "
        + (
            "each recipient got exactly one copy"
            if set(copies) == {1}
            else f"copies per recipient: {dict(copies)}"
        ),
        f"  report: {report['sends']} sends, {report['unique_opens']} unique opens, "
        f"{report['unique_clicks']} unique clicks, {report['bounces']} bounces, "
        f"{report['unsubscribes']} unsubscribes",
        f"    stored at {_rel(report_path)}",
    ]

    # -- The API ----------------------------------------------------------------------------------
    counts: Mapping[str, int] = requests["counts"]
    total = sum(counts.values())
    limited = sum(n for key, n in counts.items() if key.endswith(" 429"))
    errors = sum(n for key, n in counts.items() if key.rsplit(" ", 1)[-1][:1] in {"4", "5"})
    lines += [
        "",
        f"API: {total} requests, {limited} answered 429 (rate limited), {errors - limited} other errors; "
        f"at most {requests['max_requests_in_any_emulated_second']} in any emulated second "
        f"(the account allows {REQUESTS_PER_SECOND})",
    ]

    problems = []
    if twice:
        problems.append(f"contacts enrolled twice: {twice}")
    if completed != len(enrolments) or not enrolments:
        problems.append(f"{completed} of {len(enrolments)} welcome enrolments completed")
    if campaign["sends"] != 1 or set(copies) != {1}:
        problems.append(
            f"the newsletter was not sent exactly once: {campaign['sends']} sends, copies {copies}"
        )
    if problems:
        raise ExampleFailed("The account does not look as it should: " + "; ".join(problems), details=lines)
    return lines


# --------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------


def run(speed: float, work: Path, timeout: float) -> list[str]:
    home, logs, reports = work / "airflow-home", work / "logs", work / "reports"
    for folder in (home, logs, reports):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    print(f"==> fresh Airflow home {_rel(home)}; airflow db migrate", flush=True)
    base_env = airflow_env(home, "", speed)
    run_logged(airflow("db", "migrate"), logs / "db-migrate.log", base_env, timeout)
    conf = json.dumps({"reports_base": reports.as_uri()})
    with emulator(speed) as account:
        env = airflow_env(home, connection_for(account.url, account.api_key, speed), speed)
        outcomes = [run_dag(home, env, logs, SYNC_DAG, SYNC_LOGICAL_DATE, "--conf", conf, timeout=timeout)]
        after_sync = account.client.state()
        outcomes.append(
            run_dag(home, env, logs, NEWSLETTER_DAG, NEWSLETTER_LOGICAL_DATE, "--conf", conf, timeout=timeout)
        )
        final = account.client.state()
        requests = account.client.requests()
    summary = summarize(after_sync, final, requests, reports, outcomes)
    return [*summary, f"Logs: {_rel(logs)}/  Airflow home: {_rel(home)}"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--speed", type=float, default=60.0, help="emulated seconds per real second")
    parser.add_argument("--work-dir", type=Path, default=ROOT / ".work", help="where Airflow and the logs go")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds each Airflow command may take")
    args = parser.parse_args(argv)
    if args.speed <= 0:
        parser.error("--speed must be positive")
    try:
        import activecampaign_emulator.testing  # noqa: F401
    except ImportError as error:
        print(
            f"error: cannot import the provider ({error}). Run ./scripts/run-example.sh, which installs "
            "it, or use a Python environment where `pip install -e .` was run.",
            file=sys.stderr,
        )
        return 2
    previous = signal.signal(signal.SIGTERM, _raise_on_sigterm)
    started = time.monotonic()
    try:
        summary = run(args.speed, args.work_dir.resolve(), args.timeout)
    except KeyboardInterrupt:
        print("\nInterrupted; the emulator and Airflow were stopped.", file=sys.stderr)
        return 130
    except ExampleFailed as error:
        print(f"\nFAILED: {error}", file=sys.stderr)
        for line in error.details:
            print(f"  {line}", file=sys.stderr)
        if error.log is not None:
            print(f"\nLast lines of {_rel(error.log)}:\n{tail(error.log)}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(f"\nWhat happened in the emulated ActiveCampaign account ({time.monotonic() - started:.0f} s):\n")
    print("\n".join(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
