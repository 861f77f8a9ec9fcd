"""The async store, :class:`AsyncRedisKV`: the plans of ``base.py``, awaited on ``redis.asyncio``.

What is its own: which client a call goes through. A caller's client is used as it is, in the
caller's loop; ``from_url``'s store keeps one client per running event loop (redis.asyncio
connections belong to the loop that opened them), and initializes a cluster client once before
its first command.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from checkpoint_kv.backends.redis.base import (
    Finished,
    Pipeline,
    Plan,
    Primaries,
    RedisBase,
    Request,
    step,
)
from checkpoint_kv.backends.redis.clients import (
    check_bytes,
    client_where,
    is_async_client,
    is_cluster_client,
    primaries,
)
from checkpoint_kv.backends.redis.errors import typed_errors
from checkpoint_kv.errors import ConfigError
from checkpoint_kv.port import Op, PartitionPage, ScanResult, ScanSpec

T = TypeVar("T")


class AsyncRedisKV(RedisBase):
    """Async twin of :class:`RedisKV` over ``redis.asyncio``.

    With ``client`` (a caller's ``redis.asyncio`` client) every call goes through it, in
    whatever loop the caller runs it (redis.asyncio connections belong to the loop that opened
    them: use the client in its own loop), and :meth:`close` leaves it open.

    With ``factory`` (``from_url``): a saver outlives loops (``asyncio.run`` per request,
    worker threads with their own loops), so the store keeps one client per running loop, made
    by ``factory`` on first use in that loop; clients of closed loops are dropped (their
    sockets closed with their loop), the others closed by :meth:`close`.
    """

    def __init__(
        self,
        factory: Callable[[], Any] | None = None,
        *,
        client: Any = None,
        prefix: str = "ckv",
        ttl: int = 0,
        ttl_on_read: bool = False,
        where: str | None = None,
        cluster: bool = False,
    ) -> None:
        if (factory is None) == (client is None):
            raise ConfigError("AsyncRedisKV needs a client factory or a client (one of them)")
        if client is not None:
            if not is_async_client(client):
                raise ConfigError(
                    f"AsyncRedisKV needs a redis.asyncio client, not {type(client).__name__}"
                )
            check_bytes(client)
            cluster = cluster or is_cluster_client(client)
        super().__init__(
            prefix=prefix,
            ttl=ttl,
            ttl_on_read=ttl_on_read,
            where=where or (client_where(client) if client is not None else "redis"),
            cluster=cluster,
        )
        self.factory = factory
        self.fixed_client = client
        self._clients: dict[asyncio.AbstractEventLoop, Any] = {}
        self._lock = threading.Lock()
        self._ready: set[int] = set()  # ids of cluster clients initialized
        self._init_locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}

    def __repr__(self) -> str:
        kind = "cluster" if self.cluster else "server"
        return f"AsyncRedisKV({kind} {self.where}, prefix={self.layout.prefix!r})"

    @property
    def client(self) -> Any:
        """The caller's client, else the client of the running event loop."""
        if self.fixed_client is not None:
            return self.fixed_client
        assert self.factory is not None
        loop = asyncio.get_running_loop()
        with self._lock:
            client = self._clients.get(loop)
            if client is None:
                for old in [lp for lp in self._clients if lp.is_closed()]:
                    del self._clients[old]
                client = self._clients[loop] = self.factory()
            return client

    async def _ready_client(self) -> Any:
        """The client, a cluster one initialized first, once: redis-py's async cluster client
        fails some of several concurrent first commands (``'NoneType' object has no attribute
        'writelines'``) while it discovers the nodes, as parallel graph tasks send them."""
        client = self.client
        if not self.cluster or id(client) in self._ready:
            return client
        with self._lock:
            for old in [lp for lp in self._init_locks if lp.is_closed()]:
                del self._init_locks[old]
            lock = self._init_locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
        async with lock:
            if id(client) not in self._ready:
                await client.initialize()
                self._ready.add(id(client))
        return client

    async def _run(self, plan: Plan[T]) -> T:
        with typed_errors(self.where):
            request = step(plan, None)
            while not isinstance(request, Finished):
                request = step(plan, await self._send(request))
            return request.value

    async def _send(self, request: Request) -> Any:
        client = await self._ready_client()
        if isinstance(request, Primaries):
            await client.initialize()  # again: a cluster client resets itself after a failure
            return primaries(client)
        if isinstance(request, Pipeline):
            return await request.on(client).execute()
        try:
            return await request.on(client)
        except Exception as e:
            fallback = request.after(e)
            if fallback is None:
                raise
        return await fallback.on(client)  # NOSCRIPT: sent again as EVAL

    async def get(self, partition: str, keys: Sequence[str]) -> dict[str, bytes]:
        return await self._run(self._get(partition, keys))

    async def scan(
        self,
        partition: str,
        start: str,
        end: str,
        *,
        reverse: bool = False,
        limit: int | None = None,
        follow: int = 0,
    ) -> ScanResult:
        return await self._run(self._scan(partition, start, end, reverse, limit, follow))

    async def scan_records(
        self, partition: str, start: str, end: str, limit: int | None, follow: int, records: int
    ) -> ScanResult:
        return await self._run(self._scan(partition, start, end, True, limit, follow, records))

    async def scan_many(self, partition: str, specs: Sequence[ScanSpec]) -> list[ScanResult]:
        return await self._run(self._scan_many(partition, specs))

    async def write(self, partition: str, ops: Sequence[Op]) -> None:
        await self._run(self._write(partition, ops))

    async def drop(self, partition: str) -> None:
        await self._run(self._drop(partition))

    async def partitions(self, cursor: str | None = None) -> PartitionPage:
        return await self._run(self._partitions(cursor))

    async def setup(self) -> None:
        await self._run(self._setup())

    async def info(self) -> dict[str, Any]:
        return await self._run(self._info())

    async def close(self) -> None:
        """Close the clients this store made; a caller's client stays open."""
        loop = asyncio.get_running_loop()
        with self._lock:
            clients, self._clients = self._clients, {}
        for client_loop, client in clients.items():
            if client_loop is loop:  # others belong to closed loops or to other threads
                await client.aclose()
