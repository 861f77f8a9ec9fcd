"""Shared fixtures. Every backend joins the suites by adding its name to ``BACKENDS`` and a
fixture ``url_<name>`` that returns a fresh, isolated URL (its own file, prefix or table).

``CKV_BACKENDS=memory,sqlite`` narrows a local run. In CI (``CI`` set) a backend whose server
cannot be started fails its tests; it is never skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import checkpoint_kv
from checkpoint_kv import KVCheckpointSaver

pytest_plugins: list[str] = [
    "tests.support.fixtures_aws",
    "tests.support.fixtures_redis",
    "tests.support.fixtures_s3",
    "tests.support.fixtures_dynamodb",
    "tests.support.fixtures_postgres",
]

# name -> whether it is fast enough for the per-commit quick run
BACKENDS: list[str] = ["memory", "sqlite", "fakeredis", "redis", "redis_cluster", "s3", "dynamodb"]


# The default (CI) profile, sized for .ci/run to stay under 20 minutes on a shared 2-core
# machine with every backend covered. On the slow backends (moto's server: each request costs
# O(items in the table); the 3-node cluster) CI runs the contract (port, conformance), the
# scenarios, the option matrix, each backend's own module and everything not excluded below;
# CKV_PROFILE=full runs everything everywhere.
# - Tests marked ``heavy`` (fault sweeps, byte-flip sweeps, model-based runs) repeat a graph or a
#   read hundreds of times: on the fast backends only.
# - ABOVE_THE_PORT modules sweep backend-agnostic layers (the CLI's commands, the saver's API)
#   over every backend; the port contract and the matrix already hold the slow backends to the
#   same behaviour, so there these run in the full profile only (CLI setup/doctor, which talk to
#   each backend's specifics, stay).
FAST_BACKENDS = {"memory", "sqlite", "fakeredis", "redis", "dynamodb_inproc"}
ABOVE_THE_PORT = {"tests.contract.test_api", "tests.cli.test_cli"}
BACKEND_SPECIFIC = {"test_setup_and_doctor"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("CKV_PROFILE") == "full":
        return
    for item in items:
        callspec = getattr(item, "callspec", None)
        params = callspec.params.values() if callspec is not None else ()
        if not any(p in BACKENDS and p not in FAST_BACKENDS for p in params if isinstance(p, str)):
            continue
        module = getattr(getattr(item, "module", None), "__name__", "")
        name = getattr(item, "originalname", item.name)
        if item.get_closest_marker("heavy") is not None or (
            module in ABOVE_THE_PORT and name not in BACKEND_SPECIFIC
        ):
            item.add_marker(pytest.mark.slow)


def selected_backends() -> list[str]:
    only = os.environ.get("CKV_BACKENDS")
    if not only:
        return list(BACKENDS)
    wanted = [b.strip() for b in only.split(",") if b.strip()]
    return [b for b in BACKENDS if b in wanted]


@pytest.fixture
def url_memory() -> str:
    return "memory://"


@pytest.fixture
def url_sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / ('ckv-' + uuid.uuid4().hex[:8] + '.db')}"


@pytest.fixture(params=selected_backends())
def backend(request: pytest.FixtureRequest) -> str:
    """The name of the backend under test."""
    return str(request.param)


@pytest.fixture
def url(backend: str, request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"url_{backend}"))


@pytest.fixture
def saver(url: str) -> Iterator[KVCheckpointSaver]:
    s = checkpoint_kv.from_url(url)
    s.setup()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def no_carry(monkeypatch: pytest.MonkeyPatch) -> None:
    """No value is small enough to be copied into later records (``locator.CARRY_MAX = -1``):
    a checkpoint reads its unchanged values from the records that wrote them (their homes)."""
    from checkpoint_kv.saver import locator

    monkeypatch.setattr(locator, "CARRY_MAX", -1)


# The real-process tests (test_processes*.py): a file, a server, and moto's server.
PROCESS_BACKENDS = [b for b in ("sqlite", "redis", "dynamodb") if b in selected_backends()]


@pytest.fixture(params=PROCESS_BACKENDS)
def process_url(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """``(backend, url)`` for a test that runs real OS processes on one store."""
    yield request.param, str(request.getfixturevalue(f"url_{request.param}"))
