"""The port contract, once, run against every backend's store (sync and async twins)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from checkpoint_kv.aio import async_twin
from checkpoint_kv.port import Delete, DeleteRange, KVStore, Put, frame
from checkpoint_kv.registry import open_store


@pytest.fixture
def store(url: str) -> Iterator[KVStore]:
    s = open_store(url)
    s.setup()
    try:
        yield s
    finally:
        s.close()


def keys(res: Any) -> list[str]:
    return [k for k, _ in res.items]


def test_empty_store(store: KVStore) -> None:
    assert store.get("p", ["a"]) == {}
    assert store.scan("p", "", "~").items == []
    store.drop("nothing-here")
    store.write("p", [Delete("a"), DeleteRange("a", "z")])
    assert store.partitions().partitions == [] or "p" not in store.partitions().partitions


def test_put_get_scan_order(store: KVStore) -> None:
    store.write("p", [Put(k, k.encode()) for k in ["b!2", "a", "b!10", "b", "c"]])
    assert store.get("p", ["a", "c", "zz"]) == {"a": b"a", "c": b"c"}
    assert keys(store.scan("p", "a", "c")) == ["a", "b", "b!10", "b!2"]
    assert keys(store.scan("p", "a", "c", reverse=True)) == ["b!2", "b!10", "b", "a"]
    assert keys(store.scan("p", "a", "c", reverse=True, limit=2)) == ["b!2", "b!10"]
    assert keys(store.scan("p", "a", "c", limit=1)) == ["a"]
    assert store.scan("p", "b", "b!2").items == [("b", b"b"), ("b!10", b"b!10")]


def test_partitions_are_isolated(store: KVStore) -> None:
    store.write("p1", [Put("k", b"1")])
    store.write("p2", [Put("k", b"2")])
    assert store.get("p1", ["k"]) == {"k": b"1"}
    store.drop("p1")
    assert store.get("p1", ["k"]) == {}
    assert store.get("p2", ["k"]) == {"k": b"2"}
    parts: list[str] = []
    cursor = None
    while True:
        page = store.partitions(cursor)
        parts += page.partitions
        cursor = page.cursor
        if cursor is None:
            break
    assert "p2" in parts and "p1" not in parts


def test_if_absent_and_overwrite(store: KVStore) -> None:
    store.write("p", [Put("k", b"1")])
    store.write("p", [Put("k", b"2", if_absent=True), Put("n", b"3", if_absent=True)])
    assert store.get("p", ["k", "n"]) == {"k": b"1", "n": b"3"}
    store.write("p", [Put("k", b"4")])
    assert store.get("p", ["k"]) == {"k": b"4"}


def test_ops_apply_in_order(store: KVStore) -> None:
    store.write("p", [Put(f"k{i}", b"x") for i in range(5)])
    store.write("p", [DeleteRange("k1", "k3"), Delete("k4"), Put("k2", b"y", commit=True)])
    assert keys(store.scan("p", "k", "l")) == ["k0", "k2", "k3"]
    assert store.get("p", ["k2"]) == {"k2": b"y"}


def test_large_and_binary_values(store: KVStore) -> None:
    big = bytes(range(256)) * 8192  # 2 MiB with every byte value
    store.write("p", [Put("big", big), Put("nul", b"\x00\n\n\x00")])
    assert store.get("p", ["big", "nul"]) == {"big": big, "nul": b"\x00\n\n\x00"}


def test_follow_refs(store: KVStore) -> None:
    store.write(
        "p",
        [
            Put("b1", b"blob1"),
            Put("b2", b"blob2"),
            Put("c!1", frame(["b1", "missing"], b"rec1")),
            Put("c!2", frame(["b2"], b"rec2")),
            Put("c!3", frame([], b"write")),
        ],
    )
    res = store.scan("p", "c", "d", reverse=True, follow=1)
    assert keys(res) == ["c!3", "c!2", "c!1"]
    assert res.refs == {"b2": b"blob2"}  # the first value with refs only; c!3 has none
    res = store.scan("p", "c", "d", follow=2)
    assert res.refs == {"b1": b"blob1", "b2": b"blob2"}
    assert store.scan("p", "c", "d").refs == {}


@pytest.mark.heavy  # 53 s on S3 (moto): the slow backends run it with CKV_PROFILE=full
def test_many_keys(store: KVStore) -> None:
    store.write("p", [Put(f"k{i:05d}", b"v") for i in range(1200)])
    assert len(store.get("p", [f"k{i:05d}" for i in range(1200)])) == 1200
    assert len(store.scan("p", "k", "l").items) == 1200
    assert keys(store.scan("p", "k", "l", reverse=True, limit=3)) == ["k01199", "k01198", "k01197"]
    store.write("p", [DeleteRange("k00100", "k01100")])
    assert len(store.scan("p", "k", "l").items) == 200


def test_async_twin_matches(store: KVStore) -> None:
    astore = async_twin(store)

    async def go() -> None:
        await astore.write("q", [Put("a", b"1"), Put("b", b"2"), Put("c", frame(["a"], b"r"))])
        assert await astore.get("q", ["a", "x"]) == {"a": b"1"}
        res = await astore.scan("q", "a", "d", reverse=True, limit=2, follow=1)
        assert [k for k, _ in res.items] == ["c", "b"]
        assert res.refs == {"a": b"1"}
        assert "q" in (await astore.partitions()).partitions
        await astore.drop("q")
        assert await astore.get("q", ["a"]) == {}

    asyncio.run(go())
