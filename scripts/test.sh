#!/usr/bin/env bash
# Runs the whole test suite: lint, types, unit, integration (emulator over loopback),
# DAG runs (dag.test() on SQLite), the connection form in a real browser, and the deployment tests
# (real scheduler, triggerer, api-server) on PostgreSQL, then a SQLite smoke run of them.
# Usage: ./scripts/test.sh [pytest args]
set -euo pipefail
# Python caches each module's bytecode (__pycache__, ignored by git). A machine that sets
# PYTHONDONTWRITEBYTECODE makes every process of the run (each test worker, each Airflow component
# and task process of a deployment) compile Airflow from source again: a third of the suite's CPU.
unset PYTHONDONTWRITEBYTECODE
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DEV_GROUPS="test,browser,docs,deployment" source "$ROOT/scripts/bootstrap.sh"

# Chromium (the browser test), redis-server (the shared limiter) and PostgreSQL (the deployment
# tests) from Debian, where missing (browser downloads are not possible here).
"$ROOT/scripts/system-packages.sh"
if [ -z "${AC_DEPLOYMENT_DATABASE:-}" ]; then
  if "$VENV/bin/python" -c "import sys; from tests.deployment.harness import missing_requirements; sys.exit(bool(missing_requirements('local', 'postgres')))"; then
    export AC_DEPLOYMENT_DATABASE=postgres
  else
    export AC_DEPLOYMENT_DATABASE=sqlite
  fi
fi

# In CI a missing browser, Redis or deployment prerequisite is a failure, not a skip. The tests
# start their own redis-server, PostgreSQL and Airflow processes on loopback ports and stop them.
if [ "${CI:-}" = "true" ]; then
  export AC_REQUIRE_BROWSER=1 AC_REQUIRE_REDIS=1 AC_REQUIRE_DEPLOYMENT=1
  if [ "$AC_DEPLOYMENT_DATABASE" != "postgres" ]; then
    echo "==> CI runs the deployment tests on PostgreSQL, and it is missing:" >&2
    "$VENV/bin/python" -c "from tests.deployment.harness import missing_requirements; print('; '.join(missing_requirements('local', 'postgres')))"
    exit 1
  fi
fi

# The suite must leave the checkout as it found it (no rewritten image, no stray file): in CI a
# change to a tracked file, or a new file that .gitignore does not cover, fails the run.
before=""
if [ "${CI:-}" = "true" ] && git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  before="$(git -C "$ROOT" status --porcelain)"
fi

# Most of the suite's time is waiting (the emulator paces its answers as ActiveCampaign does; Airflow
# starts each task of a dag.test() run a second or more after the last), so it runs on several
# worker processes (pytest-xdist; each has its own Airflow home, metadata database, emulator and rate
# windows). The deployment tests then run on two workers, a test file on each at a time
# (AC_DEPLOYMENT_WORKERS, default 2): each worker starts its own Airflow deployments (scheduler,
# dag-processor, triggerer, api-server, a PostgreSQL cluster, an emulator) on free loopback ports,
# and each deployment mostly waits on its scheduler's loops, so two keep 2 cores busy where one
# leaves them idle half the time. AC_TEST_WORKERS=0 runs everything in one process, in order.
WORKERS="${AC_TEST_WORKERS:-4}"
echo "==> running the test suite on ${WORKERS} worker processes (deployment tests on $AC_DEPLOYMENT_DATABASE)"
status=0
if [ "$WORKERS" = "0" ]; then
  "$VENV/bin/python" -m pytest "$@" || status=$?
else
  "$VENV/bin/python" -m pytest -n "$WORKERS" --dist worksteal -m "not deployment" --durations=25 "$@" || status=$?
  if [ "$status" -eq 0 ]; then
    DEPLOYMENT_WORKERS="${AC_DEPLOYMENT_WORKERS:-2}"
    echo "==> the deployment tests, on ${DEPLOYMENT_WORKERS} worker processes"
    # Exit code 5 (nothing collected) is not a failure: the arguments named no deployment test.
    "$VENV/bin/python" -m pytest -p no:cacheprovider -m deployment -n "$DEPLOYMENT_WORKERS" --dist loadfile \
      --durations=15 "$@" \
      || { code=$?; [ "$code" -eq 5 ] || status=$code; }
  fi
fi
if [ "$status" -eq 0 ] && [ "$AC_DEPLOYMENT_DATABASE" = "postgres" ]; then
  # A cheap smoke run of the SQLite shape (Airflow's default for a first try): one deployment.
  echo "==> deployment smoke run on SQLite"
  AC_DEPLOYMENT_DATABASE=sqlite "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/deployment/test_export_assets.py || status=$?
fi

if [ "${CI:-}" = "true" ] && git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  after="$(git -C "$ROOT" status --porcelain)"
  if [ "$after" != "$before" ]; then
    echo "==> error: the test suite changed the checkout (write such files to a temporary folder):"
    diff <(printf '%s\n' "$before") <(printf '%s\n' "$after") || true
    [ "$status" -ne 0 ] || status=1
  fi
fi
exit "$status"
