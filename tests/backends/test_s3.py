"""S3 backend: key encoding, API calls and sequential waves per saver operation, conditional
writes, isolation of prefixes, errors. Runs on the session's moto server (real HTTP).

API calls are counted with botocore's ``before-call`` event (one per API call, whatever the
retries); waves are the store's own count of sequential request phases (``S3KV.waves``).
"""

from __future__ import annotations

import re
import socket
import threading
import warnings
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.base.id import uuid6

import checkpoint_kv
from checkpoint_kv import (
    BackendUnavailableError,
    ConfigError,
    CorruptRecordError,
    KVCheckpointSaver,
    StoreNotFoundError,
)
from checkpoint_kv import keys as K
from checkpoint_kv.backends import s3
from checkpoint_kv.backends.s3 import S3KV, decode_key, encode_key
from checkpoint_kv.backends.s3 import layout as s3_layout
from checkpoint_kv.port import Delete, DeleteRange, Put


class Calls:
    """S3 API calls by operation name, counted at botocore's ``before-call`` event (and their
    parameters as the store passed them, from ``before-parameter-build``)."""

    def __init__(self, store: S3KV) -> None:
        self.store = store
        self.ops: Counter[str] = Counter()
        self.params: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        events = store.client.meta.events
        events.register("before-call.s3", self._on_call)
        events.register("before-parameter-build.s3", self._on_params)

    def _on_call(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.ops[model.name] += 1

    def _on_params(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        with self._lock:
            self.params.append((model.name, dict(params)))

    def reset(self) -> None:
        with self._lock:
            self.ops.clear()
            self.params.clear()
        self.store.waves = 0

    @property
    def waves(self) -> int:
        return self.store.waves

    @property
    def total(self) -> int:
        return sum(self.ops.values())


def cfg(thread: str, **extra: Any) -> RunnableConfig:
    return {"configurable": {"thread_id": thread, "checkpoint_ns": "", **extra}}


def grow(saver: KVCheckpointSaver, thread: str, n: int, writes: int = 2) -> RunnableConfig:
    """``n`` checkpoints, each changing two channels, plus ``writes`` pending writes each."""
    config = cfg(thread)
    versions: dict[str, Any] = {}
    for i in range(n):
        config = step(saver, config, versions, i)
        if writes:
            saver.put_writes(config, [("messages", f"w{j}") for j in range(writes)], f"task{i}")
    return config


def step(
    saver: KVCheckpointSaver, config: RunnableConfig, versions: dict[str, Any], i: int
) -> RunnableConfig:
    cp = empty_checkpoint()
    cp["id"] = str(uuid6(clock_seq=i))
    new = {ch: saver.get_next_version(versions.get(ch)) for ch in ("messages", "step")}
    versions.update(new)
    cp["channel_versions"] = dict(versions)
    cp["channel_values"] = {"messages": [f"m{j}" for j in range(i % 7)], "step": i}
    return saver.put(config, cp, {"source": "loop", "step": i}, new)


@pytest.fixture
def s3_saver(url_s3: str) -> Iterator[tuple[KVCheckpointSaver, Calls]]:
    """A saver without the value cache: the counts below are those of a cold process."""
    saver = checkpoint_kv.from_url(url_s3 + "&cache_mb=0")
    saver.setup()
    assert isinstance(saver.store, S3KV)
    calls = Calls(saver.store)
    try:
        yield saver, calls
    finally:
        saver.close()


def store_at(moto_endpoint: str, bucket: str, prefix: str = "ckv", **opts: Any) -> S3KV:
    query = "&".join(f"{k}={v}" for k, v in opts.items())
    url = f"s3://{bucket}/{prefix}?region=us-east-1&endpoint_url={quote(moto_endpoint, safe='')}"
    store = checkpoint_kv.open_store(url + ("&" + query if query else ""))
    assert isinstance(store, S3KV)
    return store


# --- key encoding ---------------------------------------------------------------------------

ALPHABET = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=12)


@settings(max_examples=400, deadline=None)
@given(ALPHABET, ALPHABET)
def test_encoding_inverts_order_prefixes_included(a: str, b: str) -> None:
    ea, eb = encode_key(a), encode_key(b)
    assert decode_key(ea) == a
    assert (a < b) == (ea > eb)
    assert (a == b) == (ea == eb)
    # S3 compares UTF-8 bytes; the codes are ASCII, so str order is byte order.
    assert (ea.encode() > eb.encode()) == (ea > eb)


def test_encoding_alphabet_is_safe_and_saver_keys_do_not_grow() -> None:
    every = "".join(chr(c) for c in range(0x21, 0x7F))
    enc = encode_key(every)
    assert "/" not in enc and "\\" not in enc
    assert all(0x21 <= ord(c) <= 0x7E for c in enc)
    long = "x" * 1000
    for key in (
        K.write_key(long, long, long, -3),
        K.blob_key(long, long, "0" * 40),
        K.record_key("ns|:{}/é", str(uuid6())),
    ):
        assert len(encode_key(key)) == len(key) + 1
    with pytest.raises(ValueError):
        encode_key("tab\there")


def test_worst_case_object_key_fits_1024_bytes(moto_endpoint: str) -> None:
    """The longest keys come from ids that escape to exactly 120 characters (longer ones are
    hashed to 65): thread, namespace, checkpoint id, task id and channel all at that length."""
    store = store_at(moto_endpoint, "ckv-longkeys", "p" * s3.MAX_PREFIX)
    store.setup()
    saver = KVCheckpointSaver(store)
    for long in ("%" * 40, "/|{é" * 250):  # escapes to 120 characters; to 3,000 (hashed)
        config = cfg(long, checkpoint_ns=long)
        cp = empty_checkpoint()
        cp["id"] = long
        cp["channel_versions"] = {long: "9" * 120}
        cp["channel_values"] = {long: "v"}
        config = saver.put(config, cp, {}, {long: "9" * 120})
        saver.put_writes(config, [("__error__", "boom"), (long, 1)], long, task_path=long)
        tup = saver.get_tuple(config)
        assert tup is not None and tup.checkpoint["channel_values"] == {long: "v"}
    names = [
        o["Key"] for o in store.client.list_objects_v2(Bucket="ckv-longkeys").get("Contents", [])
    ]
    longest = max(len(n.encode()) for n in names)
    # a record (with its value), a write, a namespace index and a mark each; 920 bytes with
    # today's keys
    assert len(names) == 2 * 4 and longest <= 1024, longest
    with pytest.raises(ConfigError):
        store_at(moto_endpoint, "ckv-longkeys", "p" * (s3.MAX_PREFIX + 1))


# --- API calls and waves per saver operation ------------------------------------------------


def test_put_is_one_put_and_put_writes_one(
    s3_saver: tuple[KVCheckpointSaver, Calls],
) -> None:
    saver, calls = s3_saver
    config = grow(saver, "t", 2)
    calls.reset()
    config = step(saver, config, {}, 3)  # two changed channels: both inside the record
    assert calls.ops == {"PutObject": 1}  # one object per put: atomic on S3
    assert calls.waves == 1
    calls.reset()
    saver.put_writes(config, [("messages", "a"), ("step", 1), ("__interrupt__", "x")], "task")
    assert calls.ops == {"PutObject": 1}  # one object per put_writes call: atomic on S3
    assert calls.waves == 1


def test_put_writes_only_its_record(s3_saver: tuple[KVCheckpointSaver, Calls]) -> None:
    """The step's new values travel inside the record: no blob object, nothing to order."""
    saver, calls = s3_saver
    calls.reset()
    step(saver, cfg("t"), {}, 0)
    order = [decode_key(p["Key"].rsplit("!/", 1)[1]) for op, p in calls.params]
    # The first put of a thread also marks its incarnation (test_deleted_thread.py), first.
    assert len(order) == 2 and K.is_mark(order[0]) and K.is_record(order[1])
    cid = order[1].split(K.SEP)[2]
    calls.reset()
    step(saver, cfg("t", checkpoint_id=cid), {}, 1)
    order = [decode_key(p["Key"].rsplit("!/", 1)[1]) for op, p in calls.params]
    assert len(order) == 1 and K.is_record(order[0])


def test_get_tuple_latest_and_by_id_two_waves_one_list(
    s3_saver: tuple[KVCheckpointSaver, Calls],
) -> None:
    saver, calls = s3_saver
    last = grow(saver, "t", 6)
    calls.reset()
    tup = saver.get_tuple(cfg("t"))
    assert tup is not None and tup.checkpoint["id"] == last["configurable"]["checkpoint_id"]
    assert tup.checkpoint["channel_values"]["step"] == 5
    assert len(tup.pending_writes or []) == 2
    # the record (with the values of its step) and its write: the page's older items are not
    # fetched (scan_records)
    assert calls.ops == {"ListObjectsV2": 1, "GetObject": 2}
    assert calls.waves == 2
    calls.reset()
    assert tup.parent_config is not None
    old = saver.get_tuple(tup.parent_config)
    assert old is not None and old.checkpoint["channel_values"]["step"] == 4
    # the record, its write, then its mark (in its reference header): by id, the mark is not
    # among the items read, so it is followed
    assert calls.ops == {"ListObjectsV2": 1, "GetObject": 3}
    assert calls.waves == 3


def test_list_limit_10_three_waves_one_list(s3_saver: tuple[KVCheckpointSaver, Calls]) -> None:
    saver, calls = s3_saver
    grow(saver, "t", 14)
    calls.reset()
    got = list(saver.list(cfg("t"), limit=10))
    assert [t.checkpoint["channel_values"]["step"] for t in got] == list(range(13, 3, -1))
    assert calls.ops["ListObjectsV2"] == 1
    assert calls.waves <= 3
    calls.reset()
    before = got[4].config
    got = list(saver.list(cfg("t"), before=before, limit=3))
    assert [t.checkpoint["channel_values"]["step"] for t in got] == [8, 7, 6]
    assert calls.ops["ListObjectsV2"] == 1 and calls.waves <= 3


async def test_async_makes_the_same_calls(s3_saver: tuple[KVCheckpointSaver, Calls]) -> None:
    saver, calls = s3_saver
    grow(saver, "t", 3)
    calls.reset()
    tup = await saver.aget_tuple(cfg("t"))
    assert tup is not None
    assert calls.ops["ListObjectsV2"] == 1 and calls.waves == 2
    calls.reset()
    got = [t async for t in saver.alist(cfg("t"), limit=10)]
    assert len(got) == 3 and calls.ops["ListObjectsV2"] == 1 and calls.waves <= 3


def test_chat_graph_requests_on_a_cold_process(
    s3_saver: tuple[KVCheckpointSaver, Calls],
) -> None:
    """A chat as a Lambda sees it (no cache): get_state 1 LIST + 1 GET in 2 waves, an invoke
    at most 8 requests (the load, then one PUT per put and per put_writes), a history page of
    10 in 2 waves; the same on a long thread as on a short one."""
    from tests.support.graphs import PlainChat, chat

    saver, calls = s3_saver
    g = chat(saver, PlainChat)
    for thread, turns in (("short", 3), ("long", 40)):
        for i in range(turns):
            g.invoke({"messages": [f"u{i}"]}, cfg(thread))
        calls.reset()
        g.get_state(cfg(thread))
        assert (dict(calls.ops), calls.waves) == ({"ListObjectsV2": 1, "GetObject": 1}, 2)
        calls.reset()
        g.invoke({"messages": ["again"]}, cfg(thread))
        assert calls.ops == {"ListObjectsV2": 1, "GetObject": 1, "PutObject": 5}
        calls.reset()
        assert len(list(g.get_state_history(cfg(thread), limit=10))) == 10
        # 10 records and the write objects among them (the goal of 15 is not met)
        assert calls.ops["ListObjectsV2"] == 1 and sum(calls.ops.values()) <= 17, calls.ops
        assert calls.waves == 2


def test_delta_get_state_requests_on_a_cold_process(
    s3_saver: tuple[KVCheckpointSaver, Calls],
) -> None:
    """DeltaChannel get_state, cold: get_tuple (1 LIST + the record's GET) then the history
    (1 LIST + the records and writes since the last snapshot, one wave): 4 waves, 2 LISTs,
    the same at the same distance from a snapshot however long the thread (issue 12's goal
    of 3 waves is not met: LangGraph asks for the history after get_tuple has returned)."""
    from tests.support.graphs import DeltaChat5 as DeltaChat
    from tests.support.graphs import chat

    saver, calls = s3_saver
    g = chat(saver, DeltaChat)  # snapshot_frequency=5
    counts = {}
    for thread, turns in (("short", 7), ("long", 37)):
        for i in range(turns):
            g.invoke({"messages": [f"u{i}"]}, cfg(thread))
        calls.reset()
        state = g.get_state(cfg(thread))
        assert len(state.values["messages"]) == 2 * turns
        counts[thread] = (dict(calls.ops), calls.waves)
    assert counts["short"] == counts["long"], counts
    ops, waves = counts["long"]
    assert ops["ListObjectsV2"] == 2 and waves == 4, counts


def test_latest_costs_the_same_on_500_checkpoints_as_on_5(
    s3_saver: tuple[KVCheckpointSaver, Calls],
) -> None:
    saver, calls = s3_saver
    # 500 checkpoints, written concurrently (their ids are fixed, so order does not matter).
    checkpoints = []
    for i in range(500):
        cp = empty_checkpoint()
        cp["id"] = str(uuid6(clock_seq=i))
        cp["channel_versions"] = {"step": saver.get_next_version(i)}
        cp["channel_values"] = {"step": i}
        checkpoints.append(cp)
    for thread, n in (("small", 5), ("big", 500)):
        # Each names the one before as its parent, as LangGraph's puts do: only the first put
        # of a thread starts an incarnation (and writes its mark, test_deleted_thread.py).
        first = checkpoints[-n]
        saver.put(cfg(thread), first, {}, dict(first["channel_versions"]))
        pairs = list(zip(checkpoints[-n:], checkpoints[-n + 1 :], strict=False))
        with ThreadPoolExecutor(8) as pool:
            list(
                pool.map(
                    lambda pc, t=thread: saver.put(
                        cfg(t, checkpoint_id=pc[0]["id"]),
                        pc[1],
                        {},
                        dict(pc[1]["channel_versions"]),
                    ),
                    pairs,
                )
            )
    counts = {}
    for thread in ("small", "big"):
        calls.reset()
        tup = saver.get_tuple(cfg(thread))
        assert tup is not None and tup.checkpoint["channel_values"]["step"] == 499
        counts[thread] = (calls.ops["ListObjectsV2"], calls.ops["GetObject"], calls.waves)
    assert counts["big"] == counts["small"] == (1, 1, 2)
    calls.reset()
    assert len(list(saver.list(cfg("big"), limit=10))) == 10
    assert calls.ops["ListObjectsV2"] == 1 and calls.waves <= 3


def test_delete_thread_batches_delete_objects(
    s3_saver: tuple[KVCheckpointSaver, Calls], monkeypatch: pytest.MonkeyPatch
) -> None:
    saver, calls = s3_saver
    grow(saver, "t", 3)  # 3 x (2 blobs + record + the writes)
    grow(saver, "keep", 1)
    store = saver.store
    assert isinstance(store, S3KV)
    n = len(store.client.list_objects_v2(Bucket=store.bucket, Prefix="ckv/t!/")["Contents"])
    monkeypatch.setattr(s3_layout, "PAGE", 4)  # pretend S3's page is 4, not 1,000
    calls.reset()
    saver.delete_thread("t")
    pages = -(-n // 4)
    assert calls.ops == {"ListObjectsV2": pages, "DeleteObjects": 1 + -(-(n - 3) // 4)}
    # LIST pages in sequence, then the 3 records, then everything else at once
    assert calls.waves == pages + 2
    assert saver.get_tuple(cfg("t")) is None
    assert saver.get_tuple(cfg("keep")) is not None


def test_paged_listing_partitions_and_scans(
    s3_saver: tuple[KVCheckpointSaver, Calls], monkeypatch: pytest.MonkeyPatch
) -> None:
    saver, calls = s3_saver
    store = saver.store
    threads = [f"th{i}" for i in range(7)] + ["..", "a/b", "x!/y", "é " * 3]
    for t in threads:
        store.write(K.partition(t), [Put(f"k{i}", b"v") for i in range(5)])
    monkeypatch.setattr(s3_layout, "PAGE", 3)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = store.partitions(cursor)
        seen += page.partitions
        pages += 1
        cursor = page.cursor
        if cursor is None:
            break
    assert sorted(seen) == sorted(K.partition(t) for t in threads) and pages >= 4
    calls.reset()
    part = K.partition("a/b")
    assert [k for k, _ in store.scan(part, "k", "l").items] == [f"k{i}" for i in range(5)]
    assert calls.ops["ListObjectsV2"] == 2  # 5 keys in pages of 3
    calls.reset()
    assert [k for k, _ in store.scan(part, "k", "l", reverse=True, limit=4).items] == [
        "k4",
        "k3",
        "k2",
        "k1",
    ]
    assert calls.ops["ListObjectsV2"] == 2 and calls.waves == 3


def test_list_none_and_odd_thread_ids(s3_saver: tuple[KVCheckpointSaver, Calls]) -> None:
    saver, _ = s3_saver
    odd = ["..", ".", "a/b", "x!/y", "é/ü", "~tilde", "sp ace", "%2E", "q" * 1000]
    for t in odd:
        grow(saver, t, 1, writes=0)
    got = {t.config["configurable"]["thread_id"] for t in saver.list(None)}
    assert got == set(odd)
    for t in odd:
        tup = saver.get_tuple(cfg(t))
        assert tup is not None and tup.config["configurable"]["thread_id"] == t
    saver.delete_thread("..")
    assert {t.config["configurable"]["thread_id"] for t in saver.list(None)} == set(odd) - {".."}


# --- the ETag-validated value cache --------------------------------------------------------


def test_cache_serves_unchanged_objects_and_never_stale_ones(url_s3: str) -> None:
    warm = checkpoint_kv.from_url(url_s3)
    warm.setup()
    other = checkpoint_kv.from_url(url_s3)  # another process: its own cache
    assert isinstance(warm.store, S3KV)
    calls = Calls(warm.store)
    last = grow(warm, "t", 4)
    calls.reset()
    tup = warm.get_tuple(cfg("t"))
    assert tup is not None and tup.config == last
    # what this store wrote is served from memory: the LIST only
    assert calls.ops == {"ListObjectsV2": 1} and calls.waves == 1
    calls.reset()
    assert len(list(warm.list(cfg("t"), limit=10))) == 4
    assert calls.ops["ListObjectsV2"] == 1 and calls.ops["GetObject"] <= 2 * 4
    # another writer replaces a value (an __error__ write overwrites): a new ETag, a miss
    other.put_writes(last, [("__error__", "first")], "task-x")
    assert [w[2] for w in warm.get_tuple(cfg("t")).pending_writes if w[0] == "task-x"] == [  # type: ignore[union-attr]
        "first"
    ]
    other.put_writes(last, [("__error__", "second")], "task-x")
    calls.reset()
    tup = warm.get_tuple(cfg("t"))
    assert tup is not None
    assert [w[2] for w in tup.pending_writes or [] if w[0] == "task-x"] == ["second"]
    assert calls.ops["GetObject"] == 1  # the rewritten object
    other.delete_thread("t")
    assert warm.get_tuple(cfg("t")) is None
    warm.close()
    other.close()


# --- writes: order inside a group, conditional writes, shallow ------------------------------


def test_ops_of_one_group_keep_list_order(s3_saver: tuple[KVCheckpointSaver, Calls]) -> None:
    saver, calls = s3_saver
    store = saver.store
    store.write("p", [Put("a", b"1"), Put("b", b"1"), Put("c", b"1")])
    calls.reset()
    store.write(
        "p",
        [
            Put("x", b"1"),
            Delete("x"),  # x: gone
            Delete("a"),
            Put("a", b"2", if_absent=True),  # deleted just before: written
            Put("d", b"3"),
            Put("d", b"4", if_absent=True),  # d: keeps 3
            DeleteRange("b", "c"),  # b: gone
            Put("n", b"5"),
            DeleteRange("m", "o"),  # n: gone again
        ],
    )
    assert store.get("p", ["a", "b", "c", "d", "n", "x"]) == {"a": b"2", "c": b"1", "d": b"3"}
    assert calls.ops["ListObjectsV2"] == 1  # one listing covers every range


def test_shallow_put_is_four_waves(url_s3: str) -> None:
    saver = checkpoint_kv.from_url(url_s3 + "&history=latest&cache_mb=0")
    saver.setup()
    assert isinstance(saver.store, S3KV)
    calls = Calls(saver.store)
    config = grow(saver, "t", 3, writes=1)
    calls.reset()
    step(saver, config, {}, 9)
    # listing beside the blob PUTs, the record, then the superseded record, then its data
    assert calls.waves == 4
    assert calls.ops["ListObjectsV2"] == 1 and calls.ops["DeleteObjects"] == 2
    assert len(list(saver.list(cfg("t")))) == 1


def test_if_absent_without_conditional_writes(moto_endpoint: str) -> None:
    store = store_at(moto_endpoint, "ckv-nocond", conditional_writes="false")
    store.setup()
    calls = Calls(store)
    store.write("p", [Put("k", b"1", if_absent=True)])
    store.write("p", [Put("k", b"2", if_absent=True), Put("n", b"3", if_absent=True)])
    assert store.get("p", ["k", "n"]) == {"k": b"1", "n": b"3"}
    assert calls.ops["HeadObject"] == 3
    assert not any("IfNoneMatch" in p for _, p in calls.params)


# --- configuration, isolation, errors -------------------------------------------------------


def test_nested_and_sibling_prefixes_never_meet(moto_endpoint: str) -> None:
    bucket = "ckv-prefixes"
    stores = {p: store_at(moto_endpoint, bucket, p) for p in ("a", "a/b", "ab", "a/b/c")}
    stores["a"].setup()
    for p, store in stores.items():
        store.write("b", [Put("k", p.encode())])
        store.write(f"only-{p.replace('/', '_')}", [Put("k", b"x")])
    for p, store in stores.items():
        assert store.get("b", ["k"]) == {"k": p.encode()}
        assert [v for _, v in store.scan("b", "", "~").items] == [p.encode()]
        assert sorted(store.partitions().partitions) == sorted(["b", f"only-{p.replace('/', '_')}"])
    stores["a"].drop("b")
    assert stores["a/b"].get("b", ["k"]) == {"k": b"a/b"}


def test_missing_bucket_says_how_to_create_it(moto_endpoint: str) -> None:
    saver = KVCheckpointSaver(store_at(moto_endpoint, "ckv-never-created"))
    with pytest.raises(StoreNotFoundError, match=r"setup\(\)"):
        saver.get_tuple(cfg("t"))
    with pytest.raises(StoreNotFoundError, match="aws s3 mb"):
        step(saver, cfg("t"), {}, 0)
    saver.setup()
    saver.setup()  # idempotent
    assert saver.get_tuple(cfg("t")) is None


def test_unreachable_endpoint_names_host_and_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    saver = checkpoint_kv.from_url(
        "s3://b/p?region=us-east-1&endpoint_url=http%3A%2F%2F127.0.0.1%3A9&connect_timeout=0.5"
    )
    with pytest.raises(BackendUnavailableError, match=re.escape("127.0.0.1:9")):
        saver.get_tuple(cfg("t"))
    assert "127.0.0.1:9" in repr(saver)
    # Credentials inside endpoint_url are refused up front, without being echoed.
    with pytest.raises(ConfigError) as err:
        checkpoint_kv.from_url(
            "s3://b/p?endpoint_url=http%3A%2F%2Fuser%3Asecret%40127.0.0.1%3A9&connect_timeout=0.5"
        )
    assert "secret" not in str(err.value)


def test_url_options() -> None:
    store = checkpoint_kv.open_store("s3://bkt/some/prefix/?region=eu-west-1&max_workers=4")
    assert isinstance(store, S3KV)
    assert (store.bucket, store.prefix, store.max_workers) == ("bkt", "some/prefix", 4)
    assert store.client.meta.region_name == "eu-west-1"
    assert store.client.meta.config.max_pool_connections == 4
    assert checkpoint_kv.open_store("s3://bkt").prefix == ""  # type: ignore[attr-defined]
    compat = checkpoint_kv.open_store("s3://bkt?endpoint_url=http%3A%2F%2Fminio%3A9000")
    assert compat.client.meta.config.request_checksum_calculation == "when_required"  # type: ignore[attr-defined]
    for bad in (
        "s3://bkt/p?colour=red",
        "s3://bkt/p?max_workers=zero",
        "s3://bkt/p?max_workers=0",
        "s3://bkt/p?conditional_writes=maybe",
        "s3://bkt/p?addressing_style=sideways",
        "s3://bkt/p?checksums=never",
        "s3://bkt/p?cache_mb=-1",
        "s3://bkt/p?max_attempts=0",
        "s3://bkt/p?read_timeout=0",
        "s3://bkt/p?connect_timeout=-1",
        "s3://bkt/a!b",
        "s3://AKIA:secret@bkt/p",
        "s3:///p",
    ):
        with pytest.raises(ConfigError) as err:
            checkpoint_kv.open_store(bad)
        assert "secret" not in str(err.value)


# --- delete order: records before what they reference (issue 11, item 5) ----------------------


class Timeline:
    """Start and end of every S3 request in the order they happened, each with the port keys
    it touched, to check that one phase is complete before the next begins."""

    def __init__(self, store: S3KV) -> None:
        self.events: list[tuple[str, int, str, tuple[str, ...]]] = []  # (start|end, id, op, keys)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._ids = iter(range(10**9))
        events = store.client.meta.events
        events.register("before-parameter-build.s3", self._params)
        events.register("before-call.s3", self._start)
        events.register("after-call.s3", self._end)

    @staticmethod
    def _keys(params: dict[str, Any]) -> tuple[str, ...]:
        names = [o["Key"] for o in params.get("Delete", {}).get("Objects", ())]
        names += [params["Key"]] if "Key" in params else []
        return tuple(decode_key(n.rsplit("!/", 1)[1]) for n in names)

    def _params(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self._local.keys = self._keys(params)

    def _start(self, model: Any, **_: Any) -> None:
        with self._lock:
            self._local.id = next(self._ids)
            self.events.append(("start", self._local.id, model.name, self._local.keys))

    def _end(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.events.append(("end", self._local.id, model.name, self._local.keys))

    def assert_before(self, first: Any, then: Any) -> None:
        """Every request touching a key with ``first(key)`` ended before any request touching
        a key with ``then(key)`` started (so no request touches both)."""
        ends = [i for i, (kind, _, _, keys) in enumerate(self.events) if kind == "end"]
        starts = [i for i, (kind, _, _, keys) in enumerate(self.events) if kind == "start"]
        last_first = max(i for i in ends if any(map(first, self.events[i][3])))
        first_then = min(i for i in starts if any(map(then, self.events[i][3])))
        assert last_first < first_then, self.events

    def deleted(self) -> list[str]:
        return [
            k
            for kind, _, op, keys in self.events
            if kind == "end" and op == "DeleteObjects"
            for k in keys
        ]


def is_rec(key: str) -> bool:
    return key.startswith("c!") and key.endswith("!~")


def is_data(key: str) -> bool:
    return not is_rec(key)


THREAD_KEYS = [
    "b!!ch!i1",
    "b!!ch!i2",
    "c!!0001!w!t!n1",
    "c!!0001!~",
    "c!!0002!w!t!n1",
    "c!!0002!~",
    "n!sub",
]


def test_drop_deletes_records_then_their_data(s3_saver: tuple[KVCheckpointSaver, Calls]) -> None:
    store = s3_saver[0].store
    assert isinstance(store, S3KV)
    store.write("p", [Put(k, b"v") for k in THREAD_KEYS])
    timeline = Timeline(store)
    store.drop("p")
    assert sorted(timeline.deleted()) == sorted(THREAD_KEYS)
    timeline.assert_before(is_rec, is_data)
    assert store.scan("p", "", "~").items == []


def test_write_deletes_records_first_and_after_the_commit(
    s3_saver: tuple[KVCheckpointSaver, Calls],
) -> None:
    """A put that supersedes older checkpoints (the shallow saver's batch): new blob, then the
    new record (the commit), then the old records, then what only they referenced."""
    store = s3_saver[0].store
    assert isinstance(store, S3KV)
    store.write("p", [Put(k, b"v") for k in THREAD_KEYS])
    timeline = Timeline(store)
    store.write(
        "p",
        [
            Put("b!!ch!i3", b"new"),
            Put("c!!0003!~", b"new", commit=True),
            DeleteRange("b!!ch!i1", "b!!ch!i3"),  # before the records in list order
            Delete("c!!0001!w!t!n1"),
            DeleteRange("c!!", "c!!0003"),
        ],
    )
    assert sorted(timeline.deleted()) == sorted(k for k in THREAD_KEYS if k != "n!sub")
    old = set(THREAD_KEYS)
    timeline.assert_before(lambda k: k == "b!!ch!i3", lambda k: k == "c!!0003!~")
    timeline.assert_before(lambda k: k == "c!!0003!~", lambda k: k in old)
    timeline.assert_before(lambda k: k in old and is_rec(k), lambda k: k in old and is_data(k))
    got = [k for k, _ in store.scan("p", "", "~").items]
    assert got == ["b!!ch!i3", "c!!0003!~", "n!sub"]


# --- damage surfaces as CorruptRecordError naming the key (issue 11, item 13) ----------------


def test_every_flipped_bit_of_a_reference_header_is_a_corrupt_record(
    s3_saver: tuple[KVCheckpointSaver, Calls],
) -> None:
    """The header ("ref1\\nref2\\n\\n") sits outside the record's checksum; the store must not
    turn a damaged one into object keys (a bare ValueError from encoding them, before)."""
    saver, _ = s3_saver
    saver.shallow = True  # values in blobs of their own: a header of two references
    store = saver.store
    cp = empty_checkpoint()
    cp["id"] = str(uuid6(clock_seq=1))
    cp["channel_versions"] = {"a": 1, "c": 1}  # int versions: short blob keys, a short sweep
    cp["channel_values"] = {"a": "va", "c": "vc"}
    config = saver.put(cfg("t"), cp, {}, {"a": 1, "c": 1})
    part = K.partition("t")
    ((key, value),) = [(k, v) for k, v in store.scan(part, "c!", "c~").items if is_rec(k)]
    header_len = value.index(b"\n\n") + 2
    mark = K.mark_key("", cp["id"]).encode()
    assert value[:header_len] == b"b!!a!i1\nb!!c!i1\n" + mark + b"\n\n"
    # Every bit of the first reference, the newline after it and the closing "\n\n" (the
    # second reference is like the first): read the latest; the newlines by id too.
    newlines = [7, header_len - 2, header_len - 1]
    outcomes: Counter[str] = Counter()
    for pos in [*range(7), *newlines]:
        for bit in range(8):
            damaged = bytearray(value)
            damaged[pos] ^= 1 << bit
            store.write(part, [Put(key, bytes(damaged))])
            for read in (cfg("t"), config) if pos in newlines else (cfg("t"),):
                try:
                    tup = saver.get_tuple(read)
                except CorruptRecordError as e:
                    assert key in str(e), (pos, bit, e)
                    outcomes["corrupt"] += 1
                else:  # a harmless flip must still read right
                    assert tup is not None, (pos, bit)
                    assert tup.checkpoint["channel_values"] == {"a": "va", "c": "vc"}, (pos, bit)
                    outcomes["right"] += 1
    store.write(part, [Put(key, value)])
    tup = saver.get_tuple(config)
    assert tup is not None and tup.checkpoint["channel_values"] == {"a": "va", "c": "vc"}
    assert outcomes["corrupt"] > 0, outcomes


def test_keys_no_object_can_have_read_as_absent(
    s3_saver: tuple[KVCheckpointSaver, Calls],
) -> None:
    store = s3_saver[0].store
    store.write("p", [Put("b!!a!i1", b"v")])
    assert store.get("p", ["b!!a!i1", "b!!a\x01i1", "b !!a", "b!!é"]) == {"b!!a!i1": b"v"}
    with pytest.raises(ValueError):  # writing one is a programming error, as before
        store.write("p", [Put("b!!a\x01i1", b"v")])


# --- scans with a limit read what they return (issue 11, item 6) ------------------------------


def test_scans_with_a_limit_on_a_long_thread(
    s3_saver: tuple[KVCheckpointSaver, Calls], monkeypatch: pytest.MonkeyPatch
) -> None:
    """200 checkpoint records in pages of 20: a descending scan with a
    limit lists ONE page and GETs what it returns. An ascending one GETs no more than its
    limit, but must list its whole range: S3 lists ascending only and the sort keys are stored
    order-inverted, so the smallest keys come LAST (see backends/s3/layout.py). Whole-thread
    reads therefore page descending (``test_whole_thread_reads_list_each_object_once``)."""
    saver, calls = s3_saver
    store = saver.store
    keys = [f"c!!{i:06d}!~" for i in range(200)]
    store.write("p", [Put(k, b"v") for k in keys])
    monkeypatch.setattr(s3_layout, "PAGE", 20)  # pretend S3's page is 20, not 1,000
    calls.reset()
    got = store.scan("p", "c!", "c~", reverse=True, limit=10).items
    assert [k for k, _ in got] == keys[::-1][:10]
    assert calls.ops == {"ListObjectsV2": 1, "GetObject": 10}
    calls.reset()
    got = store.scan("p", "c!", "c~", limit=10).items
    assert [k for k, _ in got] == keys[:10]
    assert calls.ops["GetObject"] == 10


def test_whole_thread_reads_list_each_object_once(
    s3_saver: tuple[KVCheckpointSaver, Calls], monkeypatch: pytest.MonkeyPatch
) -> None:
    from checkpoint_kv.saver import copying, maintenance

    saver, calls = s3_saver
    grow(saver, "t", 15, writes=1)  # 15 x (2 blobs + record + writes) = 60 objects
    monkeypatch.setattr(s3_layout, "PAGE", 5)
    monkeypatch.setattr(maintenance, "_FULL_PAGE", 5)
    monkeypatch.setattr(copying, "PAGE", 5)
    for op in (lambda: saver.copy_thread("t", "u"), lambda: saver.prune(["t"])):
        calls.reset()
        op()
        # Paged descending: one LIST per 5 objects read (+ 1 per family, + prune's deletes):
        # 15-16. Ascending pages re-list the rest of the range each time: copy 55, prune 30.
        assert calls.ops["ListObjectsV2"] <= 20, calls.ops


# --- tenants, retention, timeouts (issue 11, items 3, 2 and 16) --------------------------------


def test_tenants_whose_prefixes_extend_one_another_never_meet(moto_endpoint: str) -> None:
    """``ckv`` + thread ``1x`` and ``ckv1`` + thread ``x`` (DynamoDB's old collision), and a
    tenant nested in another's prefix: each sees, lists and deletes only its own threads."""
    bucket = "ckv-tenants"
    tenants = {p: KVCheckpointSaver(store_at(moto_endpoint, bucket, p)) for p in TENANTS}
    tenants["ckv"].setup()
    for p, (thread, _) in TENANTS.items():
        cp = empty_checkpoint()
        cp["id"] = str(uuid6(clock_seq=1))
        cp["channel_versions"] = {"owner": 1}
        cp["channel_values"] = {"owner": p}
        for t in (thread, "shared"):
            tenants[p].put(cfg(t), cp, {}, {"owner": 1})
    for p, (thread, other) in TENANTS.items():
        saver = tenants[p]
        for t in (thread, "shared"):
            tup = saver.get_tuple(cfg(t))
            assert tup is not None and tup.checkpoint["channel_values"] == {"owner": p}
        assert saver.get_tuple(cfg(other)) is None
        assert {t.config["configurable"]["thread_id"] for t in saver.list(None)} == {
            thread,
            "shared",
        }
    tenants["a"].delete_thread("shared")
    tenants["ckv"].delete_thread("shared")
    for p in TENANTS:
        tup = tenants[p].get_tuple(cfg("shared"))
        assert (tup is None) == (p in ("a", "ckv")), p
    # The separator "!/" that ends a thread's segment is refused inside a prefix; a slash at
    # either end is the same prefix.
    for bad in ("ckv!", "ckv!/x", "a/!/b", "a//b"):
        with pytest.raises(ConfigError):
            store_at(moto_endpoint, bucket, bad)
    same = KVCheckpointSaver(store_at(moto_endpoint, bucket, "/ckv1/"))
    tup = same.get_tuple(cfg("x"))
    assert tup is not None and tup.checkpoint["channel_values"] == {"owner": "ckv1"}


# prefix -> (its own thread, the thread whose escaped id would extend the other prefix)
TENANTS = {"ckv": ("1x", "x"), "ckv1": ("x", "1x"), "a": ("b/c", "c"), "a/b": ("c", "b/c")}


def lifecycle(store: S3KV, *rules: dict[str, Any]) -> None:
    store.client.put_bucket_lifecycle_configuration(
        Bucket=store.bucket, LifecycleConfiguration={"Rules": list(rules)}
    )


def rule(flt: dict[str, Any], status: str = "Enabled", **expiration: Any) -> dict[str, Any]:
    return {
        "ID": f"r-{uuid6().hex[-6:]}",
        "Filter": flt,
        "Status": status,
        "Expiration": expiration or {"Days": 30},
    }


def test_setup_warns_when_a_lifecycle_rule_expires_our_objects(moto_endpoint: str) -> None:
    store = store_at(moto_endpoint, "ckv-lifecycle", "ckv1")
    store.setup()  # creates the bucket: no rule yet
    assert store.lifecycle_expirations() == []
    covering = [
        rule({"Prefix": "ckv1/"}),
        rule({"Prefix": "ckv"}),  # S3 prefixes are string prefixes: this covers ckv1/ too
        rule({"Prefix": "ckv1/some-thread"}),
        rule({"Prefix": ""}),
        rule({"And": {"Prefix": "ckv1/", "ObjectSizeGreaterThan": 10}}),
    ]
    harmless = [
        rule({"Prefix": "ckv/"}),  # the neighbour tenant
        rule({"Prefix": "other/"}),
        rule({"Tag": {"Key": "k", "Value": "v"}}),
        rule({"Prefix": "ckv1/"}, status="Disabled"),
        rule({"Prefix": "ckv1/"}, ExpiredObjectDeleteMarker=True),
    ]
    for r in covering:
        lifecycle(store, r, *harmless)
        assert store.lifecycle_expirations() == [f"{r['ID']!r} (Days=30)"]
        with pytest.warns(UserWarning, match=r"lifecycle rule.*ACTIVE threads"):
            store.setup()
    lifecycle(store, *harmless)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        store.setup()
    assert store.lifecycle_expirations() == []


def test_timeouts_are_bounded_by_default() -> None:
    store = checkpoint_kv.open_store("s3://bkt/p?region=eu-west-1")
    config = store.client.meta.config  # type: ignore[attr-defined]
    assert (config.connect_timeout, config.read_timeout) == (s3.CONNECT_TIMEOUT, s3.READ_TIMEOUT)
    assert config.retries["total_max_attempts"] == s3.MAX_ATTEMPTS
    assert s3.MAX_ATTEMPTS * (s3.CONNECT_TIMEOUT + s3.READ_TIMEOUT) <= 90


def test_silent_peer_times_out_naming_host_and_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """A peer that accepts TCP (the kernel does, from the listen backlog) and never answers."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with socket.socket() as peer:
        peer.bind(("127.0.0.1", 0))
        peer.listen(16)
        port = peer.getsockname()[1]
        endpoint = quote(f"http://127.0.0.1:{port}", safe="")
        saver = checkpoint_kv.from_url(
            f"s3://b/p?region=us-east-1&endpoint_url={endpoint}"
            "&connect_timeout=1&read_timeout=0.2&max_attempts=1"
        )
        with pytest.raises(BackendUnavailableError, match=re.escape(f"127.0.0.1:{port}")):
            saver.get_tuple(cfg("t"))
        saver.close()
