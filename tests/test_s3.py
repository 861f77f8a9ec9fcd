"""S3 backend: key encoding, API calls and sequential waves per saver operation, conditional
writes, isolation of prefixes, errors. Runs on the session's moto server (real HTTP).

API calls are counted with botocore's ``before-call`` event (one per API call, whatever the
retries); waves are the store's own count of sequential request phases (``S3Store.waves``).
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import pytest
from checkpoint_kv.backends import s3
from checkpoint_kv.backends.s3 import S3Store, decode_key, encode_key
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.base.id import uuid6

import checkpoint_kv
from checkpoint_kv import (
    BackendUnavailableError,
    ConfigError,
    KVCheckpointSaver,
    StoreNotFoundError,
)
from checkpoint_kv import keys as K
from checkpoint_kv.port import Delete, DeleteRange, Put


class Calls:
    """S3 API calls by operation name, counted at botocore's ``before-call`` event (and their
    parameters as the store passed them, from ``before-parameter-build``)."""

    def __init__(self, store: S3Store) -> None:
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
    assert isinstance(saver.store, S3Store)
    calls = Calls(saver.store)
    try:
        yield saver, calls
    finally:
        saver.close()


def store_at(moto_endpoint: str, bucket: str, prefix: str = "ckv", **opts: Any) -> S3Store:
    query = "&".join(f"{k}={v}" for k, v in opts.items())
    url = f"s3://{bucket}/{prefix}?region=us-east-1&endpoint_url={quote(moto_endpoint, safe='')}"
    store = checkpoint_kv.open_store(url + ("&" + query if query else ""))
    assert isinstance(store, S3Store)
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
    assert len(names) == 2 * 4 and longest <= 1024, longest  # 893 with today's keys.py
    with pytest.raises(ConfigError):
        store_at(moto_endpoint, "ckv-longkeys", "p" * (s3.MAX_PREFIX + 1))


# --- API calls and waves per saver operation ------------------------------------------------


def test_put_is_two_waves_and_put_writes_one(
    s3_saver: tuple[KVCheckpointSaver, Calls],
) -> None:
    saver, calls = s3_saver
    config = grow(saver, "t", 2)
    calls.reset()
    config = step(saver, config, {}, 3)  # two changed channels: 2 blobs + the record
    assert calls.ops == {"PutObject": 3}
    assert calls.waves == 2
    calls.reset()
    saver.put_writes(config, [("messages", "a"), ("step", 1), ("__interrupt__", "x")], "task")
    assert calls.ops == {"PutObject": 3}
    assert calls.waves == 1
    conditional = [p for op, p in calls.params if p.get("IfNoneMatch") == "*"]
    assert len(conditional) == 2  # ordinary writes insert-if-absent; __interrupt__ overwrites


def test_record_is_written_after_its_blobs(s3_saver: tuple[KVCheckpointSaver, Calls]) -> None:
    saver, calls = s3_saver
    calls.reset()
    step(saver, cfg("t"), {}, 0)
    order = [decode_key(p["Key"].rsplit("!/", 1)[1]) for op, p in calls.params]
    assert K.is_record(order[-1]) and not any(K.is_record(k) for k in order[:-1])


def test_get_tuple_latest_and_by_id_three_waves_one_list(
    s3_saver: tuple[KVCheckpointSaver, Calls],
) -> None:
    saver, calls = s3_saver
    last = grow(saver, "t", 6)
    calls.reset()
    tup = saver.get_tuple(cfg("t"))
    assert tup is not None and tup.checkpoint["id"] == last["configurable"]["checkpoint_id"]
    assert tup.checkpoint["channel_values"]["step"] == 5
    assert len(tup.pending_writes or []) == 2
    assert calls.ops["ListObjectsV2"] == 1
    # record + 2 writes + (the next-older record and writes within the page of 8), 2 blobs
    assert calls.ops["GetObject"] <= 8 + 2
    assert calls.waves == 3
    calls.reset()
    assert tup.parent_config is not None
    old = saver.get_tuple(tup.parent_config)
    assert old is not None and old.checkpoint["channel_values"]["step"] == 4
    assert calls.ops == {"ListObjectsV2": 1, "GetObject": 3 + 2}
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
    assert calls.ops["ListObjectsV2"] == 1 and calls.waves == 3
    calls.reset()
    got = [t async for t in saver.alist(cfg("t"), limit=10)]
    assert len(got) == 3 and calls.ops["ListObjectsV2"] == 1 and calls.waves <= 3


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
        with ThreadPoolExecutor(8) as pool:
            list(
                pool.map(
                    lambda cp, t=thread: saver.put(cfg(t), cp, {}, dict(cp["channel_versions"])),
                    checkpoints[-n:],
                )
            )
    counts = {}
    for thread in ("small", "big"):
        calls.reset()
        tup = saver.get_tuple(cfg(thread))
        assert tup is not None and tup.checkpoint["channel_values"]["step"] == 499
        counts[thread] = (calls.ops["ListObjectsV2"], calls.waves)
    assert counts["big"] == counts["small"]
    assert counts["big"][0] == 1
    calls.reset()
    assert len(list(saver.list(cfg("big"), limit=10))) == 10
    assert calls.ops["ListObjectsV2"] == 1 and calls.waves <= 3


def test_delete_thread_batches_delete_objects(
    s3_saver: tuple[KVCheckpointSaver, Calls], monkeypatch: pytest.MonkeyPatch
) -> None:
    saver, calls = s3_saver
    grow(saver, "t", 3)  # 3 x (2 blobs + record + 2 writes) = 15 objects
    grow(saver, "keep", 1)
    monkeypatch.setattr(s3, "_PAGE", 4)  # pretend S3's page is 4, not 1,000
    calls.reset()
    saver.delete_thread("t")
    assert calls.ops == {"ListObjectsV2": 4, "DeleteObjects": 4}
    assert calls.waves == 4 + 1  # LIST pages in sequence, then every DeleteObjects at once
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
    monkeypatch.setattr(s3, "_PAGE", 3)
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
    assert isinstance(warm.store, S3Store)
    calls = Calls(warm.store)
    last = grow(warm, "t", 4)
    calls.reset()
    tup = warm.get_tuple(cfg("t"))
    assert tup is not None and tup.config == last
    # what this store wrote is served from memory: the LIST, then only the blob GETs
    assert calls.ops == {"ListObjectsV2": 1, "GetObject": 2} and calls.waves == 2
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
    assert calls.ops["GetObject"] == 1 + 2  # the rewritten object, and the blobs
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


def test_shallow_put_is_three_waves(url_s3: str) -> None:
    saver = checkpoint_kv.from_url(url_s3 + "&history=latest&cache_mb=0")
    saver.setup()
    assert isinstance(saver.store, S3Store)
    calls = Calls(saver.store)
    config = grow(saver, "t", 3, writes=1)
    calls.reset()
    step(saver, config, {}, 9)
    # listing beside the blob PUTs, the record, then the deletes of the superseded objects
    assert calls.waves == 3
    assert calls.ops["ListObjectsV2"] == 1 and calls.ops["DeleteObjects"] == 1
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
    assert isinstance(store, S3Store)
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
        "s3://bkt/a!b",
        "s3://AKIA:secret@bkt/p",
        "s3:///p",
    ):
        with pytest.raises(ConfigError) as err:
            checkpoint_kv.open_store(bad)
        assert "secret" not in str(err.value)
