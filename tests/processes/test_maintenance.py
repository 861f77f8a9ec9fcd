"""Maintenance beside other processes, as plain stories on every backend (the interleaving
model test, tests/processes/test_interleavings.py, explores every order of the same port calls):

- a writer that names a home a prune deleted: its checkpoint reads whole, for one more ``get``;
- prune after prune keeps what a stale record names (versions are the truth);
- ``delete_for_runs`` beside a damaged record deletes everything else, then names the key;
- blobs kept for an abandoned leaf are collected only once ``GRACE`` has passed.
"""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.checkpoint.base import Checkpoint, CheckpointMetadata, empty_checkpoint

from checkpoint_kv import CorruptRecordError, KVCheckpointSaver
from checkpoint_kv import keys as K
from checkpoint_kv.port import Put
from checkpoint_kv.port_wrappers import CountingKV
from checkpoint_kv.saver import deleting

pytestmark = pytest.mark.usefixtures("no_carry")

DOC = "d" * 3000


def conf(thread: str, cid: str | None = None) -> Any:
    c: dict[str, Any] = {"thread_id": thread, "checkpoint_ns": ""}
    if cid:
        c["checkpoint_id"] = cid
    return {"configurable": c}


class Run:
    """A graph run's puts, by hand: ``doc`` once, ``messages`` at every step."""

    n = 0

    def __init__(self, saver: KVCheckpointSaver, thread: str, run_id: str) -> None:
        self.saver, self.thread, self.run_id = saver, thread, run_id
        tup = saver.get_tuple(conf(thread))
        self.parent: tuple[str, Checkpoint] | None = (
            None if tup is None else (tup.config["configurable"]["checkpoint_id"], tup.checkpoint)
        )

    def step(self, text: str) -> str:
        Run.n += 1
        versions = dict(self.parent[1]["channel_versions"]) if self.parent else {}
        values = dict(self.parent[1]["channel_values"]) if self.parent else {}
        changed: dict[str, Any] = {"messages": [*values.get("messages", []), text]}
        if self.parent is None:
            changed["doc"] = DOC
        nv = {}
        for ch, v in changed.items():
            versions[ch] = nv[ch] = self.saver.get_next_version(versions.get(ch))
            values[ch] = v
        cp = empty_checkpoint()
        cp["id"] = f"1f1{Run.n:05x}-0000-6000-8000-{Run.n:012x}"
        cp["channel_versions"], cp["channel_values"] = versions, values
        md: CheckpointMetadata = {"source": "loop", "step": Run.n, "run_id": self.run_id}  # type: ignore[typeddict-item]
        self.saver.put(conf(self.thread, self.parent[0] if self.parent else None), cp, md, nv)
        self.parent = (cp["id"], cp)
        return cp["id"]


def other_process(saver: KVCheckpointSaver) -> KVCheckpointSaver:
    """A saver on the same store with caches of its own, as another process has."""
    return KVCheckpointSaver(saver.store, serde=saver.serde)


def values(saver: KVCheckpointSaver, thread: str, cid: str | None = None) -> dict[str, Any]:
    tup = saver.get_tuple(conf(thread, cid))
    assert tup is not None
    return dict(tup.checkpoint["channel_values"])


def test_a_writer_naming_a_pruned_home_reads_whole(saver: KVCheckpointSaver) -> None:
    run = Run(saver, "t", "r1")
    for i in range(3):
        run.step(f"m{i}")
    other_process(saver).prune(["t"])  # deletes the record holding doc
    last = run.step("m3")  # this process still names it as doc's home
    reader = CountingKV(saver.store)
    fresh = KVCheckpointSaver(reader, serde=saver.serde)
    assert values(fresh, "t", last) == {"doc": DOC, "messages": ["m0", "m1", "m2", "m3"]}
    assert reader.total == 2  # the scan, then the version's blob: one more get, no more
    # A run that read the thread names the blob from then on: one round trip again.
    run2 = Run(other_process(saver), "t", "r2")
    cid = run2.step("m4")
    reader.reset()
    assert values(KVCheckpointSaver(reader, serde=saver.serde), "t", cid)["doc"] == DOC
    assert reader.total == 1


def test_prune_after_prune_keeps_what_a_stale_record_names(saver: KVCheckpointSaver) -> None:
    run = Run(saver, "t", "r1")
    for i in range(3):
        run.step(f"m{i}")
    pruner = other_process(saver)
    for i in range(3, 7):
        pruner.prune(["t"])
        run.step(f"m{i}")  # each names the pruned home of doc
    pruner.prune(["t"])
    assert [len(t.checkpoint["channel_values"]["messages"]) for t in saver.list(conf("t"))] == [7]
    assert values(other_process(saver), "t")["doc"] == DOC


def test_delete_for_runs_beside_a_damaged_record(saver: KVCheckpointSaver) -> None:
    """The damaged thread's namespace is left as it is and named; every other thread loses
    the run's checkpoints."""
    for thread in ("a", "b"):
        run = Run(saver, thread, "r1")
        run.step("x")
        Run(saver, thread, "r2").step("y")  # a new run goes on from the latest
    first = list(saver.list(conf("a")))[-1].config["configurable"]["checkpoint_id"]
    key = K.record_key("", first)
    raw = saver.store.get(K.partition("a"), [key])[key]
    saver.store.write(K.partition("a"), [Put(key, raw[:-3] + b"XYZ")])
    with pytest.raises(CorruptRecordError, match=key.replace("!", ".")):
        saver.delete_for_runs(["r1"])
    assert [t.metadata["run_id"] for t in saver.list(conf("b"))] == ["r2"]
    assert values(saver, "b")["messages"] == ["x", "y"]
    assert len(saver.store.get(K.partition("a"), [key])) == 1  # left as it was


def test_abandoned_leaf_blobs_wait_for_the_grace(
    saver: KVCheckpointSaver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """delete_for_runs of a thread's only run keeps the latest state's values by version (a
    run may be extending it); nobody does, and a prune GRACE later collects them."""
    run = Run(saver, "t", "r1")
    for i in range(3):
        run.step(f"m{i}")
    part = K.partition("t")
    saver.delete_for_runs(["r1"])
    assert saver.get_tuple(conf("t")) is None
    kept = saver.store.scan(part, *K.ALL_BLOBS).items
    assert {k.split(K.SEP)[2] for k, _ in kept} == {"doc", "messages"}
    assert len(saver.store.scan(part, *K.ALL_GARBAGE).items) == 1
    now = deleting.clock()
    monkeypatch.setattr(deleting, "clock", lambda: now + deleting.GRACE - 60)
    saver.prune(["t"])
    assert len(saver.store.scan(part, *K.ALL_BLOBS).items) == 2  # a run may still come
    monkeypatch.setattr(deleting, "clock", lambda: now + deleting.GRACE + 60)
    saver.prune(["t"])
    assert saver.store.scan(part, *K.ALL_BLOBS).items == []
    assert saver.store.scan(part, *K.ALL_GARBAGE).items == []


def test_a_run_extending_a_deleted_run_reads_whole(saver: KVCheckpointSaver) -> None:
    """The next run read the latest checkpoint of run r1; r1 is deleted before its first put."""
    run = Run(saver, "t", "r1")
    for i in range(3):
        run.step(f"m{i}")
    nxt = Run(saver, "t", "r2")  # has read the latest (a leaf)
    other_process(saver).delete_for_runs(["r1"])
    nxt.step("m3")
    assert values(other_process(saver), "t") == {"doc": DOC, "messages": ["m0", "m1", "m2", "m3"]}


def test_latest_beside_a_page_of_orphaned_writes(saver: KVCheckpointSaver) -> None:
    """Between a prune's delete of records and its delete of their writes, the latest record
    is followed by writes whose records are gone, a full page of them: the latest is still
    found (a regression: the next, empty, page read as "no checkpoint")."""
    run = Run(saver, "t", "r1")
    last = run.step("m0")
    # a mark, the record, 6 writes: the first page (8) is full, the next one empty
    older = [f"1f0{i:05x}-0000-6000-8000-{i:012x}" for i in range(6)]  # below the latest
    saver.store.write(
        K.partition("t"),
        [Put(K.batch_key("", cid, "task", K.write_nonce()), b"\n\nx") for cid in older],
    )
    tup = other_process(saver).get_tuple(conf("t"))
    assert tup is not None and tup.config["configurable"]["checkpoint_id"] == last
