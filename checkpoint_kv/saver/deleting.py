"""Deleting checkpoints without stranding a reader or a writer in flight in another process.

``drop`` is the one way maintenance deletes (``prune``, ``delete_for_runs``): it keeps by
version every value that a kept checkpoint, or one a run in flight may be extending, holds only
in a dying record (made whole when it was stored as the bytes it grew by), then deletes
records, then their writes and the blobs nothing holds, and collects a day later what it kept
only for a run that never came back (``GRACE``).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence

from checkpoint_kv import keys as K
from checkpoint_kv.drive import Get, Plan, Scan, Write
from checkpoint_kv.errors import CorruptRecordError
from checkpoint_kv.port import Delete, DeleteRange, Op, Put, ScanResult
from checkpoint_kv.saver import records as R
from checkpoint_kv.saver.codec import Codec
from checkpoint_kv.saver.groups import Group
from checkpoint_kv.saver.growth import whole_at
from checkpoint_kv.saver.packing import chain_links

__all__ = ["GRACE", "clock", "decodes", "drop"]

GRACE = 86400.0  # seconds a checkpoint may be extended by a run in flight (_extendable, _collect)
clock = time.time  # tests replace it
_DELETE_BATCH = 500  # ops per write call when deleting


def decodes(g: Group, codec: Codec | None = None) -> bool:
    """Whether ``g``'s record decodes (with ``codec``: its metadata too)."""
    try:
        g.record  # noqa: B018 - decoding is the check
        if codec is not None:
            codec.metadata(g)
    except CorruptRecordError:
        return False
    return True


def _state(g: Group) -> set[str]:
    """The version blob keys of every value in ``g``'s checkpoint: the versions it holds
    inline, those it names a home for, and the blobs it references (format 1, no home)."""
    rec = g.record
    out = {r for r in g.refs if not K.is_record(r) and not K.is_mark(r)}
    out.update(K.blob_key_vc(rec.ns, ch, vc) for ch, vc, _ in rec.inline or ())
    out.update(K.blob_key_vc(rec.ns, ch, vc) for ch, vc, _ in rec.homes)
    out.update(K.blob_key_vc(rec.ns, x.channel, x.vc) for x in rec.grown)
    out.update(K.blob_key_vc(rec.ns, ch, link.vc) for ch, link in chain_links(rec))
    return out


_UUID_EPOCH = 0x01B21DD213814000  # 100 ns intervals from 1582-10-15 (RFC 9562) to 1970


def _created(checkpoint_id: str) -> float | None:
    """When a checkpoint was made, from its id (LangGraph's are uuid6; uuid1 too), else None."""
    try:
        u = uuid.UUID(checkpoint_id)
    except ValueError:
        return None
    if u.version == 6:
        high, mid, low = u.fields[0], u.fields[1], u.fields[2] & 0x0FFF
        ticks = (high << 28) | (mid << 12) | low
    elif u.version == 1:
        ticks = u.time
    else:
        return None
    return (ticks - _UUID_EPOCH) / 1e7


def _extendable(groups: list[Group], now: float) -> list[Group]:
    """The checkpoints a run in flight may be extending: the newest of each branch (a leaf),
    and any made less than ``GRACE`` ago (a second run on the thread may have read it before
    another extended it, or a fork may be starting from it: nothing in the store tells). An
    id that tells no time counts as recent."""
    parents = {(g.record.ns, g.record.parent_id) for g in groups}
    out = []
    for g in groups:
        made = _created(g.record.checkpoint_id)
        leaf = (g.record.ns, g.record.checkpoint_id) not in parents
        if leaf or made is None or made > now - GRACE:
            out.append(g)
    return out


def drop(
    part: str, dead: list[Group], kept: list[Group], ghosts: Sequence[Group] = ()
) -> Plan[None]:
    """Delete the dead checkpoints without stranding a reader or a writer in flight.

    Another process may name any value of a kept checkpoint, or of one a run in flight may be
    extending (``_extendable``: a branch's newest, or one made less than ``GRACE`` ago), in a
    record it writes after this read, and name it by the record that holds it now (its home),
    which may be dying here. So, before any delete, every such value held only by a dying
    record is written at its version's blob key, where a reader looks when a home is gone
    (``packing.fallback_keys``). Then the
    records go (one write), then their writes, and last the blobs of versions that no kept
    checkpoint or leaf holds (by version, never by range: a concurrent put's values are
    versions no dead record names). Blobs kept only for a dying checkpoint are listed under a
    ``g!`` key and collected by a later pass, ``GRACE`` on, once no checkpoint holds them.
    Maintenance never rewrites a record, so it cannot bring back one that ``delete_thread``
    dropped meanwhile. ``ghosts`` (records of a deleted incarnation, never shown) go with the
    dead, protecting nothing."""
    every = [g for g in dead + kept if decodes(g)]  # a damaged record is left as it is
    dead_keys = {g.key for g in dead}
    protected = [g for g in kept if decodes(g)]
    protected += [g for g in _extendable(every, clock()) if g.key in dead_keys]
    # version blob key -> the record holding that value (whole, or grown: then made whole from
    # its chain), to keep it at that key.
    inline: dict[str, tuple[Group, str, str]] = {}
    for g in every:
        pairs = [(ch, vc) for ch, vc, _ in g.record.inline or ()]
        pairs += [(x.channel, x.vc) for x in g.record.grown]
        inline.update((K.blob_key_vc(g.record.ns, ch, vc), (g, ch, vc)) for ch, vc in pairs)
    present = {g.key for g in every}
    needed: set[str] = set()
    for g in protected:
        rec = g.record
        if g.key in dead_keys:
            needed.update(K.blob_key_vc(rec.ns, ch, vc) for ch, vc, _ in rec.inline or ())
            needed.update(K.blob_key_vc(rec.ns, x.channel, x.vc) for x in rec.grown)
        homes = [(ch, vc, home) for ch, vc, home in rec.homes]
        homes += [(ch, link.vc, link.key) for ch, link in chain_links(rec)]
        needed.update(
            K.blob_key_vc(rec.ns, ch, vc)
            for ch, vc, home in homes
            if home in dead_keys or home not in present
        )
    live = set().union(*(_state(g) for g in protected)) if protected else set()
    kept_live = set().union(*(_state(g) for g in kept if decodes(g)))
    keep = sorted(k for k in needed if k in inline)
    if keep:
        marker: list[Op] = []
        leaf_only = [k for k in keep if k not in kept_live]
        if leaf_only:
            body = R.encode_blob(("json", json.dumps(leaf_only).encode()))
            marker = [Put(K.garbage_key(clock(), uuid.uuid4().hex), body, commit=True)]
        held = {g.key: g.value for g in every}
        values = yield from _wholes(part, keep, inline, held)
        puts: list[Op] = [Put(k, R.encode_blob(values[k])) for k in keep if k in values]
        for i in range(0, len(puts), _DELETE_BATCH):
            yield Write(part, (marker if i == 0 else []) + puts[i : i + _DELETE_BATCH])
    dead = [*dead, *ghosts]
    if not dead:
        if len(every) == len(dead) + len(kept):
            yield from _collect(part, live)
        return
    yield Write(part, [Delete(g.key) for g in dead])
    ops: list[Op] = [
        DeleteRange(*K.prefix_range(K.checkpoint_prefix(g.record.ns, g.record.checkpoint_id)))
        for g in dead
    ]
    gone = set().union(*(_state(g) for g in dead)) - live - set(keep)
    ops += [Delete(k) for k in sorted(gone)]
    for i in range(0, len(ops), _DELETE_BATCH):
        yield Write(part, ops[i : i + _DELETE_BATCH])
    if len(every) + len(ghosts) == len(dead) + len(kept):  # none damaged: collect
        yield from _collect(part, live)


def _wholes(
    part: str,
    keep: Sequence[str],
    held_by: dict[str, tuple[Group, str, str]],
    held: dict[str, bytes],
) -> Plan[dict[str, R.Typed]]:
    """The whole values to keep at ``keep`` (version blob keys), from the records holding
    them (``held_by``); a grown one is made whole from its chain, reading (once) the links no
    record holds any more at their version's blob key."""
    out: dict[str, R.Typed] = {}
    short: dict[str, tuple[Group, str, str]] = {}
    for k in keep:
        g, ch, vc = held_by[k]
        typed = whole_at(g.record.ns, g.key, ch, vc, held)
        if typed is None:
            short[k] = (g, ch, vc)
        else:
            out[k] = typed
    if short:
        links = {
            K.blob_key_vc(g.record.ns, ch, link.vc)
            for g, ch, vc in short.values()
            for x in g.record.grown
            if x.channel == ch and x.vc == vc
            for link in x.chain
        }
        more = {**held, **((yield Get(part, sorted(links - held.keys()))) if links else {})}
        for k, (g, ch, vc) in short.items():
            typed = whole_at(g.record.ns, g.key, ch, vc, more)
            if typed is not None:
                out[k] = typed  # else damage already: the reader will name it
    return out


def _collect(part: str, live: set[str]) -> Plan[None]:
    """Delete the blobs that passes at least ``GRACE`` seconds ago kept for a dying leaf and
    that no checkpoint holds now, then their lists.

    A run extending such a leaf writes a checkpoint holding them, and from then on they are
    kept and collected like any other value. One that never does (the leaf was abandoned) left
    them behind, and only age can tell it from a run still between two supersteps: no
    coordination with writers is possible on S3 or DynamoDB without a cost on every put. So,
    as ``git gc`` keeps unreachable objects two weeks, these wait ``GRACE`` (a day, far beyond
    any superstep), and correctness never depends on it within that time."""
    res: ScanResult = yield Scan(part, *K.garbage_before(clock() - GRACE))
    if not res.items:
        return
    listed: set[str] = set()
    for key, raw in res.items:
        try:
            listed.update(json.loads(R.decode_blob(key, raw)[1]))
        except (CorruptRecordError, ValueError, TypeError):
            continue  # a damaged list: its blobs stay (never delete on a guess)
    ops: list[Op] = [Delete(k) for k in sorted(listed - live)]
    ops += [Delete(k) for k, _ in res.items]
    for i in range(0, len(ops), _DELETE_BATCH):
        yield Write(part, ops[i : i + _DELETE_BATCH])
