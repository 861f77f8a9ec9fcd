"""The delegating store base: hooks around every port call, sync and async alike, and optional
port methods present on the wrapper exactly when the wrapped store has them (the drivers pick
the ``scan_many`` fast path with ``getattr``)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from checkpoint_kv.port import Put, ScanResult, ScanSpec
from checkpoint_kv.port_wrappers import CountingKV, DelegatingKV, Intercept
from checkpoint_kv.registry import open_store


class _WithScanMany:
    """A memory store that also batches scans (as the Redis backend does)."""

    def __init__(self) -> None:
        self.store: Any = open_store("memory://")
        self.batches = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def scan_many(self, partition: str, specs: Sequence[ScanSpec]) -> list[ScanResult]:
        self.batches += 1
        return [self.store.scan(partition, s.start, s.end) for s in specs]


def test_optional_methods_follow_the_inner_store() -> None:
    plain = CountingKV(open_store("memory://"))
    assert getattr(plain, "scan_many", None) is None
    assert getattr(plain.async_twin(), "scan_many", None) is None
    inner = _WithScanMany()
    counted = CountingKV(inner)  # type: ignore[arg-type]
    counted.write("p", [Put("a", b"1"), Put("b", b"2")])
    many = counted.scan_many  # type: ignore[attr-defined]
    res = many("p", [ScanSpec("a", "b"), ScanSpec("a", "z")])
    assert [len(r.items) for r in res] == [1, 2] and inner.batches == 1
    assert counted.calls == {"write": 1, "scan_many": 1, "items": 3}
    assert counted.total == 2


def test_async_twin_shares_the_hooks() -> None:
    counted = CountingKV(open_store("memory://"))
    twin = counted.async_twin()
    assert counted.async_twin() is twin

    async def go() -> None:
        await twin.write("p", [Put("k", b"v")])
        assert await twin.get("p", ["k", "missing"]) == {"k": b"v"}
        assert len((await twin.scan("p", "a", "z", limit=5)).items) == 1

    asyncio.run(go())
    counted.get("p", ["k"])
    assert counted.calls == {"write": 1, "get": 2, "scan": 1, "items": 3}


class _Lossy(DelegatingKV):
    """Applies only the first op of a write, then fails (an intercept with other arguments)."""

    def before_call(self, method: str, args: tuple[Any, ...]) -> Intercept | None:
        if method != "write":
            return None
        return Intercept(ConnectionError("lost"), apply=(args[0], list(args[1])[:1]))


def test_intercept_applies_then_raises() -> None:
    inner = open_store("memory://")
    store = _Lossy(inner)
    with pytest.raises(ConnectionError):
        store.write("p", [Put("a", b"1"), Put("b", b"2")])
    assert inner.get("p", ["a", "b"]) == {"a": b"1"}
    with pytest.raises(ConnectionError):
        asyncio.run(store.async_twin().write("p", [Put("c", b"3"), Put("d", b"4")]))
    assert inner.get("p", ["c", "d"]) == {"c": b"3"}
    assert repr(store).startswith("_Lossy(")
