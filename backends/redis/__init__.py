"""``redis://``: plain Redis, Valkey and Redis Cluster, with core commands only (no modules).

A thread is two keys in one hash slot, a sorted set of its sort keys and a hash of its values;
every port call is one Lua script (or one ``DEL`` / ``SCAN``), so a call is one round trip and a
write is all-or-nothing; with ``ttl`` a thread expires whole. Sync (``redis.Redis`` /
``redis.cluster.RedisCluster``) and async (``redis.asyncio``) stores share everything but I/O;
``RedisKV.async_twin()`` returns the async one, on its own connection pool. Given only a caller's
sync client, the async twin runs its calls in worker threads (:class:`ThreadedRedisKV`); given
only an async one, the store is async-only; ``async_client=`` adds the native async client to a
sync one.

The modules, one idea each:

- ``scripts``: the Lua scripts, the key layout they work on, whole-or-nothing reads, TTL;
- ``codec``: key names, script arguments and decoded replies (pure functions);
- ``base``: the store written once as plans of requests, shared by sync and async;
- ``kv``: the sync store :class:`RedisKV` (and :class:`ThreadedRedisKV`);
- ``aio``: the async store :class:`AsyncRedisKV` (one client per event loop);
- ``clients``: what a (caller's) client is and where it points;
- ``config``: URLs, the options (:data:`OPTIONS`), and the clients ``from_url`` makes;
- ``errors``: client failures as the library's typed errors, naming ``host:port``, no password.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from checkpoint_kv._renamed import renamed
from checkpoint_kv.backends.redis import config
from checkpoint_kv.backends.redis.aio import AsyncRedisKV as AsyncRedisKV
from checkpoint_kv.backends.redis.clients import is_cluster_client
from checkpoint_kv.backends.redis.config import CONNECTION_OPTIONS
from checkpoint_kv.backends.redis.config import DEFAULT_POOL_TIMEOUT as DEFAULT_POOL_TIMEOUT
from checkpoint_kv.backends.redis.config import DEFAULT_TIMEOUT as DEFAULT_TIMEOUT
from checkpoint_kv.backends.redis.config import OPTIONS as OPTIONS
from checkpoint_kv.backends.redis.config import RedisConfig as RedisConfig
from checkpoint_kv.backends.redis.config import async_client as async_client
from checkpoint_kv.backends.redis.config import parse_url as parse_url
from checkpoint_kv.backends.redis.config import sync_client as sync_client
from checkpoint_kv.backends.redis.errors import typed_errors
from checkpoint_kv.backends.redis.kv import RedisKV as RedisKV
from checkpoint_kv.backends.redis.kv import ThreadedRedisKV as ThreadedRedisKV
from checkpoint_kv.errors import ConfigError
from checkpoint_kv.options import url_query

__all__ = ["OPTIONS", "AsyncRedisKV", "RedisConfig", "RedisKV", "from_url", "parse_url"]

# Public at the package's path, wherever they are defined (reprs, docs, help()).
for _public in (AsyncRedisKV, RedisConfig, RedisKV, ThreadedRedisKV):
    _public.__module__ = __name__
del _public


def from_url(url: str, *, client: Any = None, async_client: Any = None, **options: Any) -> RedisKV:
    """The store for a ``redis://``, ``rediss://``, ``unix://`` or ``redis+cluster://`` URL.

    Nothing connects until the first call (``setup()`` pings), except a cluster client, which
    reads the slot map at once.

    With ``client`` and/or ``async_client`` (the caller's ``redis`` / ``redis.asyncio`` /
    cluster / valkey clients), every command goes through them, they are never closed by the
    store, and the URL only carries the store's options (``redis://?prefix=chat&ttl=86400``;
    a host in it is not used: the client decides where to connect). Options that configure a
    connection (timeouts, pool size, TLS...) are refused then: set them on the client.
    """
    cfg = parse_url(url, **options)
    behaviour: dict[str, Any] = {
        "prefix": cfg.prefix,
        "ttl": cfg.ttl,
        "ttl_on_read": cfg.ttl_on_read,
    }
    given = client if client is not None else async_client
    if given is None:
        with typed_errors(cfg.where):  # a cluster client reads the slot map at once
            sync = sync_client(cfg)
        own_async = partial(config.async_client, cfg)
        return RedisKV(
            sync,
            own_async,
            where=cfg.where,
            owns_client=True,
            max_in_flight=cfg.pool_size,
            **behaviour,
        )
    conflicting = sorted(set(url_query(url, options)[1]) & CONNECTION_OPTIONS)
    if conflicting:
        raise ConfigError(
            f"redis option(s) {', '.join(conflicting)} configure a connection, and client= is "
            "used as it is: set them on the client you pass (or drop client= and let the URL "
            "make one)"
        )
    if cfg.cluster and not is_cluster_client(given):
        raise ConfigError(
            "the URL asks for a cluster (+cluster / cluster=true) but client= is not a "
            "cluster client: pass a redis.cluster.RedisCluster, or drop +cluster from the URL"
        )
    return RedisKV(client, async_client=async_client, **behaviour)


# --- old names ------------------------------------------------------------------------------
# Deprecated aliases: the adapters were named like LangGraph's memory stores (BaseStore).
if TYPE_CHECKING:
    RedisStore = RedisKV
    AsyncRedisStore = AsyncRedisKV
    ThreadedRedisStore = ThreadedRedisKV
else:
    __getattr__ = renamed(
        __name__,
        {
            "RedisStore": "RedisKV",
            "AsyncRedisStore": "AsyncRedisKV",
            "ThreadedRedisStore": "ThreadedRedisKV",
        },
    )
