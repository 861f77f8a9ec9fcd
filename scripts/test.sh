#!/usr/bin/env bash
# The whole test suite, as CI runs it: set-up, lint, types, then pytest over every backend
# (memory, SQLite, fakeredis, a real redis-server and Redis Cluster, moto server for DynamoDB and
# S3). Extra arguments go to pytest (e.g. scripts/test.sh -k conformance). Python: see
# scripts/setup-test-env.sh (a project-local .venv unless one is active or PY=... is given).
#
# Profiles: the default (CI) runs the heavy sweeps (fault, byte-flip and model sweeps) on the fast
# backends and everything else - contract, scenarios, the option matrix - on every backend;
# CKV_PROFILE=full runs the heavy sweeps on every backend too.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
# shellcheck source=scripts/setup-test-env.sh
. scripts/setup-test-env.sh test

echo "== ruff"
"$PY" -m ruff check .
"$PY" -m ruff format --check .
echo "== mypy"
"$PY" -m mypy
echo "== pytest"
# Two workers (pytest-xdist) by default: half the suite waits on servers (moto, redis-server,
# subprocesses), so two processes finish in about half the time on two cores. Every fixture
# picks free ports and its own file/prefix/table, and each worker starts its own servers.
# CKV_WORKERS=1 runs in one process (e.g. to read a failure's output in order).
workers=(-n "${CKV_WORKERS:-2}")
[ "${CKV_WORKERS:-2}" = 1 ] && workers=()
set +e
if [ "${CKV_PROFILE:-}" = "full" ]; then
  "$PY" -m pytest -p no:cacheprovider --durations=25 "${workers[@]}" "$@"
else
  "$PY" -m pytest -p no:cacheprovider --durations=25 -m "not slow" "${workers[@]}" "$@"
fi
status=$?
set -e
echo "== test.sh took $(($(date +%s) - started)) s"
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$status"
