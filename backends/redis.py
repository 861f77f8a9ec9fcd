"""``redis://``: plain Redis, Valkey and Redis Cluster, with core commands only (no modules).

Layout. A partition (thread) is two keys that share the hash tag ``{<partition>}``, so Redis
Cluster keeps a whole thread in one slot and no command or script ever spans slots::

    <prefix>:{<partition>}:z   sorted set, every score 0: the sort keys, in byte order
    <prefix>:{<partition>}:h   hash: sort key -> value

With equal scores a sorted set orders its members byte-wise, so ``ZRANGEBYLEX`` /
``ZREVRANGEBYLEX`` with ``LIMIT`` give exactly the port's ordered, bounded range scans.
Partitions are escaped thread ids (``checkpoint_kv.keys``) and never hold ``{`` or ``}``; the
prefix may not either, so the first ``{`` ends the prefix and two prefixes never see each
other's threads (``ckv`` and ``ckv1``, ``a`` and ``a:b``), not even in ``partitions()`` (``SCAN
MATCH <prefix>:{*}:[zh]``, on every primary of a cluster).

Whole or nothing. Every write changes both keys in one script, so the index and the hash always
hold the same sort keys. A server can still lose one of them (an ``allkeys-*`` or
``volatile-*`` eviction under memory pressure, a ``DEL`` by hand): every read script first
compares ``ZCARD`` with ``HLEN`` (O(1)) and, when they differ, answers an error naming the keys
and the missing sort keys, raised as :class:`~checkpoint_kv.errors.CorruptRecordError`; a
thread never reads as empty or partial. ``partitions()`` lists a hash whose index is gone too,
so ``list(None)`` raises on it instead of skipping it.

One round trip per port call. ``get``, ``scan`` (including ``follow=N``: the script parses the
``ref1\\nref2\\n\\n<payload>`` header and ``HMGET``s the references) and ``write`` are Lua scripts;
a script runs atomically, so a batch is all-or-nothing and a reader never sees a checkpoint
record without its blobs and writes. ``setup()`` loads the scripts (``SCRIPT LOAD``, on every
primary of a cluster); a store's first call of a script not yet loaded is an ``EVAL`` (which
caches it), later calls are ``EVALSHA``. After ``NOSCRIPT`` (a restart, failover or ``SCRIPT
FLUSH``) the same call is re-sent once as ``EVAL``: redis-py's ``register_script`` would
``SCRIPT LOAD`` then ``EVALSHA``, one round trip more. ``drop`` is one ``DEL``;
``partitions`` pages ``SCAN``.

TTL. With ``ttl=<seconds>`` every write sets one absolute expiry (``PEXPIREAT``) on both keys
of the thread, in the same script, so a thread expires whole, in one millisecond (no orphaned
keys, no half-expired thread), and an active thread keeps everything its delta chains read;
``ttl_on_read=true`` refreshes it on reads too. Without ``ttl`` keys never expire.

Failures. Every wait is bounded: ``socket_timeout`` and ``connect_timeout`` default to 5 s.
Every port call is idempotent (a batch applied twice leaves what it left once), so a lost
connection or a timeout is retried by redis-py (``retries``, exponential backoff); then a
:class:`~checkpoint_kv.errors.BackendUnavailableError` names ``host:port`` (never a password).
A write the server refuses for memory (``maxmemory`` with ``noeviction``) stores nothing and
raises :class:`~checkpoint_kv.errors.BackendError`.

Sync (``redis.Redis`` / ``redis.cluster.RedisCluster``) and async (``redis.asyncio``) share
the scripts, argument encoding and reply decoding below; the two store classes differ only in
``await``. ``async_twin()`` returns the async one, on its own connection pool.

Bring your own client: ``from_url("redis://?prefix=chat", client=r)`` or ``RedisKV(r)``
takes the application's ``redis.Redis`` / ``RedisCluster`` / ``redis.asyncio`` client (or the
``valkey`` package's: duck-typed, errors recognised by class name). Every command goes through
it and the store never closes it. Given only a sync client, the async twin runs its calls in
worker threads (:class:`ThreadedRedisKV`); given only an async one, the store is async-only;
``async_client=`` adds the native async client to a sync one.

URLs (options in the query string or as keyword arguments)::

    redis://[user:password@]host[:port][/db]     rediss://...  (TLS)
    unix:///path/to/redis.sock[?db=N]
    redis+cluster://host:port   rediss+cluster://host:port   or redis://host:port?cluster=true

Options (declared once in :data:`OPTIONS`): ``prefix`` (default ``ckv``), ``ttl`` (seconds,
or ``15m`` / ``12h`` / ``30d``), ``ttl_on_read`` (bool),
``max_connections`` (the async pool's default 50), ``pool_timeout`` (seconds a call waits for
a free pooled connection, default 20), ``socket_timeout`` and ``connect_timeout`` (seconds > 0,
default 5), ``retries`` (default 3), ``cluster`` (bool). Also passed to redis-py as they are:
``client_name``, ``health_check_interval``, ``ssl_cert_reqs``, ``ssl_ca_certs``,
``ssl_certfile``, ``ssl_keyfile``, ``ssl_check_hostname``.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any
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

from checkpoint_kv._renamed import renamed
from checkpoint_kv.aio import ThreadedAsyncStore
from checkpoint_kv.errors import (
    BackendError,
    BackendUnavailableError,
    CheckpointKVError,
    ConfigError,
    CorruptRecordError,
    redact,
    unparsable_url,
)
from checkpoint_kv.options import Option, Schema, url_query
from checkpoint_kv.port import (
    Delete,
    DeleteRange,
    Op,
    PartitionPage,
    Put,
    ScanResult,
    ScanSpec,
)

__all__ = ["OPTIONS", "AsyncRedisKV", "RedisConfig", "RedisKV", "from_url", "parse_url"]

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
-- One absolute expiry for both keys (PEXPIREAT from one TIME), so they expire in the same
-- millisecond: two EXPIREs in one script can land a millisecond apart on Redis 7.0.
local function touch(ttl)
  if ttl > 0 then
    local t = redis.call('TIME')
    local ms = (tonumber(t[1]) + ttl) * 1000 + math.floor(tonumber(t[2]) / 1000)
    local at = string.format('%.0f', ms)
    redis.call('PEXPIREAT', Z, at)
    redis.call('PEXPIREAT', H, at)
  end
end
local function corrupt(what)
  return 'CKV_CORRUPT thread partly lost by the server: ' .. what .. '. Every write keeps ' ..
    'the index and the hash equal, so a key was evicted (maxmemory-policy other than ' ..
    'noeviction), deleted or lost in a restart; read nothing rather than a partial thread. ' ..
    'Delete the thread (delete_thread) or restore it from a backup'
end
-- Error path only: name what is missing (the first few sort keys).
local function describe(zn, hn)
  if hn == 0 then
    return corrupt('the values hash ' .. H .. ' is missing, its index ' .. Z .. ' holds ' ..
      zn .. ' sort keys')
  end
  if zn == 0 then
    return corrupt('the index ' .. Z .. ' is missing, its values hash ' .. H .. ' holds ' ..
      hn .. ' values')
  end
  local members = redis.call('ZRANGEBYLEX', Z, '-', '+')
  local vals = hmget(members)
  local indexed, gone = {}, {}
  for i = 1, #members do
    indexed[members[i]] = true
    if not vals[i] and #gone < 3 then gone[#gone + 1] = members[i] end
  end
  if #gone > 0 then
    return corrupt('the values hash ' .. H .. ' lacks field(s) ' .. table.concat(gone, ', ') ..
      ' listed in its index ' .. Z .. ' (' .. zn .. ' sort keys, ' .. hn .. ' values)')
  end
  local fields, extra = redis.call('HKEYS', H), {}
  for i = 1, #fields do
    if not indexed[fields[i]] and #extra < 3 then extra[#extra + 1] = fields[i] end
  end
  return corrupt('the index ' .. Z .. ' lacks sort key(s) ' .. table.concat(extra, ', ') ..
    ' present in its values hash ' .. H .. ' (' .. zn .. ' sort keys, ' .. hn .. ' values)')
end
-- A thread is whole when its index and its hash hold the same sort keys (O(1) to check).
local function partial()
  local zn, hn = redis.call('ZCARD', Z), redis.call('HLEN', H)
  if zn ~= hn then return describe(zn, hn) end
  return nil
end
"""

# ARGV: ttl_on_read, field...  ->  values (nil where absent), in the order asked
_LUA_GET = (
    _LUA_COMMON
    + """
local bad = partial()
if bad then return redis.error_reply(bad) end
local fields = {}
for i = 2, #ARGV do fields[#fields + 1] = ARGV[i] end
local vals = hmget(fields)
touch(tonumber(ARGV[1]))
return vals
"""
)

# scan(start, end, reverse (0/1), limit (-1: none), follow)
#   -> {{key1, value1, key2, value2, ...}, {ref1, value1, ...}}, or nil and an error message
# (an index entry without its value: the thread is damaged). A followed reference that is
# absent is left out: the saver names it (a record's promise, see DESIGN-NOTES).
_LUA_SCAN_FN = """
local function scan(start, stop, rev, limit, follow, records)
  local keys
  if rev == '1' then
    keys = redis.call('ZREVRANGEBYLEX', Z, '(' .. stop, '[' .. start, 'LIMIT', 0, limit)
  else
    keys = redis.call('ZRANGEBYLEX', Z, '[' .. start, '(' .. stop, 'LIMIT', 0, limit)
  end
  records = tonumber(records or '0')
  if records > 0 then  -- scan_records: stop before the (records + 1)-th checkpoint record
    local seen = 0
    for i = 1, #keys do
      if string.sub(keys[i], -2) == '!~' then
        seen = seen + 1
        if seen > records then
          local cut = {}
          for j = 1, i - 1 do cut[j] = keys[j] end
          keys = cut
          break
        end
      end
    end
  end
  local vals = hmget(keys)
  local items = {}
  for i = 1, #keys do
    if not vals[i] then
      return nil, corrupt('the values hash ' .. H .. ' lacks field ' .. keys[i] ..
        ' listed in its index ' .. Z)
    end
    items[#items + 1] = keys[i]
    items[#items + 1] = vals[i]
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
          if not seen[ref] and ref ~= '.' then
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

# ARGV: start, end, reverse, limit, follow, ttl_on_read, records  ->  {items, refs}
_LUA_SCAN = (
    _LUA_COMMON
    + _LUA_SCAN_FN
    + """
local bad = partial()
if bad then return redis.error_reply(bad) end
local result, err = scan(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[7])
if not result then return redis.error_reply(err) end
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
local bad = partial()
if bad then return redis.error_reply(bad) end
local out = {}
for i = 2, #ARGV, 5 do
  local result, err = scan(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4])
  if not result then return redis.error_reply(err) end
  out[#out + 1] = result
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
        return f"{escaped}:{{*}}:[zh]"

    def partition_of(self, key: bytes | str) -> str:
        text = key.decode() if isinstance(key, bytes) else key
        return text[len(self.prefix) + 2 : -3]


def _split_page(layout: _Layout, keys: Sequence[bytes]) -> tuple[list[str], list[str]]:
    """A SCAN page's partitions: those whose index (``:z``) it holds, and those it shows only
    by their hash. A thread is listed by its index; a hash whose index is gone (evicted) is
    listed too, so that reading it raises ``CorruptRecordError`` instead of the thread
    silently missing from ``list(None)``. Usually the index is merely on another SCAN page:
    the caller asks ``EXISTS`` for the second list (one pipelined round trip)."""
    indexed: list[str] = []
    hashed: list[str] = []
    for k in keys:
        (indexed if k.endswith(b":z") else hashed).append(layout.partition_of(k))
    seen = set(indexed)
    return indexed, [p for p in hashed if p not in seen]


def _get_args(keys: Sequence[str], ttl_on_read: int) -> list[Any]:
    return [ttl_on_read, *keys]


def _decode_get(keys: Sequence[str], reply: Sequence[bytes | None]) -> dict[str, bytes]:
    return {k: v for k, v in zip(keys, reply, strict=True) if v is not None}


def _scan_args(
    start: str,
    end: str,
    reverse: bool,
    limit: int | None,
    follow: int,
    ttl_on_read: int,
    records: int = 0,
) -> list[Any]:
    lim = -1 if limit is None else limit
    return [start, end, 1 if reverse else 0, lim, follow, ttl_on_read, records]


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


def _info_section(raw: Any) -> dict[str, Any]:
    """One ``INFO`` section; a cluster client answers per node (the first node's, then)."""
    if raw and all(isinstance(v, dict) for v in raw.values()):
        raw = next(iter(raw.values()))
    return dict(raw)


def _describe(
    server: dict[str, Any], memory: dict[str, Any], *, ttl: int, cluster: bool
) -> dict[str, Any]:
    """The port's ``info()`` from the ``server`` and ``memory`` INFO sections: the server and
    its version, the TTL setting, and an eviction policy that may drop live threads."""
    policy = str(memory.get("maxmemory_policy", "?"))
    name = "Valkey" if "valkey_version" in server else "Redis"
    version = server.get("valkey_version") or server.get("redis_version", "?")
    problems = []
    if policy.startswith("allkeys-"):
        problems.append(
            {
                "check": "eviction",
                "detail": f"maxmemory-policy {policy} may evict checkpoints of live threads",
                "fix": "CONFIG SET maxmemory-policy noeviction (or volatile-lru with ?ttl=)",
            }
        )
    return {
        "server_version": f"{name} {version}" + (" (cluster)" if cluster else ""),
        "ttl": f"on: a thread expires {ttl} s after its last write"
        if ttl
        else "off: threads never expire (add ?ttl=SECONDS to the URL)",
        "maxmemory_policy": policy,
        "problems": problems,
    }


_CORRUPT = "CKV_CORRUPT"  # error replies of the read scripts for a partly lost thread


def _kinds(e: BaseException) -> set[str]:
    """The client library's class names of ``e`` (its MRO, builtins left out).

    redis-py and the ``valkey`` package (a fork) raise classes with the same names
    (``ConnectionError``, ``NoScriptError``...) from different modules, so errors are told
    apart by name: a caller's valkey client gets the same typed errors and the same NOSCRIPT
    recovery as a redis-py one."""
    return {c.__name__ for c in type(e).__mro__ if c.__module__ != "builtins"}


def _is_noscript(e: BaseException) -> bool:
    return "NoScriptError" in _kinds(e) or str(e).startswith("NOSCRIPT")


# Placeholders in angle brackets: redact() leaves them alone (a URL's userinfo never holds "<").
_PASSWORD_FORMS = (
    "redis://:<password>@host:port/0, or redis://<user>:<password>@host:port/0 for an ACL user"
)


@contextmanager
def _errors(where: str) -> Iterator[None]:
    """Turn the client's failures into the library's typed errors: unreachable (after its
    retries), refused (out of memory), damaged (a thread the server lost part of)."""
    try:
        yield
    except CheckpointKVError:
        raise
    except Exception as e:
        kinds = _kinds(e)
        if not kinds & _CLIENT_ERRORS:
            raise
        err = _translate(e, kinds, where)
        if err is e:
            raise
        raise err from e


# Base classes of the errors redis-py / valkey raise (the cluster one is not a RedisError).
_CLIENT_ERRORS = {"RedisError", "ValkeyError", "RedisClusterException", "ValkeyClusterException"}


def _auth_error(text: str, where: str) -> Exception:
    """The three ways a server turns credentials down, each with its own fix. redis-py strips
    the error code from the message, and the NOAUTH text depends on the first command (``HELLO
    must be called with the client already authenticated``, ``Authentication required``)."""
    low = text.lower()
    if "without any password configured" in low or "no password is set" in low:
        return BackendUnavailableError(
            f"Redis at {where} has no password set, but a password was sent: drop it from the "
            f"URL (or configure requirepass / an ACL user on the server): {redact(text)}"
        )
    if "invalid" in low or "wrongpass" in low:
        return BackendUnavailableError(
            f"Redis at {where} refused the user name or password (WRONGPASS): {redact(text)} "
            f"Check them: {_PASSWORD_FORMS}"
        )
    return BackendUnavailableError(
        f"Redis at {where} requires a password (NOAUTH) and none was accepted: put it in the "
        f"URL, {_PASSWORD_FORMS}"
    )


# Before Redis 7.0 an error raised by redis.call inside a script comes back wrapped:
# "Error running script (call to f_<sha>): @user_script:77: @user_script: 77: -OOM ...".
_SCRIPT_WRAPPED = re.compile(r"@user_script:\s*\d+:\s*-([A-Z]+)\b(.*)", re.S)


def _translate(e: Exception, kinds: set[str], where: str) -> Exception:
    text = str(e)
    wrapped = _SCRIPT_WRAPPED.search(text)
    if wrapped is not None:  # Redis 6: take the error code out of the script's wrapper
        text = f"{wrapped.group(1)}{wrapped.group(2)}"
        if wrapped.group(1) == "READONLY":
            kinds = kinds | {"ReadOnlyError"}
    if "AuthenticationError" in kinds or "AuthorizationError" in kinds:
        return _auth_error(text, where)
    if "TimeoutError" in kinds:
        return BackendUnavailableError(
            f"Redis at {where} did not answer in time (socket_timeout / connect_timeout, after "
            f"retries; a stalled or overloaded server): {redact(text)}"
        )
    if "ConnectionError" in kinds and text.startswith("No connection available"):
        return BackendUnavailableError(  # the server may be fine: our own pool was full
            f"no free connection to Redis at {where} within pool_timeout: all max_connections "
            f"of this client's pool stayed busy. Raise pool_timeout or max_connections, or "
            f"make fewer calls at once: {text}"
        )
    if kinds & {"ConnectionError", "ClusterDownError", "SlotNotCoveredError"}:
        return BackendUnavailableError(
            f"cannot reach Redis at {where} (after retries): {type(e).__name__}: {redact(text)}"
        )
    if "ReadOnlyError" in kinds:
        return BackendUnavailableError(
            f"Redis at {where} is a read-only replica (a failover in progress, or the URL names "
            f"a replica; retried): {text}"
        )
    if "InvalidResponse" in kinds:  # an HTTP proxy, a TLS port reached without rediss://, ...
        return BackendUnavailableError(
            f"the server at {where} does not speak the Redis protocol (a proxy, or a TLS port "
            f"needing rediss://?): {redact(text)}"
        )
    if kinds & {"RedisClusterException", "ValkeyClusterException"}:
        cause = e.__cause__
        if cause is not None and _kinds(cause) & {"AuthenticationError", "AuthorizationError"}:
            return _auth_error(str(cause), where)  # the seeds answered: they want credentials
        if "not enabled" in (text + str(cause)).lower():  # "Cluster mode is not enabled"
            return ConfigError(
                f"Redis at {where} is a single server, not a cluster: use redis://{where} "
                "(without +cluster or ?cluster=true)"
            )
        if "cannot be connected" in text:
            return BackendUnavailableError(
                f"cannot reach Redis Cluster at {where} (after retries; no seed node "
                f"answered): {redact(text)}"
            )
        return e
    if "ResponseError" in kinds:
        if "NoPermissionError" in kinds or text.startswith("NOPERM"):
            return BackendUnavailableError(
                f"the Redis user lacks a permission at {where}: {text}; see "
                "docs/backends/redis.md for the ACL it needs"
            )
        if "OutOfMemoryError" in kinds or text.startswith("OOM"):
            return BackendError(
                f"Redis at {where} is out of memory and refused the write (used memory > "
                "maxmemory, maxmemory-policy noeviction): nothing of it was stored. Free memory "
                "(delete_thread / prune old threads, or set ttl=<seconds> so idle threads "
                f"expire) or raise maxmemory. Redis said: {text}"
            )
        if text.startswith(_CORRUPT):
            return CorruptRecordError(f"Redis at {where}: {text[len(_CORRUPT) :].strip()}")
    return e


def _nodes(client: Any) -> list[Any]:
    """Primaries of a cluster in a stable order (cursor positions index into it)."""
    return sorted(client.get_primaries(), key=lambda n: n.name)


# --- a caller's client: what kind it is, where it points ------------------------------------
# Duck-typed, so the ``valkey`` package's clients (a fork of redis-py, same API, other class
# names) are taken as they are.


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


def _check_bytes(client: Any) -> None:
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


# --- sync store ----------------------------------------------------------------------------


class RedisKV:
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
            many batches at once and queues the rest (``checkpoint_kv/kvstore/inflight.py``).
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
                _check_bytes(c)
        both = client is not None and async_client is not None
        if both and is_cluster_client(client) != is_cluster_client(async_client):
            raise ConfigError("client= and async_client= must both be cluster clients, or neither")
        self._client = client
        self.async_client = async_client
        self.async_factory = async_factory
        self.owns_client = owns_client and client is not None
        self.layout = _Layout(prefix)
        self.ttl = int(ttl)
        self.ttl_on_read = bool(ttl_on_read)
        either = client if client is not None else async_client
        self.where = where or client_where(either)
        self.cluster = is_cluster_client(either)
        self._loaded: set[str] = set()  # scripts this client has seen the server accept
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

    @property
    def _read_ttl(self) -> int:
        return self.ttl if self.ttl_on_read else 0

    def _eval(self, script: _Script, partition: str, args: Sequence[Any]) -> Any:
        keys = self.layout.keys(partition)
        with _errors(self.where):
            if script.sha in self._loaded:
                try:
                    return self.client.evalsha(script.sha, 2, *keys, *args)
                except Exception as e:  # by name: valkey's NoScriptError is another class
                    if not _is_noscript(e):
                        raise
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

    def scan_records(
        self, partition: str, start: str, end: str, limit: int | None, follow: int, records: int
    ) -> ScanResult:
        """A descending scan that stops before the ``records + 1``-th checkpoint record (see
        the port): "the latest checkpoint" does not ship the older records' values."""
        args = _scan_args(start, end, True, limit, follow, self._read_ttl, records)
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
                indexed, unsure = _split_page(self.layout, keys)
                found += indexed
                if unsure:
                    pipe = self.client.pipeline(transaction=False)
                    for p in unsure:
                        pipe.exists(self.layout.keys(p)[0])
                    found += [p for p, n in zip(unsure, pipe.execute(), strict=True) if not n]
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

    def info(self) -> dict[str, Any]:
        """The port's optional ``info()`` (what ``checkpoint-kv doctor`` reports)."""
        with _errors(self.where):
            server, memory = (_info_section(self.client.info(s)) for s in ("server", "memory"))
        return _describe(server, memory, ttl=self.ttl, cluster=self.cluster)

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


# --- async store: the same calls, awaited ---------------------------------------------------


class AsyncRedisKV:
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
            _check_bytes(client)
            cluster = cluster or is_cluster_client(client)
        self.factory = factory
        self.fixed_client = client
        self.layout = _Layout(prefix)
        self.ttl = int(ttl)
        self.ttl_on_read = bool(ttl_on_read)
        self.where = where or (client_where(client) if client is not None else "redis")
        self.cluster = cluster
        self._loaded: set[str] = set()
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

    @property
    def _read_ttl(self) -> int:
        return self.ttl if self.ttl_on_read else 0

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

    async def _eval(self, script: _Script, partition: str, args: Sequence[Any]) -> Any:
        keys = self.layout.keys(partition)
        with _errors(self.where):
            client = await self._ready_client()
            if script.sha in self._loaded:
                try:
                    return await client.evalsha(script.sha, 2, *keys, *args)
                except Exception as e:  # by name: valkey's NoScriptError is another class
                    if not _is_noscript(e):
                        raise
            reply = await client.eval(script.source, 2, *keys, *args)
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

    async def scan_records(
        self, partition: str, start: str, end: str, limit: int | None, follow: int, records: int
    ) -> ScanResult:
        args = _scan_args(start, end, True, limit, follow, self._read_ttl, records)
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
                indexed, unsure = _split_page(self.layout, keys)
                found += indexed
                if unsure:
                    pipe = self.client.pipeline(transaction=False)
                    for p in unsure:
                        pipe.exists(self.layout.keys(p)[0])
                    replies = await pipe.execute()
                    found += [p for p, n in zip(unsure, replies, strict=True) if not n]
                if scan == 0:
                    node += 1
        more = node < len(nodes)
        return PartitionPage(list(dict.fromkeys(found)), f"{node}:{scan}" if more else None)

    async def setup(self) -> None:
        with _errors(self.where):
            for script in SCRIPTS:
                await self.client.script_load(script.source)
                self._loaded.add(script.sha)

    async def info(self) -> dict[str, Any]:
        client = self.client
        with _errors(self.where):
            server = _info_section(await client.info("server"))
            memory = _info_section(await client.info("memory"))
        return _describe(server, memory, ttl=self.ttl, cluster=self.cluster)

    async def close(self) -> None:
        """Close the clients this store made; a caller's client stays open."""
        loop = asyncio.get_running_loop()
        with self._lock:
            clients, self._clients = self._clients, {}
        for client_loop, client in clients.items():
            if client_loop is loop:  # others belong to closed loops or to other threads
                await client.aclose()


# --- URLs ----------------------------------------------------------------------------------

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


_own_async_client = async_client  # from_url's keyword `async_client` shadows the name


# Options that configure a connection: with a caller's client they would silently not apply.
_CONNECTION_OPTIONS = set(OPTIONS.names) - {"prefix", "ttl", "ttl_on_read", "cluster"}


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
        with _errors(cfg.where):  # a cluster client reads the slot map at once
            sync = sync_client(cfg)
        own_async = partial(_own_async_client, cfg)
        return RedisKV(
            sync,
            own_async,
            where=cfg.where,
            owns_client=True,
            max_in_flight=cfg.pool_size,
            **behaviour,
        )
    conflicting = sorted(set(url_query(url, options)[1]) & _CONNECTION_OPTIONS)
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
