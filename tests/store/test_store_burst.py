"""A burst of concurrent operations on one long-term memory store (LangGraph's own
``test_large_batches_async`` pattern: ``asyncio.gather`` of tens of thousands of ``aput`` /
``aget`` / ``asearch``) never fails because other operations queued.

On Redis every batch needs a pooled connection. The store runs at most ``max_in_flight``
batches at once (its own pool's ``max_connections``) and queues the rest in order
(``checkpoint_kv/store/inflight.py``), so no call ever waits in redis-py's pool, where it
would fail after ``pool_timeout`` (``No connection available``). The Redis tests use a pool of
4 connections and ``pool_timeout=0``: a single call that had to wait in the pool would fail,
and the control test shows that without the bound almost every call of the burst does.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from collections.abc import Coroutine
from typing import Any

import pytest
import redis
import redis.asyncio

import checkpoint_kv
from checkpoint_kv import ConfigError
from checkpoint_kv.backends import redis as ckv_redis
from checkpoint_kv.errors import BackendUnavailableError
from checkpoint_kv.store import KVBaseStore
from checkpoint_kv.store.inflight import DEFAULT_LIMIT
from tests.conftest import selected_backends

# Sized for a shared 2-core machine: the Redis burst (20,000 operations through 4 connections,
# 5,000 times the pool) takes about 10 s; memory about 1 s, SQLite and fakeredis a few.
OPS = {"memory": 20_000, "sqlite": 10_000, "fakeredis": 10_000, "redis": 20_000}
NAMESPACES = 40
SMALL_POOL = "max_connections=4&pool_timeout=0"


def _url(request: pytest.FixtureRequest, backend: str) -> str:
    url = str(request.getfixturevalue(f"url_{backend}"))
    if backend == "redis":
        url += "&" + SMALL_POOL
    return url


async def _burst(store: KVBaseStore, n: int, seed: int = 7) -> tuple[list[Any], Counter[str]]:
    """``n`` concurrent operations (puts, gets, searches, a few listings), all started at
    once; returns their results (exceptions included) and how many puts each namespace got."""
    rng = random.Random(seed)
    puts: Counter[str] = Counter()
    calls: list[Coroutine[Any, Any, Any]] = []
    for i in range(n):
        ns = ("burst", f"n{rng.randrange(NAMESPACES)}")
        kind = rng.random()
        if kind < 0.4:
            puts[ns[1]] += 1
            calls.append(store.aput(ns, f"k{i}", {"i": i, "text": f"item {i}"}))
        elif kind < 0.7:
            calls.append(store.aget(ns, f"k{rng.randrange(max(i, 1))}"))
        elif kind < 0.98:
            calls.append(store.asearch(ns, filter={"i": {"$gte": 0}}, limit=5))
        else:
            calls.append(store.alist_namespaces(prefix=("burst",), limit=5))
    return await asyncio.gather(*calls, return_exceptions=True), puts


@pytest.mark.parametrize(
    "backend", [b for b in ("memory", "sqlite", "fakeredis", "redis") if b in selected_backends()]
)
def test_burst_of_concurrent_ops_never_fails(backend: str, request: pytest.FixtureRequest) -> None:
    n = OPS[backend]
    store = checkpoint_kv.store_from_url(_url(request, backend))
    if backend == "redis":
        assert store.max_in_flight == 4  # the pool's size: nothing waits in the pool

    async def run() -> tuple[list[Any], float, dict[str, int], Counter[str]]:
        await store.asetup()
        started = time.monotonic()
        results, puts = await _burst(store, n)
        elapsed = time.monotonic() - started
        # Every put landed (the burst's searches and gets ran against a moving store: their
        # contents are not checked, only that none failed).
        stored = {label: len(await store.asearch(("burst", label), limit=n)) for label in puts}
        await store.aclose()
        return results, elapsed, stored, puts

    results, elapsed, stored, puts = asyncio.run(run())
    failed = [r for r in results if isinstance(r, BaseException)]
    kinds = Counter(f"{type(e).__name__}: {str(e)[:120]}" for e in failed)
    assert not failed, f"{len(failed)} of {n} operations failed: {kinds.most_common(3)}"
    assert stored == dict(puts)
    print(f"{backend}: {n} concurrent operations in {elapsed:.1f} s")


def test_unbounded_burst_fails_in_the_pool_control(url_redis: str) -> None:
    """The control: the same pool with the bound lifted, and most calls fail in redis-py's
    pool, with an error that says so (not "cannot reach Redis")."""
    store = checkpoint_kv.store_from_url(f"{url_redis}&{SMALL_POOL}", max_in_flight=100_000)

    async def run() -> list[Any]:
        await store.asetup()
        results, _ = await _burst(store, 2_000)
        await store.aclose()
        return results

    failed = [r for r in asyncio.run(run()) if isinstance(r, BaseException)]
    assert len(failed) > 1_000
    assert all(isinstance(e, BackendUnavailableError) for e in failed)
    assert "no free connection" in str(failed[0]) and "pool_timeout" in str(failed[0])


def test_threads_beyond_the_pool_queue_too(url_redis: str) -> None:
    """Sync callers: 16 threads on a 2-connection pool (``pool_timeout=0``) all succeed."""
    url = f"{url_redis}&max_connections=2&pool_timeout=0"
    errors: list[BaseException] = []
    with checkpoint_kv.store_from_url(url) as store:
        store.setup()
        assert store.max_in_flight == 2

        def work(t: int) -> None:
            try:
                for i in range(150):
                    store.put(("t", str(t)), f"k{i}", {"i": i})
                    store.get(("t", str(t)), f"k{i}")
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(16)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert errors == []
        assert sum(len(store.search(("t", str(t)), limit=500)) for t in range(16)) == 16 * 150


# --- the options ------------------------------------------------------------------------------


def test_pool_options_parse_and_reach_the_pools() -> None:
    cfg = ckv_redis.parse_url("redis://h")
    assert (cfg.pool_timeout, cfg.pool_size) == (ckv_redis.DEFAULT_POOL_TIMEOUT, 50)
    assert ckv_redis.parse_url("redis+cluster://h:7000").pool_size is None  # per-node, unbounded
    cfg = ckv_redis.parse_url("redis://h?max_connections=3&pool_timeout=2.5")
    assert (cfg.pool_timeout, cfg.pool_size) == (2.5, 3)
    assert "pool_timeout" not in cfg.client_kwargs  # not a connection argument

    async_client = ckv_redis.async_client(cfg)
    pool = async_client.connection_pool
    assert isinstance(pool, redis.asyncio.BlockingConnectionPool)
    assert (pool.max_connections, pool.timeout) == (3, 2.5)
    sync = ckv_redis.sync_client(cfg)
    assert isinstance(sync.connection_pool, redis.BlockingConnectionPool)
    assert (sync.connection_pool.max_connections, sync.connection_pool.timeout) == (3, 2.5)
    sync.close()
    default = ckv_redis.async_client(ckv_redis.parse_url("redis://h"))
    assert (default.connection_pool.max_connections, default.connection_pool.timeout) == (50, 20)
    plain = ckv_redis.sync_client(ckv_redis.parse_url("redis://h"))  # unbounded, as before
    assert not isinstance(plain.connection_pool, redis.BlockingConnectionPool)
    plain.close()

    for bad in [
        "redis://h?pool_timeout=-1",
        "redis://h?pool_timeout=soon",
        "redis://h?max_connections=0",
    ]:
        with pytest.raises(ConfigError):
            ckv_redis.parse_url(bad)
    with pytest.raises(ConfigError, match="pool_timeout"):  # configures a connection
        checkpoint_kv.from_url("redis://", client=redis.Redis(), pool_timeout=3)


def test_max_in_flight_follows_the_pool() -> None:
    """Nothing connects: a standalone Redis store is made without a round trip."""
    assert checkpoint_kv.store_from_url("redis://h").max_in_flight == 50
    assert checkpoint_kv.store_from_url("redis://h?max_connections=7").max_in_flight == 7
    assert checkpoint_kv.store_from_url("redis://h", max_in_flight=3).max_in_flight == 3
    assert checkpoint_kv.store_from_url("memory://").max_in_flight == DEFAULT_LIMIT
    for bad in (0, -1):
        with pytest.raises(ConfigError, match="max_in_flight"):
            checkpoint_kv.store_from_url("memory://", max_in_flight=bad)
