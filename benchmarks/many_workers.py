"""Many Celery workers, one ActiveCampaign account: does the rate limit hold across machines?

A real Airflow 3 deployment (``tests/deployment/harness.py``): CeleryExecutor with ``--workers``
Celery workers (default 3), Redis as broker and result backend, PostgreSQL metadata database,
scheduler, dag-processor, triggerer and api-server, all on 127.0.0.1. Every worker has its own
``AIRFLOW_PROVIDER_ACTIVECAMPAIGN_RATELIMIT_DIR``, as if it ran on its own machine. One DAG run fans
out ``--tasks`` mapped ``ActiveCampaignSyncContactsOperator`` tasks (``--contacts`` each, from JSON
Lines files, waiting in the worker for their imports) against one emulated account (emulator
subprocess, speed 1, 5 requests/s limit on, the importer's 100 imports/min).

``--backend local`` is today's default (each machine shares its own window only); ``--backend
redis`` gives every process ``AIRFLOW__ACTIVECAMPAIGN__RATE_LIMIT_BACKEND=redis://127.0.0.1:<port>/1``
(the harness's Redis, database 1). ``--retries N`` sets the tasks' retries.

``--outage stop|freeze`` (with ``--backend redis``) puts the rate-limit window in a Redis of its own
(not the Celery broker's) and, ``--outage-after`` seconds after the account's first API request, stops it
(then starts it again, empty) or freezes it (``SIGSTOP``, then ``SIGCONT``) for
``--outage-seconds``: each host must then pace at its share of the budget (see
docs/deployment.md, "When Redis is down").

Printed (figures, nothing asserted), from the emulator's request log and state:

- accepted requests/s / 5 over the busy period (first to last API request; accepted = neither a
  429 nor the importer's "Rate limit exceeded." 400),
- 429s, and importer 400 "Rate limit exceeded." answers,
- most requests admitted in any 1 s window (real time, sliding),
- tasks ok / total (and how many tries they took),
- contacts lost (expected emails missing from the account) and duplicated (an email on more than
  one contact), and bulk imports made vs needed (a resubmitted batch shows here).

Run: ``python benchmarks/many_workers.py --backend local|redis [--outage stop|freeze] [--retries 0]
[--workers 3] [--tasks 6] [--contacts 2000] [--keep]`` (about 2-4 minutes; needs redis-server, PostgreSQL
binaries, psycopg2-binary, apache-airflow-providers-celery and redis).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.deployment.harness import Deployment, missing_requirements  # noqa: E402

DAG_FILE = ROOT / "tests" / "deployment" / "dags" / "deployment_many_workers.py"
DAG_ID = "deployment_many_workers"
ACCOUNT_LIMIT = 5
RATE_LIMIT_MESSAGE = "Rate limit exceeded."


def _seed(contacts_per_second: float) -> dict[str, Any]:
    from activecampaign_emulator.seed import default_seed

    seed = default_seed()
    seed["importer"] = {
        **seed["importer"],
        "queue_delay_seconds": 1,
        "contacts_per_second": contacts_per_second,
    }
    return seed


def _write_sources(folder: Path, tasks: int, contacts: int) -> tuple[list[str], list[str]]:
    paths, emails = [], []
    for t in range(tasks):
        path = folder / f"contacts-{t}.jsonl"
        with path.open("w", encoding="utf-8") as handle:
            for n in range(contacts):
                email = f"w{t}.{n}@example.com"
                emails.append(email)
                handle.write(json.dumps({"email": email, "first_name": f"T{t}", "last_name": f"N{n}"}) + "\n")
        paths.append(str(path))
    return paths, emails


def _max_in_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best = left = 0
    for right, t in enumerate(times):
        while times[left] <= t - window:
            left += 1
        best = max(best, right - left + 1)
    return best


def _import_rate_limited(entry: dict[str, Any]) -> bool:
    return entry["status"] == 400 and entry["template"].endswith("/import/bulk_import")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from activecampaign_emulator.testing import connection_json, start_emulator_process

    missing = missing_requirements("celery")
    if missing:
        raise SystemExit("This benchmark needs " + "; ".join(missing))
    work = Path(tempfile.mkdtemp(prefix="ac-bench-many-workers-"))
    paths, emails = _write_sources(work, args.tasks, args.contacts)
    env = {
        "AC_BENCH_RETRIES": str(args.retries),
        "AC_BENCH_POLL_INTERVAL": str(args.poll_interval),
        "AC_BENCH_SYNC_BELOW": str(args.sync_below),
        "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
    }
    limits_redis = None
    if args.backend == "redis" and args.outage:
        from tests.helpers.redis_server import redis_server

        limits_redis = redis_server()
        server = limits_redis.__enter__()
        atexit.register(server.stop)  # also when the deployment fails to start
        env["AIRFLOW__ACTIVECAMPAIGN__RATE_LIMIT_BACKEND"] = server.url
    elif args.backend == "redis":
        env["AIRFLOW__ACTIVECAMPAIGN__RATE_LIMIT_BACKEND"] = "{redis_url}/1"
    started = time.monotonic()
    outage: dict[str, float] = {}
    with start_emulator_process(seed=_seed(args.importer_speed), speed=1, rate_limit=True) as emulator:
        connection = connection_json(
            emulator.url, emulator.api_key, requests_per_second=ACCOUNT_LIMIT, imports_per_minute=100
        )
        with Deployment(
            dag_files=[DAG_FILE],
            executor="celery",
            workers=args.workers,
            worker_concurrency=args.concurrency,
            connections={"activecampaign_default": connection},
            env=env,
            home=work / "airflow",
            keep_home=args.keep,
            startup_timeout=300,  # a loaded 2-core machine starts the api-server slowly
        ) as deployment:
            up = time.monotonic() - started
            print(f"deployment up in {up:.0f} s ({deployment.home}); triggering", flush=True)
            run_id = deployment.trigger(DAG_ID, conf={"paths": paths, "failures_dir": str(work / "failures")})
            if limits_redis is not None:
                threading.Thread(
                    target=_outage, args=(server, emulator.client, args, outage), daemon=True
                ).start()
            try:
                state = deployment.wait_for_run(DAG_ID, run_id, timeout=args.timeout)
            except Exception as error:  # a figure, not a crash: report what finished
                print(f"run did not finish: {error}", flush=True)
                state = "timeout"
            tis = [t for t in deployment.task_instances(DAG_ID, run_id) if t.task_id == "sync"]
            per_worker = {
                name: deployment.grep_logs("execute_workload", [name]).__len__()
                for name in (f"worker{n}" for n in range(args.workers))
            }
        log = emulator.client.requests()
        account = emulator.client.state()
    if limits_redis is not None:
        if server.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(server.process.pid, signal.SIGCONT)
        limits_redis.__exit__(None, None, None)
    entries = [e for e in log["requests"] if e["path"].startswith("/api/3/")]
    limited = [e for e in entries if e["status"] == 429]
    import_limited = [e for e in entries if _import_rate_limited(e)]
    accepted = [e for e in entries if e["status"] != 429 and not _import_rate_limited(e)]
    times = [e["real_time"] for e in entries]
    busy = (max(times) - min(times)) if len(times) > 1 else float("nan")
    present = Counter(c["email"] for c in account["contacts"])
    expected = set(emails)
    full, rest = divmod(args.contacts, 250)  # a last batch below sync_below goes through contact/sync
    batches_needed = args.tasks * (full + (1 if rest and rest >= args.sync_below else 0))
    in_outage = [
        e
        for e in accepted
        if outage and outage["start"] <= e["real_time"] <= outage.get("end", outage["start"])
    ]
    return {
        "backend": args.backend
        + (f", Redis {args.outage} {args.outage_seconds:.0f} s" if args.outage else ""),
        "outage_429s": sum(
            1 for e in limited if outage and outage["start"] <= e["real_time"] <= outage.get("end", 0) + 10
        ),
        "outage_accepted_ratio": (
            len(in_outage) / (outage["end"] - outage["start"]) / ACCOUNT_LIMIT
            if outage.get("end")
            else float("nan")
        ),
        "retries": args.retries,
        "run_state": state,
        "busy_s": busy,
        "requests": len(entries),
        "accepted": len(accepted),
        "accepted_ratio": (len(accepted) / busy / ACCOUNT_LIMIT) if busy and busy == busy else float("nan"),
        "429s": len(limited),
        "import_400s": len(import_limited),
        "max_admitted_1s": _max_in_window([e["real_time"] for e in accepted]),
        "max_arrived_1s": _max_in_window(times),
        "tasks_ok": sum(t.state == "success" for t in tis),
        "tasks": len(tis) or args.tasks,
        "tries": sorted(t.try_number for t in tis),
        "lost": len(expected - set(present)),
        "duplicated": sum(1 for email, n in present.items() if n > 1),
        "imports": sum(1 for e in accepted if e["template"].endswith("/import/bulk_import")),
        "imports_needed": batches_needed,
        "per_worker": per_worker,
        "total_s": time.monotonic() - started,
    }


def _outage(server: Any, client: Any, args: argparse.Namespace, outage: dict[str, float]) -> None:
    """Stop (then restart, empty) or freeze (then thaw) the rate-limit Redis, mid-run.

    ``--outage-after`` counts from the first API request the account receives (tasks take a while
    to start), so that the outage falls while the tasks are sending.
    """
    while not client.requests()["requests"]:
        time.sleep(1.0)
    time.sleep(args.outage_after)
    outage["start"] = time.time()
    if args.outage == "stop":
        server.stop()
        time.sleep(args.outage_seconds)
        server.start()
    else:
        pid = server.process.pid
        os.kill(pid, signal.SIGSTOP)
        time.sleep(args.outage_seconds)
        os.kill(pid, signal.SIGCONT)
    outage["end"] = time.time()
    print(f"Redis {args.outage} for {args.outage_seconds:.0f} s: over", flush=True)


def _print_table(result: dict[str, Any]) -> None:
    rows = [
        ("backend", result["backend"], "local = per-machine windows (today); redis = one shared window"),
        ("run", result["run_state"], f"task retries {result['retries']}"),
        ("busy period", f"{result['busy_s']:.1f} s", "first to last API request"),
        (
            "accepted req/s / 5",
            f"{result['accepted_ratio']:.2f}",
            f"{result['accepted']} accepted of {result['requests']} API requests",
        ),
        ("429 answers", result["429s"], "the account's 5 requests/s exceeded"),
        (
            "outage",
            f"{result['outage_accepted_ratio']:.2f} of 5/s, {result['outage_429s']} x 429",
            "while Redis was away (429s: until 10 s after it came back)",
        ),
        ("importer 400s", result["import_400s"], f"{RATE_LIMIT_MESSAGE!r} (100 imports/min exceeded)"),
        (
            "max admitted in 1 s",
            result["max_admitted_1s"],
            f"account allows {ACCOUNT_LIMIT}; arrivals incl. refused: {result['max_arrived_1s']}",
        ),
        ("tasks ok", f"{result['tasks_ok']}/{result['tasks']}", f"tries per task: {result['tries']}"),
        ("contacts lost", result["lost"], "expected emails missing from the account"),
        ("contacts duplicated", result["duplicated"], "emails on more than one contact"),
        (
            "bulk imports",
            f"{result['imports']} / {result['imports_needed']}",
            "accepted / needed (more = batches resubmitted)",
        ),
        ("tasks per worker", result["per_worker"], "Celery workloads received per worker"),
        ("wall time", f"{result['total_s']:.0f} s", "start-up included"),
    ]
    width = max(len(str(name)) for name, _, _ in rows)
    value_width = max(len(str(value)) for _, value, _ in rows)
    print()
    for name, value, note in rows:
        print(f"{name:<{width}}  {value!s:<{value_width}}  {note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("local", "redis"), default="local")
    parser.add_argument("--retries", type=int, default=0)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=2, help="task slots per Celery worker")
    parser.add_argument("--tasks", type=int, default=6)
    parser.add_argument("--contacts", type=int, default=2000, help="contacts per mapped task")
    parser.add_argument("--poll-interval", type=float, default=1.0, help="the syncs' poll_interval")
    parser.add_argument(
        "--sync-below",
        type=int,
        default=0,
        help="the syncs' sync_below: 251 sends every contact through contact/sync, one request each, so "
        "the tasks together ask for more than the account's 5 requests/s (a saturating load)",
    )
    parser.add_argument(
        "--importer-speed",
        type=float,
        default=250.0,
        help="emulated importer contacts/s (ActiveCampaign does not document it)",
    )
    parser.add_argument("--outage", choices=("stop", "freeze"), help="take the rate-limit Redis away mid-run")
    parser.add_argument(
        "--outage-after", type=float, default=20.0, help="seconds after the first API request"
    )
    parser.add_argument("--outage-seconds", type=float, default=20.0)
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds to wait for the DAG run")
    parser.add_argument("--keep", action="store_true", help="keep the deployment's home and logs")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args(argv)
    result = run(args)
    _print_table(result)
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
