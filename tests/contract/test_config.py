"""Configuration that must either work as written or be refused with a message that says what
to write instead: ``sqlite:///:memory:`` across threads, SQLite URLs with too few slashes,
strings that are not URLs (with a "did you mean"), unknown schemes."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from langgraph.graph import END, START, StateGraph

import checkpoint_kv
from checkpoint_kv import ConfigError, KVCheckpointSaver, UnknownSchemeError, registry
from checkpoint_kv.registry import open_store
from tests.support.graphs import Log


def _graph(saver: KVCheckpointSaver) -> Any:
    b = StateGraph(Log)
    b.add_node("step", lambda s: {"log": [f"step {len(s['log'])}"]})
    b.add_edge(START, "step")
    b.add_edge("step", END)
    return b.compile(checkpointer=saver)


def _cfg(thread: str) -> Any:
    return {"configurable": {"thread_id": thread}}


# --- sqlite:///:memory: is one database for the store's lifetime, whatever the thread --------


def test_sqlite_memory_is_one_database_across_threads_and_async() -> None:
    """Before: a private in-memory database per connection, and a connection per thread, so
    every other thread (every async call) got ``OperationalError: no such table: kv``."""
    saver = checkpoint_kv.from_url("sqlite:///:memory:")
    saver.setup()
    try:
        app = _graph(saver)
        app.invoke({"log": ["sync"]}, _cfg("a"))

        async def run_async() -> list[str]:
            state = await app.aget_state(_cfg("a"))  # reads on a worker thread
            assert state.values["log"] == ["sync", "step 1"]
            out = await app.ainvoke({"log": ["async"]}, _cfg("a"))
            return list(out["log"])

        assert asyncio.run(run_async()) == ["sync", "step 1", "async", "step 3"]

        def worker(i: int) -> list[str]:
            for turn in range(3):
                app.invoke({"log": [f"w{i}.{turn}"]}, _cfg(f"t{i}"))
            return list(app.get_state(_cfg(f"t{i}")).values["log"])

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(worker, range(8)))
        for i, log in enumerate(results):
            assert log[::2] == [f"w{i}.0", f"w{i}.1", f"w{i}.2"]
        # every thread's writes are in the one database, seen from the creating thread
        assert {t.config["configurable"]["thread_id"] for t in saver.list(None)} == {
            "a",
            *(f"t{i}" for i in range(8)),
        }
        assert app.get_state(_cfg("a")).values["log"][-1] == "step 3"
    finally:
        saver.close()


def test_sqlite_memory_stores_are_separate_databases() -> None:
    one = checkpoint_kv.from_url("sqlite:///:memory:")
    two = checkpoint_kv.from_url("sqlite:///:memory:")
    try:
        _graph(one).invoke({"log": ["x"]}, _cfg("only-in-one"))
        assert two.get_tuple(_cfg("only-in-one")) is None
        assert one.get_tuple(_cfg("only-in-one")) is not None
    finally:
        one.close()
        two.close()


# --- SQLite URLs ------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["sqlite://relative.db", "sqlite://data/app.db", "sqlite3://x.db"])
def test_sqlite_two_slashes_refused_with_both_forms(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: accepted as a relative path, creating ``data/`` on the way."""
    monkeypatch.chdir(tmp_path)
    name = url.split("://", 1)[1]
    with pytest.raises(ConfigError) as e:
        checkpoint_kv.from_url(url).setup()
    msg = str(e.value)
    scheme = url.split("://")[0]
    assert f"{scheme}:///{name}" in msg and f"{scheme}:////abs/path/{name}" in msg
    assert os.listdir(tmp_path) == []  # no file, no directory


def test_sqlite_url_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"did you mean sqlite:///:memory:\?"):
        checkpoint_kv.from_url("sqlite://:memory:")
    for empty in ("sqlite://", "sqlite:///"):
        with pytest.raises(ConfigError, match="needs a file"):
            checkpoint_kv.from_url(empty)
    with checkpoint_kv.from_url("sqlite:///rel/x.db") as saver:
        saver.setup()
    assert (tmp_path / "rel" / "x.db").exists()
    with checkpoint_kv.from_url(f"sqlite:///{tmp_path / 'abs.db'}") as saver:  # 4 slashes
        saver.setup()
    assert (tmp_path / "abs.db").exists()


# --- not a URL, unknown schemes ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("redis:/localhost:6379/0", "redis://localhost:6379/0"),
        ("redis:localhost", "redis://localhost"),
        ("checkpoints.db", "sqlite:///checkpoints.db"),
        ("data/app.sqlite", "sqlite:///data/app.sqlite"),
        ("/var/lib/app.db", "sqlite:////var/lib/app.db"),
        ("sqlite:app.db", "sqlite:///app.db"),
        ("s3:bucket/prefix", "s3://bucket/prefix"),
    ],
)
def test_not_a_url_says_did_you_mean(text: str, meant: str) -> None:
    assert registry.suggest_url(text) == meant
    with pytest.raises(ConfigError) as e:
        open_store(text)
    msg = str(e.value)
    assert f"Did you mean {meant}?" in msg
    for scheme in ("memory://", "sqlite://", "redis://", "dynamodb://", "s3://"):
        assert scheme in msg


def test_not_a_url_hides_a_password() -> None:
    with pytest.raises(ConfigError) as e:
        open_store("redis:/:hunter2@Pr0dS3cret@host/0")
    assert "hunter2" not in str(e.value) and "Pr0dS3cret" not in str(e.value)
    assert "Did you mean redis://:***@host/0?" in str(e.value)


def test_not_a_url_without_a_guess() -> None:
    with pytest.raises(ConfigError) as e:
        open_store("localhost")
    assert "Did you mean" not in str(e.value) and "redis://" in str(e.value)


def test_unknown_scheme_lists_known_ones() -> None:
    with pytest.raises(UnknownSchemeError) as e:
        open_store("postgres://host/db")
    msg = str(e.value)
    assert "Known schemes:" in msg
    for scheme in ("memory://", "sqlite://", "redis://", "dynamodb://", "s3://"):
        assert scheme in msg
