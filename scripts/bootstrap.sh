#!/usr/bin/env bash
# Creates .venv (or $VENV) with the provider installed editable, all its optional extras
# ([sql], [redis], [emulator]: the activecampaign-emulator distribution of ./emulator, editable too) and the developer tools of the dependency groups in $DEV_GROUPS
# (PEP 735 groups of pyproject.toml; default "test"; $EXTRAS is accepted as the old name).
# Sourced by scripts/test.sh and scripts/run-example.sh; safe to run again (fast when up to date).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
DEV_GROUPS="${DEV_GROUPS:-${EXTRAS:-test}}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating virtualenv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
# uv installs dependency groups (`--group`) on every pip version; pip itself needs >= 25.1 for that,
# so it is upgraded too (for anyone who uses pip in this virtualenv afterwards).
if [ ! -x "$VENV/bin/uv" ]; then
  "$VENV/bin/python" -m pip install --quiet --upgrade "pip>=25.1" uv
fi
group_args=()
IFS=',' read -ra _groups <<< "$DEV_GROUPS"
for group in "${_groups[@]}"; do
  [ -n "$group" ] && group_args+=(--group "$ROOT/pyproject.toml:$group")
done
echo "==> installing airflow-provider-activecampaign[sql,redis,emulator,parquet] (the emulator from ./emulator) and the ${DEV_GROUPS} tools into $VENV"
# The [emulator] extra names the activecampaign-emulator distribution, built here from ./emulator.
VIRTUAL_ENV="$VENV" "$VENV/bin/uv" pip install --quiet -e "$ROOT[sql,redis,emulator,parquet]" -e "$ROOT/emulator" "${group_args[@]}"
export PATH="$VENV/bin:$PATH"
