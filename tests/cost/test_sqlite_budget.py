"""SQLite statement budget, counted with ``sqlite3``'s trace callback (never timed).

The unit is the one the benchmark counts for both SQLite savers: every SQL statement SQLite
runs, ``BEGIN``/``COMMIT`` and ``PRAGMA`` included. The promises:

- a connection is opened (and its PRAGMAs run) once, not once per thread: LangGraph runs
  writes on threads it starts per ``invoke``, and those must reuse pooled connections;
- connections do not pile up: short-lived threads leave at most the pool's idle connections;
- every port call a saver makes is one statement: a write of puts is one multi-row ``INSERT``
  (its own transaction), a scan that follows references one ``SELECT``; so ``put``,
  ``put_writes`` and ``get_tuple`` are one statement each.
"""

from __future__ import annotations

import operator
import random
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

import checkpoint_kv.backends.sqlite as sq
from checkpoint_kv import KVCheckpointSaver
from checkpoint_kv.backends.sqlite import config as sq_config
from checkpoint_kv.backends.sqlite import pool as sq_pool
from checkpoint_kv.backends.sqlite import sql as sq_sql
from checkpoint_kv.port import Delete, DeleteRange, Put, follow_refs, frame
from checkpoint_kv.registry import open_store


class Traced:
    """Every connection the backend opens, and every statement run on any of them."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.by_thread: dict[int, int] = {}  # statements run per thread (the caller's)
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
        me = threading.get_ident()
        with self._lock:
            self.statements.append(sql)
            self.by_thread[me] = self.by_thread.get(me, 0) + 1

    def count(self, fn: Callable[[], object]) -> list[str]:
        """The statements ``fn`` ran."""
        start = len(self.statements)
        fn()
        return self.statements[start:]


@pytest.fixture
def traced(monkeypatch: pytest.MonkeyPatch) -> Traced:
    t = Traced()
    monkeypatch.setattr(sq_config.sqlite3, "connect", t.connect(sqlite3.connect))
    return t


@pytest.fixture
def store(tmp_path: Path, traced: Traced) -> Iterator[sq.SQLiteKV]:
    s = open_store(f"sqlite:///{tmp_path / 'budget.db'}")
    assert isinstance(s, sq.SQLiteKV)
    s.setup()
    yield s
    s.close()


def _on_new_thread(fn: Callable[[], object]) -> None:
    t = threading.Thread(target=fn)
    t.start()
    t.join()


def test_threads_reuse_connections(store: sq.SQLiteKV, traced: Traced) -> None:
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


def test_idle_connections_are_bounded(store: sq.SQLiteKV, traced: Traced) -> None:
    """Many threads at once open what they need, but only ``pool.IDLE`` stay open afterwards
    (per-thread connections stayed open until ``close``: file descriptors grew per invoke)."""
    n = sq_pool.IDLE + 8
    barrier = threading.Barrier(n)

    def work(i: int) -> None:
        with store._pool.use():  # hold a connection until every thread holds one
            barrier.wait(timeout=30)
        store.write("t", [Put(f"k{i}", b"v")])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    still_open = [c for c in traced.connections if _is_open(c)]
    assert len(still_open) == sq_pool.IDLE
    store.close()
    assert not [c for c in traced.connections if _is_open(c)]


def test_a_connection_in_use_at_close_is_closed_on_return(
    store: sq.SQLiteKV, traced: Traced
) -> None:
    with store._pool.use() as conn:
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


def test_a_write_of_puts_is_one_statement(store: sq.SQLiteKV, traced: Traced) -> None:
    """A saver write (a step's blobs and its record) is one multi-row ``INSERT``, its own
    transaction: no ``BEGIN``/``COMMIT`` (fails with one ``INSERT`` per row inside
    ``BEGIN IMMEDIATE ... COMMIT``: 2 + rows statements)."""
    ops = [Put(f"b{i}", bytes([i]) * 10) for i in range(4)] + [Put("c", b"rec", commit=True)]
    ran = traced.count(lambda: store.write("t", ops))
    assert len(ran) == 1 and ran[0].startswith("INSERT OR REPLACE"), ran
    assert store.get("t", [o.key for o in ops]) == {o.key: o.value for o in ops}
    assert len(traced.count(lambda: store.drop("t"))) == 1
    assert store.get("t", [o.key for o in ops]) == {}


def test_mixed_batch_is_one_transaction_in_order(store: sq.SQLiteKV, traced: Traced) -> None:
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


def test_a_large_batch_is_chunked_in_one_transaction(store: sq.SQLiteKV, traced: Traced) -> None:
    """More rows than one statement may bind: several ``INSERT``s, one transaction."""
    n = sq_sql.ROWS * 2 + 5
    ops = [Put(f"k{i:05}", b"v") for i in range(n)]
    ran = traced.count(lambda: store.write("t", ops))
    assert [s.split(" ", 1)[0] for s in ran] == ["BEGIN", "INSERT", "INSERT", "INSERT", "COMMIT"]
    assert len(store.scan("t", "!", "~").items) == n
    ran = traced.count(lambda: store.write("t", [Delete(o.key) for o in ops]))
    assert len(ran) == 2 + 3
    assert store.scan("t", "!", "~").items == []


def test_scans_are_one_statement(store: sq.SQLiteKV, traced: Traced) -> None:
    """A scan, following references or not, is one ``SELECT`` and no read transaction (fails
    with ``BEGIN`` + the range + a ``get`` of the refs + ``COMMIT``)."""
    store.write("t", [Put("b1", b"blob"), Put("c1", frame(["b1"], b"rec"))])
    ran = traced.count(lambda: store.scan("t", "c", "d", reverse=True, limit=1, follow=1))
    assert len(ran) == 1, ran
    assert len(traced.count(lambda: store.scan("t", "a", "z"))) == 1
    assert len(traced.count(lambda: store.get("t", ["b1", "c1"]))) == 1


def test_follow_matches_the_generic_parser(store: sq.SQLiteKV) -> None:
    """The SQL that follows references returns what ``port.follow_refs`` would pick, on
    values with and without headers, damaged headers (not ASCII, random bytes), missing targets, a
    ``\\n\\n`` inside the payload, both directions, with limits."""
    rng = random.Random(12)
    blobs = {f"b{i:02}": bytes([i]) * rng.randrange(1, 50) for i in range(30)}
    ops = [Put(k, v) for k, v in blobs.items()]
    for i in range(40):
        kind = rng.randrange(5)
        names = rng.sample([*blobs, "b99", "missing"], rng.randrange(1, 4))
        payload = b"x\n\ny" * rng.randrange(3)
        if kind == 0:
            value = frame([], payload)
        elif kind == 1:
            value = b"\xff\xfe" + frame(names, payload)  # a damaged header
        elif kind == 2:  # random bytes (invalid UTF-8, NUL, lone newlines), then a ref
            junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 12)))
            value = junk.replace(b"\n\n", b"\n") + b"\n" + frame(names, payload)
        else:
            value = frame(names, payload)
        ops.append(Put(f"c{i:02}", value))
    ops.append(Put("c99", b"\x00b01\nb02\n\npayload"))  # a NUL ends no text here: b02 found
    store.write("t", ops)
    values = dict((o.key, o.value) for o in ops)
    res = store.scan("t", "c99", "d", follow=1)
    assert res.refs == {"b02": values["b02"]}
    for reverse in (False, True):
        for limit in (None, 1, 3, 10):
            for follow in (1, 2, 5):
                res = store.scan("t", "c", "d", reverse=reverse, limit=limit, follow=follow)
                every = sorted((k for k in values if k.startswith("c")), reverse=reverse)
                assert [k for k, _ in res.items] == every[:limit]
                want = follow_refs(res.items, follow)
                assert res.refs == {k: values[k] for k in want if k in values}


# --- statements per saver call --------------------------------------------------------------


class Chat(TypedDict):
    messages: Annotated[list[str], operator.add]


def test_saver_calls_are_one_statement_each(store: sq.SQLiteKV, traced: Traced) -> None:
    """put, put_writes and get_tuple are one statement each on a warm pool, so a chat turn
    (get_tuple + 3 puts + 2 put_writes here) runs 6 statements, whatever the threads (fails
    before: 3 PRAGMAs per new thread, BEGIN/COMMIT around each write and the followed read,
    one INSERT per row: 34 per turn)."""
    saver = KVCheckpointSaver(store)
    calls: dict[str, int] = {}
    wrong: list[tuple[str, int]] = []
    with store._pool.use(), store._pool.use(), store._pool.use(), store._pool.use():
        pass  # four connections opened (and their PRAGMAs run) before counting
    for name in ("put", "put_writes", "get_tuple"):
        real = getattr(saver, name)

        def counted(*a: Any, _real: Any = real, _name: str = name, **kw: Any) -> Any:
            # Saver calls of one step may run at once on different threads: count this one's.
            me = threading.get_ident()
            before = traced.by_thread.get(me, 0)
            try:
                return _real(*a, **kw)
            finally:
                n = traced.by_thread.get(me, 0) - before
                calls[_name] = calls.get(_name, 0) + 1
                if n != 1:  # collected: a background thread's assert might not surface
                    wrong.append((_name, n))

        setattr(saver, name, counted)

    graph = (
        StateGraph(Chat)
        .add_node("reply", lambda s: {"messages": [f"re {len(s['messages'])}"]})
        .add_edge(START, "reply")
        .add_edge("reply", END)
        .compile(checkpointer=saver)
    )
    cfg: Any = {"configurable": {"thread_id": "chat"}}
    for turn in range(3):
        before = sum(calls.values())
        ran = traced.count(lambda t=turn: graph.invoke({"messages": [f"m{t}"]}, cfg))  # type: ignore[misc]
        assert len(ran) == sum(calls.values()) - before == 6, ran
    assert not wrong, wrong
    assert graph.get_state(cfg).values["messages"][-1] == "re 5"
    assert calls["get_tuple"] and calls["put"] and calls["put_writes"]


def test_writers_of_one_process_queue_instead_of_meeting_the_lock(tmp_path: Path) -> None:
    """A write that starts while another thread's write holds SQLite's lock waits for it in
    the process, not in SQLite's busy handler (which sleeps and retries): with the busy
    timeout at 0, the second write fails with "database is locked" unless it queued. The
    first writer pauses inside its transaction until the second has either failed or had
    time to block; the pause bounds a wait, nothing is timed."""
    s = open_store(f"sqlite:///{tmp_path / 'lock.db'}?timeout=0")
    assert isinstance(s, sq.SQLiteKV)
    s.setup()
    second_done = threading.Event()
    errors: list[BaseException] = []
    paused = threading.Event()

    def second() -> None:
        try:
            s.write("t", [Put("b", b"2")])
        except BaseException as e:
            errors.append(e)
        finally:
            second_done.set()

    def pause_inside(sql: str) -> None:
        if sql.startswith("DELETE") and not paused.is_set():  # BEGIN IMMEDIATE has run
            paused.set()
            threading.Thread(target=second).start()
            second_done.wait(timeout=0.5)  # failed at once, or blocked behind us

    with s._pool.use() as conn:  # the pool's one connection is the first writer's
        conn.set_trace_callback(pause_inside)
    try:
        s.write("t", [Put("a", b"1"), Delete("x")])  # two statements: BEGIN IMMEDIATE ...
        assert second_done.wait(timeout=30)
    finally:
        s.close()
    assert paused.is_set()
    assert not errors, errors
    s2 = open_store(f"sqlite:///{tmp_path / 'lock.db'}")
    try:
        assert s2.get("t", ["a", "b"]) == {"a": b"1", "b": b"2"}
    finally:
        s2.close()
