#!/usr/bin/env bash
# The compatibility stage: the unit and integration tests on the LOWEST supported Airflow
# (the newest 3.2.x patch) and the NEWEST supported Python (3.13), in a virtualenv of their own
# (.venv-compat), so the declared range `apache-airflow>=3.2`, Python 3.11-3.13 is tested at both
# ends (the main run, scripts/test.sh, is the newest Airflow on Python 3.11).
# Usage: ./scripts/test-compat.sh [pytest args]   (.ci/run runs it after the main suite)
# Settings: COMPAT_PYTHON (default: python3.13 on PATH, else pyenv's 3.13), COMPAT_AIRFLOW
# (default "apache-airflow>=3.2,<3.3"), COMPAT_VENV (default .venv-compat).
set -euo pipefail
# Python caches each module's bytecode (__pycache__, ignored by git). A machine that sets
# PYTHONDONTWRITEBYTECODE makes every process of the run (each test worker, each Airflow component
# and task process of a deployment) compile Airflow from source again: a third of the suite's CPU.
unset PYTHONDONTWRITEBYTECODE
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${COMPAT_VENV:-$ROOT/.venv-compat}"
AIRFLOW_SPEC="${COMPAT_AIRFLOW:-apache-airflow>=3.2,<3.3}"
PYTHON="${COMPAT_PYTHON:-}"
if [ -z "$PYTHON" ]; then
  # A candidate counts only if it runs and is 3.13: pyenv's shim for python3.13 is on PATH even
  # where no 3.13 is selected, and then fails when run.
  for candidate in "$HOME"/.pyenv/versions/3.13*/bin/python3.13 /root/.pyenv/versions/3.13*/bin/python3.13 \
    /usr/bin/python3.13 /usr/local/bin/python3.13 python3.13; do
    if "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' >/dev/null 2>&1; then
      PYTHON="$candidate"
      break
    fi
  done
fi
if [ -z "$PYTHON" ]; then
  echo "error: Python 3.13 not found; set COMPAT_PYTHON" >&2
  exit 2
fi
started=$(date +%s)
if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating virtualenv $VENV ($("$PYTHON" --version))"
  "$PYTHON" -m venv "$VENV"
fi
if [ ! -x "$VENV/bin/uv" ]; then
  "$VENV/bin/python" -m pip install --quiet --upgrade "pip>=25.1" uv
fi
echo "==> installing the provider, the emulator and the test tools with ${AIRFLOW_SPEC} into $VENV"
VIRTUAL_ENV="$VENV" "$VENV/bin/uv" pip install --quiet -e "$ROOT[sql,redis,emulator]" -e "$ROOT/emulator" \
  --group "$ROOT/pyproject.toml:test" "$AIRFLOW_SPEC" --constraint "$ROOT/.ci/airflow-3.2-constraints.txt"
"$VENV/bin/python" -c 'import sys, airflow; print(f"==> compatibility stage: Airflow {airflow.__version__} on Python {sys.version.split()[0]}")'

# tests/conftest.py gives the run its own Airflow home and database (a fresh temporary folder).
if [ "${CI:-}" = "true" ]; then
  export AC_REQUIRE_REDIS=1
fi
set +e
# Gating: the unit, emulator and integration tests (every module imported and exercised, and every
# operator run through dag.test() against the emulator, on Airflow 3.2 / Python 3.13), on worker
# processes as in the main stage (AC_TEST_WORKERS, default 4; 0 runs them in one process). Tests
# marked `long` (scale, outage, the whole example script: minutes each on Airflow 3.2) run in the main
# stage only; the emulator's own tests too, since the emulator does not depend on Airflow.
# Integration modules that never enter Airflow's own code (they call the hook, a service or an
# operator's execute() straight against the emulator: HTTP, pacing, records and emulator modes) run
# in the main stage only: on 3.2 they would exercise the same Python, and CI must stay within its
# time on 2 cores. Every module that runs dag.test(), a trigger, a sensor, assets, metrics, masking
# or provider discovery still runs here.
AIRFLOW_FREE=(
  test_assumed_account_names test_assumed_contact_writes test_assumed_custom_object_order
  test_assumed_date_filters test_assumed_ecommerce test_assumed_email_case
  test_assumed_import_atomicity test_assumed_webhooks test_audience_sync test_bounded_echo
  test_contacts_export test_contacts_hardening test_contacts_patience test_contacts_sync
  test_export_custom_field_values test_failure_ratio test_hook_http test_names test_removal
  test_webhook_urls
)
IGNORED=()
for module in "${AIRFLOW_FREE[@]}"; do
  IGNORED+=("--ignore=tests/integration/$module.py")
done
WORKERS="${AC_TEST_WORKERS:-4}"
if [ "$WORKERS" = "0" ]; then
  "$VENV/bin/python" -m pytest -p no:cacheprovider -m "not long" "${IGNORED[@]}" \
    tests/unit tests/integration --durations=10 "$@"
else
  "$VENV/bin/python" -m pytest -p no:cacheprovider -n "$WORKERS" --dist worksteal -m "not long" \
    "${IGNORED[@]}" tests/unit tests/integration --durations=10 "$@"
fi
status=$?
set -e
echo "==> compatibility stage took $(( $(date +%s) - started )) s"
exit $status
