"""Maintenance plans: ``prune``, ``delete_for_runs`` and ``copy_thread``.

They read a whole thread (newest first, page by page) and delete in reverse of how a put
writes: records first, then the writes and blobs only those records used. A crash or a
concurrent reader in between sees fewer checkpoints, never one without its data.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from checkpoint_kv import keys as K
from checkpoint_kv import records as R
from checkpoint_kv.codec import EMPTY, Codec
from checkpoint_kv.copying import CopyJob, plan_copy
from checkpoint_kv.drive import Drop, Get, Partitions, Plan, Scan, Write
from checkpoint_kv.errors import ConfigError, CorruptRecordError
from checkpoint_kv.groups import Group
from checkpoint_kv.groups import group as _group
from checkpoint_kv.packing import value_at, where
from checkpoint_kv.port import Delete, DeleteRange, Op, Put, ScanResult

__all__ = ["plan_copy_thread", "plan_delete_for_runs", "plan_prune"]

_log = logging.getLogger("checkpoint_kv")

_FULL_PAGE = 1000  # items per page when a whole thread is read
_DELETE_BATCH = 500  # ops per write call when deleting


def _decodes(g: Group) -> bool:
    try:
        g.record  # noqa: B018 - decoding is the check
    except CorruptRecordError:
        return False
    return True


def read_all(part: str, family: tuple[str, str] = K.ALL_CHECKPOINTS) -> Plan[list[Group]]:
    """Every checkpoint of a partition, with its writes. Pages go newest first: every
    backend reads a descending page of ``limit`` items without listing the rest (S3 lists
    ascending keys only, so it stores them inverted)."""
    start, end = family
    items: list[tuple[str, bytes]] = []
    while True:
        res: ScanResult = yield Scan(part, start, end, reverse=True, limit=_FULL_PAGE)
        items += res.items
        if len(res.items) < _FULL_PAGE:
            break
        end = res.items[-1][0]
    return _group(items, reverse=True)


def plan_copy_thread(source: str, target: str) -> Plan[None]:
    yield from plan_copy(CopyJob(K.partition(source), K.partition(target), thread_id=target))


def _drop(part: str, dead: list[Group], kept: list[Group]) -> Plan[None]:
    """Delete the dead checkpoints: their records first (one write), then their writes and the
    blobs that only they referenced. A blob a concurrent put wrote but has not yet committed is
    referenced by no dead record, so it is never deleted (no range deletes over blobs).

    A kept record whose unchanged values live in a dead record (its home, see ``packing``) is
    first rewritten with those values inline, so it never points at a deleted record."""
    dead_keys = {g.key for g in dead}
    held = {g.key: g.value for g in dead}
    rehomed = [op for g in kept if (op := _rehome(g, dead_keys, held)) is not None]
    if rehomed:
        yield Write(part, rehomed)
    yield Write(part, [Delete(g.key) for g in dead])
    live = {k for g in kept for k in g.refs}
    ops: list[Op] = [
        DeleteRange(*K.prefix_range(K.checkpoint_prefix(g.record.ns, g.record.checkpoint_id)))
        for g in dead
    ]
    # Record keys among the refs are homes: a dead one is deleted above, a kept one is kept.
    refs = {k for g in dead for k in g.refs if not K.is_record(k)}
    ops += [Delete(k) for k in sorted(refs - live)]
    for i in range(0, len(ops), _DELETE_BATCH):
        yield Write(part, ops[i : i + _DELETE_BATCH])


def _rehome(g: Group, dead: set[str], held: dict[str, bytes]) -> Put | None:
    """``g``'s record rewritten with the values it reads from dead records inline (None if it
    reads none). ``g.refs`` is updated to the new header."""
    try:
        rec = g.record
    except CorruptRecordError:
        return None  # left as it is; reading it names the damage
    if not any(h in dead for _, _, h in rec.homes):
        return None
    inline = list(rec.inline or ())
    homes = []
    for ch, vc, h in rec.homes:
        typed = value_at(h, held[h], ch, vc) if h in dead else None
        if typed is None:
            homes.append((ch, vc, h))  # kept home, or already damaged: left to name on read
        else:
            inline.append((ch, vc, typed))
    moved = {h for _, _, h in rec.homes} - {h for _, _, h in homes}
    g.refs[:] = [r for r in g.refs if r not in moved]
    new = rec._replace(inline=tuple(inline), homes=tuple(homes))
    return Put(g.key, R.encode_stored_checkpoint(new, g.refs), commit=True)


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
        groups = yield from read_all(part)
        by_ns: dict[str, list[Group]] = {}
        for g in groups:
            by_ns.setdefault(g.sort_id[1], []).append(g)
        kept: list[Group] = []
        for gs in by_ns.values():
            try:
                kept += yield from _keep(codec, part, gs)
            except CorruptRecordError:
                bad = [g.key for g in gs if not _decodes(g)]
                damaged += bad or [gs[-1].key]
                kept += gs
        kept_keys = {g.key for g in kept}
        dead = [g for g in groups if g.key not in kept_keys]
        if dead:
            yield from _drop(part, dead, kept)
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
    wanted = set(run_ids)
    if not wanted:
        return
    cursor: str | None = None
    while True:
        page = yield Partitions(cursor)
        for part in filter(K.is_thread_partition, page.partitions):
            groups = yield from read_all(part)
            dead = [
                g for g in groups if codec.loads(g.key, g.record.metadata).get("run_id") in wanted
            ]
            if dead:
                dead_keys = {g.key for g in dead}
                yield from _drop(part, dead, [g for g in groups if g.key not in dead_keys])
        cursor = page.cursor
        if cursor is None:
            return
