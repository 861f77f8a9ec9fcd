"""The item layout: how a key and its value become DynamoDB items, and back.

One table for every thread (on-demand billing)::

    PK (S)  [prefix#]partition        one item collection per thread
    SK (S)  sort key                  ASCII 0x21..0x7E (see checkpoint_kv.keys)
    v  (B)  value                     absent on the head of a chunked value
    n  (N), h (S), z (N)              chunk count, chunk id, total length (chunked values only)
    ttl (N) epoch seconds             only with ``?ttl=``; DynamoDB's TTL deletes the item

Values over the 400 KB item limit are split into chunks of the same partition under sort keys
``\\x7f<h>\\x7f<i>``, where ``h`` hashes the key and the value. ``\\x7f`` sorts above every real
sort key, so no scan ever sees a chunk; ``h`` changes with the content, so overwriting a large
value never mixes old and new chunks under a reader. Chunks are written before (or in the same
transaction as) their head item. Reading a chunked value costs one more ``BatchGetItem``.
A ``Delete`` of a single chunked key (the saver never issues one) leaves its chunks behind; they
are invisible, expire with ``ttl`` and go with the partition (``drop``).

Tenants: with ``?prefix=acme`` the partition key is ``acme#<partition>``. ``#`` is never
produced by an escaped id (``A-Za-z0-9._-%~``, see ``checkpoint_kv.keys``) and is refused
inside a prefix, so the prefix ends exactly at the first ``#``: ``acme`` + ``1x`` and ``acme1``
+ ``x`` are different keys, and ``partitions`` shows each prefix only its own partitions (the
empty prefix only keys without ``#``).

Everything here is pure: no client, no clock (the caller passes ``now``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from checkpoint_kv.errors import CorruptRecordError
from checkpoint_kv.port import Delete, Put

CHUNK_MARK = "\x7f"  # sorts above every real sort key (ASCII 0x21..0x7E)
PREFIX_SEP = "#"  # ends a tenant prefix; never in an escaped id (A-Za-z0-9._-%~)
INLINE_MAX = 390_000  # a value this long still fits an item (400 KB) with its keys
CHUNK_SIZE = 390_000
ITEM_OVERHEAD = 64  # attribute names and type tags, per item (estimate)

Item = dict[str, Any]  # a low-level DynamoDB item ({"PK": {"S": ...}, ...})


@dataclass
class Action:
    """One item-level action of a write, in the order it must take effect."""

    kind: str  # "put" | "delete" | "touch"
    key: str
    item: Item | None = None
    cond: str | None = None  # "absent" (put if absent) | "exists" (touch)
    owner: str = ""  # the logical key whose fate this action shares (chunks -> head)
    size: int = 0
    barrier: str = ""  # "commit": applied alone, in order; "head": after its chunks


def key(pk: str, sk: str) -> Item:
    return {"PK": {"S": pk}, "SK": {"S": sk}}


def chunk_key(h: str, i: int) -> str:
    return f"{CHUNK_MARK}{h}{CHUNK_MARK}{i:05d}"


def chunk_keys(item: Item) -> list[str]:
    """The chunk keys of a chunked value's head ([] for anything else, a malformed head
    included: ``assemble`` reports that one, naming the key)."""
    try:
        return [chunk_key(item["h"]["S"], i) for i in range(int(item["n"]["N"]))]
    except (KeyError, TypeError, ValueError):
        return []


def expiry(item: Item) -> int | None:
    """The item's ``ttl`` in epoch seconds; None without one, or with one of another type
    (DynamoDB's TTL ignores those too)."""
    t = item.get("ttl")
    try:
        return int(t["N"]) if isinstance(t, dict) else None
    except (KeyError, TypeError, ValueError):
        return None


def expired(item: Item, now: float) -> bool:
    t = expiry(item)
    return t is not None and t <= now


# --- writing ------------------------------------------------------------------------------------


def actions(
    pk: str, ops: Sequence[tuple[Put | Delete, list[str]]], now: int, ttl: int | None
) -> tuple[list[Action], set[str], bool]:
    """The item actions of a coalesced batch (each op with the chunk keys that go with it), the
    keys it writes or deletes, and whether it commits. Every item written carries ``ttl``."""
    stamp = {"ttl": {"N": str(now + ttl)}} if ttl is not None else {}
    base = len(pk) + ITEM_OVERHEAD
    out: list[Action] = []
    written: set[str] = set()
    commit = False
    for op, chunks in ops:
        written.add(op.key)
        written.update(chunks)
        if isinstance(op, Delete):
            for ck in chunks:
                out.append(Action("delete", ck, owner=op.key, size=base + len(ck)))
            out.append(Action("delete", op.key, owner=op.key, size=base + len(op.key)))
            continue
        commit = commit or op.commit
        cond = "absent" if op.if_absent else None
        value = op.value
        n = (len(value) + CHUNK_SIZE - 1) // CHUNK_SIZE if len(value) > INLINE_MAX else 0
        h = hashlib.sha256(op.key.encode() + b"\0" + value).hexdigest()[:40] if n else ""
        new_chunks = {chunk_key(h, i) for i in range(n)}
        written.update(new_chunks)
        for ck in chunks:  # chunks of a value this put replaces (found by a DeleteRange)
            if ck not in new_chunks:
                out.append(Action("delete", ck, owner=op.key, size=base + len(ck)))
        if len(value) <= INLINE_MAX:
            item = {**key(pk, op.key), "v": {"B": value}, **stamp}
            size = base + len(op.key) + len(value)
            barrier = "commit" if op.commit else ""
            out.append(Action("put", op.key, item, cond, op.key, size, barrier))
            continue
        for i in range(n):
            piece = value[i * CHUNK_SIZE : (i + 1) * CHUNK_SIZE]
            ck = chunk_key(h, i)
            item = {**key(pk, ck), "v": {"B": piece}, **stamp}
            out.append(Action("put", ck, item, None, op.key, base + len(ck) + len(piece)))
        head = {
            **key(pk, op.key),
            "n": {"N": str(n)},
            "h": {"S": h},
            "z": {"N": str(len(value))},
            **stamp,
        }
        barrier = "commit" if op.commit else "head"
        size = base + len(op.key) + 80
        out.append(Action("put", op.key, head, cond, op.key, size, barrier))
    return out, written, commit


# --- reading ------------------------------------------------------------------------------------


def corrupt(where: str, pk: str, sk: str, what: str) -> CorruptRecordError:
    return CorruptRecordError(f"DynamoDB item {sk!r} of partition {pk!r} in {where}: {what}")


def binary(where: str, pk: str, sk: str, item: Item) -> bytes:
    """The ``v`` attribute, which must be binary."""
    v = item.get("v")
    if not isinstance(v, dict) or not isinstance(v.get("B"), (bytes, bytearray)):
        kind = "missing" if v is None else f"of type {'/'.join(v) if isinstance(v, dict) else '?'}"
        raise corrupt(where, pk, sk, f"value attribute 'v' is {kind}, expected binary (B)")
    return bytes(v["B"])


def assemble(
    where: str, pk: str, items: Sequence[Item], fetched: dict[str, Item]
) -> list[tuple[str, bytes]]:
    """``(key, value)`` per item, chunked values joined from ``fetched`` chunk items.
    A damaged item is a ``CorruptRecordError`` naming its key, never a guess."""
    out: list[tuple[str, bytes]] = []
    for item in items:
        sk = item["SK"]["S"]
        if "v" in item or "n" not in item:
            out.append((sk, binary(where, pk, sk, item)))
            continue
        chunks = chunk_keys(item)
        try:
            total = int(item["z"]["N"])
        except (KeyError, TypeError, ValueError):
            total = -1
        if not chunks or total < 0:
            raise corrupt(where, pk, sk, "chunked value head without valid n / h / z")
        parts = []
        for ck in chunks:
            v = fetched[ck].get("v") if ck in fetched else None
            if not isinstance(v, dict) or not isinstance(v.get("B"), (bytes, bytearray)):
                state = "missing" if ck not in fetched else "damaged (no binary 'v')"
                raise corrupt(where, pk, sk, f"chunk {ck!r} of the value is {state}")
            parts.append(bytes(v["B"]))
        value = b"".join(parts)
        if len(value) != total:
            raise corrupt(where, pk, sk, "chunked value has the wrong length")
        out.append((sk, value))
    return out
