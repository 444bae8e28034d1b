"""Plan -> approval -> apply on a real deployment: does every run end as the reviewer decided?

Starts a real Airflow deployment (``tests/deployment/harness.py``: LocalExecutor, scheduler,
dag-processor, triggerer, api-server; ``--database postgres|sqlite``) on the DAG
``tests/deployment/dags/shared/shared_audience_approval.py`` and an emulator process, triggers
``--per-cell`` runs for each answer pace (the moment the question appears, the moment the task
parked, 5 s after it parked) and decision (approve, reject), answers each through the HITL REST API
as a reviewer's click does, and prints pace x decision -> outcome, with the states the approval
task ended in (FAILED there is apache/airflow#72716; the run must still end as decided).

Run: ``python benchmarks/approval_paces.py [--database postgres] [--per-cell 4]`` (a few minutes;
PostgreSQL needs its server binaries and psycopg2-binary).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.deployment.approval_runs import DECISIONS, PACES, drive, judge, new_run, table  # noqa: E402
from tests.deployment.conftest import SHARED_DAGS  # noqa: E402
from tests.deployment.harness import Deployment, missing_requirements  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--per-cell", type=int, default=4, help="runs per pace and decision")
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args(argv)
    missing = missing_requirements("local", args.database)
    if missing:
        raise SystemExit("This benchmark needs " + "; ".join(missing))
    from activecampaign_emulator.testing import connection_json, start_emulator_process

    work = Path(tempfile.mkdtemp(prefix="ac-bench-approval-"))
    started = time.monotonic()
    with start_emulator_process(speed=1, rate_limit=True) as emulator:
        connection = connection_json(emulator.url, emulator.api_key, requests_per_second=5)
        with Deployment(
            dags_folder=SHARED_DAGS,
            executor="local",
            database=args.database,
            connections={"activecampaign_default": connection},
            env={"AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL": "1"},
            home=work / "airflow",
        ) as deployment:
            up = time.monotonic() - started
            runs = [
                new_run(pace, decision, work)
                for _ in range(args.per_cell)
                for pace in PACES
                for decision in DECISIONS
            ]
            began = time.monotonic()
            drive(deployment, runs, timeout=args.timeout)
            contacts = emulator.client.state()["contacts"]
            for run in runs:
                judge(deployment, contacts, run)
            spurious = len(deployment.spurious_finish_reports("shared_audience_approval"))
    print(
        f"\n{args.database}: {len(runs)} runs in {time.monotonic() - began:.0f} s "
        f"(deployment up in {up:.0f} s)"
    )
    print(table(runs))
    print(f"scheduler lines of apache/airflow#72716 (spurious 'finished' reports): {spurious}")
    print(f"ended as decided: {sum(r.as_decided for r in runs)}/{len(runs)}")
    return 0 if all(r.as_decided for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
