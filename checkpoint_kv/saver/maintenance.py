"""Maintenance plans: ``prune``, ``delete_for_runs`` and ``copy_thread``.

They read a whole thread (newest first, page by page) and delete in reverse of how a put
writes: records first, then the writes and blobs only those records used. A crash or a
concurrent reader in between sees fewer checkpoints, never one without its data.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Sequence

from checkpoint_kv import keys as K
from checkpoint_kv.drive import Drop, Get, Partitions, Plan, Scan, Write
from checkpoint_kv.errors import ConfigError, CorruptRecordError
from checkpoint_kv.port import Delete, DeleteRange, Op, Put, ScanResult
from checkpoint_kv.saver import records as R
from checkpoint_kv.saver.codec import EMPTY, Codec
from checkpoint_kv.saver.copying import CopyJob, plan_copy
from checkpoint_kv.saver.groups import Group, shown
from checkpoint_kv.saver.groups import group as _group
from checkpoint_kv.saver.packing import value_at, where

__all__ = ["plan_copy_thread", "plan_delete_for_runs", "plan_prune"]

_log = logging.getLogger("checkpoint_kv")

_FULL_PAGE = 1000  # items per page when a whole thread is read
GRACE = 86400.0  # seconds a checkpoint may be extended by a run in flight (_extendable, _collect)
clock = time.time  # tests replace it
_DELETE_BATCH = 500  # ops per write call when deleting


def _decodes(g: Group, codec: Codec | None = None) -> bool:
    """Whether ``g``'s record decodes (with ``codec``: its metadata too)."""
    try:
        g.record  # noqa: B018 - decoding is the check
        if codec is not None:
            codec.metadata(g)
    except CorruptRecordError:
        return False
    return True


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


def _state(g: Group) -> set[str]:
    """The version blob keys of every value in ``g``'s checkpoint: the versions it holds
    inline, those it names a home for, and the blobs it references (format 1, no home)."""
    rec = g.record
    out = {r for r in g.refs if not K.is_record(r) and not K.is_mark(r)}
    out.update(K.blob_key_vc(rec.ns, ch, vc) for ch, vc, _ in rec.inline or ())
    out.update(K.blob_key_vc(rec.ns, ch, vc) for ch, vc, _ in rec.homes)
    return out


_UUID_EPOCH = 0x01B21DD213814000  # 100 ns intervals from 1582-10-15 (RFC 9562) to 1970


def _created(checkpoint_id: str) -> float | None:
    """When a checkpoint was made, from its id (LangGraph's are uuid6; uuid1 too), else None."""
    try:
        u = uuid.UUID(checkpoint_id)
    except ValueError:
        return None
    if u.version == 6:
        high, mid, low = u.fields[0], u.fields[1], u.fields[2] & 0x0FFF
        ticks = (high << 28) | (mid << 12) | low
    elif u.version == 1:
        ticks = u.time
    else:
        return None
    return (ticks - _UUID_EPOCH) / 1e7


def _extendable(groups: list[Group], now: float) -> list[Group]:
    """The checkpoints a run in flight may be extending: the newest of each branch (a leaf),
    and any made less than ``GRACE`` ago (a second run on the thread may have read it before
    another extended it, or a fork may be starting from it: nothing in the store tells). An
    id that tells no time counts as recent."""
    parents = {(g.record.ns, g.record.parent_id) for g in groups}
    out = []
    for g in groups:
        made = _created(g.record.checkpoint_id)
        leaf = (g.record.ns, g.record.checkpoint_id) not in parents
        if leaf or made is None or made > now - GRACE:
            out.append(g)
    return out


def _drop(
    part: str, dead: list[Group], kept: list[Group], ghosts: Sequence[Group] = ()
) -> Plan[None]:
    """Delete the dead checkpoints without stranding a reader or a writer in flight.

    Another process may name any value of a kept checkpoint, or of one a run in flight may be
    extending (``_extendable``: a branch's newest, or one made less than ``GRACE`` ago), in a
    record it writes after this read, and name it by the record that holds it now (its home),
    which may be dying here. So, before any delete, every such value held only by a dying
    record is written at its version's blob key, where a reader looks when a home is gone
    (``packing.fallback_keys``). Then the
    records go (one write), then their writes, and last the blobs of versions that no kept
    checkpoint or leaf holds (by version, never by range: a concurrent put's values are
    versions no dead record names). Blobs kept only for a dying checkpoint are listed under a
    ``g!`` key and collected by a later pass, ``GRACE`` on, once no checkpoint holds them.
    Maintenance never rewrites a record, so it cannot bring back one that ``delete_thread``
    dropped meanwhile. ``ghosts`` (records of a deleted incarnation, never shown) go with the
    dead, protecting nothing."""
    every = [g for g in dead + kept if _decodes(g)]  # a damaged record is left as it is
    dead_keys = {g.key for g in dead}
    protected = [g for g in kept if _decodes(g)]
    protected += [g for g in _extendable(every, clock()) if g.key in dead_keys]
    inline = {
        K.blob_key_vc(g.record.ns, ch, vc): typed
        for g in every
        for ch, vc, typed in g.record.inline or ()
    }
    present = {g.key for g in every}
    needed: set[str] = set()
    for g in protected:
        rec = g.record
        if g.key in dead_keys:
            needed.update(K.blob_key_vc(rec.ns, ch, vc) for ch, vc, _ in rec.inline or ())
        needed.update(
            K.blob_key_vc(rec.ns, ch, vc)
            for ch, vc, home in rec.homes
            if home in dead_keys or home not in present
        )
    live = set().union(*(_state(g) for g in protected)) if protected else set()
    kept_live = set().union(*(_state(g) for g in kept if _decodes(g)))
    keep = sorted(k for k in needed if k in inline)
    if keep:
        marker: list[Op] = []
        leaf_only = [k for k in keep if k not in kept_live]
        if leaf_only:
            body = R.encode_blob(("json", json.dumps(leaf_only).encode()))
            marker = [Put(K.garbage_key(clock(), uuid.uuid4().hex), body, commit=True)]
        puts: list[Op] = [Put(k, R.encode_blob(inline[k])) for k in keep]
        for i in range(0, len(puts), _DELETE_BATCH):
            yield Write(part, (marker if i == 0 else []) + puts[i : i + _DELETE_BATCH])
    dead = [*dead, *ghosts]
    if not dead:
        if len(every) == len(dead) + len(kept):
            yield from _collect(part, live)
        return
    yield Write(part, [Delete(g.key) for g in dead])
    ops: list[Op] = [
        DeleteRange(*K.prefix_range(K.checkpoint_prefix(g.record.ns, g.record.checkpoint_id)))
        for g in dead
    ]
    gone = set().union(*(_state(g) for g in dead)) - live - set(keep)
    ops += [Delete(k) for k in sorted(gone)]
    for i in range(0, len(ops), _DELETE_BATCH):
        yield Write(part, ops[i : i + _DELETE_BATCH])
    if len(every) + len(ghosts) == len(dead) + len(kept):  # none damaged: collect
        yield from _collect(part, live)


def _collect(part: str, live: set[str]) -> Plan[None]:
    """Delete the blobs that passes at least ``GRACE`` seconds ago kept for a dying leaf and
    that no checkpoint holds now, then their lists.

    A run extending such a leaf writes a checkpoint holding them, and from then on they are
    kept and collected like any other value. One that never does (the leaf was abandoned) left
    them behind, and only age can tell it from a run still between two supersteps: no
    coordination with writers is possible on S3 or DynamoDB without a cost on every put. So,
    as ``git gc`` keeps unreachable objects two weeks, these wait ``GRACE`` (a day, far beyond
    any superstep), and correctness never depends on it within that time."""
    res: ScanResult = yield Scan(part, *K.garbage_before(clock() - GRACE))
    if not res.items:
        return
    listed: set[str] = set()
    for key, raw in res.items:
        try:
            listed.update(json.loads(R.decode_blob(key, raw)[1]))
        except (CorruptRecordError, ValueError, TypeError):
            continue  # a damaged list: its blobs stay (never delete on a guess)
    ops: list[Op] = [Delete(k) for k in sorted(listed - live)]
    ops += [Delete(k) for k, _ in res.items]
    for i in range(0, len(ops), _DELETE_BATCH):
        yield Write(part, ops[i : i + _DELETE_BATCH])


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
                bad = [g.key for g in gs if not _decodes(g)]
                damaged += bad or [gs[-1].key]
                kept += gs
        kept_keys = {g.key for g in kept}
        dead = [g for g in groups if g.key not in kept_keys]
        yield from _drop(part, dead, kept, ghosts)
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
            bad_ns = {g.sort_id[1] for g in groups if not _decodes(g, codec)}
            damaged += [g.key for g in groups if not _decodes(g, codec)]
            usable = [g for g in groups if g.sort_id[1] not in bad_ns]
            dead = [g for g in usable if codec.metadata(g).get("run_id") in wanted]
            if dead:
                dead_keys = {g.key for g in dead}
                kept = [g for g in groups if g.key not in dead_keys]
                yield from _drop(part, dead, kept)
        cursor = page.cursor
        if cursor is None:
            break
    if damaged:
        raise CorruptRecordError(
            f"delete_for_runs left {len(damaged)} damaged record(s) and their namespaces as "
            f"they were: {damaged[:5]!r}; the rest is deleted"
        )
