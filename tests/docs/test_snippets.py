"""Every ```python block of README.md, docs/*.md and docs/backends/*.md runs as written.

A block is self-contained: it imports what it uses and builds its own graph. Each runs in a
fresh namespace with a temporary working directory (relative SQLite files land there), on the
backends its page is about:

- blocks that bring their own boto3 client, or open ``dynamodb://`` / ``s3://`` URLs, run on
  this session's moto server (``AWS_ENDPOINT_URL`` and dummy credentials in the environment:
  boto3 sends every client there, as the pages' "testing" sections say);
- blocks of docs/backends/redis.md, and blocks that ``import redis``, run on the session's real
  ``redis-server`` (``REDIS_URL`` set to it);
- docs/backends/memory.md and sqlite.md run as they are;
- every other block (README.md, STORE.md, migration.md...) runs three times, on memory, SQLite
  and the real Redis: ``CHECKPOINT_KV_URL`` is set to the backend, and a ``redis://`` URL with
  a host in the block is replaced by it.

A ``redis://HOST...`` URL in a block always points at the test server (its user, password and
database replaced: the server's database 9, flushed before each block; the block's query
string kept). A block that cannot run here carries the line ``# docs-test: skip <reason>``:
the test reports it as skipped with that reason (none does today).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PAGES += sorted((ROOT / "docs" / "backends").glob("*.md"))
SKIP = re.compile(r"^\s*# docs-test: skip (.+)$", re.M)
REDIS_URL = re.compile(r"redis://[^/\"'?\s]+(?:/\d+)?")  # a host; redis://?prefix= is kept
REDIS_DB = 9


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    source: str

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    def targets(self) -> list[str]:
        page = self.page.name
        src = self.source
        if "boto3" in src or "dynamodb://" in src or "s3://" in src:
            return ["aws"]
        if page == "redis.md" or re.search(r"^import redis\b", src, re.M):
            return ["redis"]
        if page in ("memory.md", "sqlite.md"):
            return ["as-is"]
        return ["memory", "sqlite", "redis"]


def blocks() -> Iterator[Block]:
    for page in PAGES:
        lines = page.read_text().splitlines()
        i = 0
        while i < len(lines):
            if lines[i].strip() == "```python":
                start = i + 1
                j = start
                while lines[j].strip() != "```":
                    j += 1
                yield Block(page, start, "\n".join(lines[start:j]) + "\n")
                i = j
            i += 1


CASES = [pytest.param(b, t, id=f"{b.name}-{t}") for b in blocks() for t in b.targets()]


def test_every_page_is_covered() -> None:
    pages = {b.page.name for b in blocks()}
    assert {"README.md", "STORE.md", "migration.md", "redis.md", "s3.md", "dynamodb.md"} <= pages
    assert len(CASES) >= 20


def _redis_url(request: pytest.FixtureRequest) -> str:
    import redis

    server = request.getfixturevalue("redis_server")
    client = redis.Redis(port=server.port, db=REDIS_DB)
    client.flushdb()
    client.close()
    return f"redis://127.0.0.1:{server.port}/{REDIS_DB}"


@pytest.mark.parametrize(("block", "target"), CASES)
def test_block_runs(
    block: Block,
    target: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reason = SKIP.search(block.source)
    if reason:
        pytest.skip(f"{block.name}: {reason[1].strip()}")
    monkeypatch.chdir(tmp_path)
    source = block.source
    if target == "aws":
        endpoint = request.getfixturevalue("moto_endpoint")
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    if target == "redis" or (target != "aws" and REDIS_URL.search(source)):
        server = _redis_url(request) if target in ("redis", "as-is") else None
        url = {
            "memory": "memory://",
            "sqlite": f"sqlite:///{tmp_path / 'target.db'}",
        }.get(target, server)
        assert url is not None
        monkeypatch.setenv("REDIS_URL", server or "")
        monkeypatch.setenv("CHECKPOINT_KV_URL", url)
        source = REDIS_URL.sub(url, source)
    elif target in ("memory", "sqlite"):
        url = "memory://" if target == "memory" else f"sqlite:///{tmp_path / 'target.db'}"
        monkeypatch.setenv("CHECKPOINT_KV_URL", url)
    namespace: dict[str, Any] = {"__name__": "__doc_snippet__"}
    code = compile(source, block.name, "exec", dont_inherit=True)  # not this file's __future__
    exec(code, namespace)  # the documentation's own code
    for value in list(namespace.values()):
        close = getattr(value, "close", None)
        if type(value).__module__.startswith("checkpoint_kv") and callable(close):
            close()
