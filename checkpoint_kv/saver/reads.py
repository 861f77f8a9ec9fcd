"""The read plans: ``get_tuple`` and ``list``.

``get_tuple`` is one descending scan of the namespace's checkpoint range: the newest record
comes first, its writes right after, and the store follows the record's blob references in the
same round trip where it can (``follow=1``). ``list`` pages lazily (see ``listing``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import CheckpointTuple

from checkpoint_kv import keys as K
from checkpoint_kv.drive import Emit, Get, Partitions, Plan, Scan, StreamPlan
from checkpoint_kv.port import ScanResult
from checkpoint_kv.saver.codec import Codec
from checkpoint_kv.saver.configs import ids
from checkpoint_kv.saver.groups import Group, plan_shown, records_of
from checkpoint_kv.saver.groups import covered as _covered
from checkpoint_kv.saver.groups import group as _group
from checkpoint_kv.saver.packing import plan_fallbacks

if TYPE_CHECKING:
    from checkpoint_kv.saver.listing import Lister

__all__ = ["plan_get_tuple", "plan_list"]

_LATEST_PAGE = 8  # items in the first page of a "latest" scan: a record and its few writes
_RETRIES = 3  # latest reads whose record was deleted under them before we say "none"


def plan_get_tuple(codec: Codec, config: RunnableConfig) -> Plan[CheckpointTuple | None]:
    thread_id, ns, cid = ids(config)
    part = K.partition(thread_id)
    if cid is not None:
        res: ScanResult = yield Scan(part, *K.prefix_range(K.checkpoint_prefix(ns, cid)), follow=1)
        groups = _group(res.items, reverse=False)
        if not groups or not (yield from plan_shown(part, groups[0], res.refs)):
            return None
        yield from plan_fallbacks(part, records_of(groups[:1]), res.refs)
        # a home is never in its own range
        return (yield from codec.plan_tuple(part, groups[0], res.refs, config))
    for _ in range(_RETRIES):
        found = yield from _latest(part, ns)
        if found is None:
            return None
        group, blobs = found
        yield from plan_fallbacks(part, records_of([group]), blobs)
        tup = yield from codec.plan_tuple(part, group, blobs)
        if tup is not None:
            return tup
    return None  # deleted under each of our reads: a thread being deleted reads as gone


def _latest(part: str, ns: str) -> Plan[tuple[Group, dict[str, bytes]] | None]:
    """The newest visible checkpoint of namespace ``ns`` with all its writes and blobs.

    One descending scan normally suffices: the record comes first, its writes right after,
    and the store follows the record's blob references. Only a checkpoint with many writes
    needs a further (larger) page.
    """
    start, end = K.ns_prefix(ns) + K.SEP, K.ns_prefix(ns) + K.AFTER_SEP
    limit = _LATEST_PAGE
    items: list[tuple[str, bytes]] = []
    blobs: dict[str, bytes] = {}
    covered: set[str] = set()
    while True:
        follow = 0 if covered else 1
        # The newest record and its writes: a store may stop at the next record (records=1),
        # so a short page means the newest checkpoint is whole, not that the range ended.
        res: ScanResult = yield Scan(
            part, start, end, reverse=True, limit=limit, follow=follow, records=1
        )
        items += res.items
        blobs.update(res.refs)
        # Homes and the namespace's marks (they sort above every record) among the items.
        blobs.update(kv for kv in res.items if K.is_record(kv[0]) or K.is_mark(kv[0]))
        covered |= _covered(res.items, follow)
        groups = _group(items, reverse=True)
        exhausted = len(res.items) < limit
        # A record of a deleted incarnation (a late write) is passed over: never written.
        first = None
        for i, g in enumerate(groups):
            if (yield from plan_shown(part, g, blobs)):
                first = i
                break
        if first is not None and (len(groups) > first + 1 or exhausted):
            break  # the newest visible checkpoint is whole (a record after it, or the end)
        # Nothing visible yet: on below. A short page that holds a record may only mean the
        # store stopped before the next one (records=1); one without a record is the end.
        if not res.items or (exhausted and not groups):
            return None
        if groups:
            limit *= 4
            end = res.items[-1][0]
        else:  # a page of marks only (many puts without parent): on below them all
            end = min(res.items[-1][0], K.mark_range(ns)[0])
    group = groups[first]
    missing = [k for k in group.refs if k not in blobs]
    if group.key not in covered and missing:
        blobs.update((yield Get(part, missing)))
    return group, blobs


def _match(codec: Codec, g: Group, filter: dict[str, Any] | None) -> bool:
    if not filter:
        return True
    md = codec.metadata(g)
    return all(md.get(k) == v for k, v in filter.items())


def plan_list(
    codec: Codec,
    shallow: bool,
    config: RunnableConfig | None,
    filter: dict[str, Any] | None,
    before: RunnableConfig | None,
    limit: int | None,
) -> StreamPlan:
    if limit is not None and limit <= 0:
        return
    from checkpoint_kv.saver.listing import Lister  # on first list(): a chat never lists

    before_id = (before or {}).get("configurable", {}).get("checkpoint_id") if before else None
    remaining = [limit]  # shared countdown across threads

    def lister(part: str) -> Lister:
        return Lister(
            part,
            emit=lambda g, found: codec.plan_tuple(part, g, found),
            match=lambda g: _match(codec, g, filter),
            before_id=before_id,
            remaining=remaining,
            shallow=shallow,
            follow=not filter,
        )

    if config is None:
        cursor: str | None = None
        while True:
            page = yield Partitions(cursor)
            for part in [p for p in page.partitions if K.is_thread_partition(p)]:
                yield from lister(part).plan(None)
                if remaining[0] is not None and remaining[0] <= 0:
                    return
            cursor = page.cursor
            if cursor is None:
                return

    thread_id, _, cid = ids(config)
    ns = config.get("configurable", {}).get("checkpoint_ns")
    part = K.partition(thread_id)
    if cid is not None:
        res: ScanResult = yield Scan(
            part, *K.prefix_range(K.checkpoint_prefix(ns or "", cid)), follow=1
        )
        for g in _group(res.items, reverse=False):
            early = before_id is None or g.record.checkpoint_id < before_id
            if early and _match(codec, g, filter) and (yield from plan_shown(part, g, res.refs)):
                yield from plan_fallbacks(part, records_of([g]), res.refs)
                tup = yield from codec.plan_tuple(part, g, res.refs)
                if tup is not None:
                    yield Emit(tup)
        return
    yield from lister(part).plan(None if ns is None else str(ns))
