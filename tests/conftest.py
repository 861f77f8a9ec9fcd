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
    "tests.fixtures_aws",
    "tests.fixtures_redis",
    "tests.fixtures_s3",
    "tests.fixtures_dynamodb",
]

# name -> whether it is fast enough for the per-commit quick run
BACKENDS: list[str] = ["memory", "sqlite", "fakeredis", "redis", "redis_cluster", "s3", "dynamodb"]


# Tests marked ``heavy`` (fault sweeps, byte-flip sweeps, model-based runs) repeat a graph or a
# read hundreds of times. In the default (CI) profile they run on these backends only; the other
# backends get them with CKV_PROFILE=full (`make test-full`), where they are simply slow.
FAST_BACKENDS = {"memory", "sqlite", "fakeredis", "redis", "dynamodb_inproc"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("CKV_PROFILE") == "full":
        return
    for item in items:
        if item.get_closest_marker("heavy") is None:
            continue
        callspec = getattr(item, "callspec", None)
        params = callspec.params.values() if callspec is not None else ()
        if any(p in BACKENDS and p not in FAST_BACKENDS for p in params if isinstance(p, str)):
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
