"""Values this process already read or wrote, served again only while their ETag matches.

LIST returns each key's ETag, so values this process already read or wrote are served from a
bounded in-memory cache when the ETag still matches (``cache_mb``, default 64; 0 turns it
off). A hit is never stale: a rewritten object has a new ETag. A long-running server that
re-reads its threads (every invoke reads the latest checkpoint, DeltaChannel history re-reads
the chain back to its snapshot) then sends the GETs of new objects only; a cold process (a
Lambda) pays the full count.

The bookkeeping (least recently used out, bounded in bytes, a value over an eighth of the
bound not kept) is the shared :class:`~checkpoint_kv.cache.BoundedCache`; what is S3's own is
the validation by ETag.
"""

from __future__ import annotations

import sys

from checkpoint_kv.cache import BoundedCache

__all__ = ["ETagCache"]


def _size(entry: tuple[str, bytes]) -> int:
    return len(entry[1])


class ETagCache:
    """Object values by name, each with the ETag it was read or written with; bounded in
    bytes only (values vary from a few bytes to megabytes). A LIST returns every key's current
    ETag, so a scan serves a value from here only when the object is unchanged: never stale,
    even with other writers. Values fetched without a LIST (``get``, followed references) are
    always fetched."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: BoundedCache[str, tuple[str, bytes]] = BoundedCache(
            sys.maxsize, max_cost=max_bytes, cost=_size
        )

    def get(self, name: str, etag: str) -> bytes | None:
        """The value of ``name`` if it was cached with this ETag (quoted or not), else None."""
        hit = self._items.get(name)
        if hit is None or hit[0] != etag.strip('"'):
            return None
        return hit[1]

    def put(self, name: str, etag: str, value: bytes) -> None:
        if etag:  # without one (a store that sends none) a value could never be validated
            self._items.put(name, (etag.strip('"'), value))

    def discard(self, name: str) -> None:
        self._items.pop(name)
