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
