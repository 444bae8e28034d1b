#!/usr/bin/env bash
# Runs the whole test suite: lint, types, unit, integration (emulator over loopback),
# DAG runs (dag.test() on SQLite) and the connection form in a real browser.
# Usage: ./scripts/test.sh [pytest args]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DEV_GROUPS="test,browser,docs" source "$ROOT/scripts/bootstrap.sh"

# The browser test drives Debian's Chromium (browser downloads are not possible here).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing chromium (Debian package) for the connection-form browser test"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "==> chromium not installed and cannot install it (not root): the browser test will skip"
  fi
fi

# The Redis rate-limit backend is tested against a real redis-server (Debian package).
if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing redis-server (Debian package) for the shared rate-limit tests"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    echo "==> redis-server not installed and cannot install it (not root): the Redis tests will skip"
  fi
fi

# In CI a missing browser, Redis or deployment prerequisite is a failure, not a skip. The tests
# start their own redis-server and Airflow processes on loopback ports and stop them.
if [ "${CI:-}" = "true" ]; then
  export AC_REQUIRE_BROWSER=1 AC_REQUIRE_REDIS=1 AC_REQUIRE_DEPLOYMENT=1
fi

# The suite must leave the checkout as it found it (no rewritten image, no stray file): in CI a
# change to a tracked file, or a new file that .gitignore does not cover, fails the run.
before=""
if [ "${CI:-}" = "true" ] && git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  before="$(git -C "$ROOT" status --porcelain)"
fi

echo "==> running the test suite"
status=0
"$VENV/bin/python" -m pytest "$@" || status=$?

if [ "${CI:-}" = "true" ] && git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  after="$(git -C "$ROOT" status --porcelain)"
  if [ "$after" != "$before" ]; then
    echo "==> error: the test suite changed the checkout (write such files to a temporary folder):"
    diff <(printf '%s\n' "$before") <(printf '%s\n' "$after") || true
    [ "$status" -ne 0 ] || status=1
  fi
fi
exit "$status"
