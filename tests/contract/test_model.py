"""Model-based test: random sequences of saver calls against every backend and against
LangGraph's ``InMemorySaver`` as the model, compared after every step.

``InMemorySaver`` has no ``copy_thread``, ``prune`` or ``delete_for_runs``: :class:`Model` adds
them with the semantics our saver documents. Where the two savers legitimately differ the
comparison says so: ``list`` over several namespaces or threads has no order in the contract
(InMemorySaver goes namespace by namespace in insertion order, we go newest first), so those
results are compared as sets, and with a ``limit`` we check the count, that each item is right,
and our newest-first order within a thread.

Profiles: the default (CI) runs a few examples per backend; ``CKV_HYPOTHESIS_PROFILE=long``
runs many more, longer sequences.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    empty_checkpoint,
)
from langgraph.checkpoint.memory import InMemorySaver

import checkpoint_kv
from checkpoint_kv import KVCheckpointSaver
from tests.conftest import selected_backends

settings.register_profile(
    "ckv-ci",
    max_examples=12,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    database=None,
)
settings.register_profile(
    "ckv-long",
    max_examples=200,
    stateful_step_count=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
PROFILE = "ckv-long" if os.environ.get("CKV_HYPOTHESIS_PROFILE") == "long" else "ckv-ci"

THREADS = ["t1", "t|2", "ü:{x}/!%~", " "]
NAMESPACES = ["", "child:1", "a|b:{c}"]
CHANNELS = ["messages", "count", "x/y"]
SOURCES = ["input", "loop", "update"]
RUNS = ["run-a", "run-b", "run-c"]

# Skewed towards the first thread and namespace, so that sequences often build several
# checkpoints on one (thread, ns) before they prune, copy or list it.
threads = st.just(THREADS[0]) | st.sampled_from(THREADS)
namespaces = st.just("") | st.sampled_from(NAMESPACES)

values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)

pytestmark = pytest.mark.heavy


class Model(InMemorySaver):
    """``InMemorySaver`` plus the extended methods, as our saver documents them."""

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Every checkpoint, write and blob of the source also in the target (overwriting)."""
        if source_thread_id == target_thread_id:
            return
        src = self.storage.get(source_thread_id, {})
        for ns, cps in list(src.items()):
            self.storage[target_thread_id][ns].update(cps)
        for (tid, ns, cid), ws in list(self.writes.items()):
            if tid == source_thread_id:
                self.writes[(target_thread_id, ns, cid)].update(ws)
        for (tid, ns, ch, ver), blob in list(self.blobs.items()):
            if tid == source_thread_id:
                self.blobs[(target_thread_id, ns, ch, ver)] = blob

    def _drop(self, thread_id: str, ns: str, checkpoint_id: str) -> None:
        self.storage[thread_id][ns].pop(checkpoint_id, None)
        self.writes.pop((thread_id, ns, checkpoint_id), None)

    def prune(self, thread_ids: list[str], *, strategy: str = "keep_latest") -> None:
        for tid in thread_ids:
            if strategy == "delete":
                self.delete_thread(tid)
                continue
            for ns, cps in list(self.storage.get(tid, {}).items()):
                latest = max(cps, default=None)
                for cid in list(cps):
                    if cid != latest:
                        self._drop(tid, ns, cid)

    def delete_for_runs(self, run_ids: list[str]) -> None:
        for tid in list(self.storage):
            self.delete_for_runs_in(tid, run_ids)

    def delete_for_runs_in(self, thread_id: str, run_ids: list[str]) -> None:
        """``delete_for_runs`` as it acts on one thread (it reads and acts thread by thread)."""
        wanted = set(run_ids)
        for ns, cps in list(self.storage.get(thread_id, {}).items()):
            for cid, (_, md, _) in list(cps.items()):
                if self.serde.loads_typed(md).get("run_id") in wanted:
                    self._drop(thread_id, ns, cid)


def _norm(t: CheckpointTuple | None) -> Any:
    if t is None:
        return None
    conf = t.config["configurable"]
    parent = (t.parent_config or {}).get("configurable", {})
    return (
        (conf["thread_id"], conf.get("checkpoint_ns", ""), conf.get("checkpoint_id")),
        t.checkpoint,
        t.metadata,
        (parent.get("thread_id"), parent.get("checkpoint_ns"), parent.get("checkpoint_id")),
        [tuple(w) for w in t.pending_writes or []],
    )


def _key(n: Any) -> Any:
    return repr(n[0])


class SaverMachine(RuleBasedStateMachine):
    """Drives ``saver`` and the model with the same calls. ``saver`` starts empty."""

    saver: KVCheckpointSaver

    def __init__(self) -> None:
        super().__init__()
        self.model = Model()
        self.counter = 0
        self.ids: list[str] = []  # every checkpoint id ever made (some may be deleted)
        self.touched: set[str] = set()  # threads changed since the last invariant check

    # --- helpers ------------------------------------------------------------------------------

    def _next_id(self) -> str:
        self.counter += 1
        n = self.counter
        return f"1f0{n:05x}-0000-6000-8000-{n:012x}"

    def _both(self, method: str, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        got = getattr(self.saver, method)(*args, **kwargs)
        want = getattr(self.model, method)(*args, **kwargs)
        return got, want

    # --- rules --------------------------------------------------------------------------------

    @rule(
        thread=threads,
        ns=namespaces,
        changed=st.sets(st.sampled_from(CHANNELS)),
        vals=st.lists(values, min_size=len(CHANNELS), max_size=len(CHANNELS)),
        source=st.sampled_from(SOURCES),
        run=st.sampled_from(RUNS),
        extra=values,
        fork=st.booleans(),
        repeat=st.integers(1, 3),
    )
    def put(
        self,
        thread: str,
        ns: str,
        changed: set[str],
        vals: list[Any],
        source: str,
        run: str,
        extra: Any,
        fork: bool,
        repeat: int,
    ) -> None:
        """``repeat`` new checkpoints on the latest one of (thread, ns), the first maybe a
        fork off an older one."""
        for i in range(repeat):
            self._put(thread, ns, changed, vals, source, run, extra, fork and i == 0)

    def _put(
        self,
        thread: str,
        ns: str,
        changed: set[str],
        vals: list[Any],
        source: str,
        run: str,
        extra: Any,
        fork: bool,
    ) -> None:
        base_conf: RunnableConfig = {"configurable": {"thread_id": thread, "checkpoint_ns": ns}}
        parent = self.model.get_tuple(base_conf)
        if fork and parent is not None and parent.parent_config is not None:
            parent = self.model.get_tuple(parent.parent_config)
        cp: Checkpoint = empty_checkpoint()
        cp["id"] = self._next_id()
        versions = dict(parent.checkpoint["channel_versions"]) if parent else {}
        current = dict(parent.checkpoint["channel_values"]) if parent else {}
        new_versions = {}
        for ch, v in zip(CHANNELS, vals, strict=True):
            if ch in changed:
                ver = f"{self.counter:08d}.{CHANNELS.index(ch)}"
                versions[ch] = new_versions[ch] = ver
                current[ch] = v
        if vals[0] is None and "messages" in changed:
            current.pop("messages")  # a channel in new_versions without a value (empty)
        cp["channel_versions"] = versions
        cp["channel_values"] = current
        cp["versions_seen"] = {"node": dict(new_versions)}
        cp["updated_channels"] = sorted(changed)
        config: RunnableConfig = {
            "configurable": {
                "thread_id": thread,
                "checkpoint_ns": ns,
                **(
                    {"checkpoint_id": parent.config["configurable"]["checkpoint_id"]}
                    if parent
                    else {}
                ),
            }
        }
        metadata: CheckpointMetadata = {
            "source": source,  # type: ignore[typeddict-item]
            "step": self.counter,
            "run_id": run,
            "nested": {"a": [1, {"b": extra}], "n": None},  # type: ignore[typeddict-unknown-key]
        }
        self.touched.add(thread)
        got, want = self._both("put", config, cp, metadata, new_versions)
        assert got == want
        self.ids.append(cp["id"])

    @precondition(lambda self: self.ids)
    @rule(
        data=st.data(),
        ns=namespaces,
        thread=threads,
        task=st.sampled_from(["task-a", "task-b"]),
        writes=st.lists(
            st.tuples(st.sampled_from(["messages", "count", "__error__", "__interrupt__"]), values),
            min_size=1,
            max_size=3,
        ),
        path=st.sampled_from(["", "~node", "~a|b"]),
    )
    def put_writes(
        self,
        data: st.DataObject,
        ns: str,
        thread: str,
        task: str,
        writes: list[tuple[str, Any]],
        path: str,
    ) -> None:
        """Writes to an existing checkpoint (writes to no checkpoint are invisible anyway)."""
        existing = list(self.model.list({"configurable": {"thread_id": thread}}))
        if not existing:
            return
        target = data.draw(st.sampled_from(existing))
        config = target.config
        self.touched.add(thread)
        self._both("put_writes", config, writes, task, path)

    @rule(
        thread=threads,
        ns=namespaces,
        pick=st.integers(0, 1000),
        by_id=st.booleans(),
        drop_ns=st.booleans(),
    )
    def get_tuple(self, thread: str, ns: str, pick: int, by_id: bool, drop_ns: bool) -> None:
        conf: dict[str, Any] = {"thread_id": thread}
        if not drop_ns or ns:
            conf["checkpoint_ns"] = ns
        if by_id and self.ids:
            conf["checkpoint_id"] = self.ids[pick % len(self.ids)]
        got, want = self._both("get_tuple", {"configurable": conf})
        assert _norm(got) == _norm(want)

    @rule(
        scope=st.sampled_from(["all", "thread", "ns", "id"]),
        thread=threads,
        ns=namespaces,
        pick=st.integers(0, 1000),
        filt=st.none()
        | st.fixed_dictionaries({"source": st.sampled_from(SOURCES)})
        | st.fixed_dictionaries({"run_id": st.sampled_from(RUNS)})
        | st.fixed_dictionaries({"run_id": st.sampled_from(RUNS), "source": st.just("loop")})
        | st.just({"nested": {"a": [1, {"b": None}], "n": None}})
        | st.just({"missing": 1}),
        before=st.none() | st.integers(0, 1000),
        limit=st.none() | st.integers(0, 5),
    )
    def list(
        self,
        scope: str,
        thread: str,
        ns: str,
        pick: int,
        filt: dict[str, Any] | None,
        before: int | None,
        limit: int | None,
    ) -> None:
        config: RunnableConfig | None = None
        if scope != "all":
            conf: dict[str, Any] = {"thread_id": thread}
            if scope in ("ns", "id"):
                conf["checkpoint_ns"] = ns
            if scope == "id" and self.ids:
                conf["checkpoint_id"] = self.ids[pick % len(self.ids)]
            config = {"configurable": conf}
        before_conf: RunnableConfig | None = None
        if before is not None and self.ids:
            before_conf = {"configurable": {"checkpoint_id": self.ids[before % len(self.ids)]}}
        kw: dict[str, Any] = {"filter": filt, "before": before_conf}
        got = [_norm(t) for t in self.saver.list(config, limit=limit, **kw)]
        everything = [_norm(t) for t in self.model.list(config, **kw)]
        if scope in ("ns", "id"):  # one namespace: the order is defined, newest first
            want = [_norm(t) for t in self.model.list(config, limit=limit, **kw)]
            assert got == want
            return
        assert len({_key(n) for n in got}) == len(got), "duplicates"
        if limit is None:
            assert sorted(got, key=_key) == sorted(everything, key=_key)
            return
        assert len(got) == min(limit, len(everything))
        assert all(n in everything for n in got)
        if scope == "thread":  # newest first across the thread's namespaces
            newest = sorted(everything, key=lambda n: n[0][2], reverse=True)
            assert got == newest[:limit]

    @rule(thread=threads)
    def delete_thread(self, thread: str) -> None:
        self.touched.add(thread)
        self._both("delete_thread", thread)

    @rule(source=threads, dest=st.sampled_from(THREADS))
    def copy_thread(self, source: str, dest: str) -> None:
        self.touched.add(dest)
        self._both("copy_thread", source, dest)

    @rule(
        thread_ids=st.lists(threads, max_size=2),
        strategy=st.sampled_from(["keep_latest", "delete"]),
    )
    def prune(self, thread_ids: list[str], strategy: str) -> None:
        self.touched.update(thread_ids)
        self._both("prune", thread_ids, strategy=strategy)

    @rule(runs=st.lists(st.sampled_from(RUNS), max_size=2))
    def delete_for_runs(self, runs: list[str]) -> None:
        self.touched.update(THREADS)
        self._both("delete_for_runs", runs)

    @invariant()
    def latest_agree(self) -> None:
        """After every step: the latest checkpoint of every namespace of every thread the step
        changed agrees (only those: a remote backend pays a round trip per check)."""
        touched, self.touched = self.touched, set()
        for thread in sorted(touched):
            for ns in NAMESPACES:
                conf: RunnableConfig = {"configurable": {"thread_id": thread, "checkpoint_ns": ns}}
                assert _norm(self.saver.get_tuple(conf)) == _norm(self.model.get_tuple(conf))


def _wipe(saver: KVCheckpointSaver) -> None:
    """Empty the store through the port (works on any backend, whatever its setup cost)."""
    while True:
        parts = saver.store.partitions().partitions
        if not parts:
            return
        for p in parts:
            saver.store.drop(p)


# Every backend, plus DynamoDB on moto's in-process mock (fast enough for the default profile).
MODEL_BACKENDS = [*selected_backends(), "dynamodb_inproc"]


@pytest.fixture(params=MODEL_BACKENDS)
def heavy_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def shared_saver(heavy_backend: str, request: pytest.FixtureRequest) -> Iterator[KVCheckpointSaver]:
    """One saver per test; each hypothesis example starts from an emptied store."""
    url = str(request.getfixturevalue(f"url_{heavy_backend}"))
    s = checkpoint_kv.from_url(url)
    s.setup()
    try:
        yield s
    finally:
        s.close()


@pytest.mark.timeout(0 if PROFILE == "ckv-long" else 300)
def test_saver_matches_model(shared_saver: KVCheckpointSaver) -> None:
    class Machine(SaverMachine):
        def __init__(self) -> None:
            super().__init__()
            _wipe(shared_saver)
            self.saver = shared_saver

    run_state_machine_as_test(Machine, settings=settings.get_profile(PROFILE))
