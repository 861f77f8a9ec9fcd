"""Write plans: puts and deletes (one write per namespace, the index entry first on a
namespace's first put), flagging emptied namespaces, and the TTL sweep."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langgraph.store.base import PutOp

from checkpoint_kv.drive import Get, Plan, Scan, Write
from checkpoint_kv.port import Delete, Put
from checkpoint_kv.store import layout as L
from checkpoint_kv.store.batch import (
    Batch,
    index_entries,
    parse_partition,
    ttl_micros,
    visible,
)
from checkpoint_kv.store.layout import ItemRecord, Namespace

__all__ = ["flag_if_empty", "plan_puts", "plan_sweep"]


def plan_puts(b: Batch) -> Plan[None]:
    puts: dict[tuple[Namespace, str], PutOp] = {}
    for op in b.ops:
        if isinstance(op, PutOp):
            puts[(tuple(op.namespace), op.key)] = op
    if not puts:
        return
    new_ns = list(dict.fromkeys(ns for (ns, _), op in puts.items() if op.value is not None))
    new_ns = [ns for ns in new_ns if ns not in b.indexed]
    if new_ns:  # the entry first: an item is never listed-invisible, even after a crash
        yield Write(
            L.INDEX_PARTITION, [Put(L.index_key(ns), L.encode_index(ns, False)) for ns in new_ns]
        )
    by_item: dict[tuple[Namespace, str], list[tuple[str, list[float]]]] = {}
    for (vns, vkey, path), vec in b.put_vectors.items():
        by_item.setdefault((vns, vkey), []).append((path, vec))
    by_part: dict[str, list[Put | Delete]] = {}
    deleted_only: dict[str, Namespace] = {}
    for (ns, key), op in puts.items():
        part = L.ns_partition(ns)
        ops = by_part.setdefault(part, [])
        if op.value is None:
            ops += [Delete(L.item_key(key)), Delete(L.refresh_key(key))]
            deleted_only.setdefault(part, ns)
            continue
        deleted_only[part] = ()  # this batch also writes there: not empty
        vectors = {path: L.pack_vector(vec) for path, vec in by_item.get((ns, key), ())}
        ttl = op.ttl
        rec = ItemRecord(
            ns,
            key,
            dict(op.value),
            b.now,
            b.now,
            ttl,
            b.now + ttl_micros(ttl) if ttl is not None else None,
            L.new_gen(),
            vectors,
        )
        ops.append(Put(L.item_key(key), rec.encode()))
    for part, ops in by_part.items():
        yield Write(part, ops)
    b.indexed.add(new_ns)
    emptied = [ns for ns in deleted_only.values() if ns]
    yield from flag_if_empty(emptied)


def flag_if_empty(namespaces: Sequence[Namespace]) -> Plan[None]:
    """Flag the index entries of the namespaces that no longer hold an item (expired ones
    count as items until the sweeper removes them)."""
    empty = []
    for ns in namespaces:
        res = yield Scan(L.ns_partition(ns), *L.ITEM_RANGE, reverse=True, limit=1)
        if not res.items:
            empty.append(ns)
    if not empty:
        return
    keys = [L.index_key(ns) for ns in empty]
    found = yield Get(L.INDEX_PARTITION, keys)
    flags = []
    for ns, k in zip(empty, keys, strict=True):
        if k in found and not L.decode_index(k, found[k])[1]:
            flags.append(Put(k, L.encode_index(ns, True)))
    if flags:
        yield Write(L.INDEX_PARTITION, flags)


def plan_sweep(now: int) -> Plan[int]:
    """Delete the items expired at ``now``; returns how many.

    The port has no conditional delete, so the sweep re-reads the expired items right before
    deleting them and keeps only those still expired in the same generation: a put racing the
    sweep on the same key can still be lost within that one round trip (PostgresStore's
    sweep is a single DELETE ... WHERE expires_at < now; ours cannot be). It also flags the
    index entries of namespaces it finds empty, which a put or delete cut short by a failure
    may have left unflagged."""
    removed = 0
    for ns, flagged in (yield from index_entries(*L.INDEX_ALL)):
        part = L.ns_partition(ns)
        res = yield Scan(part, *L.ITEMS_AND_REFRESHES)
        recs = list(parse_partition(ns, res.items))
        if not recs and not flagged:
            # An entry left by a put that failed after it, or a delete that failed before
            # flagging: flag it now (flagging is always safe: readers then check).
            yield from flag_if_empty([ns])
            continue
        expired = [rec for rec, ref in recs if not visible(rec, ref, now)]
        if not expired:
            continue
        keys = [k for rec in expired for k in (L.item_key(rec.key), L.refresh_key(rec.key))]
        again = yield Get(part, keys)
        dead = []
        for rec in expired:
            ik, rk = L.item_key(rec.key), L.refresh_key(rec.key)
            if ik not in again:
                continue
            cur = ItemRecord.decode(ik, again[ik])
            ref = L.decode_refresh(rk, again[rk]) if rk in again else None
            if cur.gen == rec.gen and not visible(cur, ref, now):
                dead.append(rec.key)
        if dead:
            ops: list[Any] = []
            for key in dead:
                ops += [Delete(L.item_key(key)), Delete(L.refresh_key(key))]
            yield Write(part, ops)
            removed += len(dead)
            if len(dead) == len(recs):
                yield from flag_if_empty([ns])
    return removed
