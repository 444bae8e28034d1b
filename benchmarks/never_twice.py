"""Every writer killed at every write (and at sampled reads), and writes applied late: the table.

For each registered writer (``tests/property/writers.py``) a clean run counts its writes and reads
through the holding proxy; then every point runs: SIGKILL after the server applied write N (answer
held), SIGKILL before write N was forwarded, write N applied 0.5 s / 3 s / 10 s after the client
timed out (then a later run once the settle period passed), SIGKILL at sampled reads. Each point is
retried as Airflow does (same run id, try 2) and judged from the emulator's final state. Prints
``writer x point x mode -> duplicates / lost / report true``; exits 1 if any cell fails.

    python benchmarks/never_twice.py                    # every writer, every point (long)
    python benchmarks/never_twice.py --sample           # the CI sample (tests/property, not slow)
    python benchmarks/never_twice.py --wide             # every writer in every mode, one point each
    python benchmarks/never_twice.py --writers events,deals --modes kill_after
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _airflow_home() -> None:
    home = Path(os.environ.get("AC_PROPERTY_AIRFLOW_HOME") or tempfile.mkdtemp(prefix="ac-property-home-"))
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
    os.environ.pop("AIRFLOW_CONN_ACTIVECAMPAIGN_DEFAULT", None)
    os.environ["AIRFLOW__ACTIVECAMPAIGN__TRIGGER_FIRST_CHECK_AFTER"] = "0"
    if not (home / ".migrated").exists():
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
        (home / ".migrated").touch()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sample", action="store_true", help="only the CI sample")
    parser.add_argument("--wide", action="store_true", help="every writer in every mode, one point each")
    parser.add_argument("--writers", help="comma-separated writer names (default: all)")
    parser.add_argument("--modes", help="comma-separated modes (default: all)")
    parser.add_argument("--max-index", type=int, default=0, help="only writes/reads up to this index")
    args = parser.parse_args()
    _airflow_home()

    from activecampaign_emulator.testing import running_emulator

    from tests.property.harness import Point, TaskProcesses, run_point
    from tests.property.points import all_points, sample_points, wide_points
    from tests.property.proxy import HoldingProxy
    from tests.property.writers import WRITERS

    names = args.writers.split(",") if args.writers else list(WRITERS)
    modes = set(args.modes.split(",")) if args.modes else None
    scratch = Path(tempfile.mkdtemp(prefix="ac-property-"))
    failed = 0
    print(f"{'writer':<22} {'mode':<11} {'pt':>3} {'late':>4} result")
    with running_emulator() as server, HoldingProxy(server.url) as proxy, TaskProcesses() as processes:
        for name in names:
            writer = WRITERS[name]
            if args.sample or args.wide:
                points = [p for p in (sample_points() if args.sample else wide_points()) if p.writer == name]
            else:
                clean = run_point(
                    server, proxy, processes, writer, Point(name, "clean"), scratch / f"{name}-clean"
                )
                print(clean.line(), flush=True)
                failed += not clean.ok
                points = all_points(writer, clean.writes_seen, clean.reads_seen)
            for point in points:
                if modes and point.mode not in modes:
                    continue
                if args.max_index and point.index > args.max_index:
                    continue
                cell = run_point(server, proxy, processes, writer, point, scratch / point.slug)
                print(cell.line(), flush=True)
                failed += not cell.ok
    print(f"\n{failed} failing cell(s); logs under {scratch}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
