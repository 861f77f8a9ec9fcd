"""SQLite statement budget, counted with ``sqlite3``'s trace callback (never timed).

The unit is the one the benchmark counts for both SQLite savers: every SQL statement SQLite
runs, ``BEGIN``/``COMMIT`` and ``PRAGMA`` included. The promises:

- a connection is opened (and its PRAGMAs run) once, not once per thread: LangGraph runs
  writes on threads it starts per ``invoke``, and those must reuse pooled connections;
- connections do not pile up: short-lived threads leave at most the pool's idle connections.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import checkpoint_kv.backends.sqlite as sq
import pytest

from checkpoint_kv.port import Delete, DeleteRange, Put
from checkpoint_kv.registry import open_store


class Traced:
    """Every connection the backend opens, and every statement run on any of them."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def connect(self, real: Callable[..., sqlite3.Connection]) -> Callable[..., Any]:
        def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
            conn = real(*args, **kwargs)
            conn.set_trace_callback(self._hit)
            with self._lock:
                self.connections.append(conn)
            return conn

        return connect

    def _hit(self, sql: str) -> None:
        with self._lock:
            self.statements.append(sql)

    def count(self, fn: Callable[[], object]) -> list[str]:
        """The statements ``fn`` ran."""
        start = len(self.statements)
        fn()
        return self.statements[start:]


@pytest.fixture
def traced(monkeypatch: pytest.MonkeyPatch) -> Traced:
    t = Traced()
    monkeypatch.setattr(sq.sqlite3, "connect", t.connect(sqlite3.connect))
    return t


@pytest.fixture
def store(tmp_path: Path, traced: Traced) -> Iterator[sq.SQLiteStore]:
    s = open_store(f"sqlite:///{tmp_path / 'budget.db'}")
    assert isinstance(s, sq.SQLiteStore)
    s.setup()
    yield s
    s.close()


def _on_new_thread(fn: Callable[[], object]) -> None:
    t = threading.Thread(target=fn)
    t.start()
    t.join()


def test_threads_reuse_connections(store: sq.SQLiteStore, traced: Traced) -> None:
    """A call on a new thread runs no PRAGMA and opens no connection (fails with per-thread
    connections: 1 connect + 3 PRAGMAs per new thread)."""
    opened = len(traced.connections)
    for i in range(20):
        ran = traced.count(
            lambda i=i: _on_new_thread(  # type: ignore[misc]
                lambda: store.write("t", [Put(f"k{i}", b"v")])
            )
        )
        assert not [s for s in ran if s.startswith("PRAGMA")], ran
    assert len(traced.connections) == opened


def test_idle_connections_are_bounded(store: sq.SQLiteStore, traced: Traced) -> None:
    """Many threads at once open what they need, but only ``_IDLE`` stay open afterwards
    (per-thread connections stayed open until ``close``: file descriptors grew per invoke)."""
    n = sq._IDLE + 8
    barrier = threading.Barrier(n)

    def work(i: int) -> None:
        with store._use():  # hold a connection until every thread holds one
            barrier.wait(timeout=30)
        store.write("t", [Put(f"k{i}", b"v")])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    still_open = [c for c in traced.connections if _is_open(c)]
    assert len(still_open) == sq._IDLE
    store.close()
    assert not [c for c in traced.connections if _is_open(c)]


def test_a_connection_in_use_at_close_is_closed_on_return(
    store: sq.SQLiteStore, traced: Traced
) -> None:
    with store._use() as conn:
        store.close()
        assert _is_open(conn)
    assert not _is_open(conn)
    assert store.get("t", ["k"]) == {}  # a closed store reopens on its next call


def _is_open(conn: sqlite3.Connection) -> bool:
    try:
        conn.execute("SELECT 1")
    except sqlite3.ProgrammingError:
        return False
    return True


# --- statements per port call ---------------------------------------------------------------


def test_a_write_of_puts_is_one_statement(store: sq.SQLiteStore, traced: Traced) -> None:
    """A saver write (a step's blobs and its record) is one multi-row ``INSERT``, its own
    transaction: no ``BEGIN``/``COMMIT`` (fails with one ``INSERT`` per row inside
    ``BEGIN IMMEDIATE ... COMMIT``: 2 + rows statements)."""
    ops = [Put(f"b{i}", bytes([i]) * 10) for i in range(4)] + [Put("c", b"rec", commit=True)]
    ran = traced.count(lambda: store.write("t", ops))
    assert len(ran) == 1 and ran[0].startswith("INSERT OR REPLACE"), ran
    assert store.get("t", [o.key for o in ops]) == {o.key: o.value for o in ops}
    assert len(traced.count(lambda: store.drop("t"))) == 1
    assert store.get("t", [o.key for o in ops]) == {}


def test_mixed_batch_is_one_transaction_in_order(store: sq.SQLiteStore, traced: Traced) -> None:
    """Ops of several kinds take several statements, inside one ``BEGIN IMMEDIATE``; the
    effect is that of applying them in list order (a repeated key, if-absent puts)."""
    store.write("t", [Put("old", b"1"), Put("r1", b"x"), Put("r2", b"y"), Put("z", b"z")])
    ops = [
        Put("a", b"1"),
        Put("a", b"2"),  # a repeated key: a new statement, so the later value wins
        Put("old", b"kept?", if_absent=True),
        Put("new", b"n", if_absent=True),
        Delete("z"),
        DeleteRange("r", "s"),
        Put("r1", b"back"),
    ]
    ran = traced.count(lambda: store.write("t", ops))
    assert ran[0] == "BEGIN IMMEDIATE" and ran[-1] == "COMMIT", ran
    assert len(ran) == 2 + 6, ran
    got = store.scan("t", "!", "~").items
    assert got == [("a", b"2"), ("new", b"n"), ("old", b"1"), ("r1", b"back")]


def test_a_large_batch_is_chunked_in_one_transaction(store: sq.SQLiteStore, traced: Traced) -> None:
    """More rows than one statement may bind: several ``INSERT``s, one transaction."""
    n = sq._ROWS * 2 + 5
    ops = [Put(f"k{i:05}", b"v") for i in range(n)]
    ran = traced.count(lambda: store.write("t", ops))
    assert [s.split(" ", 1)[0] for s in ran] == ["BEGIN", "INSERT", "INSERT", "INSERT", "COMMIT"]
    assert len(store.scan("t", "!", "~").items) == n
    ran = traced.count(lambda: store.write("t", [Delete(o.key) for o in ops]))
    assert len(ran) == 2 + 3
    assert store.scan("t", "!", "~").items == []
