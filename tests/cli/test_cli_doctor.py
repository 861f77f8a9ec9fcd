"""``checkpoint-kv doctor`` asks the port only: a store's optional ``info()`` gives the facts
and the problems (failed checks, exit code 6); a store without it passes with "not reported";
a backend's module name or ``client`` attribute is never looked at (issue 14). Stores here are
registered under test schemes, so no server is needed."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from checkpoint_kv import registry
from checkpoint_kv.backends.memory import MemoryKV
from checkpoint_kv.cli import EXIT_CHECK_FAILED, EXIT_OK, main


class _Described(MemoryKV):
    """A third-party store that describes itself, with one misconfiguration."""

    def info(self) -> dict[str, Any]:
        return {
            "server_version": "Acme KV 9.1",
            "ttl": "on: 60 s",
            "shards": 3,
            "problems": [
                {"check": "replicas", "detail": "one replica is down", "fix": "start replica 2"}
            ],
        }


class _Silent:
    """A store without ``info()`` whose module looks like the built-in Redis backend's and
    which has no ``client``: doctor must neither guess from the name nor reach for a client."""

    __module__ = "somewhere.backends.redis"

    def __init__(self) -> None:
        self._inner = MemoryKV()

    def __getattr__(self, name: str) -> Any:
        if name in ("info", "client"):
            raise AttributeError(name)
        return getattr(self._inner, name)


@pytest.fixture(autouse=True)
def _schemes() -> Iterator[None]:
    registry.register("described", lambda url, **kw: _Described())
    registry.register("silent", lambda url, **kw: _Silent())
    yield
    registry._REGISTERED.pop("described", None)
    registry._REGISTERED.pop("silent", None)


def _doctor(*argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["doctor", *argv], stdout=out, stderr=err)
    assert not err.getvalue(), err.getvalue()
    return code, out.getvalue()


def test_info_facts_and_problems() -> None:
    code, out = _doctor("--json", "described://x")
    assert code == EXIT_CHECK_FAILED
    doc = json.loads(out)
    checks = {c["check"]: c for c in doc["checks"]}
    assert doc["ok"] is False
    assert checks["server"] == {"check": "server", "ok": True, "detail": "Acme KV 9.1"}
    assert checks["ttl"]["detail"] == "on: 60 s"
    assert checks["shards"] == {"check": "shards", "ok": True, "detail": 3}
    assert checks["replicas"] == {
        "check": "replicas",
        "ok": False,
        "detail": "one replica is down",
        "fix": "start replica 2",
    }
    assert "problems" not in checks
    code, human = _doctor("described://x")
    assert code == EXIT_CHECK_FAILED
    assert "FAIL replicas" in human and "fix: start replica 2" in human


def test_no_info_is_not_reported_whatever_the_module_name() -> None:
    code, out = _doctor("--json", "silent://x")
    assert code == EXIT_OK, out
    checks = {c["check"]: c for c in json.loads(out)["checks"]}
    assert all(c["ok"] for c in checks.values())
    assert checks["server"]["detail"] == "not reported by this backend"
    assert checks["ttl"]["detail"] == "not reported"
    assert list(checks) == ["open", "reach", "read-write", "round-trip", "server", "ttl"]
