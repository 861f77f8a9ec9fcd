"""Async twin for backends whose client is synchronous (SQLite, boto3).

Each call runs in a worker thread, so the event loop never blocks, and makes exactly the same
port calls (and so the same round trips) as the sync store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from checkpoint_kv.port import AsyncKVStore, KVStore, Op, PartitionPage, ScanResult

__all__ = ["ThreadedAsyncStore", "async_twin"]


class ThreadedAsyncStore:
    def __init__(self, sync: KVStore) -> None:
        self.sync = sync
        records = getattr(sync, "scan_records", None)
        if callable(records):  # the optional fast path (S3), also in a worker thread

            async def scan_records(*args: Any) -> ScanResult:
                return await asyncio.to_thread(records, *args)

            self.scan_records = scan_records

    def __repr__(self) -> str:
        return f"ThreadedAsyncStore({self.sync!r})"

    async def get(self, partition: str, keys: Sequence[str]) -> dict[str, bytes]:
        return await asyncio.to_thread(self.sync.get, partition, keys)

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
        return await asyncio.to_thread(
            lambda: self.sync.scan(
                partition, start, end, reverse=reverse, limit=limit, follow=follow
            )
        )

    async def write(self, partition: str, ops: Sequence[Op]) -> None:
        await asyncio.to_thread(self.sync.write, partition, ops)

    async def drop(self, partition: str) -> None:
        await asyncio.to_thread(self.sync.drop, partition)

    async def partitions(self, cursor: str | None = None) -> PartitionPage:
        return await asyncio.to_thread(self.sync.partitions, cursor)

    async def setup(self) -> None:
        await asyncio.to_thread(self.sync.setup)

    async def close(self) -> None:
        # The sync store owns the connections; the saver closes it once.
        pass


def async_twin(store: KVStore) -> AsyncKVStore:
    """The backend's own async store if it has one, else a thread-offloading wrapper."""
    twin = getattr(store, "async_twin", None)
    if callable(twin):
        result: AsyncKVStore = twin()
        return result
    return ThreadedAsyncStore(store)
