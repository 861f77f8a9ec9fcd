"""The Lua scripts: every port call that touches a thread is one of them, one round trip each.

Layout. A partition (thread) is two keys that share the hash tag ``{<partition>}``
(:class:`~checkpoint_kv.backends.redis.base.Layout`), so Redis Cluster keeps a whole thread in
one slot and no script ever spans slots::

    <prefix>:{<partition>}:z   sorted set, every score 0: the sort keys, in byte order
    <prefix>:{<partition>}:h   hash: sort key -> value

With equal scores a sorted set orders its members byte-wise, so ``ZRANGEBYLEX`` /
``ZREVRANGEBYLEX`` with ``LIMIT`` give exactly the port's ordered, bounded range scans.

Whole or nothing. Every write changes both keys in one script, so the index and the hash always
hold the same sort keys. A server can still lose one of them (an ``allkeys-*`` or
``volatile-*`` eviction under memory pressure, a ``DEL`` by hand): every read script first
compares ``ZCARD`` with ``HLEN`` (O(1)) and, when they differ, answers an error starting with
:data:`CORRUPT` that names the keys and the missing sort keys (raised as
:class:`~checkpoint_kv.errors.CorruptRecordError`); a thread never reads as empty or partial.

One round trip per port call. ``get``, ``scan`` (including ``follow=N``: the script parses the
``ref1\\nref2\\n\\n<payload>`` header and ``HMGET``s the references) and ``write`` are scripts; a
script runs atomically, so a batch is all-or-nothing and a reader never sees a checkpoint record
without its blobs and writes. A :class:`Script` is registered by its SHA1: ``setup()`` loads
them all (``SCRIPT LOAD``, on every primary of a cluster); a store's first call of a script not
yet loaded is an ``EVAL`` (which caches it), later calls are ``EVALSHA``, re-sent once as
``EVAL`` after ``NOSCRIPT`` (a restart, failover or ``SCRIPT FLUSH``; see ``base.py``).

TTL. With ``ttl=<seconds>`` every write sets one absolute expiry (``PEXPIREAT``) on both keys
of the thread, in the same script, so a thread expires whole, in one millisecond (no orphaned
keys, no half-expired thread), and an active thread keeps everything its delta chains read;
``ttl_on_read=true`` refreshes it on reads too. Without ``ttl`` keys never expire.

Key layout. The scan script stops at checkpoint records by their suffix (``'!~'``) and skips
the "no references" header (``'.'``): Lua cannot import them, so
``tests/backends/test_key_layout.py`` checks both literals against
``checkpoint_kv.keys.RECORD_SUFFIX`` and ``checkpoint_kv.port.NO_REFS``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

# KEYS[1] is the sorted set, KEYS[2] the hash of one partition. Lua's unpack() has a stack
# limit of a few thousand values, so multi-key commands go in chunks of CHUNK.

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


# The read scripts' error replies for a partly lost thread start with it (see corrupt() above).
CORRUPT = "CKV_CORRUPT"


@dataclass(frozen=True)
class Script:
    """A script's source and its SHA1, the name ``EVALSHA`` calls it by."""

    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())


GET = Script(_LUA_GET)
SCAN = Script(_LUA_SCAN)
SCANS = Script(_LUA_SCANS)
WRITE = Script(_LUA_WRITE)
SCRIPTS = (GET, SCAN, SCANS, WRITE)  # what setup() loads
