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
from checkpoint_kv.saver.packing import CARRY_TOTAL, home_refs, locations, value_at

__all__ = ["plan_put", "plan_put_writes"]


def _snapshots(values: Mapping[str, Any]) -> bool:
    """Whether this step wrote a DeltaChannel snapshot (the type is private to LangGraph)."""
    return any(type(v).__name__ == "_DeltaSnapshot" for v in values.values())


def _shallow_cleanup(ns: str, cid: str, channels: Mapping[str, Any]) -> list[Op]:
    """What a shallow put deletes after its record commits: every older checkpoint of the
    namespace (records and writes) and every other version of ``channels``' blobs.

    A put whose metadata counts DeltaChannel updates since a snapshot deletes nothing: its
    channel is rebuilt from the ancestors back to that snapshot. The next put that needs no
    ancestor (every DeltaChannel just snapshotted) deletes them all, and the blob versions of
    every channel, since the puts in between left theirs."""
    ops: list[Op] = [DeleteRange(K.ns_prefix(ns) + K.SEP, K.checkpoint_prefix(ns, cid) + K.SEP)]
    for ch, ver in channels.items():
        bkey = K.blob_key(ns, ch, ver)
        lo, hi = K.prefix_range(bkey.rsplit(K.SEP, 1)[0])
        ops += [DeleteRange(lo, bkey), DeleteRange(bkey + K.SEP, hi)]
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
    wanted = {ch: K.version_component(v) for ch, v in versions.items() if ch not in new_versions}
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
    if shallow:
        ops += yield from _as_blobs(part, ns, new_versions, new, homes, wanted)
        refs = home_refs(record, ns, versions)
        locs = {ch: (K.version_component(v), K.blob_key(ns, ch, v)) for ch, v in versions.items()}
        noted = new
    else:
        record = _pack(record, new_versions, new, homes, wanted)
        refs = home_refs(record, ns, versions)
        locs = locations(key, record)
        noted = {ch: typed for ch, _, typed in record.inline or ()}
    value = R.encode_stored_checkpoint(record, refs)
    R.remember_stored_checkpoint(key, value, refs, record)
    ops.append(Put(key, value, commit=True))
    if shallow and not (metadata or {}).get("counters_since_delta_snapshot"):
        ops += _shallow_cleanup(ns, cid, versions if _snapshots(values) else new_versions)
    yield Write(part, ops)
    codec.locator.note(thread_id, ns, locs, noted)
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


def _pack(
    record: R.CheckpointRecord,
    new_versions: ChannelVersions,
    new: dict[str, R.Typed],
    homes: dict[str, tuple[str, R.Typed | None]],
    wanted: dict[str, str],
) -> R.CheckpointRecord:
    """The record with the step's new values inline, and for each unchanged channel its home
    record, or a copy of its value when small (then a reader needs no other record: the
    latest checkpoint of a chat is most often one value)."""
    inline = [(ch, K.version_component(v), new[ch]) for ch, v in new_versions.items()]
    packed = []
    budget = CARRY_TOTAL
    for ch, (home, small) in homes.items():
        if small is not None and len(small[1]) <= budget:
            inline.append((ch, wanted[ch], small))
            budget -= len(small[1])
        elif K.is_record(home):
            packed.append((ch, wanted[ch], home))
    return record._replace(inline=tuple(inline), homes=tuple(packed))


def _as_blobs(
    part: str,
    ns: str,
    new_versions: ChannelVersions,
    new: dict[str, R.Typed],
    homes: dict[str, tuple[str, R.Typed | None]],
    wanted: dict[str, str],
) -> Plan[list[Op]]:
    """A shallow put's values as blobs of their own (format 1): the step's new values, and the
    unchanged values that live in packed records (a thread a non-shallow saver wrote), since
    this put deletes the older records."""
    ops: list[Op] = []
    for ch, ver in new_versions.items():
        bkey, raw = K.blob_key(ns, ch, ver), R.encode_blob(new[ch])
        R.remember_blob(bkey, raw, new[ch])
        ops.append(Put(bkey, raw))
    packed = {ch: h for ch, (h, _) in homes.items() if K.is_record(h)}
    known = {ch: homes[ch][1] for ch in packed if homes[ch][1] is not None}
    unknown = sorted({h for ch, h in packed.items() if ch not in known})
    got = (yield Get(part, unknown)) if unknown else {}
    for ch, h in packed.items():
        typed = known.get(ch) or (value_at(h, got[h], ch, wanted[ch]) if h in got else None)
        if typed is not None:
            ops.append(Put(K.blob_key_vc(ns, ch, wanted[ch]), R.encode_blob(typed)))
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
    yield Write(K.partition(thread_id), [Put(key, frame([], R.encode_batch(batch)))])
