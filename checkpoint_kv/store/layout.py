"""Where the long-term memory store puts things in the key-value port, and how records look.

Partitions. Every partition of the store starts with ``!``; the saver's partitions are escaped
thread ids (``keys.escape``: only ``A-Z a-z 0-9 . _ - % ~``), which never start with ``!``.
So a saver and a store on the same URL never share a partition, and any tool that walks
partitions tells them apart with :func:`is_store_partition` (``!`` is also safe in every
backend's key syntax: not a Redis hash-tag brace, not DynamoDB's ``#`` tenant separator, not
S3's ``/``)::

    !m!<label>!<label>...          one namespace: its items, contiguous (one Redis hash +
                                   sorted set, one DynamoDB item collection, one S3 prefix)
    !m~<sha256>                    a namespace whose escaped path exceeds MAX_PARTITION
    !mi                            the namespace index (one partition)

Inside a namespace partition (``<key>`` escaped as in ``keys.escape``)::

    v!<key>     the item: value, namespace, key, timestamps, TTL, embeddings (one record, one
                Put: a concurrent writer of the same key replaces it whole: last writer wins)
    t!<key>     a TTL refresh: the item generation it extends and the new expiry. Refreshing on
                read writes only this, so a reader never rewrites (and never resurrects) a value
                a concurrent writer has just replaced; a refresh of an older generation is ignored

The index partition holds one entry per namespace ever written, ``x!<hex>!<hex>...!``: each
label as the hex of its UTF-8 bytes, so the byte order of entries is Python's tuple order of
the namespaces (what ``list_namespaces`` returns), and a namespace prefix is one key range.
The entry's value holds the namespace itself and a flag: *live*, or *maybe empty* (set when a
delete or the sweeper removed the last item it saw). Entries are never removed, because a writer
caches "indexed" per process to keep ``put`` at one round trip; see ``plans.py``.
"""

from __future__ import annotations

import hashlib
import os
from array import array
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from checkpoint_kv.envelope import Envelope
from checkpoint_kv.errors import CorruptRecordError
from checkpoint_kv.keys import AFTER_SEP, SEP, STORE_MARK, escape

__all__ = [
    "INDEX_PARTITION",
    "ItemRecord",
    "STORE_PREFIX",
    "Namespace",
    "is_store_partition",
    "ns_partition",
]

Namespace = tuple[str, ...]

STORE_PREFIX = STORE_MARK  # every store partition starts with it; escaped thread ids never do
NS_PREFIX = "!m!"
INDEX_PARTITION = "!mi"
MAX_PARTITION = 160
MAX_LABEL_HEX = 200  # longer labels are hashed in index keys (their order is then by hash)

ITEM = "v"
REFRESH = "t"
ITEM_RANGE = (ITEM + SEP, ITEM + AFTER_SEP)
# ``t!...`` and ``v!...`` in one scan: nothing else lives between them.
ITEMS_AND_REFRESHES = (REFRESH + SEP, ITEM + AFTER_SEP)
INDEX_ALL = ("x" + SEP, "x" + AFTER_SEP)


def is_store_partition(partition: str) -> bool:
    """True for a partition of the memory store (never a checkpoint thread's)."""
    return partition.startswith(STORE_PREFIX)


def ns_partition(ns: Namespace) -> str:
    body = SEP.join(escape(label) for label in ns)
    if len(body) + len(NS_PREFIX) > MAX_PARTITION:
        raw = "\x00".join(ns).encode("utf-8", "surrogatepass")
        return "!m~" + hashlib.sha256(raw).hexdigest()
    return NS_PREFIX + body


def item_key(key: str) -> str:
    return f"{ITEM}{SEP}{escape(key)}"


def refresh_key(key: str) -> str:
    return f"{REFRESH}{SEP}{escape(key)}"


def _hex_label(label: str) -> str:
    h = label.encode("utf-8", "surrogatepass").hex()
    if len(h) > MAX_LABEL_HEX:  # "~" sorts above every hex digit: long labels sort last
        return "~" + hashlib.sha256(label.encode("utf-8", "surrogatepass")).hexdigest()
    return h


def index_key(ns: Namespace) -> str:
    return "x" + "".join(SEP + _hex_label(label) for label in ns) + SEP


def index_range(prefix: Namespace) -> tuple[str, str]:
    """Every index entry of a namespace equal to ``prefix`` or below it."""
    head = "x" + "".join(SEP + _hex_label(label) for label in prefix)
    return head + SEP, head + AFTER_SEP


# --- records -----------------------------------------------------------------------------
# Sealed in the saver's envelope with magic "M" (memory), not the saver's "K": a tool reading a
# partition never mistakes one for the other.

ENVELOPE = Envelope(b"M", 1, "store record")


def to_micros(t: float) -> int:
    return round(t * 1_000_000)


def to_datetime(micros: int) -> datetime:
    return datetime.fromtimestamp(micros / 1_000_000, tz=timezone.utc)


@dataclass(slots=True)
class ItemRecord:
    namespace: Namespace
    key: str
    value: dict[str, Any]
    created: int  # epoch microseconds
    updated: int
    ttl: float | None  # minutes, as LangGraph gives it
    expires: int | None  # epoch microseconds at the last write
    gen: bytes  # identifies this write: a refresh names the generation it extends
    vectors: dict[str, bytes] = field(default_factory=dict)  # path -> float32 array

    def encode(self) -> bytes:
        return ENVELOPE.seal(
            {
                "k": "item",
                "ns": list(self.namespace),
                "key": self.key,
                "v": self.value,
                "c": self.created,
                "u": self.updated,
                "ttl": self.ttl,
                "x": self.expires,
                "g": self.gen,
                "e": self.vectors,
            }
        )

    @classmethod
    def decode(cls, key: str, data: bytes) -> ItemRecord:
        o = ENVELOPE.open(key, data, "item")
        try:
            return cls(
                tuple(o["ns"]),
                o["key"],
                o["v"],
                int(o["c"]),
                int(o["u"]),
                o["ttl"],
                o["x"],
                bytes(o["g"]),
                dict(o.get("e") or {}),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise CorruptRecordError(f"corrupt store record at key {key!r}: {e!r}") from e


def new_gen() -> bytes:
    return os.urandom(8)


def pack_vector(vec: Any) -> bytes:
    return array("f", [float(x) for x in vec]).tobytes()


def encode_refresh(gen: bytes, expires: int) -> bytes:
    return ENVELOPE.seal({"k": "refresh", "g": gen, "x": expires})


def decode_refresh(key: str, data: bytes) -> tuple[bytes, int]:
    o = ENVELOPE.open(key, data, "refresh")
    return bytes(o["g"]), int(o["x"])


def encode_index(ns: Namespace, maybe_empty: bool) -> bytes:
    return ENVELOPE.seal({"k": "ns", "ns": list(ns), "e": maybe_empty})


def decode_index(key: str, data: bytes) -> tuple[Namespace, bool]:
    o = ENVELOPE.open(key, data, "ns")
    return tuple(o["ns"]), bool(o["e"])


def expiry(rec: ItemRecord, refresh: tuple[bytes, int] | None) -> int | None:
    """The item's expiry (epoch microseconds), counting a refresh of this generation."""
    if rec.ttl is None or rec.expires is None:
        return None
    if refresh is not None and refresh[0] == rec.gen:
        return max(rec.expires, refresh[1])
    return rec.expires
