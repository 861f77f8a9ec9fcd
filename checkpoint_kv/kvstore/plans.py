"""The store's operations as sans-IO plans: generators that yield port requests
(``checkpoint_kv.drive``), so ``batch`` and ``abatch`` run the same lines and differ only in I/O.

A batch runs as ``InMemoryStore`` runs one: every read (get, search, list) sees the store as it
was before the batch, then the batch's puts apply (the last put of a key wins).

Round trips (port calls), for the budget tests:

- ``get``: one ``get`` per namespace in the batch (the item and its TTL refresh together),
  plus one write per namespace whose returned items have a TTL to refresh.
- ``put``: one ``write`` per namespace; the first put of a namespace by this store object also
  writes its index entry first (one ``write`` for all of a batch's new namespaces).
- ``delete``: one ``write``, then one ``scan`` (limit 1) to see whether the namespace is now
  empty; only then one ``get`` + ``write`` to flag its index entry *maybe empty*.
- ``search``: one ``scan`` of the index range of the prefix, then one ``scan`` per namespace read
  (a namespace's items and refreshes in one range), plus refresh writes as for ``get``. A search
  of one namespace of 1,000 items is 2 round trips (3 with TTL refresh).
- ``list_namespaces``: one index ``scan`` per 1,000 entries, plus one ``scan`` (limit 1) per
  *maybe empty* namespace it has to vouch for.

Index entries are written when a store object first puts into a namespace and never removed
(a process caches "indexed" to keep ``put`` at one round trip; removing an entry could make
another process's cached put invisible to listings). A delete that empties a namespace flags
its entry instead, and readers check flagged entries before listing them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from langgraph.store.base import (
    GetOp,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
)

from checkpoint_kv.drive import Get, Plan, Scan, Write
from checkpoint_kv.kvstore import layout as L
from checkpoint_kv.kvstore.filters import (
    check_filter,
    literal_prefix,
    matches_filter,
    matches_namespace,
)
from checkpoint_kv.kvstore.layout import ItemRecord, Namespace
from checkpoint_kv.kvstore.vectors import rank
from checkpoint_kv.port import Delete, Put

__all__ = ["Batch", "IndexCache", "plan_batch", "plan_sweep"]

PAGE = 1000


class IndexCache:
    """Namespaces this store object has indexed (bounded; forgetting only costs a write)."""

    def __init__(self, size: int = 65536) -> None:
        self._seen: OrderedDict[Namespace, None] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def __contains__(self, ns: object) -> bool:
        with self._lock:
            return ns in self._seen

    def add(self, namespaces: Sequence[Namespace]) -> None:
        with self._lock:
            for ns in namespaces:
                self._seen[ns] = None
                self._seen.move_to_end(ns)
            while len(self._seen) > self._size:
                self._seen.popitem(last=False)


@dataclass
class Batch:
    ops: Sequence[Op]
    now: int  # epoch microseconds, one reading of the clock per batch
    indexed: IndexCache
    query_vectors: dict[str, list[float]] = field(default_factory=dict)
    put_vectors: dict[tuple[Namespace, str, str], list[float]] = field(default_factory=dict)
    # partition -> refresh key -> value, collected by the reads, written after them
    refresh: dict[str, dict[str, bytes]] = field(default_factory=dict)


def _ttl_micros(ttl: float) -> int:
    return round(ttl * 60_000_000)


def _visible(rec: ItemRecord, refresh: tuple[bytes, int] | None, now: int) -> bool:
    exp = L.expiry(rec, refresh)
    return exp is None or exp > now


def _want_refresh(b: Batch, part: str, rec: ItemRecord) -> None:
    if rec.ttl is not None:
        b.refresh.setdefault(part, {})[L.refresh_key(rec.key)] = L.encode_refresh(
            rec.gen, b.now + _ttl_micros(rec.ttl)
        )


def _parse_partition(
    ns: Namespace, items: Sequence[tuple[str, bytes]]
) -> Iterator[tuple[ItemRecord, tuple[bytes, int] | None]]:
    """The items of one namespace partition with their refreshes, in stored key order,
    decoded lazily: a search that stops after ``offset + limit`` matches decodes no more
    (decoding is most of a search's CPU time)."""
    refreshes = {k[2:]: (k, v) for k, v in items if k.startswith(L.REFRESH + "!")}
    for k, v in items:
        if not k.startswith(L.ITEM + "!"):
            continue
        rec = ItemRecord.decode(k, v)
        if rec.namespace != ns:  # a hashed partition is never shared; checked anyway
            continue
        raw = refreshes.get(k[2:]) if rec.ttl is not None else None
        yield rec, (L.decode_refresh(*raw) if raw is not None else None)


def _item(rec: ItemRecord) -> Item:
    return Item(
        value=rec.value,
        key=rec.key,
        namespace=rec.namespace,
        created_at=L.to_datetime(rec.created),
        updated_at=L.to_datetime(rec.updated),
    )


def _index_entries(start: str, end: str) -> Plan[list[tuple[Namespace, bool]]]:
    """Every index entry in ``[start, end)``, in namespace order. Pages go descending: all
    entries are read anyway, and a descending page is one LIST on S3 (an ascending one lists
    the whole rest of the range each time)."""
    out: list[tuple[Namespace, bool]] = []
    while True:
        res = yield Scan(L.INDEX_PARTITION, start, end, reverse=True, limit=PAGE)
        out.extend(L.decode_index(k, v) for k, v in res.items)
        if len(res.items) < PAGE:
            break
        end = res.items[-1][0]  # exclusive: the next page is strictly below
    out.sort(key=lambda e: e[0])  # hashed long labels break byte order; tuple order is the rule
    return out


# --- reads --------------------------------------------------------------------------------


def _plan_gets(b: Batch, results: list[Result]) -> Plan[None]:
    by_part: dict[str, list[int]] = {}
    for i, op in enumerate(b.ops):
        if isinstance(op, GetOp):
            by_part.setdefault(L.ns_partition(tuple(op.namespace)), []).append(i)
    for part, idxs in by_part.items():
        keys: dict[str, None] = {}
        for i in idxs:
            op = b.ops[i]
            assert isinstance(op, GetOp)
            keys[L.item_key(op.key)] = None
            keys[L.refresh_key(op.key)] = None
        found = yield Get(part, list(keys))
        for i in idxs:
            op = b.ops[i]
            assert isinstance(op, GetOp)
            data = found.get(L.item_key(op.key))
            if data is None:
                continue
            rec = ItemRecord.decode(L.item_key(op.key), data)
            if rec.namespace != tuple(op.namespace) or rec.key != op.key:
                continue
            rk = L.refresh_key(op.key)
            ref = L.decode_refresh(rk, found[rk]) if rk in found else None
            if _visible(rec, ref, b.now):
                results[i] = _item(rec)
                if op.refresh_ttl:
                    _want_refresh(b, part, rec)


def _plan_search(b: Batch, op: SearchOp) -> Plan[list[SearchItem]]:
    check_filter(op.filter)
    prefix = tuple(op.namespace_prefix)
    entries = yield from _index_entries(*L.index_range(prefix))
    qvec = b.query_vectors.get(op.query) if op.query else None
    stop = None if qvec is not None or op.offset < 0 or op.limit < 0 else op.offset + op.limit
    found: list[tuple[ItemRecord, list[bytes]]] = []
    for ns, _ in entries:
        if ns[: len(prefix)] != prefix:
            continue
        res = yield Scan(L.ns_partition(ns), *L.ITEMS_AND_REFRESHES)
        for rec, ref in _parse_partition(ns, res.items):
            if _visible(rec, ref, b.now) and matches_filter(rec.value, op.filter):
                found.append((rec, list(rec.vectors.values()) if qvec is not None else []))
                if stop is not None and len(found) >= stop:
                    break
        if stop is not None and len(found) >= stop:
            break
    if qvec is not None:
        page = rank(qvec, found, op.offset, op.limit)
    else:
        page = [(None, rec) for rec, _ in found[op.offset : op.offset + op.limit]]
    out = []
    for score, rec in page:
        if op.refresh_ttl:
            _want_refresh(b, L.ns_partition(rec.namespace), rec)
        out.append(
            SearchItem(
                namespace=rec.namespace,
                key=rec.key,
                value=rec.value,
                created_at=L.to_datetime(rec.created),
                updated_at=L.to_datetime(rec.updated),
                score=score,
            )
        )
    return out


def _plan_list(op: ListNamespacesOp) -> Plan[list[Namespace]]:
    conds = tuple(op.match_conditions or ())
    entries = yield from _index_entries(*L.index_range(literal_prefix(conds)))
    groups: dict[Namespace, list[tuple[Namespace, bool]]] = {}
    for ns, maybe_empty in entries:
        if matches_namespace(conds, ns):
            shown = ns[: op.max_depth] if op.max_depth is not None else ns
            groups.setdefault(shown, []).append((ns, maybe_empty))
    need = op.offset + op.limit if op.offset >= 0 and op.limit >= 0 else None
    out: list[Namespace] = []
    for shown in sorted(groups):
        if need is not None and len(out) >= need:
            break
        group = groups[shown]
        present = any(not maybe for _, maybe in group)
        for ns, _ in group if not present else ():
            res = yield Scan(L.ns_partition(ns), *L.ITEM_RANGE, reverse=True, limit=1)
            if res.items:
                present = True
                break
        if present:
            out.append(shown)
    return out[op.offset : op.offset + op.limit]


# --- writes -------------------------------------------------------------------------------


def _plan_puts(b: Batch) -> Plan[None]:
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
        vectors = {
            path: L.pack_vector(vec)
            for (vns, vkey, path), vec in b.put_vectors.items()
            if vns == ns and vkey == key
        }
        ttl = op.ttl
        rec = ItemRecord(
            ns,
            key,
            dict(op.value),
            b.now,
            b.now,
            ttl,
            b.now + _ttl_micros(ttl) if ttl is not None else None,
            L.new_gen(),
            vectors,
        )
        ops.append(Put(L.item_key(key), rec.encode()))
    for part, ops in by_part.items():
        yield Write(part, ops)
    b.indexed.add(new_ns)
    emptied = [ns for ns in deleted_only.values() if ns]
    yield from _flag_if_empty(emptied)


def _flag_if_empty(namespaces: Sequence[Namespace]) -> Plan[None]:
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


def plan_batch(b: Batch) -> Plan[list[Result]]:
    results: list[Result] = [None] * len(b.ops)
    yield from _plan_gets(b, results)
    for i, op in enumerate(b.ops):
        if isinstance(op, SearchOp):
            results[i] = yield from _plan_search(b, op)
        elif isinstance(op, ListNamespacesOp):
            results[i] = yield from _plan_list(op)
        elif not isinstance(op, (GetOp, PutOp)):
            raise ValueError(f"Unknown operation type: {type(op)}")
    for part, writes in b.refresh.items():
        yield Write(part, [Put(k, v) for k, v in writes.items()])
    yield from _plan_puts(b)
    return results


def plan_sweep(now: int) -> Plan[int]:
    """Delete the items expired at ``now``; returns how many.

    The port has no conditional delete, so the sweep re-reads the expired items right before
    deleting them and keeps only those still expired in the same generation: a put racing the
    sweep on the same key can still be lost within that one round trip (PostgresStore's
    sweep is a single DELETE ... WHERE expires_at < now; ours cannot be). It also flags the
    index entries of namespaces it finds empty, which a put or delete cut short by a failure
    may have left unflagged."""
    removed = 0
    for ns, flagged in (yield from _index_entries(*L.INDEX_ALL)):
        part = L.ns_partition(ns)
        res = yield Scan(part, *L.ITEMS_AND_REFRESHES)
        recs = list(_parse_partition(ns, res.items))
        if not recs and not flagged:
            # An entry left by a put that failed after it, or a delete that failed before
            # flagging: flag it now (flagging is always safe: readers then check).
            yield from _flag_if_empty([ns])
            continue
        expired = [rec for rec, ref in recs if not _visible(rec, ref, now)]
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
            if cur.gen == rec.gen and not _visible(cur, ref, now):
                dead.append(rec.key)
        if dead:
            ops: list[Any] = []
            for key in dead:
                ops += [Delete(L.item_key(key)), Delete(L.refresh_key(key))]
            yield Write(part, ops)
            removed += len(dead)
            if len(dead) == len(recs):
                yield from _flag_if_empty([ns])
    return removed
