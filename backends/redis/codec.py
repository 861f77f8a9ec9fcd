"""What goes to the server and what comes back: key names, script arguments, decoded replies.

Pure functions, no I/O: the sync and async stores send the same bytes and read the same replies.

Key names (:class:`Layout`). A partition (thread) is the two keys ``<prefix>:{<partition>}:z``
(its index) and ``<prefix>:{<partition>}:h`` (its values); the Lua scripts (``scripts.py``)
take them as ``KEYS[1]`` and ``KEYS[2]``. Partitions are escaped thread ids
(``checkpoint_kv.keys``) and never hold ``{`` or ``}``; the prefix may not either, so the first
``{`` ends the prefix and two prefixes never see each other's threads (``ckv`` and ``ckv1``,
``a`` and ``a:b``), not even in ``partitions()`` (``SCAN MATCH <prefix>:{*}:[zh]``, on every
primary of a cluster). ``partitions()`` lists a hash whose index is gone too
(:func:`split_page`), so ``list(None)`` raises on it instead of skipping it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from checkpoint_kv.port import Delete, DeleteRange, Op, Put, ScanResult, ScanSpec


@dataclass(frozen=True)
class Layout:
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


def split_page(layout: Layout, keys: Sequence[bytes]) -> tuple[list[str], list[str]]:
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


def get_args(keys: Sequence[str], ttl_on_read: int) -> list[Any]:
    return [ttl_on_read, *keys]


def decode_get(keys: Sequence[str], reply: Sequence[bytes | None]) -> dict[str, bytes]:
    return {k: v for k, v in zip(keys, reply, strict=True) if v is not None}


def scan_args(
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


def scans_args(specs: Sequence[ScanSpec], ttl_on_read: int) -> list[Any]:
    args: list[Any] = [ttl_on_read]
    for s in specs:
        args += scan_args(s.start, s.end, s.reverse, s.limit, s.follow, 0)[:5]
    return args


def _pairs(flat: Sequence[bytes]) -> Iterator[tuple[str, bytes]]:
    for i in range(0, len(flat), 2):
        yield flat[i].decode("ascii"), flat[i + 1]


def decode_scan(reply: Sequence[Sequence[bytes]]) -> ScanResult:
    items, refs = reply
    return ScanResult(list(_pairs(items)), dict(_pairs(refs)))


def write_args(ops: Sequence[Op], ttl: int) -> list[Any]:
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


def decode_scan_page(reply: Any) -> tuple[int, list[bytes]]:
    cursor, keys = reply
    if isinstance(cursor, dict):  # RedisCluster answers {node name: cursor} for one node
        (cursor,) = cursor.values()
    return int(cursor), list(keys)


def partitions_cursor(cursor: str | None) -> tuple[int, int]:
    """``(node index, SCAN cursor)`` from the port's opaque cursor ``"<node>:<scan cursor>"``."""
    if not cursor:
        return 0, 0
    node, _, scan = cursor.partition(":")
    return int(node), int(scan)


def info_section(raw: Any) -> dict[str, Any]:
    """One ``INFO`` section; a cluster client answers per node (the first node's, then)."""
    if raw and all(isinstance(v, dict) for v in raw.values()):
        raw = next(iter(raw.values()))
    return dict(raw)


def describe(
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
