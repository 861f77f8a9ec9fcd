"""Round-trip budget, counted at the port (deterministic, never timed), on every backend.

put = 1 write, put_writes = 1 write, get_tuple = 1 scan (the store follows the record's blob
references), list(limit=10) <= 3 calls, get_delta_channel_history <= 4 calls however long the
chain. Backends with their own wire-level counts (Redis commands, AWS API calls) test those in
their own modules; this is the port-level promise the saver makes to every backend.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

import checkpoint_kv
from checkpoint_kv import KVCheckpointSaver
from checkpoint_kv.port_wrappers import CountingKV
from tests.support.graphs import DeltaChat, DeltaChat5, PlainChat, chat


@pytest.fixture
def counted(url: str) -> Any:
    store = CountingKV(checkpoint_kv.from_url(url).store)
    saver = KVCheckpointSaver(store)
    saver.setup()
    yield saver, store
    saver.close()


def _chat(saver: KVCheckpointSaver, state: type, turns: int) -> tuple[Any, dict[str, Any]]:
    g = chat(saver, state, tool=True, say="bot says ")
    cfg = {"configurable": {"thread_id": "budget-" + uuid.uuid4().hex[:8]}}
    for i in range(turns):
        g.invoke({"messages": [f"user {i}"]}, cfg, durability="sync")
    return g, cfg


class Recorder:
    """Port calls made inside each saver method call, attributed per thread (LangGraph runs
    put/put_writes from background threads, so a global counter would mix them)."""

    def __init__(self, saver: KVCheckpointSaver, store: CountingKV) -> None:
        self.per_call: dict[str, list[dict[str, int]]] = {}
        self.local = threading.local()
        for name in ("get", "scan", "scan_many", "scan_records", "write", "drop", "partitions"):
            if hasattr(store, name):
                self._wrap_port(store, name)
        for name in ("put", "put_writes", "get_tuple"):
            self._wrap(saver, name)

    def _wrap_port(self, store: CountingKV, name: str) -> None:
        inner = getattr(store, name)

        def wrapped(*a: Any, **kw: Any) -> Any:
            frame = getattr(self.local, "frame", None)
            if frame is not None:
                frame[name] = frame.get(name, 0) + 1
            return inner(*a, **kw)

        setattr(store, name, wrapped)

    def _wrap(self, saver: KVCheckpointSaver, name: str) -> None:
        inner = getattr(saver, name)

        def wrapped(*a: Any, **kw: Any) -> Any:
            self.local.frame = {}
            try:
                return inner(*a, **kw)
            finally:
                self.per_call.setdefault(name, []).append(self.local.frame)
                self.local.frame = None

        setattr(saver, name, wrapped)


def test_graph_step_costs_one_round_trip_per_write(counted: Any) -> None:
    saver, store = counted
    rec = Recorder(saver, store)
    _chat(saver, PlainChat, turns=5)
    assert rec.per_call["put"] and all(c == {"write": 1} for c in rec.per_call["put"])
    assert rec.per_call["put_writes"] and all(c == {"write": 1} for c in rec.per_call["put_writes"])
    # One get_tuple per invoke, each a single port call.
    assert all(sum(c.values()) == 1 for c in rec.per_call["get_tuple"]), rec.per_call["get_tuple"]


def test_reads_budget(counted: Any) -> None:
    saver, store = counted
    g, cfg = _chat(saver, PlainChat, turns=12)
    store.reset()
    latest = saver.get_tuple(cfg)
    assert latest is not None and store.total == 1
    store.reset()
    assert saver.get_tuple(latest.parent_config) is not None
    assert store.total == 1
    store.reset()
    page = list(saver.list(cfg, limit=10))
    assert len(page) == 10 and store.total <= 3, store.calls
    store.reset()
    page2 = list(saver.list(cfg, before=page[-1].config, limit=10))
    assert len(page2) == 10 and store.total <= 3, store.calls
    store.reset()
    assert len(list(g.get_state_history(cfg, limit=10))) == 10
    assert store.total <= 3, store.calls


async def test_async_makes_the_same_calls(counted: Any) -> None:
    saver, store = counted
    _, cfg = _chat(saver, PlainChat, turns=3)
    store.reset()
    assert saver.get_tuple(cfg) is not None
    sync_calls = dict(store.calls)
    store.reset()
    assert await saver.aget_tuple(cfg) is not None
    assert dict(store.calls) == sync_calls
    store.reset()
    assert len([t async for t in saver.alist(cfg, limit=10)]) == 10
    assert store.total <= 3


@pytest.mark.heavy  # 150 turns: minutes on moto (the AWS backends count calls in their tests)
def test_delta_history_is_constant(counted: Any, backend: str) -> None:
    saver, store = counted
    turns = 150
    g, cfg = _chat(saver, DeltaChat, turns=turns)
    store.reset()
    state = g.get_state(cfg)
    assert len(state.values["messages"]) == 3 * turns
    assert state.values["messages"][-3:] == [
        f"user {turns - 1}",
        f"bot says {3 * turns - 2}",
        "tool ok",
    ]
    # get_state = get_tuple + get_delta_channel_history: 1 + at most 4 port calls,
    # where the base class would walk ~one get_tuple per ancestor back to the snapshot.
    assert store.total <= 5, store.calls
    store.reset()
    tup = saver.get_tuple(cfg)
    assert tup is not None
    store.reset()
    hist = saver.get_delta_channel_history(config=tup.config, channels=["messages"])
    assert store.total <= 4, store.calls
    base = checkpoint_kv.KVCheckpointSaver.__mro__[1].get_delta_channel_history  # the base walk
    assert hist == base(saver, config=tup.config, channels=["messages"])


def test_delta_get_state_is_two_calls(counted: Any) -> None:
    """get_state = get_tuple + ONE history scan: the counters get_tuple just read size the
    history's first scan for the whole chain. Without them (a saver asked for the history of a
    checkpoint it never read) the first page sizes a second scan: one call more, same history."""
    saver, store = counted
    g, cfg = _chat(saver, DeltaChat, turns=30)  # ~90 checkpoints since the snapshot
    store.reset()
    state = g.get_state(cfg)
    assert len(state.values["messages"]) == 90
    assert store.total == 2, store.calls
    tup = saver.get_tuple(cfg)
    assert tup is not None
    store.reset()
    warm = saver.get_delta_channel_history(config=tup.config, channels=["messages"])
    assert store.total == 1, store.calls
    fresh = KVCheckpointSaver(store)  # same store, a saver that has read nothing (not closed:
    store.reset()  # the fixture closes the store)
    cold = fresh.get_delta_channel_history(config=tup.config, channels=["messages"])
    assert cold == warm
    assert store.total == 2, store.calls


@pytest.mark.parametrize(("state", "turns"), [(DeltaChat, 30), (DeltaChat5, 12)])
def test_delta_history_page_is_two_calls(counted: Any, state: type, turns: int) -> None:
    """A ``get_state_history`` page of a DeltaChannel chat: the listing's call and ONE history
    read for the whole page (LangGraph asks for each checkpoint's history in turn; the first
    read brings those under it). With snapshots every 5 updates the page crosses snapshots.
    Every page equals InMemorySaver's, page after page, and a second pass is read again."""
    saver, store = counted
    g, cfg = _chat(saver, state, turns=turns)
    model, mcfg = _chat(InMemorySaver(), state, turns=turns)
    before: Any = None
    mbefore: Any = None
    for _ in range(3):
        store.reset()
        page = list(g.get_state_history(cfg, limit=10, before=before))
        assert store.total <= 2, store.calls
        mpage = list(model.get_state_history(mcfg, limit=10, before=mbefore))
        assert [s.values for s in page] == [s.values for s in mpage]
        before, mbefore = page[-1].config, mpage[-1].config
    store.reset()
    again = list(g.get_state_history(cfg, limit=10))
    assert [s.values for s in again] == [s.values for s in model.get_state_history(mcfg, limit=10)]
    assert store.total <= 2, store.calls
