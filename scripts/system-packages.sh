#!/usr/bin/env bash
# The Debian packages whose servers the test suite starts: Chromium (the connection-form browser
# test), redis-server (the shared rate limiter) and PostgreSQL (the deployment tests). Each is
# installed only when missing, and only as root with apt-get; otherwise the tests that need it skip
# (in CI they fail: scripts/test.sh sets AC_REQUIRE_*). Used by scripts/test.sh and .ci/run.
set -euo pipefail
has_postgres() {
  [ -n "${AC_PG_BIN:-}" ] && [ -x "$AC_PG_BIN/initdb" ] && return 0
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && return 0
  command -v initdb >/dev/null 2>&1
}
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
has_postgres || missing+=(postgresql)
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "==> installing ${missing[*]} (Debian packages) for the browser, Redis and deployment tests"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "==> ${missing[*]} not installed and cannot install (not root): the tests that need them skip"
fi
