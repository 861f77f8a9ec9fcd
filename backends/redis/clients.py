"""A Redis client, ours or the caller's: what kind it is and where it points.

Bring your own client: ``from_url("redis://?prefix=chat", client=r)`` or ``RedisKV(r)`` takes
the application's ``redis.Redis`` / ``RedisCluster`` / ``redis.asyncio`` client, or the
``valkey`` package's (a fork of redis-py, same API, other class names). So clients are told
apart by what they do, not by their class: async when its commands are coroutines, a cluster
when it lists its primaries. A client that decodes replies to ``str`` is refused up front
(values are bytes), and ``host:port`` for error messages is read from the client, never its
password.
"""

from __future__ import annotations

import inspect
from typing import Any

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster

from checkpoint_kv.errors import ConfigError


def is_async_client(client: Any) -> bool:
    """``redis.asyncio.Redis`` / its ``RedisCluster`` (or valkey's): commands are coroutines."""
    if isinstance(client, (redis.asyncio.Redis, redis.asyncio.cluster.RedisCluster)):
        return True
    if ".asyncio" in type(client).__module__:
        return True
    return inspect.iscoroutinefunction(getattr(client, "execute_command", None))


def is_cluster_client(client: Any) -> bool:
    """A cluster client (sync or async): it routes by slot and lists its primaries."""
    if isinstance(client, (redis.cluster.RedisCluster, redis.asyncio.cluster.RedisCluster)):
        return True
    return callable(getattr(client, "get_primaries", None))


def check_bytes(client: Any) -> None:
    """Values are binary (CBOR, serializer output): a client that decodes replies to ``str``
    would fail on the first read, so it is refused up front, saying what to pass instead."""
    encoder = getattr(client, "get_encoder", None)
    try:
        decodes = bool(encoder().decode_responses) if callable(encoder) else False
    except Exception:  # a client without a readable encoder: let the first call tell
        decodes = False
    if decodes:
        raise ConfigError(
            f"{type(client).__name__} was made with decode_responses=True; checkpoint-kv "
            "stores bytes and needs a client with decode_responses=False (the default). Make "
            "one for the checkpointer, e.g. redis.Redis.from_url(REDIS_URL)"
        )


def client_where(client: Any) -> str:
    """``host:port`` (or socket path) a caller's client points at, for error messages; never
    its password. ``"redis"`` when the client does not say."""
    try:
        if is_cluster_client(client):
            node = client.get_default_node()
            if node is None:  # an async cluster before its first command
                node = next(iter(client.nodes_manager.startup_nodes.values()))
            return f"{node.host}:{node.port}"
        kwargs = client.connection_pool.connection_kwargs
        if kwargs.get("path"):
            return str(kwargs["path"])
        return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
    except Exception:
        return "redis"


def primaries(client: Any) -> list[Any]:
    """Primaries of a cluster in a stable order (cursor positions index into it)."""
    return sorted(client.get_primaries(), key=lambda n: n.name)
