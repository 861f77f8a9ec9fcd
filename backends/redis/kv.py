"""The sync store, :class:`RedisKV`, and its async twin over a sync client only.

:class:`RedisKV` runs the plans of ``base.py`` on a ``redis.Redis`` / ``RedisCluster`` client
(or valkey's), one request at a time; :meth:`RedisKV.async_twin` gives the async store: over
the caller's ``async_client``, over ``redis.asyncio`` clients of its own (``from_url``), or,
given only a sync client, :class:`ThreadedRedisKV` (that client in worker threads).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from checkpoint_kv.aio import ThreadedAsyncStore
from checkpoint_kv.backends.redis.aio import AsyncRedisKV
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


class RedisKV(RedisBase):
    """The port over one Redis deployment (standalone, Valkey or Cluster).

    ``RedisKV(client)`` uses a client the caller made and owns (the analogue of
    LangGraph's ``PostgresSaver(conn)``); :func:`from_url` makes its own. Every command goes
    through the given client, and :meth:`close` never closes a client the store did not make.

    Args:
        client: a ``redis.Redis`` or ``redis.cluster.RedisCluster`` (or valkey's), with
            ``decode_responses=False``. An async client (``redis.asyncio``) here is taken as
            ``async_client`` and the store is async-only: its sync methods raise ConfigError.
        async_factory: makes ``redis.asyncio`` clients for :meth:`async_twin`, one per event
            loop (``from_url``'s own clients, closed by the twin).
        async_client: the caller's ``redis.asyncio`` client for the async methods. Without it
            (and without ``async_factory``) the async twin runs the sync client's calls in
            worker threads: the same commands, the event loop never blocked.
        prefix: namespace of every key (no ``{`` or ``}``).
        ttl: seconds a thread lives after its last write (0: forever).
        ttl_on_read: reads refresh the TTL too.
        where: ``host:port`` (or socket path) for error messages; never holds a password.
            Default: read from the client.
        owns_client: close ``client`` in :meth:`close` (``from_url`` sets it for the client
            it made; never set it for a client you share).
        max_in_flight: how many calls its own pool serves at once without one waiting there
            (``from_url``: the async pool's size); the long-term memory store runs at most that
            many batches at once and queues the rest (``checkpoint_kv/store/inflight.py``).
    """

    def __init__(
        self,
        client: Any,
        async_factory: Callable[[], Any] | None = None,
        *,
        async_client: Any = None,
        prefix: str = "ckv",
        ttl: int = 0,
        ttl_on_read: bool = False,
        where: str | None = None,
        owns_client: bool = False,
        max_in_flight: int | None = None,
    ) -> None:
        if "{" in prefix or "}" in prefix:
            raise ConfigError(f"redis prefix={prefix!r} must not contain '{{' or '}}'")
        if ttl < 0:
            raise ConfigError(f"redis ttl={ttl}: use a number of seconds > 0, or leave it out")
        if client is not None and is_async_client(client):
            if async_client is not None:
                raise ConfigError(
                    "client= is an async (redis.asyncio) client: pass the sync one as client= "
                    "and the async one as async_client="
                )
            client, async_client, owns_client = None, client, False
        if async_client is not None:
            if not is_async_client(async_client):
                raise ConfigError(
                    f"async_client= must be a redis.asyncio client, not "
                    f"{type(async_client).__name__} (a sync client goes in client=)"
                )
            if async_factory is not None:
                raise ConfigError("pass async_client= or async_factory=, not both")
        for c in (client, async_client):
            if c is not None:
                check_bytes(c)
        both = client is not None and async_client is not None
        if both and is_cluster_client(client) != is_cluster_client(async_client):
            raise ConfigError("client= and async_client= must both be cluster clients, or neither")
        either = client if client is not None else async_client
        super().__init__(
            prefix=prefix,
            ttl=ttl,
            ttl_on_read=ttl_on_read,
            where=where or client_where(either),
            cluster=is_cluster_client(either),
        )
        self._client = client
        self.async_client = async_client
        self.async_factory = async_factory
        self.owns_client = owns_client and client is not None
        self.max_in_flight = max_in_flight

    @property
    def client(self) -> Any:
        """The sync client (ConfigError when the store was given only an async one)."""
        if self._client is None:
            raise ConfigError(
                "this RedisKV was given only an async (redis.asyncio) client: use the async "
                "API (ainvoke, astream, aget_state, asetup...), or pass a sync client too: "
                "from_url(url, client=sync_client, async_client=async_client)"
            )
        return self._client

    def __repr__(self) -> str:
        kind = "cluster" if self.cluster else "server"
        return f"RedisKV({kind} {self.where}, prefix={self.layout.prefix!r}, ttl={self.ttl})"

    def _run(self, plan: Plan[T]) -> T:
        with typed_errors(self.where):
            request = step(plan, None)
            while not isinstance(request, Finished):
                request = step(plan, self._send(request))
            return request.value

    def _send(self, request: Request) -> Any:
        client = self.client
        if isinstance(request, Primaries):
            return primaries(client)
        if isinstance(request, Pipeline):
            return request.on(client).execute()
        try:
            return request.on(client)
        except Exception as e:
            fallback = request.after(e)
            if fallback is None:
                raise
        return fallback.on(client)  # NOSCRIPT: sent again as EVAL

    def get(self, partition: str, keys: Sequence[str]) -> dict[str, bytes]:
        return self._run(self._get(partition, keys))

    def scan(
        self,
        partition: str,
        start: str,
        end: str,
        *,
        reverse: bool = False,
        limit: int | None = None,
        follow: int = 0,
    ) -> ScanResult:
        return self._run(self._scan(partition, start, end, reverse, limit, follow))

    def scan_records(
        self, partition: str, start: str, end: str, limit: int | None, follow: int, records: int
    ) -> ScanResult:
        """A descending scan that stops before the ``records + 1``-th checkpoint record (see
        the port): "the latest checkpoint" does not ship the older records' values."""
        return self._run(self._scan(partition, start, end, True, limit, follow, records))

    def scan_many(self, partition: str, specs: Sequence[ScanSpec]) -> list[ScanResult]:
        """Several scans of one thread in one round trip (one script call)."""
        return self._run(self._scan_many(partition, specs))

    def write(self, partition: str, ops: Sequence[Op]) -> None:
        self._run(self._write(partition, ops))

    def drop(self, partition: str) -> None:
        self._run(self._drop(partition))

    def partitions(self, cursor: str | None = None) -> PartitionPage:
        return self._run(self._partitions(cursor))

    def setup(self) -> None:
        """Nothing to create: checks the server answers and loads the scripts (every primary)."""
        self._run(self._setup())

    def info(self) -> dict[str, Any]:
        """The port's optional ``info()`` (what ``checkpoint-kv doctor`` reports)."""
        return self._run(self._info())

    def close(self) -> None:
        """Close the client if this store made it (``from_url``); a caller's client stays open."""
        if self.owns_client:
            self._client.close()

    def async_twin(self) -> AsyncRedisKV | ThreadedRedisKV:
        """The async store: over the caller's ``async_client``, over ``redis.asyncio`` clients
        of its own (``from_url``), or, given only a sync client, that client in worker threads."""
        if self.async_client is None and self.async_factory is None:
            return ThreadedRedisKV(self)
        return AsyncRedisKV(
            self.async_factory,
            client=self.async_client,
            prefix=self.layout.prefix,
            ttl=self.ttl,
            ttl_on_read=self.ttl_on_read,
            where=self.where,
            cluster=self.cluster,
        )


class ThreadedRedisKV(ThreadedAsyncStore):
    """Async twin of a :class:`RedisKV` that has only a sync client: each call runs in a
    worker thread (``asyncio.to_thread``) through that client, so the event loop never blocks
    and the server sees the same commands as from the sync store (``scan_many`` included)."""

    def __init__(self, sync: RedisKV) -> None:
        super().__init__(sync)
        self.redis = sync

    async def scan_many(self, partition: str, specs: Sequence[ScanSpec]) -> list[ScanResult]:
        return await asyncio.to_thread(self.redis.scan_many, partition, specs)
