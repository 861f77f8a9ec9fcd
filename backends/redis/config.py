"""URLs to clients: the options schema, parsing a URL, and making redis-py clients from it.

URLs (options in the query string or as keyword arguments)::

    redis://[user:password@]host[:port][/db]     rediss://...  (TLS)
    unix:///path/to/redis.sock[?db=N]
    redis+cluster://host:port   rediss+cluster://host:port   or redis://host:port?cluster=true

``valkey://`` / ``valkeys://`` are aliases of ``redis://`` / ``rediss://``.

Options (declared once in :data:`OPTIONS`): ``prefix`` (default ``ckv``), ``ttl`` (seconds,
or ``15m`` / ``12h`` / ``30d``), ``ttl_on_read`` (bool),
``max_connections`` (the async pool's default 50), ``pool_timeout`` (seconds a call waits for
a free pooled connection, default 20), ``socket_timeout`` and ``connect_timeout`` (seconds > 0,
default 5), ``retries`` (default 3), ``cluster`` (bool). Also passed to redis-py as they are:
``client_name``, ``health_check_interval``, ``ssl_cert_reqs``, ``ssl_ca_certs``,
``ssl_certfile``, ``ssl_keyfile``, ``ssl_check_hostname``.

Every wait is bounded: ``socket_timeout`` and ``connect_timeout`` default to 5 s, and a lost
connection, a timeout or a ``READONLY`` reply is retried ``retries`` times on a fresh
connection with exponential backoff (every port call is idempotent). The clients made here
are ``from_url``'s own: a caller's client is used as it is, so :data:`CONNECTION_OPTIONS` are
refused beside one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.retry
import redis.cluster
from redis._parsers import Encoder
from redis.backoff import ExponentialBackoff
from redis.connection import PythonRespSerializer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from checkpoint_kv.errors import ConfigError, unparsable_url
from checkpoint_kv.options import Option, Schema, url_query

DEFAULT_TIMEOUT = 5.0  # seconds: socket_timeout and connect_timeout
# The own async pool (and the sync one when max_connections is given) blocks: a call waits up
# to pool_timeout for a free connection instead of failing at once ("Too many connections").
# The long-term memory store never waits there (it queues its batches in front of the pool,
# kvstore/inflight.py); the saver's calls, bounded by the graph's parallelism, may, briefly.
DEFAULT_MAX_CONNECTIONS = 50  # redis.asyncio.BlockingConnectionPool's own default
DEFAULT_POOL_TIMEOUT = 20.0  # seconds, redis-py's default, now an option

# Passed to redis-py as they are, in its URL.
_PASSED = (
    "client_name",
    "health_check_interval",
    "ssl_cert_reqs",
    "ssl_ca_certs",
    "ssl_certfile",
    "ssl_keyfile",
    "ssl_check_hostname",
    "db",
)
OPTIONS = Schema(
    "redis",
    [
        Option("prefix", "str", "ckv", "namespace of every key (non-empty, no '{' or '}')"),
        Option("ttl", "duration", 0, "a thread expires this long after its last write", min=0),
        Option("ttl_on_read", "bool", False, "reads refresh the TTL too"),
        Option("max_connections", "int", None, "connection pool size (async default 50)", min=1),
        Option(
            "pool_timeout",
            "float",
            DEFAULT_POOL_TIMEOUT,
            "seconds a call waits for a free pooled connection",
            min=0,
        ),
        Option("socket_timeout", "float", DEFAULT_TIMEOUT, "seconds per reply", above=0),
        Option("connect_timeout", "float", DEFAULT_TIMEOUT, "seconds per connect", above=0),
        Option("retries", "int", 3, "retries of a lost connection or timeout", min=0),
        Option("cluster", "bool", False, "a Redis Cluster (as redis+cluster://)"),
        *(Option(name, "str", None, "passed to redis-py") for name in _PASSED),
    ],
)


@dataclass(frozen=True)
class RedisConfig:
    """A parsed URL: what to connect to, and how this backend behaves."""

    # A plain redis:// / rediss:// / unix:// URL for redis-py, password included: no repr.
    client_url: str = field(repr=False)
    cluster: bool
    where: str
    prefix: str = "ckv"
    ttl: int = 0
    ttl_on_read: bool = False
    client_kwargs: dict[str, Any] = field(default_factory=dict)
    retries: int = 3
    pool_timeout: float = DEFAULT_POOL_TIMEOUT

    @property
    def pool_size(self) -> int | None:
        """At most this many connections in the own async client's pool (a cluster's: per
        node; None: unbounded), so at most this many calls at once without waiting in it."""
        size: int | None = self.client_kwargs.get("max_connections")
        return size if size is not None or self.cluster else DEFAULT_MAX_CONNECTIONS


def parse_url(url: str, **options: Any) -> RedisConfig:
    """Split a checkpoint-kv Redis URL into redis-py's URL and this backend's options."""
    base, query = url_query(url, options)
    opts = OPTIONS.parse(query)
    scheme, _, rest = base.partition("://")
    scheme = scheme.lower()
    cluster = scheme.endswith("+cluster") or opts["cluster"]
    scheme = {"valkey": "redis", "valkeys": "rediss"}.get(scheme, scheme).removesuffix("+cluster")
    if scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(f"not a Redis URL scheme: {scheme!r}")
    if cluster and scheme == "unix":
        raise ConfigError("Redis Cluster needs host:port seeds, not a unix socket")
    passed = {k: v for k, v in query.items() if k in _PASSED}
    client_url = f"{scheme}://{rest}" + (f"?{urlencode(passed)}" if passed else "")
    try:  # urlsplit's errors quote the netloc, password and all: never chained
        parts = urlsplit(client_url)
    except ValueError:
        raise unparsable_url(
            url,
            "Python's URL parser refused its authority (an unpaired '[' or ']', or characters "
            "that normalize (NFKC) to '/', '?', '#', '@' or ':')",
        ) from None
    if scheme == "unix":
        where = parts.path or "unix socket"
    else:
        try:
            port = parts.port or 6379
        except ValueError:  # the "port" may be a password whose "@host" is missing: hidden
            host = parts.hostname or "localhost"
            raise unparsable_url(
                url,
                "the port is not a number 0-65535 (user:password@ goes before the host)",
                shown=f"{url.partition('://')[0]}://{host}:***",
            ) from None
        where = f"{parts.hostname or 'localhost'}:{port}"
    # Bounded waits by default: a stalled server (SIGSTOP, a full network buffer, a peer
    # that accepts and never answers) fails the call after the retries instead of blocking a
    # graph step forever. redis-py before 8 waits forever without socket_timeout.
    kwargs: dict[str, Any] = {
        "socket_timeout": opts["socket_timeout"],
        "socket_connect_timeout": opts["connect_timeout"],
    }
    if opts["max_connections"] is not None:
        kwargs["max_connections"] = opts["max_connections"]
    prefix = opts["prefix"]
    if not prefix or "{" in prefix or "}" in prefix:
        raise OPTIONS.error("prefix", prefix, "a non-empty prefix, without '{' or '}'")
    return RedisConfig(
        client_url=client_url,
        cluster=cluster,
        where=where,
        prefix=prefix,
        ttl=opts["ttl"],
        ttl_on_read=opts["ttl_on_read"],
        client_kwargs=kwargs,
        retries=opts["retries"],
        pool_timeout=opts["pool_timeout"],
    )


def _backoff() -> ExponentialBackoff:
    return ExponentialBackoff(cap=1.0, base=0.05)


# Retried on a fresh connection (every call is idempotent): a lost connection, a timeout (a
# stalled or overloaded server), and READONLY (a managed failover - ElastiCache, Memorystore -
# moves the DNS name to the new primary while old connections still reach the demoted one).
# redis-py 5 retries only the error types this list names, whatever the Retry object says.
_RETRY_ALSO = [RedisConnectionError, RedisTimeoutError, ReadOnlyError]


# With hiredis installed, redis-py's sync connections pack each command with
# hiredis.pack_command, which copies every argument and costs ~600 us for a 300 KB value (a
# long chat's checkpoint record) where redis-py's own packer sends a large argument as it is
# (~10 us). hiredis still parses the replies. (RedisCluster drops this keyword: it keeps the
# default packer; redis.asyncio always packs in Python.)
_ENCODE = Encoder("utf-8", "strict", False).encode  # type: ignore[no-untyped-call]
_PACKER = PythonRespSerializer(6000, _ENCODE)


def sync_client(cfg: RedisConfig) -> Any:
    retry = Retry(_backoff(), cfg.retries)
    if cfg.cluster:
        return redis.cluster.RedisCluster.from_url(cfg.client_url, retry=retry, **cfg.client_kwargs)
    kwargs = {"command_packer": _PACKER, **cfg.client_kwargs}
    if "max_connections" in kwargs:
        # A bounded sync pool blocks too: a thread past max_connections waits up to
        # pool_timeout for a connection instead of failing at once ("Too many connections").
        pool = redis.BlockingConnectionPool.from_url(
            cfg.client_url,
            retry=retry,
            retry_on_error=_RETRY_ALSO,
            timeout=cfg.pool_timeout,
            **kwargs,
        )
        return redis.Redis.from_pool(pool)  # the client owns (and closes) the pool
    return redis.Redis.from_url(cfg.client_url, retry=retry, retry_on_error=_RETRY_ALSO, **kwargs)


def async_client(cfg: RedisConfig) -> Any:
    retry = redis.asyncio.retry.Retry(_backoff(), cfg.retries)
    if cfg.cluster:
        return redis.asyncio.cluster.RedisCluster.from_url(
            cfg.client_url, retry=retry, **cfg.client_kwargs
        )
    # A blocking pool: a burst of concurrent tasks waits for a free connection (up to
    # pool_timeout) instead of failing with "Too many connections". The long-term memory
    # store also queues its batches in front of it (max_in_flight = pool_size): none waits here.
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        cfg.client_url,
        retry=retry,
        retry_on_error=_RETRY_ALSO,
        timeout=cfg.pool_timeout,
        **{"max_connections": cfg.pool_size, **cfg.client_kwargs},
    )
    client = redis.asyncio.Redis.from_pool(pool)  # the client owns (and closes) the pool
    return client


# Options that configure a connection: with a caller's client they would silently not apply.
CONNECTION_OPTIONS = set(OPTIONS.names) - {"prefix", "ttl", "ttl_on_read", "cluster"}
