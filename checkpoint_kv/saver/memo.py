"""Decoded records, remembered per process (``records.MEMO``): a read of bytes identical to
ones this process decoded or sealed skips the checksum and CBOR work."""

from __future__ import annotations

from typing import Any

from checkpoint_kv.cache import BoundedCache

__all__ = ["Memo"]


class Memo:
    """Records this process decoded (or sealed), by key: ``key -> (stored bytes, decoded)``.

    LangGraph reads the same values again and again (the latest checkpoint's blobs at every
    invoke, a DeltaChannel's ancestors and their writes at every step). A read whose bytes are
    identical to remembered ones returns the decoded value without the checksum and CBOR work.
    Sound because the hit needs *identical bytes* (a changed, damaged or foreign value misses
    and is checked as usual) and decoded records are immutable (named tuples of text,
    bytes). Bounded: least recently used entries go past ``max_bytes`` (stored plus decoded
    size, counted as twice the stored size) or ``max_items``; a value over an eighth of
    ``max_bytes`` is not kept. Thread-safe. Shared by every saver in the process: it is keyed by
    content, so which store a value came from does not matter.
    """

    def __init__(self, max_bytes: int = 32 << 20, max_items: int = 4096) -> None:
        self._items: BoundedCache[tuple[str, str], tuple[bytes, Any]] = BoundedCache(
            max_items, max_cost=max_bytes, cost=lambda entry: 2 * len(entry[0])
        )
        self.hits = self.misses = 0  # for tests and profiling

    def get(self, kind: str, key: str, data: bytes) -> Any:
        entry = self._items.get((kind, key))
        if entry is not None and (entry[0] is data or entry[0] == data):
            self.hits += 1
            return entry[1]
        self.misses += 1
        return None

    def put(self, kind: str, key: str, data: bytes, value: Any) -> None:
        if type(data) is bytes:  # a bytearray may still change
            self._items.put((kind, key), (data, value))

    def clear(self) -> None:
        self._items.clear()
