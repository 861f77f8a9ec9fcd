"""One bounded, thread-safe LRU mapping: every cache of the project is one of these.

A cache in one process is a hint, never the truth (other processes write the same keys), so
each user validates what it gets back: the decoded-record memo compares the stored bytes, S3's
value cache compares ETags, the saver's value locator falls back to the version's own key.
What they share is only the bookkeeping, written once here: least recently used entries go
first past ``max_items`` entries or, with a ``cost`` function, past ``max_cost`` units (bytes);
an entry costing more than an eighth of ``max_cost`` is not kept, so one huge value never
flushes everything else.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["BoundedCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    """``key -> value``, least recently used first out; every method takes the lock once."""

    def __init__(
        self,
        max_items: int,
        *,
        max_cost: int | None = None,
        cost: Callable[[V], int] | None = None,
    ) -> None:
        if (max_cost is None) != (cost is None):
            raise ValueError("max_cost and cost go together")
        self.max_items, self.max_cost = max_items, max_cost
        self._cost = cost
        self._items: OrderedDict[K, V] = OrderedDict()
        self._total = 0
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The value (now the most recently used), or None."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        """Remember ``value`` as the most recently used; evict past the bounds."""
        with self._lock:
            self._drop(key)
            if self._cost is not None and self.max_cost is not None:
                size = self._cost(value)
                if size * 8 > self.max_cost:
                    return
                self._total += size
            self._items[key] = value
            while len(self._items) > self.max_items or (
                self.max_cost is not None and self._total > self.max_cost
            ):
                self._drop(next(iter(self._items)))

    def pop(self, key: K) -> V | None:
        with self._lock:
            return self._drop(key)

    def pop_newest(self) -> tuple[K, V] | None:
        """The most recently used entry, removed (a cache used as a bounded work queue)."""
        with self._lock:
            if not self._items:
                return None
            key = next(reversed(self._items))
            value = self._drop(key)
            assert value is not None
            return key, value

    def discard_where(self, doomed: Callable[[K], bool]) -> None:
        """Drop every entry whose key ``doomed`` says (a thread deleted: all it knew of it)."""
        with self._lock:
            for key in [k for k in self._items if doomed(k)]:
                self._drop(key)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    @property
    def total(self) -> int:
        """The summed cost of the entries kept (0 without a cost function)."""
        return self._total

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._total = 0

    def _drop(self, key: K) -> V | None:
        value = self._items.pop(key, None)
        if value is not None and self._cost is not None:
            self._total -= self._cost(value)
        return value
