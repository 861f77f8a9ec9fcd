"""``copy_threads``: a thread stopped at an ``interrupt()`` moves from SQLite to a server
backend and resumes there exactly as if it never moved; copies are batched, resumable, never
overwrite, and verified."""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Annotated, Any

import pytest
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt
from typing_extensions import TypedDict

import checkpoint_kv
from checkpoint_kv import KVCheckpointSaver
from checkpoint_kv import keys as K
from checkpoint_kv.port import KVStore, Op, Put
from checkpoint_kv.port_wrappers import CountingKV
from checkpoint_kv.registry import open_store
from checkpoint_kv.saver.migrate import (
    CopyVerificationError,
    ThreadNotFoundError,
    copy_threads,
)

# --- a graph that stops at an interrupt ------------------------------------------------------


class State(TypedDict):
    log: Annotated[list[str], operator.add]
    approved: str


def _plan(state: State) -> dict[str, Any]:
    return {"log": [f"plan {len(state['log'])}"]}


def _review(state: State) -> dict[str, Any]:
    answer = interrupt({"question": "approve?", "log": state["log"]})
    return {"approved": answer, "log": [f"review {answer}"]}


def _act(state: State) -> dict[str, Any]:
    return {"log": [f"act ({state['approved']})"]}


def build_graph() -> Any:
    g = StateGraph(State)
    g.add_node("plan", _plan)
    g.add_node("review", _review)
    g.add_node("act", _act)
    g.add_edge(START, "plan")
    g.add_edge("plan", "review")
    g.add_edge("review", "act")
    g.add_edge("act", END)
    return g


def run_to_interrupt(saver: KVCheckpointSaver, thread_id: str, turns: int = 2) -> None:
    """``turns`` completed runs, then one stopped at ``review``'s interrupt."""
    app = build_graph().compile(checkpointer=saver)
    cfg = {"configurable": {"thread_id": thread_id}}
    for i in range(turns):
        app.invoke({"log": [f"user {i}"]}, cfg)
        app.invoke(Command(resume=f"ok{i}"), cfg)
    out = app.invoke({"log": ["user last"]}, cfg)
    assert "__interrupt__" in out
    assert app.get_state(cfg).next == ("review",)


def resume(saver: KVCheckpointSaver, thread_id: str) -> tuple[dict[str, Any], list[Any]]:
    app = build_graph().compile(checkpointer=saver)
    cfg = {"configurable": {"thread_id": thread_id}}
    app.invoke(Command(resume="yes"), cfg)
    state = app.get_state(cfg)
    assert state.next == ()
    history = [
        (s.metadata["step"], s.next, s.config["configurable"]["checkpoint_id"])
        for s in app.get_state_history(cfg)
    ]
    return dict(state.values), history


# --- the migration on real server backends ---------------------------------------------------

THREAD = "user:42|chat/{weird} ü"


@pytest.mark.parametrize("backend_name", ["redis", "dynamodb"])
def test_interrupted_thread_resumes_on_destination(
    backend_name: str, url_sqlite: str, request: pytest.FixtureRequest, tmp_path: Any
) -> None:
    dst_url = str(request.getfixturevalue(f"url_{backend_name}"))
    # The reference: the same run that never moved.
    with checkpoint_kv.from_url(f"sqlite:///{tmp_path / 'ref.db'}") as ref:
        run_to_interrupt(ref, THREAD)
        ref_values, ref_history = resume(ref, THREAD)

    with checkpoint_kv.from_url(url_sqlite) as src:
        run_to_interrupt(src, THREAD)
        before = list(src.list({"configurable": {"thread_id": THREAD}}))
    with checkpoint_kv.from_url(dst_url) as dst:
        dst.setup()
    report = copy_threads(url_sqlite, dst_url)
    assert report.ok and len(report.threads) == 1
    (tc,) = report.threads
    assert tc.thread_id == THREAD and tc.checkpoints == len(before)
    assert tc.copied == tc.checkpoints + tc.writes + tc.blobs + 1 and tc.skipped == 0  # + the mark

    with checkpoint_kv.from_url(dst_url) as dst:
        moved = list(dst.list({"configurable": {"thread_id": THREAD}}))
        # ids, parents, metadata, values and pending writes (the interrupt) unchanged
        assert [(t.config, t.parent_config, t.metadata) for t in moved] == [
            (t.config, t.parent_config, t.metadata) for t in before
        ]
        assert [t.checkpoint for t in moved] == [t.checkpoint for t in before]
        assert [t.pending_writes for t in moved] == [t.pending_writes for t in before]
        values, history = resume(dst, THREAD)
    assert values == ref_values
    assert values["log"][-2:] == ["review yes", "act (yes)"]
    # Same shape of history (steps and next nodes); ids differ from the reference run.
    assert [h[:2] for h in history] == [h[:2] for h in ref_history]
    # the source is untouched and still resumable on its own
    with checkpoint_kv.from_url(url_sqlite) as src:
        assert len(list(src.list({"configurable": {"thread_id": THREAD}}))) == len(before)


# --- batching: 1,000 checkpoints -------------------------------------------------------------


def _fill(saver: KVCheckpointSaver, thread_id: str, n: int) -> None:
    """``n`` checkpoints, each with a changed channel (inline in its record) and two pending
    writes (one value)."""
    cfg: dict[str, Any] = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    cp = empty_checkpoint()
    version: str | None = None
    for i in range(n):
        version = saver.get_next_version(version)
        cp = {
            **cp,
            "id": f"1f000000-0000-6000-8000-{i:012d}",
            "channel_values": {"messages": [f"m{i}"]},
            "channel_versions": {"messages": version},
        }
        cfg = saver.put(
            cfg, cp, {"source": "loop", "step": i, "parents": {}}, {"messages": version}
        )  # type: ignore[arg-type,typeddict-item]
        saver.put_writes(cfg, [("messages", f"w{i}"), ("other", i)], task_id=f"task{i}")  # type: ignore[arg-type]


# moto's DynamoDB server takes seconds per 100-item transaction on a busy 2-core machine: the
# port-level counts are the same for every backend, so DynamoDB copies a smaller thread.
@pytest.mark.parametrize(
    ("backend_name", "n"), [("memory", 1000), ("redis", 1000), ("dynamodb", 150)]
)
def test_copy_1000_checkpoints_uses_batched_calls(
    backend_name: str, n: int, url_sqlite: str, request: pytest.FixtureRequest
) -> None:
    with checkpoint_kv.from_url(url_sqlite) as src:
        _fill(src, "big", n)
    keys = n * 2  # a record (with its new value) and one put_writes call (two writes) each
    dst_inner = open_store(str(request.getfixturevalue(f"url_{backend_name}")))
    dst_inner.setup()
    dst = CountingKV(dst_inner)
    src_store = CountingKV(open_store(url_sqlite))
    try:
        report = copy_threads(src_store, dst, ["big"])
        (tc,) = report.threads
        assert (tc.checkpoints, tc.writes, tc.blobs) == (n, n, 0)
        assert tc.copied == keys + 1 and tc.verified  # + the namespace's mark
        # Writes: at most 500 ops each, never one per key.
        # (data first, records held back and written last)
        batches = math.ceil((n + 1) / 500) + math.ceil(n / 500)  # data (+ the mark), records
        assert dst.calls["write"] == report.write_calls == batches
        # Reads: one source page per 1,000 keys (+1 per family for the last short page),
        # one destination range probe per source page, one verification pass.
        pages = math.ceil(n / 1000) + math.ceil(3 * n / 1000) + 1
        assert src_store.calls["scan"] <= pages + 2  # + the existence check
        assert dst.calls["scan"] <= 2 * pages
        assert dst.calls["get"] == 0
        total_src = src_store.total
        # Re-running writes nothing, and reads the same pages.
        src_store.reset()
        dst.reset()
        again = copy_threads(src_store, dst, ["big"])
        assert again.threads[0].copied == 0 and again.threads[0].skipped == keys + 1
        assert dst.calls["write"] == 0 and src_store.total == total_src
        with KVCheckpointSaver(dst_inner) as saver:
            latest = saver.get_tuple({"configurable": {"thread_id": "big"}})
            assert latest is not None
            assert latest.checkpoint["channel_values"] == {"messages": [f"m{n - 1}"]}
            assert [w[2] for w in latest.pending_writes or []] == [f"w{n - 1}", n - 1]
    finally:
        dst.close()
        src_store.close()


# --- resumable, never overwrites, verified ---------------------------------------------------


class FlakyStore(CountingKV):
    """Fails the ``fail_at``-th write (after applying nothing of it), like a dropped link."""

    def __init__(self, inner: KVStore, fail_at: int) -> None:
        super().__init__(inner)
        self.fail_at = fail_at

    def write(self, partition: str, ops: Sequence[Op]) -> None:
        if self.calls["write"] + 1 == self.fail_at:
            self.calls["write"] += 1
            raise ConnectionError("link dropped")
        super().write(partition, ops)


class LossyStore(CountingKV):
    """Silently loses every put_writes value: verification must notice."""

    def write(self, partition: str, ops: Sequence[Op]) -> None:
        super().write(partition, [op for op in ops if "!w!" not in op.key])  # type: ignore[union-attr]


def test_interrupted_copy_resumes_and_never_shows_half_checkpoints(url_sqlite: str) -> None:
    with checkpoint_kv.from_url(url_sqlite) as src:
        _fill(src, "t", 400)  # 800 keys: 2 write batches of 200 (writes), then 2 (records)
        src_tuples = {
            t.config["configurable"]["checkpoint_id"]: t
            for t in src.list({"configurable": {"thread_id": "t"}})
        }
    inner = open_store("memory://")
    flaky = FlakyStore(inner, fail_at=4)
    with pytest.raises(ConnectionError):
        copy_threads(url_sqlite, flaky, ["t"], batch_size=200)
    with KVCheckpointSaver(inner) as partial:
        seen = list(partial.list({"configurable": {"thread_id": "t"}}))
        # Writes were copied first, records last: whatever checkpoint is visible is whole.
        for t in seen:
            want = src_tuples[t.config["configurable"]["checkpoint_id"]]
            assert t.checkpoint == want.checkpoint
        assert len(seen) < len(src_tuples)
    report = copy_threads(url_sqlite, inner, ["t"], batch_size=400)
    (tc,) = report.threads
    assert tc.skipped > 0 and tc.copied + tc.skipped == 801 and tc.verified  # 800 + the mark
    with KVCheckpointSaver(inner) as done:
        assert len(list(done.list({"configurable": {"thread_id": "t"}}))) == 400


def test_copy_never_overwrites_a_thread_that_went_on(url_sqlite: str, tmp_path: Any) -> None:
    dst_url = f"sqlite:///{tmp_path / 'dst.db'}"
    with checkpoint_kv.from_url(url_sqlite) as src:
        run_to_interrupt(src, "t", turns=1)
    copy_threads(url_sqlite, dst_url)
    with checkpoint_kv.from_url(dst_url) as dst:
        values, _ = resume(dst, "t")  # the thread goes on at its new home
    report = copy_threads(url_sqlite, dst_url)  # someone runs the copy again
    assert report.threads[0].copied == 0
    with checkpoint_kv.from_url(dst_url) as dst:
        state = (
            build_graph().compile(checkpointer=dst).get_state({"configurable": {"thread_id": "t"}})
        )
        assert dict(state.values) == values and state.next == ()


def test_unknown_thread_copies_nothing(url_sqlite: str) -> None:
    with checkpoint_kv.from_url(url_sqlite) as src:
        _fill(src, "a", 3)
    dst = CountingKV(open_store("memory://"))
    with pytest.raises(ThreadNotFoundError, match="'nope'"):
        copy_threads(url_sqlite, dst, ["a", "nope"])
    assert dst.calls["write"] == 0


def test_verification_catches_lost_data(url_sqlite: str) -> None:
    with checkpoint_kv.from_url(url_sqlite) as src:
        _fill(src, "a", 5)
    with pytest.raises(CopyVerificationError) as info:
        copy_threads(url_sqlite, LossyStore(open_store("memory://")))
    assert info.value.report.threads[0].missing == 5
    assert not info.value.report.ok


def test_copy_all_threads_keeps_raw_ids(url_sqlite: str) -> None:
    ids = ["plain", "a|b:c/{d}", "ü" * 3, "x" * 1000]  # the last one is a hashed partition
    with checkpoint_kv.from_url(url_sqlite) as src:
        for t in ids:
            _fill(src, t, 2)
    dst = open_store("memory://")
    report = copy_threads(url_sqlite, dst)
    assert sorted(t.thread_id for t in report.threads) == sorted(ids)
    assert {t.partition for t in report.threads} == {K.partition(t) for t in ids}
    with KVCheckpointSaver(dst) as saver:
        for t in ids:
            assert len(list(saver.list({"configurable": {"thread_id": t}}))) == 2


def test_same_store_refused(url_sqlite: str) -> None:
    with pytest.raises(checkpoint_kv.ConfigError):
        copy_threads(url_sqlite, url_sqlite)


def test_exported_from_package() -> None:
    assert checkpoint_kv.copy_threads is copy_threads


def test_batches_respect_byte_budget(url_sqlite: str) -> None:
    with checkpoint_kv.from_url(url_sqlite) as src:
        _fill(src, "t", 10)
    dst = CountingKV(open_store("memory://"))
    sizes: list[int] = []
    inner_write = dst.inner.write

    def spy(partition: str, ops: Sequence[Op]) -> None:
        sizes.append(sum(len(o.key) + len(o.value) for o in ops if isinstance(o, Put)))
        inner_write(partition, ops)

    dst.inner.write = spy  # type: ignore[method-assign]
    copy_threads(url_sqlite, dst, batch_bytes=1000)
    assert len(sizes) > 1 and max(sizes) <= 1000


def test_copy_keeps_subgraph_namespaces_listable(url_sqlite: str) -> None:
    """The namespace index travels with the thread: before copy_threads and copy_thread
    shared one routine, copy_threads left it behind, and ``list`` of the copied thread without
    a namespace missed every subgraph checkpoint."""
    dst_url = url_sqlite.replace(".db", "-dst.db")
    with checkpoint_kv.from_url(url_sqlite) as src:
        for ns in ("", "child:1"):
            cp = {**empty_checkpoint(), "id": f"1f000000-0000-6000-8000-00000000000{len(ns)}"}
            cfg: Any = {"configurable": {"thread_id": "t", "checkpoint_ns": ns}}
            src.put(cfg, cp, {"source": "loop", "step": 0, "parents": {}}, {})  # type: ignore[typeddict-item]
        want = [(t.config["configurable"]["checkpoint_ns"]) for t in src.list(_thread("t"))]
        assert sorted(want) == ["", "child:1"]
        src.copy_thread("t", "t2")
        assert [t.config["configurable"]["checkpoint_ns"] for t in src.list(_thread("t2"))] == want
    copy_threads(url_sqlite, dst_url, ["t"])
    with checkpoint_kv.from_url(dst_url) as dst:
        assert [t.config["configurable"]["checkpoint_ns"] for t in dst.list(_thread("t"))] == want


def _thread(thread_id: str) -> Any:
    return {"configurable": {"thread_id": thread_id}}
