#!/usr/bin/env bash
# The whole test suite, as CI runs it: set-up, lint, types, then pytest over every backend
# (memory, SQLite, fakeredis, a real redis-server and Redis Cluster, moto server for DynamoDB and
# S3). Extra arguments go to pytest (e.g. scripts/test.sh -k conformance).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
bash scripts/setup-test-env.sh

echo "== ruff"
"$PY" -m ruff check .
"$PY" -m ruff format --check .
echo "== mypy"
"$PY" -m mypy
echo "== pytest"
set +e
if [ "${CKV_PROFILE:-}" = "full" ]; then
  "$PY" -m pytest -p no:cacheprovider "$@"
else
  "$PY" -m pytest -p no:cacheprovider -m "not slow" "$@"
fi
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$status"
