#!/usr/bin/env bash
# Creates .venv (or $VENV) with the provider installed editable and its test tools.
# Sourced by scripts/test.sh and scripts/run-example.sh; safe to run again (fast when up to date).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating virtualenv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
if [ ! -x "$VENV/bin/uv" ]; then
  "$VENV/bin/python" -m pip install --quiet --upgrade pip uv
fi
echo "==> installing airflow-provider-activecampaign and ${EXTRAS:-test} tools into $VENV"
VIRTUAL_ENV="$VENV" "$VENV/bin/uv" pip install --quiet -e "$ROOT[${EXTRAS:-test}]"
export PATH="$VENV/bin:$PATH"
