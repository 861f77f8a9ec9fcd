"""A growing channel stored in the bytes it grew by (``checkpoint_kv.saver.growth``), on every
backend, always compared with LangGraph's ``InMemorySaver`` and read by a process that knows
nothing of the thread (a cold saver): forks, ``update_state``, a node editing an old message in
place, prune, ``delete_for_runs``, copies, subgraphs, encryption, damage and old releases.
Bytes are counted at the port (deterministic), never timed."""

from __future__ import annotations

import operator
import random
import string
from collections.abc import Sequence
from typing import Annotated, Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from checkpoint_kv import CorruptRecordError, KVCheckpointSaver, UnsupportedFormatError
from checkpoint_kv import keys as K
from checkpoint_kv.port import Delete, Op, Put, split_refs
from checkpoint_kv.port_wrappers import DelegatingKV
from checkpoint_kv.saver import growth
from checkpoint_kv.saver import records as R
from tests.support.graphs import cfg


class Chat(TypedDict, total=False):
    messages: Annotated[list[dict[str, str]], operator.add]


def _text(rnd: random.Random, n: int = 600) -> str:
    return "".join(rnd.choice(string.ascii_letters + " ") for _ in range(n))


def _builder(edit_at: int | None = None) -> Any:
    """A chat whose bot answers ~600 characters; at turn ``edit_at`` it also edits the first
    message in place (the bytes no longer extend: stored whole)."""

    def bot(s: Chat) -> dict[str, Any]:
        msgs = s["messages"]
        if edit_at is not None and len(msgs) == 2 * edit_at + 1:
            msgs[0]["content"] = "edited in place"
        return {"messages": [{"role": "ai", "content": f"{len(msgs)}:" + "x" * 600}]}

    b: Any = StateGraph(Chat)
    b.add_node("bot", bot)
    b.add_edge(START, "bot")
    b.add_edge("bot", END)
    return b


class Bytes(DelegatingKV):
    """Counts the bytes a saver puts, at the port."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.put_bytes = 0

    def write(self, partition: str, ops: Sequence[Op]) -> None:
        self.put_bytes += sum(len(op.value) for op in ops if isinstance(op, Put))
        return self.inner.write(partition, ops)  # type: ignore[no-any-return]


def _chat(graphs: Sequence[Any], thread: str, turns: range, seed: int = 7) -> None:
    # durability="sync": a node that edits the state in place (below) would otherwise race
    # LangGraph's background put of the previous step, on any saver.
    for turn in turns:
        text = _text(random.Random(seed * 1000 + turn))
        for g in graphs:
            g.invoke(
                {"messages": [{"role": "user", "content": text}]}, cfg(thread), durability="sync"
            )


def _cold(saver: KVCheckpointSaver) -> KVCheckpointSaver:
    return KVCheckpointSaver(saver.store, serde=saver.serde)


def _same(saver: KVCheckpointSaver, model: Any, thread: str, builder: Any = None) -> None:
    """State and whole history equal the model's, read by a cold saver."""
    cold = (builder or _builder()).compile(checkpointer=_cold(saver))
    assert cold.get_state(cfg(thread)).values == model.get_state(cfg(thread)).values
    got = [(s.values, s.next) for s in cold.get_state_history(cfg(thread))]
    assert got == [(s.values, s.next) for s in model.get_state_history(cfg(thread))]


def _grows(saver: KVCheckpointSaver) -> bool:
    """Whether the store asks for grown values (S3 does not: ``S3KV.grows_values``)."""
    return bool(getattr(saver.store, "grows_values", True))


def _grown(saver: KVCheckpointSaver, thread: str) -> list[R.Grown]:
    items = saver.store.scan(K.partition(thread), *K.ALL_CHECKPOINTS).items
    recs = [R.decode_stored_checkpoint(k, v)[1] for k, v in items if K.is_record(k)]
    return [g for rec in recs for g in rec.grown]


def test_a_plain_chat_writes_what_it_grew_by(url: str, saver: KVCheckpointSaver) -> None:
    counted = Bytes(saver.store)
    ours = _builder().compile(checkpointer=KVCheckpointSaver(counted))
    model = _builder().compile(checkpointer=InMemorySaver())
    _chat([ours, model], "t", range(30))
    before = counted.put_bytes
    _chat([ours, model], "t", range(30, 35))
    per_turn = (counted.put_bytes - before) / 5
    whole = len(saver.serde.dumps_typed(model.get_state(cfg("t")).values["messages"])[1])
    # 35 turns of ~1.3 KB: the whole list is ~44 KB, which each of a turn's 3 checkpoints
    # wrote whole before (~130 KB a turn). Now a turn writes its new messages (in the records
    # and in LangGraph's pending writes), each about log8(versions) times, the chains' keys
    # and each record's own fields: ~16 KB, flat in the chat's length.
    if _grows(saver):
        assert per_turn < 18_000 < whole / 2, (per_turn, whole)
    else:  # every value whole: what each turn wrote before (S3 bills requests, not bytes)
        assert per_turn > whole
    assert bool(_grown(saver, "t")) == _grows(saver)
    _same(saver, model, "t")


def test_a_node_editing_an_old_message_in_place_is_stored_whole(saver: KVCheckpointSaver) -> None:
    ours = _builder(edit_at=6).compile(checkpointer=saver)
    model = _builder(edit_at=6).compile(checkpointer=InMemorySaver())
    _chat([ours, model], "e", range(12))
    assert model.get_state(cfg("e")).values["messages"][0]["content"] == "edited in place"
    _same(saver, model, "e", _builder(edit_at=6))


def test_forks_and_update_state_extend_their_own_branch(saver: KVCheckpointSaver) -> None:
    ours = _builder().compile(checkpointer=saver)
    model = _builder().compile(checkpointer=InMemorySaver())
    _chat([ours, model], "f", range(10))
    for g in (ours, model):
        old = list(g.get_state_history(cfg("f")))[9].config
        forked = g.update_state(old, {"messages": [{"role": "user", "content": "fork " * 200}]})
        g.invoke(None, forked)
        g.invoke({"messages": [{"role": "user", "content": "after " * 150}]}, cfg("f"))
    _same(saver, model, "f")


def test_prune_delete_for_runs_and_copy_keep_every_chain(saver: KVCheckpointSaver) -> None:
    ours = _builder().compile(checkpointer=saver)
    model = _builder().compile(checkpointer=InMemorySaver())
    _chat([ours, model], "p", range(12))
    saver.copy_thread("p", "p2")
    at_copy = [s.values for s in model.get_state_history(cfg("p"))]
    saver.prune(["p"], strategy="keep_latest")
    cold = _builder().compile(checkpointer=_cold(saver))
    assert cold.get_state(cfg("p")).values == model.get_state(cfg("p")).values
    _chat([ours, model], "p", range(12, 16))  # the chain goes on past the pruned records
    assert cold.get_state(cfg("p")).values == model.get_state(cfg("p")).values
    assert [s.values for s in cold.get_state_history(cfg("p2"))] == at_copy


def test_delete_for_runs_of_an_earlier_run_keeps_the_later_runs_chain(
    saver: KVCheckpointSaver,
) -> None:
    ours = _builder().compile(checkpointer=saver)
    model = _builder().compile(checkpointer=InMemorySaver())
    for g in (ours, model):
        g.invoke({"messages": [{"role": "user", "content": "a" * 700}]}, cfg("r", run_id="r1"))
    _chat([ours, model], "r", range(8))
    first = [t for t in saver.list(cfg("r")) if t.metadata.get("run_id") == "r1"]
    assert first
    saver.delete_for_runs(["r1"])
    cold = _builder().compile(checkpointer=_cold(saver))
    assert cold.get_state(cfg("r")).values == model.get_state(cfg("r")).values


def test_subgraph_namespaces_grow_too(saver: KVCheckpointSaver) -> None:
    inner = _builder().compile()
    b: Any = StateGraph(Chat)
    b.add_node("sub", inner)
    b.add_edge(START, "sub")
    b.add_edge("sub", END)
    ours, model = b.compile(checkpointer=saver), b.compile(checkpointer=InMemorySaver())
    _chat([ours, model], "s", range(8))
    cold = b.compile(checkpointer=_cold(saver))
    assert cold.get_state(cfg("s")).values == model.get_state(cfg("s")).values
    assert bool(_grown(saver, "s")) == _grows(saver)


def test_encrypted_values_never_extend(url: str) -> None:
    from langgraph.checkpoint.serde.encrypted import EncryptedSerializer

    import checkpoint_kv

    serde = EncryptedSerializer.from_pycryptodome_aes(key=b"k" * 16)
    saver = checkpoint_kv.from_url(url, serde=serde)
    saver.setup()
    ours = _builder().compile(checkpointer=saver)
    model = _builder().compile(checkpointer=InMemorySaver())
    _chat([ours, model], "x", range(6))
    assert not _grown(saver, "x")
    assert ours.get_state(cfg("x")).values == model.get_state(cfg("x")).values


def test_a_missing_link_is_damage_naming_its_key(saver: KVCheckpointSaver) -> None:
    ours = _builder().compile(checkpointer=saver)
    _chat([ours], "d", range(10))
    latest = saver.get_tuple(cfg("d"))
    assert latest is not None
    part = K.partition("d")
    items = dict(saver.store.scan(part, *K.ALL_CHECKPOINTS).items)
    rec = R.decode_stored_checkpoint(
        K.record_key("", latest.config["configurable"]["checkpoint_id"]),
        items[K.record_key("", latest.config["configurable"]["checkpoint_id"])],
    )[1]
    grown = [g for g in rec.grown if g.channel == "messages"]
    if not _grows(saver):  # S3: every value whole, no chain to damage
        assert not grown
        return
    assert grown, "the latest checkpoint's messages are grown"
    link = grown[0].chain[-1]  # the value stored whole, at the root of the chain
    saver.store.write(part, [Delete(link.key)])
    with pytest.raises(CorruptRecordError, match="missing"):
        _cold(saver).get_tuple(cfg("d"))


def test_an_older_release_refuses_the_new_format(
    saver: KVCheckpointSaver, monkeypatch: pytest.MonkeyPatch
) -> None:
    _chat([_builder().compile(checkpointer=saver)], "o", range(6))
    items = saver.store.scan(K.partition("o"), *K.ALL_CHECKPOINTS).items
    newest = [(k, v) for k, v in items if K.is_record(k) and split_refs(v)[1][1] == 3]
    if not _grows(saver):  # S3: every value whole, so its records stay format 2
        assert not newest
        return
    assert newest
    monkeypatch.setattr(R.ENVELOPE, "newest", 2)  # what the release before this one reads
    R.MEMO.clear()
    with pytest.raises(UnsupportedFormatError, match="upgrade"):
        R.decode_stored_checkpoint(*newest[0])


def test_skip_deltas_bound_the_chain() -> None:
    """The chain a read walks stays short however long the thread: at most 7 links per octal
    digit of the depth, and the base is always in the previous value's chain."""
    for depth in range(1, 5000):
        base = growth.base_depth(depth)
        assert 0 <= base < depth
        walk, d = 0, depth
        while d:
            d, walk = growth.base_depth(d), walk + 1
        assert walk <= 7 * 5
    chain = [4095]
    while chain[-1]:
        chain.append(growth.base_depth(chain[-1]))
    assert growth.base_depth(4096) in chain


def test_a_thread_deleted_and_started_again_never_builds_on_its_past(
    saver: KVCheckpointSaver,
) -> None:
    """Another process deletes the thread; this process, which remembers the old values, starts
    it again: the new run's values are stored whole (never built on deleted records), and the
    thread reads as the new run alone."""
    ours = _builder().compile(checkpointer=saver)
    _chat([ours], "z", range(8))
    _cold(saver).delete_thread("z")
    model = _builder().compile(checkpointer=InMemorySaver())
    _chat([ours, model], "z", range(100, 106))
    _same(saver, model, "z")
