"""Run the saver's logic against a sync or an async store.

The saver's operations are generators that *yield port requests* and receive their results
(and, for ``list``, yield ``Emit`` items to hand to the caller). They are written once; the two
drivers below differ only in whether they ``await``. This is how sync and async share every line
of key layout, encoding and read/write planning.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterator, Sequence
from typing import Any, NamedTuple, TypeVar

from checkpoint_kv.port import AsyncKVStore, KVStore, Op, ScanSpec

T = TypeVar("T")


class Get(NamedTuple):
    partition: str
    keys: Sequence[str]


class Scan(NamedTuple):
    partition: str
    start: str
    end: str
    reverse: bool = False
    limit: int | None = None
    follow: int = 0
    # A descending scan whose caller needs only the items before the (N + 1)-th record: sent
    # to the store's optional ``scan_records`` (S3: fewer GETs), else a plain scan.
    records: int = 0


class ScanMany(NamedTuple):
    """Independent scans of one partition: one round trip where the store has ``scan_many``."""

    partition: str
    specs: Sequence[ScanSpec]


class Write(NamedTuple):
    partition: str
    ops: Sequence[Op]


class Drop(NamedTuple):
    partition: str


class Partitions(NamedTuple):
    cursor: str | None


class Emit(NamedTuple):
    value: Any


class OnTarget(NamedTuple):
    """A request for the second store of a two-store plan (a copy's destination). Run by
    ``run`` on one store it goes to that store: a copy within one store."""

    request: Get | Scan | ScanMany | Write | Drop | Partitions


Request = Get | Scan | ScanMany | Write | Drop | Partitions | OnTarget
Plan = Generator[Request, Any, T]
StreamPlan = Generator[Request | Emit, Any, None]


def _sync_call(store: KVStore, req: Request) -> Any:
    if isinstance(req, OnTarget):
        req = req.request
    if isinstance(req, ScanMany):
        many = getattr(store, "scan_many", None)
        if many is not None:
            return many(req.partition, req.specs)
        return [
            store.scan(
                req.partition, s.start, s.end, reverse=s.reverse, limit=s.limit, follow=s.follow
            )
            for s in req.specs
        ]
    if isinstance(req, Scan):
        head = getattr(store, "scan_records", None) if req.records and req.reverse else None
        if head is not None:
            return head(req.partition, req.start, req.end, req.limit, req.follow, req.records)
        return store.scan(
            req.partition,
            req.start,
            req.end,
            reverse=req.reverse,
            limit=req.limit,
            follow=req.follow,
        )
    if isinstance(req, Get):
        return store.get(req.partition, req.keys) if req.keys else {}
    if isinstance(req, Write):
        return store.write(req.partition, req.ops) if req.ops else None
    if isinstance(req, Drop):
        return store.drop(req.partition)
    if isinstance(req, Partitions):
        return store.partitions(req.cursor)
    raise TypeError(f"unknown request {req!r}")


async def _async_call(store: AsyncKVStore, req: Request) -> Any:
    if isinstance(req, OnTarget):
        req = req.request
    if isinstance(req, ScanMany):
        many = getattr(store, "scan_many", None)
        if many is not None:
            return await many(req.partition, req.specs)
        return [
            await store.scan(
                req.partition, s.start, s.end, reverse=s.reverse, limit=s.limit, follow=s.follow
            )
            for s in req.specs
        ]
    if isinstance(req, Scan):
        head = getattr(store, "scan_records", None) if req.records and req.reverse else None
        if head is not None:
            return await head(req.partition, req.start, req.end, req.limit, req.follow, req.records)
        return await store.scan(
            req.partition,
            req.start,
            req.end,
            reverse=req.reverse,
            limit=req.limit,
            follow=req.follow,
        )
    if isinstance(req, Get):
        return await store.get(req.partition, req.keys) if req.keys else {}
    if isinstance(req, Write):
        return await store.write(req.partition, req.ops) if req.ops else None
    if isinstance(req, Drop):
        return await store.drop(req.partition)
    if isinstance(req, Partitions):
        return await store.partitions(req.cursor)
    raise TypeError(f"unknown request {req!r}")


def run(store: KVStore, plan: Plan[T]) -> T:
    return run_pair(store, store, plan)


def run_pair(source: KVStore, target: KVStore, plan: Plan[T]) -> T:
    """Run a plan that reads ``source`` and sends its ``OnTarget`` requests to ``target``."""
    result: Any = None
    while True:
        try:
            req = plan.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        result = _sync_call(target if isinstance(req, OnTarget) else source, req)


async def arun(store: AsyncKVStore, plan: Plan[T]) -> T:
    result: Any = None
    while True:
        try:
            req = plan.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        result = await _async_call(store, req)


def stream(store: KVStore, plan: StreamPlan) -> Iterator[Any]:
    result: Any = None
    while True:
        try:
            item = plan.send(result)
        except StopIteration:
            return
        if isinstance(item, Emit):
            result = None
            yield item.value
        else:
            result = _sync_call(store, item)


async def astream(store: AsyncKVStore, plan: StreamPlan) -> AsyncIterator[Any]:
    result: Any = None
    while True:
        try:
            item = plan.send(result)
        except StopIteration:
            return
        if isinstance(item, Emit):
            result = None
            yield item.value
        else:
            result = await _async_call(store, item)
