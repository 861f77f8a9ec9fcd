"""The backend adapters' renames (issue 22): ``RedisStore`` -> ``RedisKV`` and the others.

The old names were LangGraph's memory-store names (``langgraph.store.redis.RedisStore`` is a
``BaseStore``). Each old name still imports from where it was, is the new class itself, and
warns with a DeprecationWarning naming the new name, pointing at the caller's line; the new
names are what ``from_url`` builds, and what reprs print. No server: nothing here does I/O
except through in-process clients (fakeredis, SQLite, memory).
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

import checkpoint_kv
from checkpoint_kv import KVCheckpointSaver
from checkpoint_kv.port import Put

ROOT = Path(__file__).resolve().parents[2]

# module -> {old name: new name}: the CHANGELOG's "Renamed" table.
RENAMED: dict[str, dict[str, str]] = {
    "checkpoint_kv.backends.memory": {
        "MemoryStore": "MemoryKV",
        "AsyncMemoryStore": "AsyncMemoryKV",
    },
    "checkpoint_kv.backends.sqlite": {"SQLiteStore": "SQLiteKV"},
    "checkpoint_kv.backends.redis": {
        "RedisStore": "RedisKV",
        "AsyncRedisStore": "AsyncRedisKV",
        "ThreadedRedisStore": "ThreadedRedisKV",
    },
    "checkpoint_kv.backends.dynamodb": {"DynamoDBStore": "DynamoDBKV"},
    "checkpoint_kv.backends.s3": {"S3Store": "S3KV"},
}
PAIRS = [(m, old, new) for m, names in RENAMED.items() for old, new in names.items()]


def _old(module: str, name: str) -> Any:
    """``module.name``, asserting it warns once, naming the new name, at this file's line."""
    mod = importlib.import_module(module)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = getattr(mod, name)
    assert [w.category for w in caught] == [DeprecationWarning], caught
    new = RENAMED[module][name]
    text = str(caught[0].message)
    assert f"{module}.{name}" in text and f"{module}.{new}" in text, text
    assert caught[0].filename == __file__  # the user's line, not the alias machinery
    return value


@pytest.mark.parametrize(("module", "old", "new"), PAIRS)
def test_old_name_is_the_new_class_and_warns(module: str, old: str, new: str) -> None:
    mod = importlib.import_module(module)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new name never warns
        cls = getattr(mod, new)
    # defined in the module, or in one of its modules when it is a package (backends/s3/)
    assert cls.__name__ == new and (
        cls.__module__ == module or cls.__module__.startswith(f"{module}.")
    )
    value = _old(module, old)
    assert value is cls and issubclass(value, cls)
    assert old not in getattr(mod, "__all__", ()) and old not in dir(mod)
    with pytest.raises(AttributeError, match="NoSuchStore"):
        mod.NoSuchStore  # noqa: B018 - the module __getattr__ answers only the renamed names


@pytest.mark.parametrize(("module", "old", "new"), PAIRS)
def test_from_import_of_an_old_name_warns(module: str, old: str, new: str) -> None:
    with pytest.warns(DeprecationWarning, match=rf"use {module}\.{new}\b") as caught:
        exec(f"from {module} import {old}", {})
    assert len(caught) == 1


def test_star_import_and_the_root_package_do_not_warn() -> None:
    """Old names are not in ``__all__``: ``import *`` and the root API stay silent."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for module in RENAMED:
            exec(f"from {module} import *", {})
        from checkpoint_kv import (  # noqa: F401
            BackendUnavailableError,
            ConfigError,
            KVCheckpointSaver,
            from_url,
            store_from_url,
        )


def test_a_fresh_interpreter_warns_at_the_users_import() -> None:
    """Outside pytest: the default filters show a DeprecationWarning raised in ``__main__``."""
    code = "from checkpoint_kv.backends.memory import MemoryStore\nprint(MemoryStore().__class__)"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "<class 'checkpoint_kv.backends.memory.MemoryKV'>" in done.stdout
    assert "DeprecationWarning" in done.stderr and "MemoryKV" in done.stderr, done.stderr


# --- from_url builds the new classes ----------------------------------------------------------


def test_from_url_builds_the_new_classes(tmp_path: Path) -> None:
    from checkpoint_kv.backends.memory import AsyncMemoryKV, MemoryKV
    from checkpoint_kv.backends.sqlite import SQLiteKV

    memory = checkpoint_kv.from_url("memory://")
    assert type(memory.store) is MemoryKV and type(memory.astore) is AsyncMemoryKV
    assert repr(memory.store) == "MemoryKV(partitions=0)"
    db = str(tmp_path / "a.db")
    with checkpoint_kv.from_url(f"sqlite:///{db}") as sqlite:
        assert type(sqlite.store) is SQLiteKV
        assert repr(sqlite.store) == f"SQLiteKV({db!r})"
        assert "SQLiteKV(" in repr(sqlite.astore)


def test_from_url_builds_the_new_redis_classes() -> None:
    pytest.importorskip("redis")
    from checkpoint_kv.backends.redis import AsyncRedisKV, RedisKV

    saver = checkpoint_kv.from_url("redis://127.0.0.1:9/0?prefix=renames")  # never connects
    assert type(saver.store) is RedisKV
    assert repr(saver.store).startswith("RedisKV(server 127.0.0.1:9, prefix='renames'")
    twin = saver.store.async_twin()  # type: ignore[attr-defined]
    assert type(twin) is AsyncRedisKV and repr(twin).startswith("AsyncRedisKV(server ")


def test_from_url_builds_the_new_aws_classes() -> None:
    pytest.importorskip("boto3")
    from checkpoint_kv.backends.dynamodb import DynamoDBKV
    from checkpoint_kv.backends.s3 import S3KV

    where = "region=us-east-1&endpoint_url=http%3A%2F%2F127.0.0.1%3A9"  # never contacted
    ddb = checkpoint_kv.from_url(f"dynamodb://renames?{where}")
    assert type(ddb.store) is DynamoDBKV and repr(ddb.store).startswith("DynamoDBKV(table=")
    s3 = checkpoint_kv.from_url(f"s3://renames/p?{where}")
    assert type(s3.store) is S3KV and repr(s3.store).startswith("S3KV(bucket='renames'")


# --- the old spellings users wrote still work, with the warning ----------------------------------


def test_old_names_build_working_savers(tmp_path: Path) -> None:
    MemoryStore = _old("checkpoint_kv.backends.memory", "MemoryStore")
    SQLiteStore = _old("checkpoint_kv.backends.sqlite", "SQLiteStore")
    for store in (MemoryStore(), SQLiteStore(str(tmp_path / "old.db"))):
        with KVCheckpointSaver(store) as saver:
            saver.setup()
            saver.store.write("p", [Put("k", b"v")])
            assert saver.store.get("p", ["k"]) == {"k": b"v"}
            assert isinstance(saver.store, MemoryStore | SQLiteStore)


def test_subclassing_an_old_name_still_works() -> None:
    from checkpoint_kv.backends.memory import MemoryKV

    class Mine(_old("checkpoint_kv.backends.memory", "MemoryStore")):  # type: ignore[misc]
        pass

    assert isinstance(Mine(), MemoryKV) and repr(Mine()).startswith("MemoryKV(")


def test_bring_your_own_redis_client_with_the_old_names() -> None:
    """README / docs/backends/redis.md: ``KVCheckpointSaver(RedisStore(r, prefix=...))``."""
    fakeredis = pytest.importorskip("fakeredis")
    from checkpoint_kv.backends.redis import AsyncRedisKV, RedisKV, ThreadedRedisKV

    RedisStore = _old("checkpoint_kv.backends.redis", "RedisStore")
    server = fakeredis.FakeServer()
    for store in (
        RedisStore(fakeredis.FakeRedis(server=server), prefix="old", ttl=86400),
        RedisStore(client=fakeredis.FakeRedis(server=server), prefix="old"),
    ):
        saver = KVCheckpointSaver(store)
        assert type(saver.store) is RedisKV and type(saver.astore) is ThreadedRedisKV
        saver.store.write("p", [Put("k", b"v")])
        assert saver.store.get("p", ["k"]) == {"k": b"v"}
    AsyncRedisStore = _old("checkpoint_kv.backends.redis", "AsyncRedisStore")
    twin = AsyncRedisStore(client=fakeredis.FakeAsyncRedis(server=server), prefix="old")
    assert type(twin) is AsyncRedisKV


def test_bring_your_own_aws_client_with_the_old_names() -> None:
    """docs/backends/dynamodb.md: ``DynamoDBStore(table, ttl=..., client=DYNAMODB)``; S3 alike."""
    boto3 = pytest.importorskip("boto3")
    from checkpoint_kv.backends.dynamodb import DynamoDBKV
    from checkpoint_kv.backends.s3 import S3KV

    endpoint = "http://127.0.0.1:9"  # never contacted
    ddb_client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=endpoint)
    DynamoDBStore = _old("checkpoint_kv.backends.dynamodb", "DynamoDBStore")
    ddb = DynamoDBStore("agent-checkpoints", ttl=30 * 86400, client=ddb_client)
    assert type(ddb) is DynamoDBKV and ddb.client is ddb_client and not ddb.owns_client
    assert type(KVCheckpointSaver(ddb).store) is DynamoDBKV
    s3_client = boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint)
    S3Store = _old("checkpoint_kv.backends.s3", "S3Store")
    s3 = S3Store("bucket", "agents", client=s3_client)
    assert type(s3) is S3KV and s3.client is s3_client and not s3.owns_client


def test_the_changelog_lists_every_rename() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    unreleased = text.split("## [Unreleased]", 1)[1].split("\n## [", 1)[0]
    renamed = unreleased.split("### Renamed", 1)[1].split("\n### ", 1)[0]
    assert "| old name | new name | where |" in renamed and "deprecated" in renamed
    for module, old, new in PAIRS:
        assert f"| `{old}` | `{new}` | `{module}` |" in renamed
