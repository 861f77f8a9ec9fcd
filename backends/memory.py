"""``memory://``: an in-process store for tests and throwaway graphs.

Each partition is a dict plus a sorted key list, behind one lock (the sync port must be
thread-safe). The async twin calls straight through: nothing here blocks.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from checkpoint_kv._renamed import renamed
from checkpoint_kv.port import (
    Delete,
    DeleteRange,
    Op,
    PartitionPage,
    Put,
    ScanResult,
    follow_refs,
)

__all__ = ["MemoryKV", "from_url"]


class _Partition:
    __slots__ = ("keys", "values")

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.values: dict[str, bytes] = {}


class MemoryKV:
    def __init__(self) -> None:
        self._parts: dict[str, _Partition] = {}
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"MemoryKV(partitions={len(self._parts)})"

    def get(self, partition: str, keys: Sequence[str]) -> dict[str, bytes]:
        with self._lock:
            part = self._parts.get(partition)
            if part is None:
                return {}
            return {k: part.values[k] for k in keys if k in part.values}

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
        with self._lock:
            part = self._parts.get(partition)
            if part is None:
                return ScanResult([])
            lo = bisect.bisect_left(part.keys, start)
            hi = bisect.bisect_left(part.keys, end)
            keys = part.keys[lo:hi]
            if reverse:
                keys.reverse()
            if limit is not None:
                keys = keys[:limit]
            items = [(k, part.values[k]) for k in keys]
            refs = follow_refs(items, follow) if follow else []
            return ScanResult(items, {k: part.values[k] for k in refs if k in part.values})

    def write(self, partition: str, ops: Sequence[Op]) -> None:
        with self._lock:
            part = self._parts.setdefault(partition, _Partition())
            for op in ops:
                if isinstance(op, Put):
                    if op.key not in part.values:
                        bisect.insort(part.keys, op.key)
                    elif op.if_absent:
                        continue
                    part.values[op.key] = op.value
                elif isinstance(op, Delete):
                    if part.values.pop(op.key, None) is not None:
                        del part.keys[bisect.bisect_left(part.keys, op.key)]
                elif isinstance(op, DeleteRange):
                    lo = bisect.bisect_left(part.keys, op.start)
                    hi = bisect.bisect_left(part.keys, op.end)
                    for k in part.keys[lo:hi]:
                        del part.values[k]
                    del part.keys[lo:hi]
                else:  # pragma: no cover - defensive
                    raise TypeError(f"unknown op {op!r}")
            if not part.keys:
                del self._parts[partition]

    def drop(self, partition: str) -> None:
        with self._lock:
            self._parts.pop(partition, None)

    def partitions(self, cursor: str | None = None) -> PartitionPage:
        with self._lock:
            return PartitionPage(sorted(self._parts))

    def setup(self) -> None:
        pass

    def close(self) -> None:
        pass

    def info(self) -> dict[str, Any]:
        """The port's optional ``info()`` (what ``checkpoint-kv doctor`` reports)."""
        return {
            "server_version": "in-process",
            "ttl": "no (data dies with the process)",
            "problems": [],
        }

    def async_twin(self) -> AsyncMemoryKV:
        return AsyncMemoryKV(self)


class AsyncMemoryKV:
    """Async face of a :class:`MemoryKV`; shares its data."""

    def __init__(self, sync: MemoryKV) -> None:
        self.sync = sync

    async def get(self, partition: str, keys: Sequence[str]) -> dict[str, bytes]:
        return self.sync.get(partition, keys)

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
        return self.sync.scan(partition, start, end, reverse=reverse, limit=limit, follow=follow)

    async def write(self, partition: str, ops: Sequence[Op]) -> None:
        self.sync.write(partition, ops)

    async def drop(self, partition: str) -> None:
        self.sync.drop(partition)

    async def partitions(self, cursor: str | None = None) -> PartitionPage:
        return self.sync.partitions(cursor)

    async def setup(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def info(self) -> dict[str, Any]:
        return self.sync.info()


def from_url(url: str, **options: Any) -> MemoryKV:
    return MemoryKV()


# --- old names ------------------------------------------------------------------------------
# Deprecated aliases: the adapters were named like LangGraph's memory stores (BaseStore).
if TYPE_CHECKING:
    MemoryStore = MemoryKV
    AsyncMemoryStore = AsyncMemoryKV
else:
    __getattr__ = renamed(
        __name__,
        {
            "MemoryStore": "MemoryKV",
            "AsyncMemoryStore": "AsyncMemoryKV",
        },
    )
