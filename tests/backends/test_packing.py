"""Storage format 2 ("packed", see ``checkpoint_kv/saver/packing.py``) on every backend: a put
is one value, unchanged values are read from the record that wrote them, and threads written in
format 1 (a blob per value: older versions, shallow savers) go on in either format, read by a
process that knows nothing of them (a cold ``Locator``), equal to ``InMemorySaver``.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any

import pytest
from langgraph.channels.delta import DeltaChannel
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from checkpoint_kv import KVCheckpointSaver
from checkpoint_kv import keys as K
from checkpoint_kv.port import Put, split_refs
from checkpoint_kv.port_wrappers import CountingKV
from checkpoint_kv.saver import records as R


class Plain(TypedDict, total=False):
    messages: Annotated[list[str], operator.add]
    notes: str  # written once: later checkpoints read it from its home


class Delta(TypedDict, total=False):
    messages: Annotated[list[str], DeltaChannel(operator.add, snapshot_frequency=3)]
    notes: str


NOTES = "first " * 500  # too large to be copied into later records: read from its home


def _graph(saver: Any, schema: Any) -> Any:
    b = StateGraph(schema)
    b.add_node("bot", lambda s: {"messages": [f"bot:{len(s['messages'])}"]})
    b.add_node("note", lambda s: {} if s.get("notes") else {"notes": NOTES})
    b.add_edge(START, "bot")
    b.add_edge("bot", "note")
    b.add_edge("note", END)
    return b.compile(checkpointer=saver)


def _cfg(thread: str) -> Any:
    return {"configurable": {"thread_id": thread}}


def _turns(graphs: tuple[Any, ...], turns: range, thread: str, **kw: Any) -> None:
    """The same chat turns on every graph (ours and the InMemorySaver model)."""
    for turn in turns:
        for g in graphs:
            g.invoke({"messages": [f"user:{turn}"]}, _cfg(thread), **kw)


def _records(saver: KVCheckpointSaver, thread: str) -> dict[str, R.CheckpointRecord]:
    items = saver.store.scan(K.partition(thread), *K.ALL_CHECKPOINTS).items
    return {k: R.decode_checkpoint(k, split_refs(v)[1]) for k, v in items if K.is_record(k)}


def _same_as_model(saver: KVCheckpointSaver, model: Any, thread: str, schema: Any) -> None:
    """The state and the whole history, read by a process that knows nothing of the thread."""
    cold = _graph(KVCheckpointSaver(saver.store, serde=saver.serde, shallow=saver.shallow), schema)
    got, want = cold.get_state(_cfg(thread)), model.get_state(_cfg(thread))
    assert got.values == want.values and got.next == want.next
    if not saver.shallow:
        hist = [s.values for s in cold.get_state_history(_cfg(thread))]
        assert hist == [s.values for s in model.get_state_history(_cfg(thread))]


@pytest.mark.parametrize("schema", [Plain, Delta], ids=["plain", "delta"])
def test_format1_thread_goes_on_packed(saver: KVCheckpointSaver, schema: Any) -> None:
    model = _graph(InMemorySaver(), schema)
    ours = _graph(saver, schema)
    saver.shallow = True  # writes format 1: every value a blob of its own
    _turns((ours, model), range(4), "t")
    assert all(r.inline is None for r in _records(saver, "t").values())
    _same_as_model(saver, model, "t", schema)
    saver.shallow = False
    _turns((ours, model), range(4, 9), "t")
    recs = _records(saver, "t")
    assert any(r.inline is None for r in recs.values())
    assert any(r.inline is not None for r in recs.values())
    ours_model_state = model.get_state(_cfg("t")).values
    assert ours.get_state(_cfg("t")).values == ours_model_state
    # History older than the switch was pruned by the shallow saver: compare the state only.
    cold = _graph(KVCheckpointSaver(saver.store, serde=saver.serde), schema)
    assert cold.get_state(_cfg("t")).values == ours_model_state


@pytest.mark.parametrize("schema", [Plain, Delta], ids=["plain", "delta"])
def test_packed_thread_goes_on_shallow(saver: KVCheckpointSaver, schema: Any) -> None:
    """A shallow saver deletes older records: values it would read from them become blobs."""
    model = _graph(InMemorySaver(), schema)
    ours = _graph(saver, schema)
    _turns((ours, model), range(4), "t")
    _same_as_model(saver, model, "t", schema)
    shallow = KVCheckpointSaver(saver.store, serde=saver.serde, shallow=True)
    ours = _graph(shallow, schema)
    _turns((ours, model), range(4, 9), "t")
    _same_as_model(shallow, model, "t", schema)


@pytest.mark.parametrize("schema", [Plain, Delta], ids=["plain", "delta"])
def test_durability_exit_read_cold(saver: KVCheckpointSaver, schema: Any) -> None:
    """With durability="exit" a put's parent was never stored: its homes still resolve."""
    model = _graph(InMemorySaver(), schema)
    ours = _graph(saver, schema)
    _turns((ours, model), range(7), "x", durability="exit")
    _same_as_model(saver, model, "x", schema)


def test_a_put_is_one_value_and_homes_are_records(saver: KVCheckpointSaver) -> None:
    store = CountingKV(saver.store)
    counted = KVCheckpointSaver(store, serde=saver.serde)
    g = _graph(counted, Plain)
    g.invoke({"messages": ["hi"]}, _cfg("one"))
    ops: list[list[Any]] = []
    inner_write = store.inner.write

    def spy(partition: str, batch: Any) -> None:
        ops.append(list(batch))
        inner_write(partition, batch)

    store.inner.write = spy  # type: ignore[method-assign]
    g.invoke({"messages": ["again"]}, _cfg("one"))
    store.inner.write = inner_write  # type: ignore[method-assign]
    puts = [b for b in ops if any(K.is_record(op.key) for op in b)]
    assert puts and all(len(b) == 1 and isinstance(b[0], Put) and b[0].commit for b in puts)
    latest = counted.get_tuple(_cfg("one"))
    assert latest is not None and latest.checkpoint["channel_values"]["notes"] == NOTES
    recs = _records(saver, "one")
    newest = recs[max(recs)]
    assert newest.homes and all(K.is_record(h) for _, _, h in newest.homes)
    assert {ch for ch, _, _ in newest.homes} >= {"notes"}


def test_cold_put_reads_its_parent_once(saver: KVCheckpointSaver) -> None:
    """A put whose parent this process never saw reads the parent's record, once."""
    cp = empty_checkpoint()
    cp["id"] = "1f0-a"
    va, vb = saver.get_next_version(None), saver.get_next_version(None)
    cp["channel_versions"] = {"a": va, "b": vb}
    cp["channel_values"] = {"a": "A", "b": "B"}
    parent = saver.put(_cfg("c"), cp, {}, {"a": va, "b": vb})
    store = CountingKV(saver.store)
    cold = KVCheckpointSaver(store, serde=saver.serde)
    child = {**cp, "id": "1f0-b", "channel_versions": {"a": va, "b": saver.get_next_version(vb)}}
    child["channel_values"] = {"a": "A", "b": "B2"}
    cfg = cold.put(parent, child, {}, {"b": child["channel_versions"]["b"]})
    assert dict(store.calls) == {"get": 1, "write": 1, "items": 1}
    store.reset()
    cold.put(cfg, {**child, "id": "1f0-c"}, {}, {})  # now known: no read
    assert dict(store.calls) == {"write": 1}
    t = KVCheckpointSaver(saver.store, serde=saver.serde).get_tuple(_cfg("c"))
    assert t is not None and t.checkpoint["channel_values"] == {"a": "A", "b": "B2"}


def test_small_unchanged_values_are_copied_large_ones_homed(saver: KVCheckpointSaver) -> None:
    """A record holds copies of its small unchanged values (so "the latest checkpoint" is one
    value to read) and names the home of the large ones (stored once)."""
    va, vb, vc = (saver.get_next_version(None) for _ in range(3))
    cp = empty_checkpoint()
    cp["id"] = "1f0-a"
    cp["channel_versions"] = {"small": va, "large": vb}
    cp["channel_values"] = {"small": "s", "large": "L" * 5000}
    cfg = saver.put(_cfg("s"), cp, {}, {"small": va, "large": vb})
    child = {**cp, "id": "1f0-b", "channel_versions": {"small": va, "large": vb, "new": vc}}
    child["channel_values"] = {**cp["channel_values"], "new": 1}
    saver.put(cfg, child, {}, {"new": vc})
    rec = _records(saver, "s")[K.record_key("", "1f0-b")]
    assert {ch for ch, _, _ in rec.inline or ()} == {"small", "new"}
    assert [(ch, h) for ch, _, h in rec.homes] == [("large", K.record_key("", "1f0-a"))]
    t = KVCheckpointSaver(saver.store, serde=saver.serde).get_tuple(_cfg("s"))
    assert t is not None and t.checkpoint["channel_values"] == child["channel_values"]
