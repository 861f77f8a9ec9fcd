"""The write plans: ``put`` and ``put_writes``, each one port ``write`` call of one value.

``put`` writes the checkpoint record carrying the step's new values and copies of small
unchanged ones; larger unchanged values are named by their home record (see ``packing``). A
shallow saver writes format 1 instead: the new values as blobs, then the record as the
commit. ``put_writes`` stores one value per call (every write of the call together), so a
cut-short call leaves nothing half written. See docs/ARCHITECTURE.md for the key layout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    get_checkpoint_metadata,
)

from checkpoint_kv import keys as K
from checkpoint_kv.drive import Get, Plan, Scan, Write
from checkpoint_kv.port import DeleteRange, Op, Put, ScanResult, frame
from checkpoint_kv.saver import records as R
from checkpoint_kv.saver.codec import EMPTY, Codec
from checkpoint_kv.saver.configs import ids, tconf
from checkpoint_kv.saver.growth import MIN_BASE, Tracked, extend, whole_at
from checkpoint_kv.saver.locator import CARRY_TOTAL, Home
from checkpoint_kv.saver.packing import home_refs, locations

__all__ = ["plan_put", "plan_put_writes"]


def _snapshots(values: Mapping[str, Any]) -> bool:
    """Whether this step wrote a DeltaChannel snapshot (the type is private to LangGraph)."""
    return any(type(v).__name__ == "_DeltaSnapshot" for v in values.values())


def _shallow_cleanup(ns: str, cid: str, keep: Mapping[str, set[str]]) -> list[Op]:
    """What a shallow put deletes after its record commits: every older checkpoint of the
    namespace (records and writes) and, for each channel of ``keep``, every blob version but
    the kept ones (blob keys).

    A put whose metadata counts DeltaChannel updates since a snapshot deletes nothing: its
    channel is rebuilt from the ancestors back to that snapshot. The next put that needs no
    ancestor (every DeltaChannel just snapshotted) deletes them all, and the blob versions of
    every channel, since the puts in between left theirs."""
    ops: list[Op] = [DeleteRange(K.ns_prefix(ns) + K.SEP, K.checkpoint_prefix(ns, cid) + K.SEP)]
    for bkeys in keep.values():
        kept = sorted(bkeys)
        lo, hi = K.prefix_range(kept[0].rsplit(K.SEP, 1)[0])
        for bkey in kept:
            ops.append(DeleteRange(lo, bkey))
            lo = bkey + K.SEP
        ops.append(DeleteRange(lo, hi))
    return ops


def plan_put(
    codec: Codec,
    shallow: bool,
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    new_versions: ChannelVersions,
) -> Plan[RunnableConfig]:
    thread_id, ns, parent_id = ids(config)
    part = K.partition(thread_id)
    cp: dict[str, Any] = dict(checkpoint)
    values: dict[str, Any] = cp.pop("channel_values", None) or {}
    cid = str(cp["id"])
    # Serialize everything before any I/O: a refused value writes nothing.
    new = {
        ch: codec.dumps(values[ch], f"channel {ch!r}") if ch in values else EMPTY
        for ch in new_versions
    }
    record = R.CheckpointRecord(
        thread_id=thread_id,
        ns=ns,
        checkpoint_id=cid,
        parent_id=parent_id,
        checkpoint=codec.dumps(cp, "the checkpoint"),
        metadata=codec.dumps(get_checkpoint_metadata(config, metadata), "the metadata"),
    )
    versions: ChannelVersions = cp.get("channel_versions", {})
    # The values this checkpoint reads but does not write: unchanged channels, and any whose
    # new version is not the one the checkpoint names (LangGraph never does that; a hand-made
    # put may, and InMemorySaver then reads the named version).
    wanted = {
        ch: K.version_component(v)
        for ch, v in versions.items()
        if ch not in new_versions or K.version_component(new_versions[ch]) != K.version_component(v)
    }
    homes = yield from codec.locator.plan_homes(part, thread_id, ns, parent_id, wanted)
    key = K.record_key(ns, cid)
    ops: list[Op] = []
    if ns:
        # The namespace index lets list() of a whole thread open namespaces lazily.
        ops.append(Put(K.ns_index_key(ns), K.escape(cid).encode("ascii")))
    if parent_id is None:  # a new incarnation: its mark goes before its first record
        root: str | None = cid
        ops.append(Put(K.mark_key(ns, cid), cid.encode("utf-8")))
    else:
        root = yield from _parent_root(codec, part, thread_id, ns, parent_id)
    record = record._replace(root=root)
    chains: dict[str, tuple[R.Link, ...]] = {}
    if shallow:
        ops += yield from _as_blobs(codec, part, ns, new_versions, new, homes, wanted)
        refs = home_refs(record, ns, versions)
        locs = {ch: (K.version_component(v), K.blob_key(ns, ch, v)) for ch, v in versions.items()}
        noted = {ch: new[ch] for ch in new if ch not in wanted}  # the values locs name
    else:
        grown = _grown(codec, thread_id, ns, key, root, new_versions, new, values)
        record = _pack(record, new_versions, new, homes, wanted, grown)
        refs = home_refs(record, ns, versions)
        locs = locations(key, record)
        noted = {ch: typed for ch, _, typed in record.inline or ()}
        noted.update((g.channel, new[g.channel]) for g in record.grown)
        chains = {g.channel: g.chain for g in record.grown} | dict(record.chains)
    value = R.encode_stored_checkpoint(record, refs, codec.compress)
    R.remember_stored_checkpoint(key, value, refs, record)
    ops.append(Put(key, value, commit=True))
    if shallow and not (metadata or {}).get("counters_since_delta_snapshot"):
        # The versions the checkpoint names, and those it wrote (the same, but for a hand-made
        # put whose new_versions disagree: a later checkpoint may name what it wrote).
        named = versions if _snapshots(values) else new_versions
        kept = {ch: {K.blob_key(ns, ch, v)} for ch, v in named.items()}
        for ch in new_versions:
            if ch in versions:
                kept.setdefault(ch, set()).add(K.blob_key(ns, ch, versions[ch]))
        ops += _shallow_cleanup(ns, cid, kept)
    yield Write(part, ops)
    codec.locator.note(thread_id, ns, locs, noted, chains)
    if not shallow:
        _track(codec, thread_id, ns, key, record, new)
    codec.locator.note_root(thread_id, ns, cid, root)
    codec.locator.note_counters(thread_id, ns, cid, metadata)
    return tconf(thread_id, ns, cid)


def _parent_root(
    codec: Codec, part: str, thread_id: str, ns: str, parent_id: str
) -> Plan[str | None]:
    """The incarnation root a child of ``parent_id`` inherits: known from this process's reads
    and puts, or read with the parent's record (``plan_homes``). A parent that is gone (the
    thread was deleted, or the parent pruned) leaves the namespace's one live mark, if any: a
    child of a deleted thread gets a root without a mark, so it is never seen."""
    known, root = codec.locator.root(thread_id, ns, parent_id)
    if known:
        return root
    res: ScanResult = yield Scan(part, *K.mark_range(ns))
    marks = sorted(K.mark_root(k) for k, _ in res.items)
    if len(marks) == 1:
        return K.unescape(marks[0]) if not marks[0].startswith("~") else marks[0]
    return f"deleted:{parent_id}"


def _grown(
    codec: Codec,
    thread_id: str,
    ns: str,
    key: str,
    root: str | None,
    new_versions: ChannelVersions,
    new: dict[str, R.Typed],
    values: Mapping[str, Any],
) -> dict[str, R.Grown]:
    """The step's values that extend this process's latest value of their channel, as the
    bytes they grew by (``growth``); DeltaChannel snapshots are left as LangGraph made them.
    Only a value of the same incarnation is extended: a thread deleted and started again
    never builds on a record of its past (``delete_thread`` removed it)."""
    out: dict[str, R.Grown] = {}
    if not codec.grow:
        return out
    for ch, v in new_versions.items():
        typed = new[ch]
        if len(typed[1]) < MIN_BASE or type(values.get(ch)).__name__ == "_DeltaSnapshot":
            continue
        prev = codec.locator.tracked(thread_id, ns, ch)
        usable = prev is not None and prev.key != key and prev.root == root and root is not None
        ext = extend(prev, typed) if prev is not None and usable else None
        if ext is not None:
            depth, head, tail, chain = ext
            out[ch] = R.Grown(ch, K.version_component(v), typed[0], head, tail, depth, chain)
    return out


def _track(
    codec: Codec,
    thread_id: str,
    ns: str,
    key: str,
    record: R.CheckpointRecord,
    new: dict[str, R.Typed],
) -> None:
    """Remember the step's large values whole, for the next put to extend."""
    grown = {g.channel: g for g in record.grown}
    for ch, vc, typed in record.inline or ():
        if ch in new and len(typed[1]) >= MIN_BASE:
            tracked = Tracked(vc, key, 0, (), typed, record.root)
            codec.locator.note_tracked(thread_id, ns, ch, tracked)
    for ch, g in grown.items():
        codec.locator.note_tracked(
            thread_id, ns, ch, Tracked(g.vc, key, g.depth, g.chain, new[ch], record.root)
        )


def _pack(
    record: R.CheckpointRecord,
    new_versions: ChannelVersions,
    new: dict[str, R.Typed],
    homes: dict[str, Home],
    wanted: dict[str, str],
    grown: dict[str, R.Grown],
) -> R.CheckpointRecord:
    """The record with the step's new values inline (or as the bytes they grew by), and for
    each unchanged channel its home record (with the chain its value is built on), or a copy
    of its value when small (then a reader needs no other record: the latest checkpoint of a
    chat is most often one value)."""
    inline = [
        (ch, K.version_component(v), new[ch]) for ch, v in new_versions.items() if ch not in grown
    ]
    packed = []
    chains = []
    budget = CARRY_TOTAL
    for ch, home in homes.items():
        if home.small is not None and len(home.small[1]) <= budget:
            inline.append((ch, wanted[ch], home.small))
            budget -= len(home.small[1])
        elif K.is_record(home.key):
            packed.append((ch, wanted[ch], home.key))
            if home.chain:
                chains.append((ch, home.chain))
    return record._replace(
        inline=tuple(inline), homes=tuple(packed), grown=tuple(grown.values()), chains=tuple(chains)
    )


def _as_blobs(
    codec: Codec,
    part: str,
    ns: str,
    new_versions: ChannelVersions,
    new: dict[str, R.Typed],
    homes: dict[str, Home],
    wanted: dict[str, str],
) -> Plan[list[Op]]:
    """A shallow put's values as blobs of their own (format 1): the step's new values, and the
    unchanged values that live in packed records (a thread a non-shallow saver wrote), since
    this put deletes the older records."""
    ops: list[Op] = []
    for ch, ver in new_versions.items():
        bkey, raw = K.blob_key(ns, ch, ver), R.encode_blob(new[ch], codec.compress)
        R.remember_blob(bkey, raw, new[ch])
        ops.append(Put(bkey, raw))
    packed = {ch: h for ch, h in homes.items() if K.is_record(h.key)}
    known = {ch: h.small for ch, h in packed.items() if h.small is not None}
    unknown = {ch: h for ch, h in packed.items() if ch not in known}
    keys = {h.key for h in unknown.values()}
    for ch, h in unknown.items():  # a grown value's chain comes along (format 3)
        keys.update(k for x in h.chain for k in (x.key, K.blob_key_vc(ns, ch, x.vc)))
    got = (yield Get(part, sorted(keys))) if keys else {}
    for ch, h in packed.items():
        typed = known.get(ch) or whole_at(ns, h.key, ch, wanted[ch], got)
        if typed is not None:
            ops.append(Put(K.blob_key_vc(ns, ch, wanted[ch]), R.encode_blob(typed, codec.compress)))
    return ops


def plan_put_writes(
    codec: Codec,
    config: RunnableConfig,
    writes: Sequence[tuple[str, Any]],
    task_id: str,
    task_path: str,
) -> Plan[None]:
    thread_id, ns, cid = ids(config, need_checkpoint=True)
    assert cid is not None
    if not writes:
        return
    batch = R.WriteBatch(
        task_id,
        task_path,
        K.write_nonce(),
        tuple(
            (WRITES_IDX_MAP.get(ch, i), ch, codec.dumps(v, f"the write to {ch!r}"))
            for i, (ch, v) in enumerate(writes)
        ),
    )
    key = K.batch_key(ns, cid, task_id, batch.nonce)
    value = frame([], R.encode_batch(batch, codec.compress))
    yield Write(K.partition(thread_id), [Put(key, value)])
