"""Long-term memory (``checkpoint_kv.store``): LangGraph's BaseStore on every backend, held to
``InMemoryStore`` on the same operations (filters, paging, namespace listing, ranking), plus
what InMemoryStore does not have (TTL with a fake clock, the sweeper), round trips counted at
the port, a graph using ``store=``, and a store beside a saver on one URL.

Order: InMemoryStore returns search results in insertion order, PostgresStore newest first; this
store returns them by namespace, then by stored key (``layout.item_key``: raw order for keys of
letters, digits and ``._-``); pages are stable. The comparisons sort the reference the
same way before slicing a page, so every page is still checked against InMemoryStore's set.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from langgraph.store.base import (
    GetOp,
    InvalidNamespaceError,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    SearchOp,
)
from langgraph.store.memory import InMemoryStore, _does_match

import checkpoint_kv
from checkpoint_kv import ConfigError
from checkpoint_kv.port_wrappers import CountingKV
from checkpoint_kv.registry import open_store
from checkpoint_kv.store import KVBaseStore, is_store_partition
from checkpoint_kv.store import layout as L
from tests.conftest import FAST_BACKENDS


class FakeClock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def _vec(text: str) -> list[float]:
    """A deterministic 8-dim embedding: letters weighted by position."""
    v = [0.0] * 8
    for i, ch in enumerate(text):
        v[ord(ch) % 8] += 1.0 + (i % 5) * 0.13
    return v


def fake_embed(texts: list[str]) -> list[list[float]]:
    return [_vec(t) for t in texts]


INDEX: Any = {"dims": 8, "embed": fake_embed, "fields": ["text"]}


def _make(url: str, **kw: Any) -> tuple[KVBaseStore, CountingKV]:
    counting = CountingKV(open_store(url))
    store = KVBaseStore(counting, **kw)
    store.setup()
    return store, counting


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def kv(url: str, clock: FakeClock) -> Iterator[tuple[KVBaseStore, CountingKV]]:
    store, counting = _make(url, clock=clock)
    yield store, counting
    store.close()


def _calls(c: CountingKV) -> dict[str, int]:
    return {k: n for k, n in c.calls.items() if k != "items"}


def _ident(item: Any) -> Any:
    return None if item is None else (tuple(item.namespace), item.key, item.value)


# --- basics and round trips -------------------------------------------------------------------


def test_get_put_delete_round_trips(kv: tuple[KVBaseStore, CountingKV]) -> None:
    store, c = kv
    c.reset()
    store.put(("users", "1"), "prefs", {"theme": "dark"})
    assert _calls(c) == {"write": 2}  # first put into a namespace: index entry, then the item
    c.reset()
    store.put(("users", "1"), "prefs", {"theme": "light"})
    assert _calls(c) == {"write": 1}
    c.reset()
    item = store.get(("users", "1"), "prefs")
    assert _calls(c) == {"get": 1}
    assert item is not None and item.value == {"theme": "light"}
    assert item.namespace == ("users", "1") and item.created_at == item.updated_at
    assert store.get(("users", "1"), "nope") is None
    c.reset()
    store.delete(("users", "1"), "prefs")
    # the write, then "is it empty now?", then flag the index entry (get + write)
    assert _calls(c) == {"write": 2, "scan": 1, "get": 1}
    assert store.get(("users", "1"), "prefs") is None
    assert store.list_namespaces() == []


def test_search_one_namespace_of_many_items_is_two_round_trips(
    kv: tuple[KVBaseStore, CountingKV], backend: str
) -> None:
    store, c = kv
    n = 1000 if backend in FAST_BACKENDS else 120  # moto: every request costs O(table)
    store.batch([PutOp(("docs",), f"d{i:04d}", {"i": i}) for i in range(n)])
    store.put(("docs", "sub"), "x", {"i": -1})
    store.put(("docsother",), "y", {"i": -2})
    c.reset()
    found = store.search(("docs",), limit=n + 10)
    assert _calls(c) == {"scan": 3}  # the index range, then each of the 2 namespaces
    assert [r.key for r in found] == [f"d{i:04d}" for i in range(n)] + ["x"]
    c.reset()
    found = store.search(("docs",), filter={"i": {"$gte": n - 3}}, limit=10)
    assert [r.value["i"] for r in found] == [n - 3, n - 2, n - 1]
    assert c.calls["scan"] <= 3


def test_put_validation(kv: tuple[KVBaseStore, CountingKV]) -> None:
    store, _ = kv
    for bad in [(), ("a.b",), ("",), ("langgraph", "x")]:
        with pytest.raises(InvalidNamespaceError):
            store.put(bad, "k", {"v": 1})
    with pytest.raises(InvalidNamespaceError):
        store.batch([PutOp((), "k", {"v": 1})])
    with pytest.raises(ValueError, match="Unsupported operator"):
        store.search(("a",), filter={"n": {"$regex": "x"}})


def test_hostile_labels_and_keys(kv: tuple[KVBaseStore, CountingKV]) -> None:
    store, _ = kv
    long = "é" * 400
    namespaces = [("x!y",), ("x", "y"), ("%21", "{tag}"), ("ü n/ï",), (long, "a"), (long, long)]
    for i, ns in enumerate(namespaces):
        store.put(ns, "k!" + long, {"i": i})
        store.put(ns, "", {"i": -i})
    for i, ns in enumerate(namespaces):
        got = store.get(ns, "k!" + long)
        assert got is not None and got.value == {"i": i} and got.namespace == ns
        assert store.get(ns, "") is not None
    assert store.list_namespaces(limit=100) == sorted(namespaces)
    assert {r.value["i"] for r in store.search(("x",))} == {1, -1}
    assert store.list_namespaces(prefix=(long,)) == sorted([(long, "a"), (long, long)])


# --- agreement with InMemoryStore -------------------------------------------------------------

LABELS = ["a", "b", "c", "x!", "ü"]
KEYS = ["k0", "k1", "k2", "k 3", "é"]


def _rand_ns(rng: random.Random) -> tuple[str, ...]:
    return tuple(rng.choice(LABELS) for _ in range(rng.randint(1, 3)))


def _rand_value(rng: random.Random) -> dict[str, Any]:
    v: dict[str, Any] = {"n": rng.randint(0, 5), "s": rng.choice(["x", "y"])}
    if rng.random() < 0.5:
        v["nested"] = {"a": rng.randint(0, 2), "b": "z"}
    if rng.random() < 0.3:
        v["tags"] = rng.choice([["p"], ["p", "q"], []])
    v["text"] = " ".join(rng.choice(["cat", "dog", "fish", "bird"]) for _ in range(3))
    return v


FILTERS: list[Any] = [
    None,
    {"n": 3},
    {"n": {"$gt": 2}},
    {"n": {"$gte": 2, "$lt": 4}},
    {"n": {"$lte": 1}, "s": "x"},
    {"n": {"$ne": 2}},
    {"s": {"$eq": "y"}},
    {"nested": {"a": 1}},
    {"tags": ["p", "q"]},
]


def _rand_op(rng: random.Random) -> Op:
    r = rng.random()
    ns = _rand_ns(rng)
    if r < 0.4:
        return PutOp(ns, rng.choice(KEYS), _rand_value(rng))
    if r < 0.55:
        return PutOp(ns, rng.choice(KEYS), None)
    if r < 0.7:
        return GetOp(ns, rng.choice(KEYS))
    if r < 0.88:
        prefix = ns[: rng.randint(0, len(ns))]
        return SearchOp(prefix, rng.choice(FILTERS), rng.randint(1, 6), rng.randint(0, 3))
    conds = []
    if rng.random() < 0.6:
        conds.append(MatchCondition("prefix", tuple(rng.choice([*LABELS, "*"]) for _ in ns[:2])))
    if rng.random() < 0.4:
        conds.append(MatchCondition("suffix", (rng.choice([*LABELS, "*"]),)))
    depth = rng.choice([None, None, 1, 2])
    return ListNamespacesOp(tuple(conds), depth, rng.randint(1, 8), rng.randint(0, 2))


def _expected(mem: InMemoryStore, ops: list[Op]) -> list[Any]:
    """InMemoryStore's answers, with search pages cut from its full result in our order and
    namespaces listed only while they hold an item (InMemoryStore keeps emptied ones)."""
    live = sorted(ns for ns, items in mem._data.items() if items)
    full = [
        op._replace(limit=10**6, offset=0) if isinstance(op, SearchOp) else op
        for op in ops
        if not isinstance(op, ListNamespacesOp)
    ]
    answers = iter(mem.batch(full))
    out: list[Any] = []
    for op in ops:
        if isinstance(op, ListNamespacesOp):
            found = [ns for ns in live if all(_does_match(c, ns) for c in op.match_conditions)]
            if op.max_depth is not None:
                found = sorted({ns[: op.max_depth] for ns in found})
            out.append(found[op.offset : op.offset + op.limit])
        elif isinstance(op, SearchOp):
            items = sorted(next(answers), key=lambda i: (i.namespace, L.item_key(i.key)))
            out.append([_ident(i) for i in items[op.offset : op.offset + op.limit]])
        elif isinstance(op, GetOp):
            out.append(_ident(next(answers)))
        else:
            out.append(next(answers))
    return out


def _actual(ops: list[Op], results: list[Any]) -> list[Any]:
    out = []
    for op, r in zip(ops, results, strict=True):
        if isinstance(op, SearchOp):
            out.append([_ident(i) for i in r])
        elif isinstance(op, GetOp):
            out.append(_ident(r))
        else:
            out.append(r)
    return out


def _run_model(store: KVBaseStore, seed: int, steps: int, use_async: bool) -> None:
    rng = random.Random(seed)
    mem = InMemoryStore()
    for step in range(steps):
        ops = [_rand_op(rng) for _ in range(rng.choice([1, 1, 1, 2, 4]))]
        want = _expected(mem, ops)
        got = asyncio.run(store.abatch(ops)) if use_async else store.batch(ops)
        assert _actual(ops, got) == want, f"step {step}: {ops}"


@pytest.mark.heavy
@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_model_against_inmemorystore(kv: tuple[KVBaseStore, CountingKV], use_async: bool) -> None:
    _run_model(kv[0], seed=15, steps=250, use_async=use_async)


def test_model_short(kv: tuple[KVBaseStore, CountingKV]) -> None:
    """A short model run on every backend (the long one is a heavy sweep)."""
    _run_model(kv[0], seed=7, steps=40, use_async=False)


def test_list_namespaces_examples(kv: tuple[KVBaseStore, CountingKV]) -> None:
    store, _ = kv
    for ns in [("a", "b", "c"), ("a", "b", "d", "e"), ("a", "b", "d", "i"), ("a", "b", "f")]:
        store.put(ns, "k", {})
    store.put(("a", "c", "f"), "k", {})
    store.put(("users", "1", "memories"), "k", {})
    store.put(("users", "2", "memories"), "k", {})
    store.put(("users", "2", "prefs"), "k", {})
    assert store.list_namespaces(prefix=("a", "b"), max_depth=3) == [
        ("a", "b", "c"),
        ("a", "b", "d"),
        ("a", "b", "f"),
    ]
    assert store.list_namespaces(suffix=("memories",)) == [
        ("users", "1", "memories"),
        ("users", "2", "memories"),
    ]
    assert store.list_namespaces(prefix=("users", "*", "prefs")) == [("users", "2", "prefs")]
    assert store.list_namespaces(max_depth=1) == [("a",), ("users",)]
    assert store.list_namespaces(limit=2, offset=1) == [("a", "b", "d", "e"), ("a", "b", "d", "i")]
    store.delete(("users", "2", "prefs"), "k")
    assert store.list_namespaces(prefix=("users",), max_depth=2) == [("users", "1"), ("users", "2")]
    store.delete(("users", "2", "memories"), "k")
    assert store.list_namespaces(prefix=("users",), max_depth=2) == [("users", "1")]
    store.put(("users", "2", "prefs"), "k", {})  # cached as indexed: the flagged entry stays
    assert store.list_namespaces(prefix=("users",), max_depth=2) == [("users", "1"), ("users", "2")]


def test_search_ranking_matches_inmemorystore(url: str, clock: FakeClock) -> None:
    store, c = _make(url, clock=clock, index=INDEX)
    mem = InMemoryStore(index=INDEX)
    words = ["cat", "dog", "fish", "bird", "catfish", "dogfish", "bird dog", "big cat"]
    try:
        for s in (store, mem):
            for i, w in enumerate(words):
                s.put(("docs", str(i % 2)), f"d{i}", {"text": w, "n": i})
            s.put(("docs", "0"), "plain", {"text": "cat cat", "n": 50}, index=False)  # no vector
            s.put(("docs", "1"), "other", {"body": "no text field", "n": 1})
        for query, flt, limit, offset in [
            ("cat", None, 10, 0),
            ("dog fish", None, 3, 1),
            ("bird", {"n": {"$gt": 2}}, 4, 0),
            ("zzz", None, 20, 0),
        ]:
            ours = store.search(("docs",), query=query, filter=flt, limit=limit, offset=offset)
            ref = mem.search(("docs",), query=query, filter=flt, limit=limit, offset=offset)
            scored = [(r.key, round(r.score, 4)) for r in ours if r.score is not None]
            assert scored == [(r.key, round(r.score, 4)) for r in ref if r.score is not None]
            assert {r.key for r in ours if r.score is None} == {
                r.key for r in ref if r.score is None
            }
        c.reset()
        store.search(("docs",), query="cat")
        assert _calls(c) == {"scan": 3}
    finally:
        store.close()


def test_async_ranking_and_put_vectors(url: str, clock: FakeClock) -> None:
    store, _ = _make(url, clock=clock, index={**INDEX, "fields": ["text", "tags[*]"]})

    async def go() -> list[Any]:
        await store.aput(("n",), "a", {"text": "cat", "tags": ["bird", "fish"]})
        await store.aput(("n",), "b", {"text": "dog"})
        return await store.asearch(("n",), query="fish")

    try:
        res = asyncio.run(go())
        assert [r.key for r in res] == ["a", "b"]  # a's best vector is its "fish" tag
        assert res[0].score == pytest.approx(1.0, abs=1e-6)
    finally:
        store.close()


# --- TTL --------------------------------------------------------------------------------------


def test_ttl_with_fake_clock(url: str, clock: FakeClock) -> None:
    store, c = _make(url, clock=clock, ttl={"default_ttl": 1.0, "refresh_on_read": True})
    try:
        store.put(("t",), "a", {"v": 1})  # default: 1 minute
        store.put(("t",), "keep", {"v": 2}, ttl=None)
        clock.advance(50)
        c.reset()
        assert store.get(("t",), "a") is not None  # refreshes: now expires at 110 s
        assert _calls(c) == {"get": 1, "write": 1}
        clock.advance(50)
        assert store.get(("t",), "a", refresh_ttl=False) is not None
        clock.advance(15)
        assert store.get(("t",), "a") is None
        assert [r.key for r in store.search(("t",))] == ["keep"]
        assert store.sweep_ttl() == 1
        assert store.sweep_ttl() == 0
        clock.advance(10**6)
        assert store.get(("t",), "keep") is not None

        # a refresh of an older generation never extends the new one
        store.put(("t",), "b", {"v": 1}, ttl=1.0)
        clock.advance(59)
        assert store.get(("t",), "b") is not None  # refresh of generation 1: until +119 s
        store.put(("t",), "b", {"v": 2}, ttl=0.5)  # generation 2: until +89 s
        clock.advance(31)
        assert store.get(("t",), "b") is None

        # search refreshes what it returns; an expired item's namespace leaves the listing
        # once swept
        store.put(("s", "1"), "x", {"v": 1}, ttl=1.0)
        clock.advance(45)
        assert [r.key for r in store.search(("s",))] == ["x"]
        clock.advance(45)
        assert [r.key for r in store.search(("s",), refresh_ttl=False)] == ["x"]
        clock.advance(30)
        assert store.search(("s",)) == []
        assert ("s", "1") in store.list_namespaces()
        assert store.sweep_ttl() >= 1
        assert ("s", "1") not in store.list_namespaces()

        # a page of a namespace whose first items expired: the search reads further
        store.batch([PutOp(("p",), f"a{i}", {"i": i}, ttl=1.0) for i in range(5)])
        store.batch([PutOp(("p",), f"b{i}", {"i": i}, ttl=None) for i in range(3)])
        clock.advance(61)
        c.reset()
        assert [r.key for r in store.search(("p",), limit=2, offset=1)] == ["b1", "b2"]
        # the index; a0-a2 (expired: their refreshes read); a3 a4 b0 (same); b1 b2
        assert _calls(c) == {"scan": 4, "get": 2}
    finally:
        store.close()


def test_ttl_sweeper_thread(url: str, clock: FakeClock) -> None:
    store, _ = _make(url, clock=clock)
    try:
        store.put(("t",), "a", {"v": 1}, ttl=1.0)
        clock.advance(120)
        fut = store.start_ttl_sweeper(sweep_interval_minutes=0.0005)  # 30 ms
        for _ in range(500):
            if not store.list_namespaces():
                break
            threading.Event().wait(0.02)
        assert store.list_namespaces() == []
        assert store.stop_ttl_sweeper(timeout=10)
        assert fut.done()
    finally:
        store.close()


def test_async_sweeper_and_context_manager(url: str, clock: FakeClock) -> None:
    async def go() -> None:
        async with checkpoint_kv.store_from_url(
            url, clock=clock, ttl={"sweep_interval_minutes": 1}
        ) as store:
            await store.asetup()
            assert store._asweeper is not None
            await store.aput(("t",), "a", {"v": 1}, ttl=1.0)
            clock.advance(61)
            assert await store.aget(("t",), "a") is None
            assert await store.asweep_ttl() == 1
        assert store._asweeper is None

    asyncio.run(go())


# --- store_from_url, lifecycle, layout --------------------------------------------------------


def test_store_from_url_defaults_and_refusals(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    db = tmp_path / "mem.db"
    monkeypatch.setenv("CHECKPOINT_KV_STORE_URL", f"sqlite:///{db}")
    with checkpoint_kv.store_from_url() as store:
        store.setup()
        store.put(("a",), "k", {"v": 1})
    assert db.exists()
    monkeypatch.delenv("CHECKPOINT_KV_STORE_URL")
    monkeypatch.setenv("CHECKPOINT_KV_URL", "memory://")
    with checkpoint_kv.store_from_url() as store:
        assert store.get(("a",), "k") is None
    for bad in ["redis://localhost?ttl=60", "memory://?history=latest"]:
        with pytest.raises(ConfigError):
            checkpoint_kv.store_from_url(bad)
    with pytest.raises(ConfigError):
        checkpoint_kv.store_from_url("memory://", ttl_on_read=True)


def test_import_is_lazy() -> None:
    import subprocess
    import sys

    code = "import checkpoint_kv, sys; print('checkpoint_kv.store' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_store_and_saver_share_a_url(url: str) -> None:
    """Store partitions start with "!", which an escaped thread id never does: a thread named
    like a store partition stays apart, and the saver's listing sees only its threads."""
    from tests.contract.test_api import _put

    saver = checkpoint_kv.from_url(url)
    saver.setup()
    store = checkpoint_kv.store_from_url(url) if not url.startswith("memory") else None
    if store is None:  # memory:// gives each opener its own space: share one port store
        store = KVBaseStore(saver.store, owns_store=False)
    try:
        tricky = ["!m!users", "!mi", "!m~x", L.ns_partition(("users",))]
        for t in tricky:
            _put(saver, t)
        store.put(("users",), "u", {"v": 1})
        store.put(("m", "i"), "u", {"v": 2})
        from checkpoint_kv.saver.migrate import all_partitions

        parts = list(all_partitions(saver.store))
        store_parts = {p for p in parts if is_store_partition(p)}
        assert store_parts == {L.INDEX_PARTITION, L.ns_partition(("users",)), "!m!m!i"}
        assert all(not is_store_partition(checkpoint_kv.keys.partition(t)) for t in tricky)
        threads = {t.config["configurable"]["thread_id"] for t in saver.list(None)}
        assert threads == set(tricky)
        assert store.list_namespaces() == [("m", "i"), ("users",)]
        saver.delete_for_runs(["no-such-run"])  # walks threads only
        if not url.startswith("memory"):  # the CLI opens its own store
            import io
            import json

            from checkpoint_kv.cli import main

            out = io.StringIO()
            assert main(["--json", "threads", url], stdout=out) == 0
            listed = {d["thread_id"] for d in json.loads(out.getvalue())["threads"]}
            assert listed == set(tricky)  # no "!m!users" / "!mi" store partitions
        for t in tricky:
            saver.delete_thread(t)
        assert store.get(("users",), "u") is not None
    finally:
        store.close()
        saver.close()


def test_concurrent_writers_last_writer_wins(kv: tuple[KVBaseStore, CountingKV]) -> None:
    store, _ = kv
    payloads = [{"writer": w, "blob": str(w) * 2000} for w in range(6)]

    def write(p: dict[str, Any]) -> None:
        for _ in range(3):
            store.put(("race",), "k", p)

    threads = [threading.Thread(target=write, args=(p,)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    item = store.get(("race",), "k")
    assert item is not None and item.value in payloads  # one writer's value, whole


# --- a graph that reads and writes memories ---------------------------------------------------


def test_graph_memory_across_threads(url: str) -> None:
    from langgraph.graph import END, START, StateGraph
    from langgraph.store.base import BaseStore
    from typing_extensions import TypedDict

    class State(TypedDict, total=False):
        user: str
        fact: str
        recalled: list[str]

    def remember(state: State, *, store: BaseStore) -> State:
        if state.get("fact"):
            store.put(("memories", state["user"]), uuid.uuid4().hex, {"fact": state["fact"]})
        found = store.search(("memories", state["user"]))
        return {"recalled": sorted(r.value["fact"] for r in found)}

    async def aremember(state: State, *, store: BaseStore) -> State:
        found = await store.asearch(("memories", state["user"]))
        return {"recalled": sorted(r.value["fact"] for r in found)}

    def build(node: Any) -> Any:
        b = StateGraph(State)
        b.add_node("remember", node)
        b.add_edge(START, "remember")
        b.add_edge("remember", END)
        return b

    saver = checkpoint_kv.from_url(url)
    saver.setup()
    store = checkpoint_kv.store_from_url(url) if not url.startswith("memory") else None
    if store is None:
        store = KVBaseStore(saver.store, owns_store=False)
    try:
        g = build(remember).compile(checkpointer=saver, store=store)
        t1 = {"configurable": {"thread_id": "t1"}}
        t2 = {"configurable": {"thread_id": "t2"}}
        g.invoke({"user": "ada", "fact": "likes tea"}, t1)
        g.invoke({"user": "ada", "fact": "lives in Paris"}, t1)
        out = g.invoke({"user": "ada"}, t2)  # another thread, same memories
        assert out["recalled"] == ["likes tea", "lives in Paris"]
        ag = build(aremember).compile(checkpointer=saver, store=store)
        out = asyncio.run(ag.ainvoke({"user": "ada"}, {"configurable": {"thread_id": "t3"}}))
        assert out["recalled"] == ["likes tea", "lives in Paris"]
        assert store.list_namespaces() == [("memories", "ada")]
    finally:
        store.close()
        saver.close()


# --- the command line -------------------------------------------------------------------------


def _cli(monkeypatch: pytest.MonkeyPatch, *argv: str) -> tuple[int, str, str]:
    import io

    from checkpoint_kv import cli

    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_cli_store_commands(
    monkeypatch: pytest.MonkeyPatch, url_sqlite: str, tmp_path: Any
) -> None:
    import json

    with checkpoint_kv.store_from_url(url_sqlite) as store:
        store.setup()
        store.put(("users", "42", "memories"), "m1", {"fact": "likes tea", "n": 1})
        store.put(("users", "42", "memories"), "m2", {"fact": "lives in Paris", "n": 2})
        store.put(("users", "7", "prefs"), "theme", {"theme": "dark"})
    code, out, _ = _cli(monkeypatch, "--json", "store", "namespaces", url_sqlite)
    assert code == 0
    assert json.loads(out)["namespaces"] == [["users", "42", "memories"], ["users", "7", "prefs"]]
    code, out, _ = _cli(monkeypatch, "store", "namespaces", url_sqlite, "--max-depth", "2")
    assert code == 0 and out.split() == ["NAMESPACE", "users.42", "users.7"]
    code, out, _ = _cli(monkeypatch, "store", "namespaces", url_sqlite, "--prefix", "users.*.prefs")
    assert out.split() == ["NAMESPACE", "users.7.prefs"]
    code, out, _ = _cli(monkeypatch, "store", "get", url_sqlite, "users.42.memories", "m2")
    assert code == 0 and json.loads(out)["value"] == {"fact": "lives in Paris", "n": 2}
    code, _, err = _cli(monkeypatch, "store", "get", url_sqlite, "users.42.memories", "nope")
    assert code == 5 and "no item 'nope'" in err
    code, out, _ = _cli(
        monkeypatch,
        "--json",
        "store",
        "search",
        url_sqlite,
        "users",
        "--filter",
        '{"n": {"$gt": 1}}',
    )
    assert code == 0 and [i["key"] for i in json.loads(out)["items"]] == ["m2"]
    code, out, _ = _cli(monkeypatch, "store", "search", url_sqlite, "")
    assert code == 0 and "likes tea" in out and "theme" in out
    code, _, err = _cli(monkeypatch, "store", "search", url_sqlite, "users", "--filter", "{bad")
    assert code == 2 and "--filter is not JSON" in err
    monkeypatch.setenv("CHECKPOINT_KV_URL", url_sqlite)
    code, out, _ = _cli(monkeypatch, "store", "get", "users.7.prefs", "theme")
    assert code == 0 and json.loads(out)["value"] == {"theme": "dark"}
    missing = f"sqlite:///{tmp_path / 'missing.db'}"
    code, _, err = _cli(monkeypatch, "store", "namespaces", missing)
    assert code == 4


# --- the example and the LangGraph server factory ---------------------------------------------


def test_example_memory_runs_on_the_embedded_default(tmp_path: Any) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "examples" / "memory.py"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHECKPOINT_KV_")}
    for _ in range(2):  # a second run finds the same memories, not duplicates
        p = subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert p.returncode == 0, p.stderr
        assert "[tuesday] bot: I remember: Ada likes tea; Ada lives in Paris" in p.stdout
        assert "namespaces: [('memories', 'ada')]" in p.stdout
    assert (tmp_path / "checkpoints.db").exists()


async def test_langgraph_json_store(url_sqlite: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The factory is backend-agnostic (store_from_url): one backend covers it."""
    import importlib
    import json
    from pathlib import Path

    from langgraph.store.base import BaseStore

    examples = Path(__file__).resolve().parents[2] / "examples"
    config = json.loads((examples / "langgraph.json").read_text())
    module, _, attr = config["store"]["path"].partition(":")
    factory = getattr(importlib.import_module(module), attr)
    url = url_sqlite
    monkeypatch.setenv("CHECKPOINT_KV_STORE_URL", url)
    monkeypatch.setenv("CHECKPOINT_KV_STORE_TTL", "60")
    async with factory() as store:
        assert isinstance(store, BaseStore) and store._asweeper is not None
        await store.aput(("memories", "u"), "k", {"fact": "x"})
    async with factory() as store:  # a restarted server finds the memory
        item = await store.aget(("memories", "u"), "k")
        assert item is not None and item.value == {"fact": "x"}
    monkeypatch.setenv("CHECKPOINT_KV_STORE_TTL", "soon")
    with pytest.raises(ConfigError):
        async with factory():
            pass


def test_index_pages(kv: tuple[KVBaseStore, CountingKV], monkeypatch: pytest.MonkeyPatch) -> None:
    """The namespace index is read in pages (1,000 entries; 3 here) that must join up."""
    from checkpoint_kv.store import batch

    monkeypatch.setattr(batch, "PAGE", 3)
    store, c = kv
    namespaces = [("p", f"{i:02d}") for i in range(10)] + [("p",), ("q",)]
    store.batch([PutOp(ns, "k", {"i": i}) for i, ns in enumerate(namespaces)])
    c.reset()
    assert store.list_namespaces(limit=100) == sorted(namespaces)
    assert c.calls["scan"] == 5  # 12 entries: pages of 3, 3, 3, 3, then an empty one
    assert len(store.search(("p",), limit=100)) == 11
    assert store.list_namespaces(prefix=("p",), max_depth=1) == [("p",)]


def test_cosine_without_numpy_agrees(monkeypatch: pytest.MonkeyPatch) -> None:
    """numpy is optional: the plain-Python path gives the same scores (and 0.0 for a zero
    vector or a vector of another dimension)."""
    from checkpoint_kv.store import vectors

    rng = random.Random(3)
    q = [rng.uniform(-1, 1) for _ in range(16)]
    blobs = [L.pack_vector([rng.uniform(-1, 1) for _ in range(16)]) for _ in range(20)]
    blobs += [L.pack_vector([0.0] * 16), L.pack_vector([1.0] * 8)]
    with_numpy = vectors.cosine(q, blobs)
    monkeypatch.setattr(vectors, "_numpy", lambda: None)
    plain = vectors.cosine(q, blobs)
    assert plain == pytest.approx(with_numpy, abs=1e-6)
    assert plain[-2:] == [0.0, 0.0]


# --- faults: a failed call leaves a state every later reader handles --------------------------


def _fresh(url: str, i: int) -> str:
    """Another isolated space of the same backend (file, prefix, table or bucket prefix)."""
    if url.startswith("sqlite"):
        return url.replace(".db", f"-{i}.db")
    if "prefix=" in url:
        return url.replace("prefix=", f"prefix=f{i}x")
    if url.startswith("dynamodb://"):
        return url.replace("dynamodb://", f"dynamodb://f{i}-")
    if url.startswith("s3://"):
        return url.replace("/ckv?", f"/ckv{i}?")
    return url  # memory://: every open is a new store


def _fault_script(store: KVBaseStore, clock: FakeClock) -> None:
    store.put(("a", "1"), "k1", {"v": 1})
    store.batch(
        [
            PutOp(("a", "2"), "k", {"v": 2}),
            PutOp(("b",), "k", {"v": 3}),
            PutOp(("a", "1"), "k1", None),
        ]
    )
    store.put(("a", "1"), "k2", {"v": 4}, ttl=1.0)
    clock.advance(30)
    store.get(("a", "1"), "k2")
    store.search(("a",))
    store.list_namespaces()
    clock.advance(100)
    store.sweep_ttl()


@pytest.mark.heavy
@pytest.mark.parametrize("kind", ["error", "timeout", "partial"])
def test_a_failed_call_anywhere_leaves_a_consistent_store(
    url: str, backend: str, kind: Any
) -> None:
    """Fail each port call of a script in turn (refused, applied but unanswered, half-applied):
    the caller gets the backend's error, every item read back is one that was put, and every
    namespace holding an item is listed; after a sweep the listing is exact again."""
    from tests.support.faults import FaultPlan, FaultyStore, InjectedFault

    counting, _ = _make(url, clock=FakeClock())
    _fault_script(counting, FakeClock())
    total = counting.store.total  # type: ignore[attr-defined]
    counting.close()
    assert total >= 15
    written = {("a", "1", "k1"): {"v": 1}, ("a", "2", "k"): {"v": 2}, ("b", "k"): {"v": 3}}
    written[("a", "1", "k2")] = {"v": 4}
    for fail_at in range(1, total + 1):
        fresh = _fresh(url, fail_at)
        base = open_store(fresh)
        base.setup()
        clock = FakeClock()
        plan = FaultPlan(fail_at=fail_at, kind=kind)
        faulty = KVBaseStore(FaultyStore(base, plan), clock=clock, owns_store=False)
        with contextlib.suppress(InjectedFault):
            _fault_script(faulty, clock)
        assert plan.fired, fail_at
        reader = KVBaseStore(base, clock=clock)  # a new process: no cache
        holding = set()
        for (*ns, key), value in written.items():
            item = reader.get(tuple(ns), key)
            assert item is None or item.value == value, (fail_at, ns, key)
            if item is not None:
                holding.add(tuple(ns))
        listed = set(reader.list_namespaces())
        assert holding <= listed, (fail_at, kind, holding, listed)
        reader.sweep_ttl()
        holding = {ns for ns in holding if reader.search(ns)}
        assert set(reader.list_namespaces()) == holding, (fail_at, kind)
        reader.close()


@pytest.mark.parametrize("dst_backend", ["sqlite", "redis", "s3", "dynamodb"])
def test_copy_threads_carries_the_memories(
    tmp_path: Any, dst_backend: str, request: pytest.FixtureRequest
) -> None:
    """``checkpoint-kv copy`` / ``copy_threads`` copies every partition: memories move with
    the checkpoints (every key of a store partition, not the saver's key families), and the
    destination's store lists and finds them."""
    from checkpoint_kv.saver.migrate import copy_threads

    src = f"sqlite:///{tmp_path / 'src.db'}"
    dst = str(request.getfixturevalue(f"url_{dst_backend}"))
    with checkpoint_kv.store_from_url(src) as store:
        store.setup()
        store.put(("memories", "ada"), "tea", {"text": "likes tea"}, ttl=60.0)
        store.put(("memories", "bob"), "cats", {"text": "has cats"})
    report = copy_threads(src, dst, setup=True)
    assert report.ok
    with checkpoint_kv.store_from_url(dst) as store:
        assert store.list_namespaces() == [("memories", "ada"), ("memories", "bob")]
        assert [r.key for r in store.search(("memories",))] == ["tea", "cats"]


def test_large_item_and_concurrent_async_writers(kv: tuple[KVBaseStore, CountingKV]) -> None:
    """An item over DynamoDB's 400 KB item limit round-trips (the backends chunk or offload
    it); many concurrent ``aput`` calls all land."""
    store, _ = kv
    big = {"text": "x" * 600_000, "n": 1}
    store.put(("big",), "k", big)
    item = store.get(("big",), "k")
    assert item is not None and item.value == big

    async def go() -> list[Any]:
        await asyncio.gather(*(store.aput(("conc",), f"k{i:02d}", {"i": i}) for i in range(20)))
        return await store.asearch(("conc",), limit=50)

    found = asyncio.run(go())
    assert [r.value["i"] for r in found] == list(range(20))
    assert store.list_namespaces() == [("big",), ("conc",)]


def test_refresh_on_read_off_and_backend_options(tmp_path: Any) -> None:
    """``refresh_on_read=False`` makes reads write nothing; backend options and a client of
    your own go through ``store_from_url`` as through ``from_url`` (the client is not closed)."""
    import fakeredis

    clock = FakeClock()
    store, c = _make("memory://", clock=clock, ttl={"default_ttl": 1.0, "refresh_on_read": False})
    store.put(("a",), "k", {"v": 1})
    c.reset()
    assert store.get(("a",), "k") is not None and store.search(("a",))
    assert "write" not in c.calls
    clock.advance(61)
    assert store.get(("a",), "k", refresh_ttl=True) is None
    store.close()

    url = f"sqlite:///{tmp_path / 'opts.db'}?timeout=5&synchronous=FULL"
    with checkpoint_kv.store_from_url(url) as s:
        s.setup()
        s.put(("a",), "k", {"v": 1})
    with pytest.raises(ConfigError):
        checkpoint_kv.store_from_url(f"sqlite:///{tmp_path / 'x.db'}?nope=1")

    mine = fakeredis.FakeRedis()
    with checkpoint_kv.store_from_url("redis://?prefix=mem", client=mine) as s:
        s.put(("a",), "k", {"v": 2})
        assert s.get(("a",), "k") is not None
    assert mine.ping() and any(k.startswith(b"mem:") for k in mine.scan_iter())


def test_no_thread_id_escapes_into_a_store_partition() -> None:
    """Every saver partition is an escaped thread id; none starts with the store's "!"."""
    from checkpoint_kv import keys as K

    rng = random.Random(11)
    alphabet = "!#%{}~/:| .-_aZ9é\x00\n" + "".join(chr(c) for c in range(0x20, 0x7F))
    ids = ["!", "!m", "!mi", "!m!x", "%21m", "~" * 200, "!" * 1000]
    ids += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 300))) for _ in range(3000)]
    for t in ids:
        assert not is_store_partition(K.partition(t)), t
