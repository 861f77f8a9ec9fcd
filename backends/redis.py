"""``redis://``: plain Redis, Valkey and Redis Cluster, with core commands only (no modules).

Layout. A partition (thread) is two keys that share the hash tag ``{<partition>}``, so Redis
Cluster keeps a whole thread in one slot and no command or script ever spans slots::

    <prefix>:{<partition>}:z   sorted set, every score 0: the sort keys, in byte order
    <prefix>:{<partition>}:h   hash: sort key -> value

With equal scores a sorted set orders its members byte-wise, so ``ZRANGEBYLEX`` /
``ZREVRANGEBYLEX`` with ``LIMIT`` give exactly the port's ordered, bounded range scans.
Partitions are escaped thread ids (``checkpoint_kv.keys``) and never hold ``{`` or ``}``; the
prefix may not either, so two prefixes never see each other's threads, not even in
``partitions()`` (``SCAN MATCH <prefix>:{*}:z``, on every primary of a cluster).

One round trip per port call. ``get``, ``scan`` (including ``follow=N``: the script parses the
``ref1\\nref2\\n\\n<payload>`` header and ``HMGET``s the references) and ``write`` are Lua scripts;
a script runs atomically, so a batch is all-or-nothing and a reader never sees a checkpoint
record without its blobs and writes. ``setup()`` loads the scripts (``SCRIPT LOAD``, on every
primary of a cluster); a store's first call of a script not yet loaded is an ``EVAL`` (which
caches it), later calls are ``EVALSHA``. After ``NOSCRIPT`` (a restart, failover or ``SCRIPT
FLUSH``) the same call is re-sent once as ``EVAL``: redis-py's ``register_script`` would
``SCRIPT LOAD`` then ``EVALSHA``, one round trip more. ``drop`` is one ``DEL``;
``partitions`` pages ``SCAN``.

TTL. With ``ttl=<seconds>`` every write sets the same expiry on both keys of the thread, in the
same script, so a thread expires whole (no orphaned keys); ``ttl_on_read=true`` refreshes it on
reads too. Without ``ttl`` keys never expire.

Failures. Every port call is idempotent (a batch applied twice leaves what it left once), so a
lost connection or a timeout is retried by redis-py (``retries``, exponential backoff); then a
:class:`~checkpoint_kv.errors.BackendUnavailableError` names ``host:port`` (never a password).

Sync (``redis.Redis`` / ``redis.cluster.RedisCluster``) and async (``redis.asyncio``) share
the scripts, argument encoding and reply decoding below; the two store classes differ only in
``await``. ``async_twin()`` returns the async one, on its own connection pool.

URLs (options in the query string or as keyword arguments)::

    redis://[user:password@]host[:port][/db]     rediss://...  (TLS)
    unix:///path/to/redis.sock[?db=N]
    redis+cluster://host:port   rediss+cluster://host:port   or redis://host:port?cluster=true

Options: ``prefix`` (default ``ckv``), ``ttl`` (seconds), ``ttl_on_read`` (bool),
``max_connections``, ``socket_timeout`` and ``connect_timeout`` (seconds, default 5),
``retries`` (default 3), ``cluster`` (bool). Also passed to redis-py as they are:
``client_name``, ``health_check_interval``, ``ssl_cert_reqs``, ``ssl_ca_certs``,
``ssl_certfile``, ``ssl_keyfile``, ``ssl_check_hostname``.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.retry
import redis.cluster
from redis.backoff import ExponentialBackoff
from redis.exceptions import (
    AuthenticationError,
    ClusterDownError,
    NoPermissionError,
    NoScriptError,
    ReadOnlyError,
    RedisClusterException,
    ResponseError,
    SlotNotCoveredError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from checkpoint_kv.errors import BackendUnavailableError, ConfigError, redact
from checkpoint_kv.port import (
    Delete,
    DeleteRange,
    Op,
    PartitionPage,
    Put,
    ScanResult,
    ScanSpec,
)
from checkpoint_kv.registry import split_options

__all__ = ["AsyncRedisStore", "RedisConfig", "RedisStore", "from_url", "parse_url"]

# --- Lua scripts ----------------------------------------------------------------------------
# KEYS[1] is the sorted set, KEYS[2] the hash of one partition. Lua's unpack() has a stack
# limit of a few thousand values, so multi-key commands go in chunks of _CHUNK.

_LUA_COMMON = """
local Z, H = KEYS[1], KEYS[2]
local CHUNK = 1000
local function hmget(fields)
  local out = {}
  for i = 1, #fields, CHUNK do
    local vals = redis.call('HMGET', H, unpack(fields, i, math.min(i + CHUNK - 1, #fields)))
    for j = 1, #vals do out[#out + 1] = vals[j] end
  end
  return out
end
local function touch(ttl)
  if ttl > 0 then
    redis.call('EXPIRE', Z, ttl)
    redis.call('EXPIRE', H, ttl)
  end
end
"""

# ARGV: ttl_on_read, field...  ->  values (nil where absent), in the order asked
_LUA_GET = (
    _LUA_COMMON
    + """
local fields = {}
for i = 2, #ARGV do fields[#fields + 1] = ARGV[i] end
local vals = hmget(fields)
touch(tonumber(ARGV[1]))
return vals
"""
)

# scan(start, end, reverse (0/1), limit (-1: none), follow)
#   -> {{key1, value1, key2, value2, ...}, {ref1, value1, ...}}
_LUA_SCAN_FN = """
local function scan(start, stop, rev, limit, follow)
  local keys
  if rev == '1' then
    keys = redis.call('ZREVRANGEBYLEX', Z, '(' .. stop, '[' .. start, 'LIMIT', 0, limit)
  else
    keys = redis.call('ZRANGEBYLEX', Z, '[' .. start, '(' .. stop, 'LIMIT', 0, limit)
  end
  local vals = hmget(keys)
  local items = {}
  for i = 1, #keys do
    if vals[i] then
      items[#items + 1] = keys[i]
      items[#items + 1] = vals[i]
    end
  end
  local taken, seen, wanted = 0, {}, {}
  follow = tonumber(follow)
  for i = 1, #keys do
    if taken >= follow then break end
    local v = vals[i]
    if v then
      local sep = string.find(v, '\\n\\n', 1, true)
      if sep and sep > 1 then
        taken = taken + 1
        for ref in string.gmatch(string.sub(v, 1, sep - 1), '[^\\n]+') do
          if not seen[ref] then
            seen[ref] = true
            wanted[#wanted + 1] = ref
          end
        end
      end
    end
  end
  local refs = {}
  if #wanted > 0 then
    local rvals = hmget(wanted)
    for i = 1, #wanted do
      if rvals[i] then
        refs[#refs + 1] = wanted[i]
        refs[#refs + 1] = rvals[i]
      end
    end
  end
  return {items, refs}
end
"""

# ARGV: start, end, reverse, limit, follow, ttl_on_read  ->  {items, refs}
_LUA_SCAN = (
    _LUA_COMMON
    + _LUA_SCAN_FN
    + """
local result = scan(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
touch(tonumber(ARGV[6]))
return result
"""
)

# ARGV: ttl_on_read, then (start, end, reverse, limit, follow) per scan  ->  {{items, refs}, ...}
# Several independent scans of one thread in one call (scan_many); no pipeline, so it works the
# same on a Cluster, where redis-py refuses pipelined EVALSHA.
_LUA_SCANS = (
    _LUA_COMMON
    + _LUA_SCAN_FN
    + """
local out = {}
for i = 2, #ARGV, 5 do
  out[#out + 1] = scan(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4])
end
touch(tonumber(ARGV[1]))
return out
"""
)

# ARGV: ttl, then ops in order: 'P' key value | 'N' key value (if absent) | 'D' key
#       | 'R' start end (start <= key < end)  ->  number of ops applied
# Runs of plain puts become one HSET + one ZADD (same effect as one by one, fewer calls).
_LUA_WRITE = (
    _LUA_COMMON
    + """
local i, n, ops = 2, #ARGV, 0
while i <= n do
  local op = ARGV[i]
  if op == 'P' then
    local hargs, zargs = {}, {}
    while i <= n and ARGV[i] == 'P' and #hargs < 2 * CHUNK do
      hargs[#hargs + 1] = ARGV[i + 1]
      hargs[#hargs + 1] = ARGV[i + 2]
      zargs[#zargs + 1] = 0
      zargs[#zargs + 1] = ARGV[i + 1]
      i = i + 3
      ops = ops + 1
    end
    redis.call('HSET', H, unpack(hargs))
    redis.call('ZADD', Z, unpack(zargs))
  elseif op == 'N' then
    if redis.call('HSETNX', H, ARGV[i + 1], ARGV[i + 2]) == 1 then
      redis.call('ZADD', Z, 0, ARGV[i + 1])
    end
    i = i + 3
    ops = ops + 1
  elseif op == 'D' then
    redis.call('HDEL', H, ARGV[i + 1])
    redis.call('ZREM', Z, ARGV[i + 1])
    i = i + 2
    ops = ops + 1
  elseif op == 'R' then
    local lo, hi = '[' .. ARGV[i + 1], '(' .. ARGV[i + 2]
    local keys = redis.call('ZRANGEBYLEX', Z, lo, hi)
    for j = 1, #keys, CHUNK do
      redis.call('HDEL', H, unpack(keys, j, math.min(j + CHUNK - 1, #keys)))
    end
    redis.call('ZREMRANGEBYLEX', Z, lo, hi)
    i = i + 3
    ops = ops + 1
  else
    return redis.error_reply('checkpoint-kv: unknown write op ' .. tostring(op))
  end
end
touch(tonumber(ARGV[1]))
return ops
"""
)


@dataclass(frozen=True)
class _Script:
    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())


GET = _Script(_LUA_GET)
SCAN = _Script(_LUA_SCAN)
SCANS = _Script(_LUA_SCANS)
WRITE = _Script(_LUA_WRITE)
SCRIPTS = (GET, SCAN, SCANS, WRITE)

_SCAN_COUNT = 1000  # keys SCAN inspects per call
_PAGE = 500  # partitions() returns a page once it holds at least this many


# --- pure logic shared by the sync and async stores -----------------------------------------


@dataclass(frozen=True)
class _Layout:
    """Key names of one prefix; see the module docstring."""

    prefix: str

    def keys(self, partition: str) -> tuple[str, str]:
        if not partition:
            raise ValueError("partition must not be empty (it is the Redis Cluster hash tag)")
        return f"{self.prefix}:{{{partition}}}:z", f"{self.prefix}:{{{partition}}}:h"

    @property
    def match(self) -> str:
        escaped = "".join("\\" + c if c in "*?[]\\" else c for c in self.prefix)
        return f"{escaped}:{{*}}:z"

    def partition_of(self, key: bytes | str) -> str:
        text = key.decode() if isinstance(key, bytes) else key
        return text[len(self.prefix) + 2 : -3]


def _get_args(keys: Sequence[str], ttl_on_read: int) -> list[Any]:
    return [ttl_on_read, *keys]


def _decode_get(keys: Sequence[str], reply: Sequence[bytes | None]) -> dict[str, bytes]:
    return {k: v for k, v in zip(keys, reply, strict=True) if v is not None}


def _scan_args(
    start: str, end: str, reverse: bool, limit: int | None, follow: int, ttl_on_read: int
) -> list[Any]:
    return [start, end, 1 if reverse else 0, -1 if limit is None else limit, follow, ttl_on_read]


def _scans_args(specs: Sequence[ScanSpec], ttl_on_read: int) -> list[Any]:
    args: list[Any] = [ttl_on_read]
    for s in specs:
        args += _scan_args(s.start, s.end, s.reverse, s.limit, s.follow, 0)[:5]
    return args


def _pairs(flat: Sequence[bytes]) -> Iterator[tuple[str, bytes]]:
    for i in range(0, len(flat), 2):
        yield flat[i].decode("ascii"), flat[i + 1]


def _decode_scan(reply: Sequence[Sequence[bytes]]) -> ScanResult:
    items, refs = reply
    return ScanResult(list(_pairs(items)), dict(_pairs(refs)))


def _write_args(ops: Sequence[Op], ttl: int) -> list[Any]:
    args: list[Any] = [ttl]
    for op in ops:
        if isinstance(op, Put):
            args += ["N" if op.if_absent else "P", op.key, op.value]
        elif isinstance(op, Delete):
            args += ["D", op.key]
        elif isinstance(op, DeleteRange):
            args += ["R", op.start, op.end]
        else:  # pragma: no cover - defensive
            raise TypeError(f"unknown op {op!r}")
    return args


def _decode_scan_page(reply: Any) -> tuple[int, list[bytes]]:
    cursor, keys = reply
    if isinstance(cursor, dict):  # RedisCluster answers {node name: cursor} for one node
        (cursor,) = cursor.values()
    return int(cursor), list(keys)


def _partitions_cursor(cursor: str | None) -> tuple[int, int]:
    """``(node index, SCAN cursor)`` from the port's opaque cursor ``"<node>:<scan cursor>"``."""
    if not cursor:
        return 0, 0
    node, _, scan = cursor.partition(":")
    return int(node), int(scan)


@contextmanager
def _errors(where: str) -> Iterator[None]:
    """Turn redis-py's connection failures (after its retries) into our typed error."""
    try:
        yield
    except AuthenticationError as e:
        raise BackendUnavailableError(
            f"Redis at {where} refused the credentials in the URL: {redact(str(e))}"
        ) from e
    except (
        RedisConnectionError,
        RedisTimeoutError,
        ClusterDownError,
        SlotNotCoveredError,
    ) as e:
        raise BackendUnavailableError(
            f"cannot reach Redis at {where} (after retries): {type(e).__name__}: {redact(str(e))}"
        ) from e
    except ReadOnlyError as e:
        raise BackendUnavailableError(
            f"Redis at {where} is a read-only replica (a failover in progress, or the URL names "
            f"a replica; retried): {e}"
        ) from e
    except RedisClusterException as e:
        if "cannot be connected" not in str(e):
            raise
        raise BackendUnavailableError(
            f"cannot reach Redis Cluster at {where} (after retries): {redact(str(e))}"
        ) from e
    except ResponseError as e:
        if isinstance(e, NoPermissionError) or str(e).startswith("NOPERM"):
            raise BackendUnavailableError(
                f"the Redis user lacks a permission at {where}: {e}; see docs/backends/redis.md "
                "for the ACL it needs"
            ) from e
        raise


def _nodes(client: Any) -> list[Any]:
    """Primaries of a cluster in a stable order (cursor positions index into it)."""
    return sorted(client.get_primaries(), key=lambda n: n.name)


# --- sync store ----------------------------------------------------------------------------


class RedisStore:
    """The port over one Redis deployment (standalone, Valkey or Cluster).

    Args:
        client: a ``redis.Redis`` or ``redis.cluster.RedisCluster`` (``decode_responses=False``).
        async_factory: makes the matching ``redis.asyncio`` client for :meth:`async_twin`.
        prefix: namespace of every key (no ``{`` or ``}``).
        ttl: seconds a thread lives after its last write (0: forever).
        ttl_on_read: reads refresh the TTL too.
        where: ``host:port`` (or socket path) for error messages; never holds a password.
    """

    def __init__(
        self,
        client: Any,
        async_factory: Callable[[], Any] | None = None,
        *,
        prefix: str = "ckv",
        ttl: int = 0,
        ttl_on_read: bool = False,
        where: str = "redis",
    ) -> None:
        if "{" in prefix or "}" in prefix:
            raise ConfigError(f"redis prefix={prefix!r} must not contain '{{' or '}}'")
        if ttl < 0:
            raise ConfigError(f"redis ttl={ttl}: use a number of seconds > 0, or leave it out")
        self.client = client
        self.async_factory = async_factory
        self.layout = _Layout(prefix)
        self.ttl = int(ttl)
        self.ttl_on_read = bool(ttl_on_read)
        self.where = where
        self.cluster = isinstance(client, redis.cluster.RedisCluster)
        self._loaded: set[str] = set()  # scripts this client has seen the server accept

    def __repr__(self) -> str:
        kind = "cluster" if self.cluster else "server"
        return f"RedisStore({kind} {self.where}, prefix={self.layout.prefix!r}, ttl={self.ttl})"

    @property
    def _read_ttl(self) -> int:
        return self.ttl if self.ttl_on_read else 0

    def _eval(self, script: _Script, partition: str, args: Sequence[Any]) -> Any:
        keys = self.layout.keys(partition)
        with _errors(self.where):
            if script.sha in self._loaded:
                try:
                    return self.client.evalsha(script.sha, 2, *keys, *args)
                except NoScriptError:
                    pass
            reply = self.client.eval(script.source, 2, *keys, *args)
            self._loaded.add(script.sha)
            return reply

    def get(self, partition: str, keys: Sequence[str]) -> dict[str, bytes]:
        if not keys:
            return {}
        reply = self._eval(GET, partition, _get_args(keys, self._read_ttl))
        return _decode_get(keys, reply)

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
        args = _scan_args(start, end, reverse, limit, follow, self._read_ttl)
        return _decode_scan(self._eval(SCAN, partition, args))

    def scan_many(self, partition: str, specs: Sequence[ScanSpec]) -> list[ScanResult]:
        """Several scans of one thread in one round trip (one script call)."""
        return [
            _decode_scan(r)
            for r in self._eval(SCANS, partition, _scans_args(specs, self._read_ttl))
        ]

    def write(self, partition: str, ops: Sequence[Op]) -> None:
        if ops:
            self._eval(WRITE, partition, _write_args(ops, self.ttl))

    def drop(self, partition: str) -> None:
        with _errors(self.where):
            self.client.delete(*self.layout.keys(partition))

    def partitions(self, cursor: str | None = None) -> PartitionPage:
        node, scan = _partitions_cursor(cursor)
        nodes = _nodes(self.client) if self.cluster else [None]
        found: list[str] = []
        with _errors(self.where):
            while node < len(nodes) and len(found) < _PAGE:
                target = {} if nodes[node] is None else {"target_nodes": nodes[node]}
                reply = self.client.execute_command(
                    "SCAN", scan, "MATCH", self.layout.match, "COUNT", _SCAN_COUNT, **target
                )
                scan, keys = _decode_scan_page(reply)
                found += [self.layout.partition_of(k) for k in keys]
                if scan == 0:
                    node += 1
        more = node < len(nodes)
        return PartitionPage(list(dict.fromkeys(found)), f"{node}:{scan}" if more else None)

    def setup(self) -> None:
        """Nothing to create: checks the server answers and loads the scripts (every primary)."""
        with _errors(self.where):
            for script in SCRIPTS:
                self.client.script_load(script.source)
                self._loaded.add(script.sha)

    def close(self) -> None:
        self.client.close()

    def async_twin(self) -> AsyncRedisStore:
        if self.async_factory is None:
            raise ConfigError("this RedisStore was built without an async client factory")
        return AsyncRedisStore(
            self.async_factory,
            prefix=self.layout.prefix,
            ttl=self.ttl,
            ttl_on_read=self.ttl_on_read,
            where=self.where,
            cluster=self.cluster,
        )


# --- async store: the same calls, awaited ---------------------------------------------------


class AsyncRedisStore:
    """Async twin of :class:`RedisStore` over ``redis.asyncio``.

    redis.asyncio connections belong to the event loop that opened them, and a saver outlives
    loops (``asyncio.run`` per request, worker threads with their own loops). So the store keeps
    one client per running loop, made by ``factory`` on first use in that loop; clients of
    closed loops are dropped (their sockets closed with their loop).
    """

    def __init__(
        self,
        factory: Callable[[], Any],
        *,
        prefix: str = "ckv",
        ttl: int = 0,
        ttl_on_read: bool = False,
        where: str = "redis",
        cluster: bool = False,
    ) -> None:
        self.factory = factory
        self.layout = _Layout(prefix)
        self.ttl = int(ttl)
        self.ttl_on_read = bool(ttl_on_read)
        self.where = where
        self.cluster = cluster
        self._loaded: set[str] = set()
        self._clients: dict[asyncio.AbstractEventLoop, Any] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        kind = "cluster" if self.cluster else "server"
        return f"AsyncRedisStore({kind} {self.where}, prefix={self.layout.prefix!r})"

    @property
    def client(self) -> Any:
        """The client of the running event loop."""
        loop = asyncio.get_running_loop()
        with self._lock:
            client = self._clients.get(loop)
            if client is None:
                for old in [lp for lp in self._clients if lp.is_closed()]:
                    del self._clients[old]
                client = self._clients[loop] = self.factory()
            return client

    @property
    def _read_ttl(self) -> int:
        return self.ttl if self.ttl_on_read else 0

    async def _eval(self, script: _Script, partition: str, args: Sequence[Any]) -> Any:
        keys = self.layout.keys(partition)
        with _errors(self.where):
            if script.sha in self._loaded:
                try:
                    return await self.client.evalsha(script.sha, 2, *keys, *args)
                except NoScriptError:
                    pass
            reply = await self.client.eval(script.source, 2, *keys, *args)
            self._loaded.add(script.sha)
            return reply

    async def get(self, partition: str, keys: Sequence[str]) -> dict[str, bytes]:
        if not keys:
            return {}
        reply = await self._eval(GET, partition, _get_args(keys, self._read_ttl))
        return _decode_get(keys, reply)

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
        args = _scan_args(start, end, reverse, limit, follow, self._read_ttl)
        return _decode_scan(await self._eval(SCAN, partition, args))

    async def scan_many(self, partition: str, specs: Sequence[ScanSpec]) -> list[ScanResult]:
        args = _scans_args(specs, self._read_ttl)
        return [_decode_scan(r) for r in await self._eval(SCANS, partition, args)]

    async def write(self, partition: str, ops: Sequence[Op]) -> None:
        if ops:
            await self._eval(WRITE, partition, _write_args(ops, self.ttl))

    async def drop(self, partition: str) -> None:
        with _errors(self.where):
            await self.client.delete(*self.layout.keys(partition))

    async def partitions(self, cursor: str | None = None) -> PartitionPage:
        node, scan = _partitions_cursor(cursor)
        if self.cluster:
            with _errors(self.where):
                await self.client.initialize()
        nodes = _nodes(self.client) if self.cluster else [None]
        found: list[str] = []
        with _errors(self.where):
            while node < len(nodes) and len(found) < _PAGE:
                target = {} if nodes[node] is None else {"target_nodes": nodes[node]}
                reply = await self.client.execute_command(
                    "SCAN", scan, "MATCH", self.layout.match, "COUNT", _SCAN_COUNT, **target
                )
                scan, keys = _decode_scan_page(reply)
                found += [self.layout.partition_of(k) for k in keys]
                if scan == 0:
                    node += 1
        more = node < len(nodes)
        return PartitionPage(list(dict.fromkeys(found)), f"{node}:{scan}" if more else None)

    async def setup(self) -> None:
        with _errors(self.where):
            for script in SCRIPTS:
                await self.client.script_load(script.source)
                self._loaded.add(script.sha)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            clients, self._clients = self._clients, {}
        for client_loop, client in clients.items():
            if client_loop is loop:  # others belong to closed loops or to other threads
                await client.aclose()


# --- URLs ----------------------------------------------------------------------------------

_OURS = {
    "prefix",
    "ttl",
    "ttl_on_read",
    "max_connections",
    "socket_timeout",
    "connect_timeout",
    "retries",
    "cluster",
}
_PASSED = {
    "client_name",
    "health_check_interval",
    "ssl_cert_reqs",
    "ssl_ca_certs",
    "ssl_certfile",
    "ssl_keyfile",
    "ssl_check_hostname",
    "db",
}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class RedisConfig:
    """A parsed URL: what to connect to, and how this backend behaves."""

    client_url: str  # a plain redis:// / rediss:// / unix:// URL for redis-py
    cluster: bool
    where: str
    prefix: str = "ckv"
    ttl: int = 0
    ttl_on_read: bool = False
    client_kwargs: dict[str, Any] = field(default_factory=dict)
    retries: int = 3


def _flag(name: str, value: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ConfigError(f"redis {name}={value!r}: use true or false")


def _number(name: str, value: str, kind: type[int] | type[float]) -> Any:
    try:
        n = kind(value)
    except ValueError:
        raise ConfigError(f"redis {name}={value!r}: expected a number") from None
    if n < 0:
        raise ConfigError(f"redis {name}={value!r}: must not be negative")
    return n


def parse_url(url: str, **options: Any) -> RedisConfig:
    """Split a checkpoint-kv Redis URL into redis-py's URL and this backend's options."""
    base, query = split_options(url)
    query.update({k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in options.items()})
    unknown = set(query) - _OURS - _PASSED
    if unknown:
        raise ConfigError(
            f"unknown redis option(s): {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(_OURS | _PASSED))}"
        )
    scheme, _, rest = base.partition("://")
    scheme = scheme.lower()
    cluster = scheme.endswith("+cluster") or _flag("cluster", query.get("cluster", "false"))
    scheme = {"valkey": "redis", "valkeys": "rediss"}.get(scheme, scheme).removesuffix("+cluster")
    if scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(f"not a Redis URL scheme: {scheme!r}")
    if cluster and scheme == "unix":
        raise ConfigError("Redis Cluster needs host:port seeds, not a unix socket")
    passed = {k: v for k, v in query.items() if k in _PASSED}
    client_url = f"{scheme}://{rest}" + (f"?{urlencode(passed)}" if passed else "")
    parts = urlsplit(client_url)
    if scheme == "unix":
        where = parts.path or "unix socket"
    else:
        try:
            port = parts.port or 6379
        except ValueError:
            raise ConfigError(f"bad port in {redact(url)!r}") from None
        where = f"{parts.hostname or 'localhost'}:{port}"
    kwargs: dict[str, Any] = {
        "socket_connect_timeout": _number(
            "connect_timeout", query.get("connect_timeout", "5"), float
        ),
    }
    if "socket_timeout" in query:
        kwargs["socket_timeout"] = _number("socket_timeout", query["socket_timeout"], float)
    if "max_connections" in query:
        kwargs["max_connections"] = _number("max_connections", query["max_connections"], int)
    prefix = query.get("prefix", "ckv")
    if not prefix or "{" in prefix or "}" in prefix:
        raise ConfigError(f"redis prefix={prefix!r}: non-empty, without '{{' or '}}'")
    return RedisConfig(
        client_url=client_url,
        cluster=cluster,
        where=where,
        prefix=prefix,
        ttl=_number("ttl", query.get("ttl", "0"), int),
        ttl_on_read=_flag("ttl_on_read", query.get("ttl_on_read", "false")),
        client_kwargs=kwargs,
        retries=_number("retries", query.get("retries", "3"), int),
    )


def _backoff() -> ExponentialBackoff:
    return ExponentialBackoff(cap=1.0, base=0.05)


# A managed failover (ElastiCache, Memorystore) moves the DNS name to the new primary while old
# connections still reach the demoted one: READONLY is retried on a fresh connection.
_RETRY_ALSO = [ReadOnlyError]


def sync_client(cfg: RedisConfig) -> Any:
    retry = Retry(_backoff(), cfg.retries)
    if cfg.cluster:
        return redis.cluster.RedisCluster.from_url(cfg.client_url, retry=retry, **cfg.client_kwargs)
    return redis.Redis.from_url(
        cfg.client_url, retry=retry, retry_on_error=_RETRY_ALSO, **cfg.client_kwargs
    )


def async_client(cfg: RedisConfig) -> Any:
    retry = redis.asyncio.retry.Retry(_backoff(), cfg.retries)
    if cfg.cluster:
        return redis.asyncio.cluster.RedisCluster.from_url(
            cfg.client_url, retry=retry, **cfg.client_kwargs
        )
    # A blocking pool: a burst of concurrent tasks waits for a free connection instead of
    # failing with "Too many connections" (redis.asyncio's default pool holds 100).
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        cfg.client_url, retry=retry, retry_on_error=_RETRY_ALSO, **cfg.client_kwargs
    )
    client = redis.asyncio.Redis.from_pool(pool)  # the client owns (and closes) the pool
    return client


def from_url(url: str, **options: Any) -> RedisStore:
    """The store for a ``redis://``, ``rediss://``, ``unix://`` or ``redis+cluster://`` URL.

    Nothing connects until the first call (``setup()`` pings).
    """
    cfg = parse_url(url, **options)
    with _errors(cfg.where):  # a cluster client reads the slot map at once
        client = sync_client(cfg)
    return RedisStore(
        client,
        lambda: async_client(cfg),
        prefix=cfg.prefix,
        ttl=cfg.ttl,
        ttl_on_read=cfg.ttl_on_read,
        where=cfg.where,
    )
