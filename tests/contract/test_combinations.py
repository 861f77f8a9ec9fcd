"""Options that meet each other, on every backend: each test here reproduces a silent loss that
a review found (issue #11) and now must raise a typed error or match ``InMemorySaver``.

- shallow (``history=latest``) + ``DeltaChannel``: the chain back to the snapshot survives;
- a ``put_writes`` cut short, then the task re-run with other values: one run, whole;
- a missing referenced value: ``CorruptRecordError`` naming the key, never an empty channel;
- ``list`` of a whole thread reads about one page, not the thread (items counted);
- a damaged old record: the healthy checkpoints before it are listed, then the error;
- prune deletes records before their data, and never a blob no dead record referenced;
- shallow + a put whose ``new_versions`` disagree with its checkpoint's versions: each
  checkpoint reads the versions it names, as on InMemorySaver.
"""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.memory import InMemorySaver

import checkpoint_kv
from checkpoint_kv import CorruptRecordError, KVCheckpointSaver
from checkpoint_kv import keys as K
from checkpoint_kv.port import Delete, Put, split_refs
from checkpoint_kv.port_wrappers import CountingKV
from tests.contract.test_scenarios import versions_disagree
from tests.support.faults import FaultPlan, InjectedFault, faulty_saver
from tests.support.graphs import DeltaChat5, PlainChat, cfg, chat


def test_shallow_with_delta_channel_keeps_every_message(url: str) -> None:
    """12 turns with snapshot_frequency=5: every turn's state equals InMemorySaver's, and the
    history shows one checkpoint (the latest)."""
    sep = "&" if "?" in url else "?"
    saver = checkpoint_kv.from_url(f"{url}{sep}history=latest")
    saver.setup()
    ours, model = chat(saver, DeltaChat5), chat(InMemorySaver(), DeltaChat5)
    for turn in range(12):
        inp = {"messages": [f"user:{turn}"]}
        ours.invoke(inp, cfg("t"))
        model.invoke(inp, cfg("t"))
        got = ours.get_state(cfg("t")).values["messages"]
        assert got == model.get_state(cfg("t")).values["messages"], turn
        assert len(list(ours.get_state_history(cfg("t")))) == 1
    # A new saver object reads the same state from the store.
    again = KVCheckpointSaver(saver.store, shallow=True)
    assert len(chat(again, DeltaChat5).get_state(cfg("t")).values["messages"]) == 24
    saver.close()


def test_shallow_with_disagreeing_versions_reads_the_named_ones(url: str) -> None:
    """The shallow put keeps the version its checkpoint names, not the one it wrote."""
    sep = "&" if "?" in url else "?"
    shallow = f"{url}{sep}history=latest"
    saver = checkpoint_kv.from_url(shallow)
    saver.setup()
    model = InMemorySaver()
    expected = versions_disagree(lambda: model)
    got = versions_disagree(lambda: KVCheckpointSaver(saver.store, shallow=True))
    assert got[:3] == expected[:3]
    assert got[3] == expected[3][:1]  # shallow: the latest checkpoint only


def test_cut_short_put_writes_then_rerun_shows_one_run(saver: KVCheckpointSaver) -> None:
    """Run 1 of a task is cut short (the write fails part-way); the re-run stores other
    values. The reader sees run 2's writes, whole; never a mix of the two runs."""
    c = saver.put(cfg("w", checkpoint_ns=""), empty_checkpoint(), {}, {})
    plan = FaultPlan(fail_at=1, kind="partial")
    with pytest.raises(InjectedFault):
        faulty_saver(saver, plan).put_writes(c, [("x", "run1"), ("y", "run1")], "task-a")
    saver.put_writes(c, [("x", "run2"), ("y", "run2")], "task-a")
    t = saver.get_tuple(c)
    assert t is not None
    assert [(w[1], w[2]) for w in t.pending_writes or []] == [("x", "run2"), ("y", "run2")]


def test_rerun_after_a_whole_run_keeps_the_first(saver: KVCheckpointSaver) -> None:
    """As InMemorySaver: a stored ordinary write is kept; special channels take the latest."""
    c = saver.put(cfg("w2", checkpoint_ns=""), empty_checkpoint(), {}, {})
    model = InMemorySaver()
    mc = model.put(cfg("w2", checkpoint_ns=""), empty_checkpoint(), {}, {})
    for s, conf in ((saver, c), (model, mc)):
        s.put_writes(conf, [("x", 1), ("__interrupt__", "first")], "task-a")
        s.put_writes(conf, [("x", 2), ("y", 2), ("__interrupt__", "second")], "task-a")
    got, want = saver.get_tuple(c), model.get_tuple(mc)
    assert got is not None and want is not None
    assert got.pending_writes == want.pending_writes


def _victim(saver: KVCheckpointSaver) -> tuple[Any, str]:
    """A chat thread and the key of a value its latest checkpoint reads from elsewhere: the
    record that wrote that value (its home, see ``checkpoint_kv.saver.packing``)."""
    graph = chat(saver, PlainChat)
    graph.invoke({"messages": ["hi"]}, cfg("v"))
    t = saver.get_tuple(cfg("v"))
    assert t is not None
    key = K.record_key("", t.config["configurable"]["checkpoint_id"])
    refs, _ = split_refs(saver.store.get(K.partition("v"), [key])[key])
    homes = [r for r in refs if not K.is_mark(r)]  # besides its incarnation's mark
    assert homes and all(K.is_record(r) for r in homes), refs
    return graph, homes[0]


def test_missing_value_raises_naming_the_key(saver: KVCheckpointSaver, no_carry: None) -> None:
    graph, key = _victim(saver)
    saver.store.write(K.partition("v"), [Delete(key)])
    with pytest.raises(CorruptRecordError, match=key.replace("!", ".")):
        saver.get_tuple(cfg("v"))
    with pytest.raises(CorruptRecordError):
        graph.get_state(cfg("v"))
    with pytest.raises(CorruptRecordError):
        list(saver.list(cfg("v")))


def test_empty_channel_is_not_damage(saver: KVCheckpointSaver) -> None:
    """A channel in new_versions without a value is stored as an explicit empty marker."""
    cp = empty_checkpoint()
    v = saver.get_next_version(None)
    cp["channel_versions"] = {"gone": v}
    c = saver.put(cfg("e", checkpoint_ns=""), cp, {}, {"gone": v})
    t = saver.get_tuple(c)
    assert t is not None and "gone" not in t.checkpoint["channel_values"]


def test_missing_delta_ancestor_raises(saver: KVCheckpointSaver) -> None:
    """A DeltaChannel chain cut in the middle is damage, never a shorter message list."""
    graph = chat(saver, DeltaChat5)
    for turn in range(2):  # 4 updates: no snapshot yet (snapshot_frequency=5)
        graph.invoke({"messages": [f"user:{turn}"]}, cfg("d"))
    history = list(saver.list(cfg("d", checkpoint_ns="")))
    victim = history[2]
    key = K.record_key("", victim.config["configurable"]["checkpoint_id"])
    saver.store.write(K.partition("d"), [Delete(key)])
    with pytest.raises(CorruptRecordError, match="missing"):
        graph.get_state(cfg("d"))


def test_list_without_namespace_reads_one_page(url: str) -> None:
    """list(limit=1) of a whole thread reads about one page, not the thread."""
    store = CountingKV(checkpoint_kv.from_url(url).store)
    saver = KVCheckpointSaver(store)
    saver.setup()
    graph = chat(saver, PlainChat)
    for turn in range(40):
        graph.invoke({"messages": [f"user:{turn}"]}, cfg("long"))
    store.reset()
    got = list(saver.list(cfg("long"), limit=1))
    assert len(got) == 1 and store.total <= 3, store.calls
    assert store.calls["items"] <= 40, store.calls  # the thread holds over 200 items
    store.reset()
    got = list(saver.list(cfg("long", checkpoint_ns=""), limit=1))
    assert len(got) == 1 and store.calls["items"] <= 20, store.calls
    saver.close()


def test_damaged_record_does_not_hide_the_healthy_ones(saver: KVCheckpointSaver) -> None:
    graph = chat(saver, PlainChat)
    for turn in range(4):
        graph.invoke({"messages": [f"user:{turn}"]}, cfg("dmg"))
    history = list(saver.list(cfg("dmg")))
    # The oldest: no later checkpoint reads a value from it (a damaged home is named by the
    # checkpoints that read from it, see test_missing_value_raises_naming_the_key).
    bad = history[-1].config["configurable"]["checkpoint_id"]
    key = K.record_key("", bad)
    value = saver.store.get(K.partition("dmg"), [key])[key]
    saver.store.write(K.partition("dmg"), [Put(key, value[:-3] + b"XYZ")])
    seen: list[str] = []
    with pytest.raises(CorruptRecordError, match=key.replace("!", ".")):
        for t in saver.list(cfg("dmg")):
            seen.append(t.config["configurable"]["checkpoint_id"])
    assert seen == [t.config["configurable"]["checkpoint_id"] for t in history[:-1]]
    with pytest.raises(CorruptRecordError):
        list(saver.list(None))


def test_prune_deletes_records_first_and_spares_foreign_blobs(saver: KVCheckpointSaver) -> None:
    """A prune first keeps by version the values a kept or recent checkpoint reads from dead
    records (it never rewrites a record), then deletes only records; a blob no dead record
    references (a concurrent put's, not yet committed) survives."""
    graph = chat(saver, PlainChat)
    for turn in range(3):
        graph.invoke({"messages": [f"user:{turn}"]}, cfg("p"))
    part = K.partition("p")
    foreign = K.blob_key("", "messages", saver.get_next_version("00000000000000000000000000000009"))
    saver.store.write(part, [Put(foreign, b"uncommitted")])
    writes: list[Any] = []
    store = saver.store

    class Spy:
        def __getattr__(self, name: str) -> Any:
            return getattr(store, name)

        def write(self, partition: str, ops: Any) -> None:
            writes.append(list(ops))
            store.write(partition, ops)

    KVCheckpointSaver(Spy(), serde=saver.serde).prune(["p"])  # type: ignore[arg-type]
    assert writes
    if all(isinstance(op, Put) for op in writes[0]):
        # values kept by version first (a run may extend a recent checkpoint), never a record
        assert all(op.key[:2] in ("b!", "g!") for op in writes.pop(0))
    assert all(isinstance(op, Delete) and K.is_record(op.key) for op in writes[0])
    assert not any(isinstance(op, Put) for w in writes for op in w)
    assert saver.store.get(part, [foreign]) == {foreign: b"uncommitted"}
    assert len(list(saver.list(cfg("p")))) == 1
    assert len(graph.get_state(cfg("p")).values["messages"]) == 6


def test_partial_delete_thread_then_again(saver: KVCheckpointSaver) -> None:
    graph = chat(saver, DeltaChat5)
    graph.invoke({"messages": ["hi"]}, cfg("gone"))
    with pytest.raises(InjectedFault):
        faulty_saver(saver, FaultPlan(fail_at=1, kind="error")).delete_thread("gone")
    saver.delete_thread("gone")
    assert saver.get_tuple(cfg("gone")) is None
    assert list(saver.list(cfg("gone"))) == []


def test_prune_leaves_a_damaged_namespace_and_names_it(saver: KVCheckpointSaver) -> None:
    graph = chat(saver, PlainChat)
    for thread in ("ok", "bad"):
        for turn in range(3):
            graph.invoke({"messages": [f"user:{turn}"]}, cfg(thread))
    old = list(saver.list(cfg("bad")))[-1].config["configurable"]["checkpoint_id"]
    key = K.record_key("", old)
    value = saver.store.get(K.partition("bad"), [key])[key]
    saver.store.write(K.partition("bad"), [Put(key, value[:-3] + b"XYZ")])
    with pytest.raises(CorruptRecordError, match=key.replace("!", ".")):
        saver.prune(["bad", "ok"])
    assert len(list(saver.list(cfg("ok")))) == 1  # the healthy thread was pruned
    saver.prune(["bad"], skip_corrupt=True)  # warns, leaves it
    assert len(graph.get_state(cfg("bad")).values["messages"]) == 6
