#!/usr/bin/env bash
# The main job: a real LangGraph graph persisting to the embedded default (SQLite) and
# resuming. Installs the package first. Run it twice: the second run resumes the first.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
"$PY" -m pip install -q --disable-pip-version-check -e . langgraph
"$PY" examples/quickstart.py "$@"
