"""The TTL sweeper: no backend of the port expires single items, so a background loop deletes
expired ones (reads never return them in the meantime: expiry is checked on every read).

Sync stores sweep from a daemon thread (``start_ttl_sweeper`` returns a
``concurrent.futures.Future``, as ``PostgresStore``'s does); async code can run
``astart_ttl_sweeper`` (an ``asyncio.Task``). Both stop when asked or when the store closes.
A failed sweep is logged and retried at the next interval: a transient outage must not end
the loop for the life of the process.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Awaitable, Callable

__all__ = ["AsyncSweeper", "ThreadSweeper"]

log = logging.getLogger("checkpoint_kv.store")


class ThreadSweeper:
    def __init__(self, sweep: Callable[[], int], interval_s: float) -> None:
        self._sweep = sweep
        self._interval = interval_s
        self._stop = threading.Event()
        self.future: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, name="ckv-ttl-sweeper", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.future.set_running_or_notify_cancel()
        try:
            while not self._stop.wait(self._interval):
                try:
                    n = self._sweep()
                    if n:
                        log.debug("ttl sweep removed %d item(s)", n)
                except Exception:
                    log.exception("ttl sweep failed; retrying in %.0f s", self._interval)
        finally:
            self.future.set_result(None)

    def stop(self, timeout: float | None = None) -> bool:
        self._stop.set()
        self._thread.join(timeout)
        return not self._thread.is_alive()


class AsyncSweeper:
    def __init__(self, sweep: Callable[[], Awaitable[int]], interval_s: float) -> None:
        self._sweep = sweep
        self._interval = interval_s
        self._stop = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._stop.wait(), self._interval)
                return
            except asyncio.TimeoutError:
                pass
            try:
                await self._sweep()
            except Exception:
                log.exception("ttl sweep failed; retrying in %.0f s", self._interval)

    async def stop(self, timeout: float | None = None) -> bool:
        self._stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(self.task), timeout)
        except asyncio.TimeoutError:
            return False
        return True
