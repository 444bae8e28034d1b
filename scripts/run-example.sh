#!/usr/bin/env bash
# The main job: starts the ActiveCampaign emulator, runs the example DAGs end to end with
# `airflow dags test` on a fresh SQLite Airflow, and prints what happened in the emulated account.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
EXTRAS="test" source "$ROOT/scripts/bootstrap.sh"
exec "$VENV/bin/python" "$ROOT/scripts/run_example.py" "$@"
