"""Concurrency: 16 threads and 64 asyncio tasks on one saver, distinct and shared thread ids;
two processes on one store. No lost or torn checkpoints, no deadlock, no blocked event loop.

"No blocked event loop" is asserted by thread identity, not by a wall-clock bound (a loop-lag
bound failed at 2.95 s on a loaded 2-core machine and proved nothing on a fast one): every call
of the store's blocking methods made during the async run happened off the loop's thread, and
the async run went through the async store. Latency is the benchmark's business."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import Checkpoint, empty_checkpoint

import checkpoint_kv
from checkpoint_kv import KVCheckpointSaver
from tests.conftest import selected_backends
from tests.support.faults import build_counter_graph, counter_consistent

THREADS = 16
TASKS = 64
PER_WORKER = 6

# Runs on the fast backends (memory, SQLite, fakeredis, a real redis-server) by default; on
# every backend with CKV_PROFILE=full.
pytestmark = pytest.mark.heavy


def _cp(cid: str, worker: int, i: int) -> Checkpoint:
    cp = empty_checkpoint()
    cp["id"] = cid
    cp["ts"] = f"2026-01-01T00:{worker % 60:02d}:{i % 60:02d}+00:00"  # deterministic
    payload = {"worker": worker, "i": i, "pad": f"{worker}-{i}-" * 50}
    cp["channel_values"] = {"a": payload, "b": [worker, i]}
    cp["channel_versions"] = {"a": f"{i + 1:05d}.{worker}", "b": f"{i + 1:05d}.{worker}"}
    return cp


def _cid(worker: int, i: int) -> str:
    return f"1f0{i:04d}-{worker:04d}-6000-8000-000000000000"


def _config(thread: str, ns: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread, "checkpoint_ns": ns}}


def _check(saver: KVCheckpointSaver, workers: int) -> None:
    """Every checkpoint each worker wrote is there, whole, with all its writes."""
    scopes = {(f"own-{w}", "") for w in range(workers)}
    scopes |= {("shared", f"ns-{w % 4}") for w in range(workers)} | {("shared", "")}
    found: dict[tuple[str, str, int], list[int]] = {}
    for thread, ns in sorted(scopes):
        for t in saver.list(_config(thread, ns)):
            w, i = t.checkpoint["channel_values"]["b"]
            found.setdefault((thread, ns, w), []).append(i)
            assert t.checkpoint == _cp(_cid(w, i), w, i)  # whole: values and versions
            assert sorted(x[1:] for x in t.pending_writes or []) == [
                ("a", f"w{w}-{i}-0"),
                ("b", f"w{w}-{i}-1"),
                ("c", "other-task"),
            ]
    for w in range(workers):
        for thread, ns in ((f"own-{w}", ""), ("shared", f"ns-{w % 4}"), ("shared", "")):
            assert sorted(found.get((thread, ns, w), [])) == list(range(PER_WORKER)), (thread, w)
    assert sum(1 for _ in saver.list(None)) == 3 * workers * PER_WORKER


def _work_sync(saver: KVCheckpointSaver, w: int) -> None:
    for thread, ns in ((f"own-{w}", ""), ("shared", f"ns-{w % 4}"), ("shared", "")):
        parent: RunnableConfig = _config(thread, ns)
        for i in range(PER_WORKER):
            cp = _cp(_cid(w, i), w, i)
            cfg = saver.put(parent, cp, {"source": "loop", "step": i}, cp["channel_versions"])
            saver.put_writes(cfg, [("a", f"w{w}-{i}-0"), ("b", f"w{w}-{i}-1")], f"task-{w}")
            saver.put_writes(cfg, [("c", "other-task")], f"other-{w}")
            assert saver.get_tuple(cfg) is not None
            list(saver.list(_config(thread, ns), limit=2))


@pytest.mark.timeout(300)
def test_16_threads_one_saver(saver: KVCheckpointSaver) -> None:
    errors: list[BaseException] = []

    def work(w: int) -> None:
        try:
            _work_sync(saver, w)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(w,), daemon=True) for w in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not [t for t in threads if t.is_alive()], "deadlock: workers still running"
    assert not errors, errors[0]
    _check(saver, THREADS)


@pytest.mark.timeout(300)
def test_16_threads_run_graphs(saver: KVCheckpointSaver) -> None:
    """Real graphs (default durability: puts from LangGraph's background threads) in parallel,
    on their own threads and on one shared thread id in turn."""
    errors: list[BaseException] = []
    graph = build_counter_graph(saver, steps=8)

    def work(w: int) -> None:
        try:
            graph.invoke({"log": [], "count": 0}, {"configurable": {"thread_id": f"g-{w}"}})
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(w,), daemon=True) for w in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not [t for t in threads if t.is_alive()], "deadlock: workers still running"
    assert not errors, errors[0]
    for w in range(THREADS):
        state = graph.get_state({"configurable": {"thread_id": f"g-{w}"}})
        assert state.values == {"log": list(range(8)), "count": 8}
        history = list(graph.get_state_history({"configurable": {"thread_id": f"g-{w}"}}))
        assert len(history) == 10  # the input, then one checkpoint per step
        assert all(counter_consistent(h.values) for h in history)


# Stores whose "blocking" methods are a dict and a lock: their async face calls them inline.
IN_PROCESS = {"memory"}
BLOCKING = ("get", "scan", "scan_many", "write", "drop", "partitions")
ASYNC = ("get", "scan", "scan_many", "write", "drop", "partitions")


def _record_threads(store: object) -> list[int]:
    """Shadow the store's blocking methods with recorders of the calling thread's id. They
    are instance attributes, so every caller goes through them: the saver, a thread-pool
    async twin over this store, anything else."""
    seen: list[int] = []
    for name in BLOCKING:
        fn = getattr(store, name, None)
        if fn is None:
            continue

        def recorded(*args: Any, __fn: Any = fn, **kwargs: Any) -> Any:
            seen.append(threading.get_ident())
            return __fn(*args, **kwargs)

        setattr(store, name, recorded)
    return seen


def _count_awaits(astore: object) -> list[str]:
    """Shadow the async store's methods with counters (a list of the names awaited)."""
    awaited: list[str] = []
    for name in ASYNC:
        fn = getattr(astore, name, None)
        if fn is None:
            continue

        async def counted(*args: Any, __fn: Any = fn, __name: str = name, **kwargs: Any) -> Any:
            awaited.append(__name)
            return await __fn(*args, **kwargs)

        setattr(astore, name, counted)
    return awaited


async def _work_async(saver: KVCheckpointSaver, w: int) -> None:
    for thread, ns in ((f"own-{w}", ""), ("shared", f"ns-{w % 4}"), ("shared", "")):
        parent: RunnableConfig = _config(thread, ns)
        for i in range(PER_WORKER):
            cp = _cp(_cid(w, i), w, i)
            cfg = await saver.aput(
                parent, cp, {"source": "loop", "step": i}, cp["channel_versions"]
            )
            await asyncio.gather(
                saver.aput_writes(cfg, [("a", f"w{w}-{i}-0"), ("b", f"w{w}-{i}-1")], f"task-{w}"),
                saver.aput_writes(cfg, [("c", "other-task")], f"other-{w}"),
            )
            assert await saver.aget_tuple(cfg) is not None
            [t async for t in saver.alist(_config(thread, ns), limit=2)]


@pytest.mark.timeout(300)
async def test_64_tasks_one_saver(url: str, backend: str) -> None:
    saver = checkpoint_kv.from_url(url)
    await saver.asetup()
    try:
        loop_thread = threading.get_ident()
        blocking = _record_threads(saver.store)
        awaited = _count_awaits(saver.astore)
        await asyncio.wait_for(
            asyncio.gather(*(_work_async(saver, w) for w in range(TASKS))), timeout=240
        )
        on_loop = blocking.count(loop_thread)
        if backend not in IN_PROCESS:
            assert on_loop == 0, f"{on_loop} blocking store calls ran on the event loop's thread"
        assert len(awaited) >= TASKS * 3 * PER_WORKER * 4, "the async run bypassed the async store"
        await asyncio.to_thread(_check, saver, TASKS)
    finally:
        await saver.aclose()


# --- two processes on one store -------------------------------------------------------------

# Backends whose data two processes can share (a file or a server). Adding one is one line.
SHARED_BACKENDS = [b for b in ("sqlite", "redis", "dynamodb", "s3") if b in selected_backends()]


@pytest.fixture(params=SHARED_BACKENDS)
def shared_url(request: pytest.FixtureRequest) -> Iterator[str]:
    yield str(request.getfixturevalue(f"url_{request.param}"))


CHILD = """
import sys
import checkpoint_kv
from tests.processes.test_concurrency import _work_sync
saver = checkpoint_kv.from_url(sys.argv[1])
saver.setup()
for w in range(int(sys.argv[2]), int(sys.argv[3])):
    _work_sync(saver, w)
saver.close()
print("done", flush=True)
"""


@pytest.mark.timeout(300)
def test_two_processes_one_store(shared_url: str) -> None:
    root = Path(__file__).resolve().parents[2]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, shared_url, str(lo), str(lo + 4)],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for lo in (0, 4)
    ]
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err[-3000:]
        assert "done" in out
    saver = checkpoint_kv.from_url(shared_url)
    saver.setup()
    try:
        _check(saver, 8)
    finally:
        saver.close()
