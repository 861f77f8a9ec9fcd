"""What every plan of the store shares: the batch being run, the per-process index cache,
expiry checks, and reading a namespace partition or the namespace index (see ``plans.py``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from langgraph.store.base import Item, Op

from checkpoint_kv.cache import BoundedCache
from checkpoint_kv.drive import Plan, Scan
from checkpoint_kv.store import layout as L
from checkpoint_kv.store.layout import ItemRecord, Namespace

__all__ = [
    "PAGE",
    "Batch",
    "IndexCache",
    "index_entries",
    "make_item",
    "parse_partition",
    "ttl_micros",
    "visible",
    "want_refresh",
]

PAGE = 1000


class IndexCache:
    """Namespaces this store object has indexed (bounded; forgetting only costs a write)."""

    def __init__(self, size: int = 65536) -> None:
        self._seen: BoundedCache[Namespace, bool] = BoundedCache(size)

    def __contains__(self, ns: object) -> bool:
        return ns in self._seen

    def add(self, namespaces: Sequence[Namespace]) -> None:
        for ns in namespaces:
            self._seen.put(ns, True)


@dataclass
class Batch:
    ops: Sequence[Op]
    now: int  # epoch microseconds, one reading of the clock per batch
    indexed: IndexCache
    distance: str = "cosine"  # the index's distance_type (see vectors.py)
    query_vectors: dict[str, list[float]] = field(default_factory=dict)
    put_vectors: dict[tuple[Namespace, str, str], list[float]] = field(default_factory=dict)
    # partition -> refresh key -> value, collected by the reads, written after them
    refresh: dict[str, dict[str, bytes]] = field(default_factory=dict)


def ttl_micros(ttl: float) -> int:
    return round(ttl * 60_000_000)


def visible(rec: ItemRecord, refresh: tuple[bytes, int] | None, now: int) -> bool:
    exp = L.expiry(rec, refresh)
    return exp is None or exp > now


def want_refresh(b: Batch, part: str, rec: ItemRecord) -> None:
    if rec.ttl is not None:
        b.refresh.setdefault(part, {})[L.refresh_key(rec.key)] = L.encode_refresh(
            rec.gen, b.now + ttl_micros(rec.ttl)
        )


def parse_partition(
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


def make_item(rec: ItemRecord) -> Item:
    return Item(
        value=rec.value,
        key=rec.key,
        namespace=rec.namespace,
        created_at=L.to_datetime(rec.created),
        updated_at=L.to_datetime(rec.updated),
    )


def index_entries(start: str, end: str) -> Plan[list[tuple[Namespace, bool]]]:
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
