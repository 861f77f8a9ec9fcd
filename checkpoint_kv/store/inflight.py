"""How many batches one store runs against its backend at once.

A burst of concurrent async operations (``asyncio.gather`` of tens of thousands of ``aput`` /
``aget`` / ``asearch``, as LangGraph's own store tests run) would otherwise start every one of
them at once. On Redis each then asks the connection pool for a connection; once the pool's
``max_connections`` are busy the rest wait *in the pool*, where redis-py gives up after
``pool_timeout`` (``No connection available``): a task failed only because others came first.

So a batch first takes a slot here, in arrival order, and waits for one as long as it takes
(nothing but its own backend calls can fail it). A plan makes its port calls one after the
other, so a batch holds at most one connection at a time: with at most ``limit`` batches
running and ``limit`` no larger than the pool, no call ever waits in the pool. The limit is the
backend's ``max_in_flight`` when it has one (Redis: its own pool's ``max_connections``), else
:data:`DEFAULT_LIMIT`; ``store_from_url(..., max_in_flight=N)`` sets it (e.g. for a caller's
client whose pool the store cannot see).

Async slots are one ``asyncio.Semaphore`` per event loop (a semaphore belongs to the loop that
first waits on it; a store outlives ``asyncio.run`` calls and serves worker threads' loops);
sync callers (threads) share one ``threading.BoundedSemaphore``.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, TypeGuard

from checkpoint_kv.errors import ConfigError

__all__ = ["DEFAULT_LIMIT", "InFlight", "limit_for"]

# When the backend does not say: more than the worker threads asyncio.to_thread runs (at most
# 32), so threaded backends stay busy, while a burst waits here instead of as thousands of
# calls pending at once.
DEFAULT_LIMIT = 64


def limit_for(backend: Any, given: int | None) -> int:
    """``given`` (ConfigError unless an integer >= 1), else the backend's ``max_in_flight``
    when it is one (a wrapper or a test double may answer anything), else
    :data:`DEFAULT_LIMIT`."""
    if given is not None:
        if not _positive(given):
            raise ConfigError(f"max_in_flight={given!r}: expected an integer >= 1")
        return given
    said = getattr(backend, "max_in_flight", None)
    return said if _positive(said) else DEFAULT_LIMIT


def _positive(n: object) -> TypeGuard[int]:
    return isinstance(n, int) and not isinstance(n, bool) and n >= 1


class InFlight:
    """At most ``limit`` batches at once per event loop, and ``limit`` across sync threads."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.sync = threading.BoundedSemaphore(limit)
        self._loops: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}
        self._lock = threading.Lock()

    def here(self) -> asyncio.Semaphore:
        """The running loop's semaphore (made on first use; closed loops' are dropped)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            sem = self._loops.get(loop)
            if sem is None:
                for old in [lp for lp in self._loops if lp.is_closed()]:
                    del self._loops[old]
                sem = self._loops[loop] = asyncio.Semaphore(self.limit)
            return sem
