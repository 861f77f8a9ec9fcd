#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine: Python deps (the package
# with its `test` extra) and redis-server (the tests start their own servers on loopback ports).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ]; then
    echo "== installing redis-server (apt)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    echo "redis-server is missing: install it (sudo apt-get install redis-server)" >&2
    exit 1
  fi
fi
# The Debian package starts a system server on 6379; the tests never use it.

echo "== installing Python packages"
"$PY" -m pip install -q --disable-pip-version-check -e ".[test]"
