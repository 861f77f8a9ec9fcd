"""How a batch of port ops (and ``drop``) becomes waves of S3 requests, in an order that keeps
readers safe though nothing is atomic across objects.

``write`` splits the batch at its commit barriers (``port.commit_groups``): requests of a
group run in parallel, groups strictly in order. A ``put`` is one object (the record carries
the step's new values), a ``put_writes`` one; in a subgraph the namespace index goes first.
Within a group the ops are resolved to one action per key first, so list order is honoured
even in parallel. ``DeleteRange`` lists the range (in the first wave, beside the first group's
PUTs) and removes keys with ``DeleteObjects``, 1,000 a call; ``drop`` lists the partition and
deletes it the same way. Deletes run in reverse of writes: a group's deletes of checkpoint
records (``c!...!~``) complete, beside its PUTs, before its other deletes start (writes, blobs),
so a crash or a reader mid-delete may find data without a record, never a record without its
data; deletes after a commit barrier run after it like any op. Nothing is atomic across
objects; S3's read-after-write consistency and this order make readers safe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import partial

from checkpoint_kv.backends.s3 import layout
from checkpoint_kv.backends.s3.layout import decode_key, encode_key, object_name
from checkpoint_kv.backends.s3.objects import Objects
from checkpoint_kv.keys import is_checkpoint_record
from checkpoint_kv.port import Delete, DeleteRange, Op, Put, commit_groups

__all__ = ["drop", "write"]

Calls = list[Callable[[], None]]


def write(objects: Objects, base: str, ops: Sequence[Op]) -> None:
    """Apply ``ops`` to the partition ``base``: commit group after commit group."""
    groups = commit_groups(ops)
    if not groups:
        return
    ranges = [op for op in ops if isinstance(op, DeleteRange) and op.start < op.end]
    present: set[str] = set()  # keys known to exist, for DeleteRange
    listing: Calls = []
    if ranges:
        # One listing covers every range; the keys it finds are filtered per range later.
        lo, hi = min(r.start for r in ranges), max(r.end for r in ranges)

        def list_cover() -> None:
            present.update(k for k, _ in objects.list_range(base, lo, hi, None, inline=False))

        listing = [list_cover]
        if any(isinstance(op, DeleteRange) for op in groups[0]):
            objects.phase(listing)
            listing = []
        # else the first group needs no listing: it runs beside it, in one wave.
    for group in groups:
        puts, dels = _resolve(group, present)
        waves = _actions(objects, base, puts, dels)
        objects.phase([*listing, *waves[0]])
        listing = []
        for wave in waves[1:]:
            objects.phase(wave)
        present |= puts.keys()
        present -= set(dels)


def _resolve(group: Sequence[Op], present: set[str]) -> tuple[dict[str, Put], list[str]]:
    """One action per key with the effect of the ops in list order (so that the requests
    of a group can run in parallel): the puts to make and the keys to delete."""
    state: dict[str, Put | None] = {}  # None: delete
    for op in group:
        if isinstance(op, Put):
            if op.if_absent and op.key in state:
                prev = state[op.key]
                if prev is not None:
                    continue  # written earlier in this group: keep it
                op = Put(op.key, op.value)  # deleted just before: plain write
            state[op.key] = op
        elif isinstance(op, Delete):
            state[op.key] = None
        elif isinstance(op, DeleteRange):
            for k in [*present, *state]:
                if op.start <= k < op.end:
                    state[k] = None
        else:  # pragma: no cover - defensive
            raise TypeError(f"unknown op {op!r}")
    puts = {k: p for k, p in state.items() if p is not None}
    return puts, [k for k, p in state.items() if p is None]


def _actions(objects: Objects, base: str, puts: dict[str, Put], dels: Sequence[str]) -> list[Calls]:
    """The waves of one commit group: its PUTs beside the deletes of records, then the
    deletes of everything else (see ``_delete_waves``)."""
    calls: Calls = [
        partial(objects.put_object, object_name(base, k), p.value, p.if_absent)
        for k, p in puts.items()
    ]
    records, rest = _delete_waves(objects, base, dels)
    return [calls + records, rest]


def _delete_waves(objects: Objects, base: str, keys: Iterable[str]) -> tuple[Calls, Calls]:
    """``DeleteObjects`` calls in two waves, records first: a reader (or a crash) between
    them finds writes and blobs without a record, never a record without its data."""
    records: list[str] = []
    rest: list[str] = []
    for k in keys:
        (records if is_checkpoint_record(k) else rest).append(base + encode_key(k))
    return objects.delete_calls(records), objects.delete_calls(rest)


def drop(objects: Objects, base: str) -> None:
    """List the partition ``base``, then delete its records, then (once those are gone) the
    rest, objects under it that we did not write included."""
    keys: list[str] = []
    foreign: list[str] = []  # objects under our segment that we did not write
    token: str | None = None
    while True:
        (page,) = objects.phase([partial(objects.list_page, base, "", token, layout.PAGE)])
        for obj in page.get("Contents", ()):
            try:
                keys.append(decode_key(obj["Key"][len(base) :]))
            except KeyError:
                foreign.append(obj["Key"])
        token = page.get("NextContinuationToken") if page.get("IsTruncated") else None
        if token is None:
            break
    records, rest = _delete_waves(objects, base, keys)
    objects.phase(records)
    objects.phase(rest + objects.delete_calls(foreign))
