"""``CountingStore``: wrap any store to count port calls (the budget tests and the benchmark use
it; it is handy in production to see what a graph step costs)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from checkpoint_kv.aio import async_twin
from checkpoint_kv.port import AsyncKVStore, KVStore, Op, PartitionPage, ScanResult, ScanSpec

__all__ = ["CountingStore"]


class CountingStore:
    """Counts every port call, sync and async alike, in ``calls`` (by method name)."""

    def __init__(self, inner: KVStore) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self._atwin = _CountingAsync(async_twin(inner), self.calls)

    def __repr__(self) -> str:
        return f"CountingStore({self.inner!r})"

    @property
    def total(self) -> int:
        """Port calls (round trips); ``calls["items"]`` counts the items they returned."""
        return sum(n for k, n in self.calls.items() if k != "items")

    def reset(self) -> None:
        self.calls.clear()

    def get(self, partition: str, keys: Sequence[str]) -> dict[str, bytes]:
        self.calls["get"] += 1
        found = self.inner.get(partition, keys)
        self.calls["items"] += len(found)
        return found

    def scan(
        self,
        partition: str,
        start: str,
        end: str,
        *,
        reverse: bool = False,
        limit: int | None = None,
        follow: int = 0,
    ) -> ScanResult:
        self.calls["scan"] += 1
        res = self.inner.scan(partition, start, end, reverse=reverse, limit=limit, follow=follow)
        self.calls["items"] += len(res.items) + len(res.refs)
        return res

    def scan_many(self, partition: str, specs: Sequence[ScanSpec]) -> list[ScanResult]:
        """One call where the inner store batches scans, else one per scan (as the saver's
        driver would do)."""
        many = getattr(self.inner, "scan_many", None)
        if many is not None:
            self.calls["scan_many"] += 1
            result: list[ScanResult] = many(partition, specs)
            self.calls["items"] += sum(len(r.items) + len(r.refs) for r in result)
            return result
        return [
            self.scan(partition, s.start, s.end, reverse=s.reverse, limit=s.limit, follow=s.follow)
            for s in specs
        ]

    def write(self, partition: str, ops: Sequence[Op]) -> None:
        self.calls["write"] += 1
        self.inner.write(partition, ops)

    def drop(self, partition: str) -> None:
        self.calls["drop"] += 1
        self.inner.drop(partition)

    def partitions(self, cursor: str | None = None) -> PartitionPage:
        self.calls["partitions"] += 1
        return self.inner.partitions(cursor)

    def setup(self) -> None:
        self.inner.setup()

    def close(self) -> None:
        self.inner.close()

    def async_twin(self) -> AsyncKVStore:
        return self._atwin


class _CountingAsync:
    def __init__(self, inner: AsyncKVStore, calls: Counter[str]) -> None:
        self.inner = inner
        self.calls = calls

    async def get(self, partition: str, keys: Sequence[str]) -> dict[str, bytes]:
        self.calls["get"] += 1
        found = await self.inner.get(partition, keys)
        self.calls["items"] += len(found)
        return found

    async def scan(
        self,
        partition: str,
        start: str,
        end: str,
        *,
        reverse: bool = False,
        limit: int | None = None,
        follow: int = 0,
    ) -> ScanResult:
        self.calls["scan"] += 1
        res = await self.inner.scan(
            partition, start, end, reverse=reverse, limit=limit, follow=follow
        )
        self.calls["items"] += len(res.items) + len(res.refs)
        return res

    async def scan_many(self, partition: str, specs: Sequence[ScanSpec]) -> list[ScanResult]:
        many = getattr(self.inner, "scan_many", None)
        if many is not None:
            self.calls["scan_many"] += 1
            result: list[ScanResult] = await many(partition, specs)
            self.calls["items"] += sum(len(r.items) + len(r.refs) for r in result)
            return result
        return [
            await self.scan(
                partition, s.start, s.end, reverse=s.reverse, limit=s.limit, follow=s.follow
            )
            for s in specs
        ]

    async def write(self, partition: str, ops: Sequence[Op]) -> None:
        self.calls["write"] += 1
        await self.inner.write(partition, ops)

    async def drop(self, partition: str) -> None:
        self.calls["drop"] += 1
        await self.inner.drop(partition)

    async def partitions(self, cursor: str | None = None) -> PartitionPage:
        self.calls["partitions"] += 1
        return await self.inner.partitions(cursor)

    async def setup(self) -> None:
        await self.inner.setup()

    async def close(self) -> None:
        await self.inner.close()
