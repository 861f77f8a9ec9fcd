#!/usr/bin/env bash
# The main job: a real LangGraph graph persisting to the embedded default (SQLite) and
# resuming. Sets up the project-local .venv first (see setup-test-env.sh). Run it twice: the
# second run resumes the first. Same as `make quickstart`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup-test-env.sh quickstart
"$PY" examples/quickstart.py "$@"
