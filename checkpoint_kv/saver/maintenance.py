"""Maintenance plans: ``prune``, ``delete_for_runs`` and ``copy_thread``.

They read a whole thread (newest first, page by page), choose what goes, and hand it to
:func:`~checkpoint_kv.saver.deleting.drop`, which deletes in reverse of how a put writes:
records first, then the writes and blobs only those records used. A crash or a concurrent
reader in between sees fewer checkpoints, never one without its data.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from checkpoint_kv import keys as K
from checkpoint_kv.drive import Drop, Get, Partitions, Plan, Scan
from checkpoint_kv.errors import ConfigError, CorruptRecordError
from checkpoint_kv.port import ScanResult
from checkpoint_kv.saver.codec import EMPTY, Codec
from checkpoint_kv.saver.copying import CopyJob, plan_copy
from checkpoint_kv.saver.deleting import decodes, drop
from checkpoint_kv.saver.groups import Group, shown
from checkpoint_kv.saver.groups import group as _group
from checkpoint_kv.saver.packing import value_at, where

__all__ = ["plan_copy_thread", "plan_delete_for_runs", "plan_prune"]

_log = logging.getLogger("checkpoint_kv")

_FULL_PAGE = 1000  # items per page when a whole thread is read


def read_all(
    part: str, family: tuple[str, str] = K.ALL_CHECKPOINTS, marks: dict[str, bytes] | None = None
) -> Plan[list[Group]]:
    """Every checkpoint of a partition, with its writes (and into ``marks`` the incarnation
    marks met). Pages go newest first: every backend reads a descending page of ``limit``
    items without listing the rest (S3 lists ascending keys only, so it stores them
    inverted)."""
    start, end = family
    items: list[tuple[str, bytes]] = []
    while True:
        res: ScanResult = yield Scan(part, start, end, reverse=True, limit=_FULL_PAGE)
        items += res.items
        if len(res.items) < _FULL_PAGE:
            break
        end = res.items[-1][0]
    if marks is not None:
        marks.update(kv for kv in items if K.is_mark(kv[0]))
    return _group(items, reverse=True)


def plan_copy_thread(source: str, target: str) -> Plan[None]:
    yield from plan_copy(CopyJob(K.partition(source), K.partition(target), thread_id=target))


def plan_prune(
    codec: Codec, thread_ids: Sequence[str], strategy: str, skip_corrupt: bool = False
) -> Plan[None]:
    """A namespace holding a damaged record is left as it is (what it needs cannot be
    known) and named: in the ``CorruptRecordError`` raised once the rest is pruned, or,
    with ``skip_corrupt``, in a warning."""
    if strategy not in ("keep_latest", "delete"):
        raise ConfigError(f"unknown prune strategy {strategy!r}: use 'keep_latest' or 'delete'")
    damaged: list[str] = []
    for tid in thread_ids:
        part = K.partition(tid)
        if strategy == "delete":
            yield Drop(part)
            continue
        marks: dict[str, bytes] = {}
        groups = yield from read_all(part, marks=marks)
        # Late writes of a deleted incarnation (their mark is gone) are never shown: they go.
        ghosts = [g for g in groups if not shown(g, marks)]
        groups = [g for g in groups if shown(g, marks)]
        by_ns: dict[str, list[Group]] = {}
        for g in groups:
            by_ns.setdefault(g.sort_id[1], []).append(g)
        kept: list[Group] = []
        for gs in by_ns.values():
            try:
                kept += yield from _keep(codec, part, gs)
            except CorruptRecordError:
                bad = [g.key for g in gs if not decodes(g)]
                damaged += bad or [gs[-1].key]
                kept += gs
        kept_keys = {g.key for g in kept}
        dead = [g for g in groups if g.key not in kept_keys]
        yield from drop(part, dead, kept, ghosts)
    if damaged and not skip_corrupt:
        raise CorruptRecordError(
            f"prune left {len(damaged)} namespace(s) as they were: damaged record(s) "
            f"{damaged[:5]!r}; the rest is pruned (skip_corrupt=True only warns)"
        )
    if damaged:
        _log.warning("prune skipped namespaces with damaged records: %r", damaged[:20])


def _keep(codec: Codec, part: str, gs: list[Group]) -> Plan[list[Group]]:
    """What keep_latest keeps of one namespace: the latest checkpoint and, for each of its
    DeltaChannels, the ancestors back to the nearest stored snapshot (else the channel
    could not be rebuilt)."""
    gs.sort(key=lambda g: g.record.checkpoint_id)
    latest = gs[-1]
    need = set(
        codec.loads(latest.key, latest.record.metadata).get("counters_since_delta_snapshot") or {}
    )
    if not need:
        return [latest]
    by_id = {g.record.checkpoint_id: g for g in gs}
    chain = [latest]
    while chain[-1].record.parent_id in by_id:
        chain.append(by_id[chain[-1].record.parent_id])
    held = {g.key: g.value for g in gs}
    # (record, channel) -> (version component, key holding the value, the value if in hand)
    wanted = {
        (g.key, ch): where(g.key, g.record, ch, v)
        for g in chain
        for ch, v in codec.versions(g).items()
        if ch in need
    }
    keys = sorted({loc for _, loc, typed in wanted.values() if typed is None} - held.keys())
    found = {**held, **((yield Get(part, keys)) if keys else {})}

    def seed(g: Group, ch: str) -> bool:
        if (g.key, ch) not in wanted:
            return False
        vc, loc, typed = wanted[(g.key, ch)]
        if typed is None and loc in found:
            typed = value_at(loc, found[loc], ch, vc)
        return typed is not None and typed[0] != EMPTY[0]

    kept: list[Group] = []
    for g in chain:
        kept.append(g)
        need = {ch for ch in need if not seed(g, ch)}
        if not need:
            break
    return kept


def plan_delete_for_runs(codec: Codec, run_ids: Sequence[str]) -> Plan[None]:
    """A namespace holding a damaged record is left as it is (whether the record belongs to
    one of the runs cannot be known, nor what it needs); every other one is handled, then the
    ``CorruptRecordError`` names the damaged keys, as ``prune`` does."""
    wanted = set(run_ids)
    if not wanted:
        return
    damaged: list[str] = []
    cursor: str | None = None
    while True:
        page = yield Partitions(cursor)
        for part in filter(K.is_thread_partition, page.partitions):
            groups = yield from read_all(part)
            bad_ns = {g.sort_id[1] for g in groups if not decodes(g, codec)}
            damaged += [g.key for g in groups if not decodes(g, codec)]
            usable = [g for g in groups if g.sort_id[1] not in bad_ns]
            dead = [g for g in usable if codec.metadata(g).get("run_id") in wanted]
            if dead:
                dead_keys = {g.key for g in dead}
                kept = [g for g in groups if g.key not in dead_keys]
                yield from drop(part, dead, kept)
        cursor = page.cursor
        if cursor is None:
            break
    if damaged:
        raise CorruptRecordError(
            f"delete_for_runs left {len(damaged)} damaged record(s) and their namespaces as "
            f"they were: {damaged[:5]!r}; the rest is deleted"
        )
