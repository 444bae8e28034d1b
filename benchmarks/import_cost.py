"""Import cost of the hook module, compared with Airflow's own HTTP provider hook.

Method: every measurement is a fresh Python process that first imports ``airflow.sdk`` (the
baseline every provider hook pays anyway, not timed), then times ``import <module>`` with
``time.perf_counter``. That difference is the module's own import cost: its code plus whatever
it pulls in that ``airflow.sdk`` did not. Each module is measured in 7 processes, alternating
the two modules so that disk-cache and CPU-frequency drift hit both alike; the medians are
compared. The ratio ours / http must be <= 1.0.

Afterwards one ``python -X importtime`` run lists the heaviest modules our import adds, which is
where to look for something to import lazily.

Needs ``apache-airflow-providers-http`` (a benchmark-only dependency):
``VIRTUAL_ENV=/work/venv /work/venv/bin/uv pip install apache-airflow-providers-http``.

Run: ``python benchmarks/import_cost.py`` (exit code 0 when the ratio is <= 1.0).
"""

from __future__ import annotations

import importlib.util
import os
import re
import statistics
import subprocess
import sys
import tempfile

OURS = "airflow_provider_activecampaign.hooks.activecampaign"
HTTP = "airflow.providers.http.hooks.http"
BASELINE = "airflow.sdk"
RUNS = 7

TIMER = f"""
import importlib, time
import {BASELINE}
start = time.perf_counter()
importlib.import_module({{module!r}})
print(time.perf_counter() - start)
"""


def _env() -> dict[str, str]:
    env = os.environ.copy()
    env.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="ac-import-cost-"))
    env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    return env


def measure(module: str, env: dict[str, str]) -> float:
    result = subprocess.run(
        [sys.executable, "-c", TIMER.format(module=module)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return float(result.stdout.strip().splitlines()[-1])


def heaviest_additions(module: str, env: dict[str, str], count: int = 12) -> list[tuple[float, str]]:
    """Top-level modules (by cumulative import time) that ``module`` adds after the baseline."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {BASELINE}; import {module}"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    rows = []
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if match:
            rows.append((int(match.group(1)), len(match.group(2)), match.group(3)))
    baseline_done = max(i for i, (_, depth, name) in enumerate(rows) if name == BASELINE and depth == 1)
    added = rows[baseline_done + 1 :]
    # Depth 2-3 entries: the packages the module itself (and its direct imports) pulled in.
    shallow = [(cumulative / 1e6, name) for cumulative, depth, name in added if 2 <= depth <= 3]
    return sorted(shallow, reverse=True)[:count]


def main() -> int:
    if importlib.util.find_spec("airflow.providers.http") is None:
        print(
            "apache-airflow-providers-http is not installed, so there is nothing to compare with.\n"
            "Install it for this benchmark only:\n"
            "  VIRTUAL_ENV=/work/venv /work/venv/bin/uv pip install apache-airflow-providers-http",
            file=sys.stderr,
        )
        return 2
    env = _env()
    measure(OURS, env)  # warm the disk cache and .pyc files for both, untimed
    measure(HTTP, env)
    times: dict[str, list[float]] = {OURS: [], HTTP: []}
    for run in range(RUNS):
        order = (OURS, HTTP) if run % 2 == 0 else (HTTP, OURS)
        for module in order:
            times[module].append(measure(module, env))
    ours, http = statistics.median(times[OURS]), statistics.median(times[HTTP])
    ratio = ours / http
    print(f"Import cost over a process that already imported {BASELINE} (median of {RUNS} processes):")
    for module in (OURS, HTTP):
        samples = ", ".join(f"{t * 1000:.0f}" for t in times[module])
        print(f"  {module:55s} {statistics.median(times[module]) * 1000:7.1f} ms   [{samples}]")
    print(f"  ratio ours / http: {ratio:.2f}  (must be <= 1.00)  -> {'PASS' if ratio <= 1.0 else 'FAIL'}")
    print(f"\nHeaviest modules {OURS} adds (cumulative, one -X importtime run):")
    for seconds, name in heaviest_additions(OURS, env):
        print(f"  {seconds * 1000:7.1f} ms  {name}")
    return 0 if ratio <= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
