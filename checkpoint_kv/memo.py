"""Decoded records, remembered per process (``records.MEMO``): a read of bytes identical to
ones this process decoded or sealed skips the checksum and CBOR work."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

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
        self.max_bytes, self.max_items = max_bytes, max_items
        self._items: OrderedDict[tuple[str, str], tuple[bytes, Any]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0  # for tests and profiling

    def get(self, kind: str, key: str, data: bytes) -> Any:
        with self._lock:
            entry = self._items.get((kind, key))
        if entry is not None and (entry[0] is data or entry[0] == data):
            with self._lock:
                if (kind, key) in self._items:
                    self._items.move_to_end((kind, key))
            self.hits += 1
            return entry[1]
        self.misses += 1
        return None

    def put(self, kind: str, key: str, data: bytes, value: Any) -> None:
        cost = 2 * len(data)
        if cost * 8 > self.max_bytes or type(data) is not bytes:  # bytearray may still change
            return
        with self._lock:
            old = self._items.pop((kind, key), None)
            if old is not None:
                self._size -= 2 * len(old[0])
            self._items[(kind, key)] = (data, value)
            self._size += cost
            while self._size > self.max_bytes or len(self._items) > self.max_items:
                _, (gone, _) = self._items.popitem(last=False)
                self._size -= 2 * len(gone)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._size = 0
