"""Read plans: ``get`` (one port get per namespace), ``search`` (the index range, then the
namespaces under the prefix) and ``list_namespaces`` (the index, checking flagged entries)."""

from __future__ import annotations

from langgraph.store.base import GetOp, ListNamespacesOp, Result, SearchItem, SearchOp

from checkpoint_kv.drive import Get, Plan, Scan
from checkpoint_kv.store import layout as L
from checkpoint_kv.store.batch import (
    Batch,
    index_entries,
    make_item,
    parse_partition,
    visible,
    want_refresh,
)
from checkpoint_kv.store.filters import (
    check_filter,
    literal_prefix,
    matches_filter,
    matches_namespace,
)
from checkpoint_kv.store.layout import ItemRecord, Namespace
from checkpoint_kv.store.vectors import rank

__all__ = ["plan_gets", "plan_list", "plan_search"]


def plan_gets(b: Batch, results: list[Result]) -> Plan[None]:
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
            if visible(rec, ref, b.now):
                results[i] = make_item(rec)
                if op.refresh_ttl:
                    want_refresh(b, part, rec)


def plan_search(b: Batch, op: SearchOp) -> Plan[list[SearchItem]]:
    check_filter(op.filter)
    prefix = tuple(op.namespace_prefix)
    entries = yield from index_entries(*L.index_range(prefix))
    qvec = b.query_vectors.get(op.query) if op.query else None
    stop = None if qvec is not None or op.offset < 0 or op.limit < 0 else op.offset + op.limit
    found: list[tuple[ItemRecord, list[bytes]]] = []
    for ns, _ in entries:
        if ns[: len(prefix)] != prefix:
            continue
        if stop is not None and not op.filter:
            # Nothing to filter or rank: read only the items the page needs.
            yield from _first_visible(b, ns, stop - len(found), found)
            if len(found) >= stop:
                break
            continue
        res = yield Scan(L.ns_partition(ns), *L.ITEMS_AND_REFRESHES)
        for rec, ref in parse_partition(ns, res.items):
            if visible(rec, ref, b.now) and matches_filter(rec.value, op.filter):
                found.append((rec, list(rec.vectors.values()) if qvec is not None else []))
                if stop is not None and len(found) >= stop:
                    break
        if stop is not None and len(found) >= stop:
            break
    if qvec is not None:
        page = rank(qvec, found, op.offset, op.limit, b.distance)
    else:
        page = [(None, rec) for rec, _ in found[op.offset : op.offset + op.limit]]
    out = []
    for score, rec in page:
        if op.refresh_ttl:
            want_refresh(b, L.ns_partition(rec.namespace), rec)
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


def _first_visible(
    b: Batch, ns: Namespace, need: int, found: list[tuple[ItemRecord, list[bytes]]]
) -> Plan[None]:
    """Append the first ``need`` visible items of ``ns`` in key order: one limited scan (on S3
    it GETs only those), plus one ``get`` of the refresh records of the items that have a TTL,
    and another page only when expired items were among them."""
    part = L.ns_partition(ns)
    start, end = L.ITEM_RANGE
    while need > 0:
        limit = need
        res = yield Scan(part, start, end, limit=limit)
        recs = [ItemRecord.decode(k, v) for k, v in res.items]
        recs = [r for r in recs if r.namespace == ns]
        keys = [L.refresh_key(r.key) for r in recs if r.ttl is not None]
        refs = (yield Get(part, keys)) if keys else {}
        for rec in recs:
            rk = L.refresh_key(rec.key)
            ref = L.decode_refresh(rk, refs[rk]) if rk in refs else None
            if visible(rec, ref, b.now):
                found.append((rec, []))
                need -= 1
        if len(res.items) < limit:
            return  # the namespace has no more items
        start = res.items[-1][0] + "!"  # escaped keys never hold "!": the next key is above


def plan_list(op: ListNamespacesOp) -> Plan[list[Namespace]]:
    conds = tuple(op.match_conditions or ())
    entries = yield from index_entries(*L.index_range(literal_prefix(conds)))
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
