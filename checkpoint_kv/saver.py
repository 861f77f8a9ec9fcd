"""``KVCheckpointSaver``: LangGraph's checkpointer contract over the key-value port.

Every operation is a *plan*: a generator that yields port requests (see ``drive``). Sync and
async methods run the same plan with a different driver, so they cannot drift apart. The saver
holds no mutable state, so it is thread-safe whenever its store is.

Round trips (port calls) per operation, whatever the backend:
``put`` 1, ``put_writes`` 1, ``get_tuple`` 1 (the scan follows the record's blob references),
``list(limit=N)`` 1-2, ``get_delta_channel_history`` about 3 however long the chain.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    DeltaChannelHistory,
    PendingWrite,
    get_checkpoint_metadata,
    writes_sort_key,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from checkpoint_kv import keys as K
from checkpoint_kv import records as R
from checkpoint_kv.aio import async_twin
from checkpoint_kv.drive import (
    Drop,
    Emit,
    Get,
    Partitions,
    Plan,
    Scan,
    ScanMany,
    StreamPlan,
    Write,
    arun,
    astream,
    run,
    stream,
)
from checkpoint_kv.errors import ConfigError, CorruptRecordError, SerializationError, redact
from checkpoint_kv.port import (
    AsyncKVStore,
    DeleteRange,
    KVStore,
    Op,
    Put,
    ScanResult,
    ScanSpec,
    frame,
    split_refs,
)

__all__ = ["KVCheckpointSaver"]

_LATEST_PAGE = 8  # items in the first page of a "latest" scan: a record and its few writes
_FULL_PAGE = 1000  # items per page when a whole family is read (copy, prune, list all)
_COPY_BATCH = 500  # ops per write call when copying


# --- small pure helpers -------------------------------------------------------------------


def _ids(
    config: RunnableConfig | None, *, need_checkpoint: bool = False
) -> tuple[str, str, str | None]:
    conf = (config or {}).get("configurable") or {}
    thread_id = conf.get("thread_id")
    if thread_id is None or thread_id == "":
        raise ConfigError(
            "this checkpointer needs a thread_id: pass "
            'config={"configurable": {"thread_id": "..."}} to invoke/stream/get_state'
        )
    checkpoint_id = conf.get("checkpoint_id") or None
    for name, value in (("thread_id", thread_id), ("checkpoint_ns", conf.get("checkpoint_ns"))):
        try:
            str(value or "").encode("utf-8")
        except UnicodeEncodeError:
            raise ConfigError(f"{name} must be valid Unicode text (no lone surrogates)") from None
    if need_checkpoint and checkpoint_id is None:
        raise ConfigError("put_writes needs config['configurable']['checkpoint_id']")
    return str(thread_id), str(conf.get("checkpoint_ns") or ""), checkpoint_id


def _tconf(thread_id: str, ns: str, checkpoint_id: str) -> RunnableConfig:
    return {
        "configurable": {
            "thread_id": thread_id,
            "checkpoint_ns": ns,
            "checkpoint_id": checkpoint_id,
        }
    }


@dataclass
class _Group:
    """One checkpoint as read from a scan: its record and its pending writes."""

    key: str
    value: bytes
    record: R.CheckpointRecord
    refs: list[str]
    writes: list[tuple[str, bytes]] = field(default_factory=list)


def _group(items: Sequence[tuple[str, bytes]], reverse: bool) -> list[_Group]:
    """Group scan items into checkpoints, each record with its writes.

    In descending order a record precedes its writes; in ascending order it follows them.
    Writes whose record is absent (never committed) are ignored.
    """
    groups: list[_Group] = []
    pending: list[tuple[str, bytes]] = []  # ascending: writes seen before their record
    current: _Group | None = None
    for key, value in items:
        owner = K.owner(key)
        if K.is_record(key):
            refs, payload = _split(key, value)
            current = _Group(key, value, R.decode_checkpoint(key, payload), refs)
            if not reverse:
                current.writes = [w for w in pending if K.owner(w[0]) == owner]
                pending = []
            groups.append(current)
        elif reverse:
            if current is not None and K.owner(current.key) == owner:
                current.writes.append((key, value))
        else:
            if pending and K.owner(pending[-1][0]) != owner:
                pending = []
            pending.append((key, value))
    return groups


def _covered(items: Sequence[tuple[str, bytes]], follow: int) -> set[str]:
    """Record keys whose references the store followed (see ``port.follow_refs``)."""
    out: set[str] = set()
    for key, value in items:
        if len(out) >= follow:
            break
        if K.is_record(key) and not value.startswith(b"\n\n"):
            out.add(key)
    return out


def _split(key: str, value: bytes) -> tuple[list[str], bytes]:
    try:
        return split_refs(value)
    except (ValueError, UnicodeDecodeError) as e:
        raise CorruptRecordError(f"corrupt record at key {key!r}: {e}") from e


def _version_number(version: Any) -> int | None:
    try:
        return int(str(version).split(".")[0].lstrip("sif") or "0")
    except ValueError:
        return None


def _version_gap(tversions: ChannelVersions, seeds: Mapping[str, Mapping[str, bytes]]) -> int:
    """Updates between each channel's target version and its newest seed candidate (max)."""
    gap = 0
    for ch, cands in seeds.items():
        top = _version_number(tversions.get(ch))
        nums = [n for n in (_version_number(k.rsplit(K.SEP, 1)[1]) for k in cands) if n is not None]
        if top is not None and nums:
            gap = max(gap, top - max(nums))
    return gap


def _blob_keys(ns: str, versions: ChannelVersions) -> dict[str, str]:
    return {ch: K.blob_key(ns, ch, v) for ch, v in versions.items()}


class KVCheckpointSaver(BaseCheckpointSaver[str]):
    """A LangGraph checkpointer over any :class:`~checkpoint_kv.port.KVStore`.

    Args:
        store: the backend (see ``checkpoint_kv.from_url``).
        serde: LangGraph serializer (default: ``JsonPlusSerializer``, no pickle).
        shallow: keep only the latest checkpoint per namespace (and its writes); superseded
            records, writes and blobs are removed in the same write as the new checkpoint.
        astore: the async twin of ``store`` (default: the backend's own, else a thread pool).
    """

    def __init__(
        self,
        store: KVStore,
        *,
        serde: SerializerProtocol | None = None,
        shallow: bool = False,
        astore: AsyncKVStore | None = None,
    ) -> None:
        super().__init__(serde=serde)
        self.store = store
        self.astore = astore if astore is not None else async_twin(store)
        self.shallow = shallow

    def __repr__(self) -> str:
        return redact(f"KVCheckpointSaver(store={self.store!r}, shallow={self.shallow})")

    # --- lifecycle --------------------------------------------------------------------------

    def setup(self) -> None:
        """Create the table/bucket/schema the backend needs (idempotent)."""
        self.store.setup()

    async def asetup(self) -> None:
        await self.astore.setup()

    def close(self) -> None:
        self.store.close()

    async def aclose(self) -> None:
        await self.astore.close()
        self.store.close()

    def __enter__(self) -> KVCheckpointSaver:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> KVCheckpointSaver:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def get_next_version(self, current: str | int | float | None, channel: None = None) -> str:
        # Zero-padded, so versions sort lexically (the delta-history probe relies on it); the
        # random suffix keeps forks of one step from sharing a blob key (as InMemorySaver does).
        if current is None:
            n = 0
        elif isinstance(current, (int, float)):
            n = int(current)
        else:
            n = int(current.split(".")[0])
        return f"{n + 1:032}.{random.random():016}"

    # --- encoding -----------------------------------------------------------------------------

    def _dumps(self, value: Any, what: str) -> R.Typed:
        try:
            return self.serde.dumps_typed(value)
        except Exception as e:
            raise SerializationError(
                f"the serializer refused {what} (type {type(value).__name__}): {e}; "
                "nothing was written"
            ) from e

    def _loads(self, key: str, typed: R.Typed) -> Any:
        try:
            return self.serde.loads_typed(typed)
        except Exception as e:
            raise CorruptRecordError(
                f"cannot deserialize the value stored at key {key!r}: {e!r}"
            ) from e

    def _tuple(
        self, g: _Group, blobs: Mapping[str, bytes], config: RunnableConfig | None = None
    ) -> CheckpointTuple:
        rec = g.record
        checkpoint: Checkpoint = self._loads(g.key, rec.checkpoint)
        if not isinstance(checkpoint, dict) or not isinstance(
            checkpoint.get("channel_versions", {}), dict
        ):
            raise CorruptRecordError(f"corrupt checkpoint at key {g.key!r}: not a checkpoint")
        bkeys = _blob_keys(rec.ns, checkpoint.get("channel_versions", {}))
        if sorted(g.refs) != sorted(bkeys.values()):
            # The reference header sits outside the checksum: it must agree with the record.
            raise CorruptRecordError(f"corrupt record at key {g.key!r}: reference header mismatch")
        values: dict[str, Any] = {}
        for ch, bkey in bkeys.items():
            if bkey in blobs:
                values[ch] = self._loads(bkey, R.decode_blob(bkey, blobs[bkey]))
        writes = self._writes(g)
        return CheckpointTuple(
            config=config or _tconf(rec.thread_id, rec.ns, rec.checkpoint_id),
            checkpoint={**checkpoint, "channel_values": values},
            metadata=self._loads(g.key, rec.metadata),
            parent_config=_tconf(rec.thread_id, rec.ns, rec.parent_id) if rec.parent_id else None,
            pending_writes=[(w.task_id, w.channel, self._loads(k, w.value)) for k, w in writes],
        )

    # --- plans: writes ------------------------------------------------------------------------

    def _plan_put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> Plan[RunnableConfig]:
        thread_id, ns, parent_id = _ids(config)
        cp: dict[str, Any] = dict(checkpoint)
        values: dict[str, Any] = cp.pop("channel_values", None) or {}
        cid = str(cp["id"])
        ops: list[Op] = []
        for ch, ver in new_versions.items():
            if ch in values:
                typed = self._dumps(values[ch], f"channel {ch!r}")
                ops.append(Put(K.blob_key(ns, ch, ver), R.encode_blob(typed)))
        record = R.CheckpointRecord(
            thread_id=thread_id,
            ns=ns,
            checkpoint_id=cid,
            parent_id=parent_id,
            checkpoint=self._dumps(cp, "the checkpoint"),
            metadata=self._dumps(get_checkpoint_metadata(config, metadata), "the metadata"),
        )
        refs = list(_blob_keys(ns, cp.get("channel_versions", {})).values())
        rkey = K.record_key(ns, cid)
        ops.append(Put(rkey, frame(refs, R.encode_checkpoint(record)), commit=True))
        if self.shallow:
            # Everything older in this namespace, and every other version of changed channels.
            ops.append(DeleteRange(K.ns_prefix(ns) + K.SEP, K.checkpoint_prefix(ns, cid) + K.SEP))
            for ch, ver in new_versions.items():
                lo, hi = K.prefix_range(K.blob_key(ns, ch, ver).rsplit(K.SEP, 1)[0])
                bkey = K.blob_key(ns, ch, ver)
                ops += [DeleteRange(lo, bkey), DeleteRange(bkey + K.SEP, hi)]
        yield Write(K.partition(thread_id), ops)
        return _tconf(thread_id, ns, cid)

    def _plan_put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str,
    ) -> Plan[None]:
        thread_id, ns, cid = _ids(config, need_checkpoint=True)
        assert cid is not None
        idxs = [WRITES_IDX_MAP.get(channel, i) for i, (channel, _) in enumerate(writes)]
        ops: list[Op] = []
        for idx, (channel, value) in zip(idxs, writes, strict=True):
            typed = self._dumps(value, f"the write to {channel!r}")
            rec = R.WriteRecord(task_id, task_path, idx, channel, typed, tuple(idxs))
            key = K.write_key(ns, cid, task_id, idx)
            ops.append(Put(key, frame([], R.encode_write(rec)), if_absent=idx >= 0))
        yield Write(K.partition(thread_id), ops)

    # --- plans: reads -------------------------------------------------------------------------

    def _plan_get_tuple(self, config: RunnableConfig) -> Plan[CheckpointTuple | None]:
        thread_id, ns, cid = _ids(config)
        part = K.partition(thread_id)
        if cid is not None:
            res: ScanResult = yield Scan(
                part, *K.prefix_range(K.checkpoint_prefix(ns, cid)), follow=1
            )
            groups = _group(res.items, reverse=False)
            if not groups:
                return None
            return self._tuple(groups[0], res.refs, config)
        found = yield from self._latest(
            part, K.ns_prefix(ns) + K.SEP, K.ns_prefix(ns) + K.AFTER_SEP
        )
        if found is None:
            return None
        group, blobs = found
        return self._tuple(group, blobs)

    def _latest(
        self, part: str, start: str, end: str
    ) -> Plan[tuple[_Group, dict[str, bytes]] | None]:
        """The newest checkpoint in ``[start, end)`` with all its writes and blobs.

        One descending scan normally suffices: the record comes first, its writes right after,
        and the store follows the record's blob references. Only a checkpoint with many writes
        needs a further (larger) page.
        """
        limit = _LATEST_PAGE
        items: list[tuple[str, bytes]] = []
        blobs: dict[str, bytes] = {}
        covered: set[str] = set()
        while True:
            follow = 0 if covered else 1
            res: ScanResult = yield Scan(part, start, end, reverse=True, limit=limit, follow=follow)
            items += res.items
            blobs.update(res.refs)
            covered |= _covered(res.items, follow)
            groups = _group(items, reverse=True)
            exhausted = len(res.items) < limit
            if groups and (len(groups) > 1 or exhausted):
                break
            if exhausted:
                return None
            end, limit = res.items[-1][0], limit * 4
        group = groups[0]
        if group.key not in covered:
            blobs.update((yield Get(part, [k for k in group.refs if k not in blobs])))
        return group, blobs

    def _plan_list(
        self,
        config: RunnableConfig | None,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> StreamPlan:
        if limit is not None and limit <= 0:
            return
        before_id = (before or {}).get("configurable", {}).get("checkpoint_id") if before else None
        remaining = [limit]  # shared countdown across threads

        if config is None:
            cursor: str | None = None
            while True:
                page = yield Partitions(cursor)
                for part in page.partitions:
                    yield from self._list_thread(part, None, filter, before_id, remaining)
                    if remaining[0] is not None and remaining[0] <= 0:
                        return
                cursor = page.cursor
                if cursor is None:
                    return

        thread_id, _, cid = _ids(config)
        conf = config.get("configurable", {})
        ns = conf.get("checkpoint_ns")
        part = K.partition(thread_id)
        if cid is not None:
            ns = ns or ""
            res: ScanResult = yield Scan(
                part, *K.prefix_range(K.checkpoint_prefix(ns, cid)), follow=1
            )
            groups = _group(res.items, reverse=False)
            for g in groups:
                if (before_id is None or g.record.checkpoint_id < before_id) and self._match(
                    g, filter
                ):
                    yield Emit(self._tuple(g, res.refs))
            return
        yield from self._list_thread(
            part, None if ns is None else str(ns), filter, before_id, remaining
        )

    def _match(self, g: _Group, filter: dict[str, Any] | None) -> bool:
        if not filter:
            return True
        md = self._loads(g.key, g.record.metadata)
        return all(md.get(k) == v for k, v in filter.items())

    def _list_thread(
        self,
        part: str,
        ns: str | None,
        filter: dict[str, Any] | None,
        before_id: str | None,
        remaining: list[int | None],
    ) -> StreamPlan:
        """Newest first: one namespace by descending pages, or all namespaces merged."""
        if ns is None:
            groups = yield from self._read_all(part)
            groups.sort(key=lambda g: (g.record.checkpoint_id, g.record.ns), reverse=True)
            chosen: list[_Group] = []
            for g in groups:
                if remaining[0] is not None and remaining[0] <= len(chosen):
                    break
                if before_id is not None and g.record.checkpoint_id >= before_id:
                    continue
                if self._match(g, filter):
                    chosen.append(g)
            for i in range(0, len(chosen), 100):
                chunk = chosen[i : i + 100]
                found = yield Get(part, sorted({k for g in chunk for k in g.refs}))
                for g in chunk:
                    yield Emit(self._tuple(g, found))
                    if remaining[0] is not None:
                        remaining[0] -= 1
            return

        start = K.ns_prefix(ns) + K.SEP
        end = (
            K.checkpoint_prefix(ns, before_id) + K.SEP
            if before_id
            else K.ns_prefix(ns) + K.AFTER_SEP
        )
        want = remaining[0]
        page = max(16, want * 4) if want is not None else 100
        carry: list[tuple[str, bytes]] = []
        blobs: dict[str, bytes] = {}
        covered: set[str] = set()
        while True:
            follow = 0 if filter else (remaining[0] if remaining[0] is not None else page)
            res: ScanResult = yield Scan(part, start, end, reverse=True, limit=page, follow=follow)
            exhausted = len(res.items) < page
            covered |= _covered(res.items, follow)
            blobs.update(res.refs)
            items = carry + res.items
            groups = _group(items, reverse=True)
            carry = []
            if not exhausted and groups:
                # The last checkpoint's writes may go on in the next page: hold it back.
                last = groups.pop()
                carry = items[next(i for i, kv in enumerate(items) if kv[0] == last.key) :]
            chosen = [g for g in groups if self._match(g, filter)]
            if remaining[0] is not None:
                chosen = chosen[: remaining[0]]
            missing = sorted(
                {k for g in chosen if g.key not in covered for k in g.refs} - blobs.keys()
            )
            if missing:
                blobs.update((yield Get(part, missing)))
            for g in chosen:
                yield Emit(self._tuple(g, blobs))
                if remaining[0] is not None:
                    remaining[0] -= 1
                    if remaining[0] <= 0:
                        return
            if exhausted:
                return
            end = res.items[-1][0]
            page = min(page * 2, _FULL_PAGE)
            # Blobs of emitted checkpoints are no longer needed; keep memory flat on long lists.
            keep = {r for g in _group(carry, True) for r in g.refs}
            blobs = {k: v for k, v in blobs.items() if k in keep}

    def _read_all(
        self, part: str, family: tuple[str, str] = K.ALL_CHECKPOINTS
    ) -> Plan[list[_Group]]:
        """Every checkpoint of a partition (ascending pages), with its writes."""
        start, end = family
        items: list[tuple[str, bytes]] = []
        while True:
            res: ScanResult = yield Scan(part, start, end, limit=_FULL_PAGE)
            items += res.items
            if len(res.items) < _FULL_PAGE:
                break
            start = res.items[-1][0] + K.SEP
        return _group(items, reverse=False)

    # --- plans: delta history -----------------------------------------------------------------

    def _plan_delta(
        self, config: RunnableConfig, channels: Sequence[str]
    ) -> Plan[dict[str, DeltaChannelHistory]]:
        """``get_delta_channel_history`` in a constant number of port calls.

        1. one descending scan from the target: the target record and its nearest ancestors;
        2. per channel, one descending scan of its blobs at or below the target's version:
           the candidates for the seed (versions are zero-padded, so the newest comes first);
        3. if the chain to the seed is not yet in hand, one larger scan sized from the target's
           ``counters_since_delta_snapshot`` (supersteps since the snapshot).
        The walk itself (which writes, which seed) follows InMemorySaver's exactly.
        """
        if not channels:
            return {}
        thread_id, ns, cid = _ids(config)
        part = K.partition(thread_id)
        start = K.ns_prefix(ns) + K.SEP
        end = K.checkpoint_prefix(ns, cid) + K.AFTER_SEP if cid else K.ns_prefix(ns) + K.AFTER_SEP
        page = 32
        res: ScanResult = yield Scan(part, start, end, reverse=True, limit=page)
        items = list(res.items)
        groups = _group(items, reverse=True)
        if not groups or (cid is not None and groups[0].record.checkpoint_id != cid):
            return {ch: {"writes": []} for ch in channels}
        target = groups[0]
        versions_of = {target.key: self._versions(target)}
        tversions = versions_of[target.key]
        md = self._loads(target.key, target.record.metadata)
        counters = md.get("counters_since_delta_snapshot") or {}
        depth = max([int(counters[ch][1]) for ch in channels if ch in counters] or [0])
        per_checkpoint = max(2.0, len(items) / len(groups))
        exhausted = len(res.items) < page
        # Seed candidates per channel and, when the counters say the snapshot lies beyond the
        # first page, the rest of the chain: independent scans, one round trip on Redis.
        specs: list[ScanSpec] = []
        for ch in channels:
            lo, hi = K.blob_channel_range(ns, ch)
            top = K.blob_key(ns, ch, tversions[ch]) + K.SEP if ch in tversions else hi
            specs.append(ScanSpec(lo, top, reverse=True, limit=8))
        need = max(64, int((depth + 4) * per_checkpoint * 1.5)) if counters else 256
        deeper = not exhausted and (depth + 2 > len(groups) or not counters)
        if deeper:
            specs.append(ScanSpec(start, items[-1][0], reverse=True, limit=need))
        results: list[ScanResult] = yield ScanMany(part, specs)
        seeds: dict[str, dict[str, bytes]] = {
            ch: dict(r.items) for ch, r in zip(channels, results, strict=False)
        }
        if deeper:
            more = results[-1]
            exhausted = len(more.items) < need
            items += more.items
            groups = _group(items, reverse=True)
            depth = depth * 2 + 16
        while True:
            # Unless the scan reached the start, the last group may lack some of its writes.
            whole = groups if exhausted else groups[:-1]
            chain, complete = self._chain(target, whole, channels, seeds, ns, versions_of)
            if complete or exhausted:
                break
            # How far back is the nearest seed candidate? Versions count updates, so the gap
            # between the target's and the candidate's is a good lower bound on the distance.
            depth = max(depth * 2 + 16, _version_gap(tversions, seeds))
            need = max(64, int((depth + 4) * per_checkpoint * 1.5))
            res = yield Scan(part, start, items[-1][0], reverse=True, limit=need)
            exhausted = len(res.items) < need
            items += res.items
            groups = _group(items, reverse=True)
        collected: dict[str, list[PendingWrite]] = {ch: [] for ch in channels}
        found: dict[str, tuple[str, bytes]] = {}
        remaining = set(channels)
        for g in chain:
            if not remaining:
                break
            versions = versions_of[g.key]
            here = {}
            for ch in remaining:
                bkey = K.blob_key(ns, ch, versions[ch]) if ch in versions else None
                if bkey is not None and bkey in seeds[ch]:
                    here[ch] = (bkey, seeds[ch][bkey])
            for k, w in reversed(self._writes(g)):
                if w.channel in remaining:
                    collected[w.channel].append((w.task_id, w.channel, self._loads(k, w.value)))
            found.update(here)
            remaining -= here.keys()
        out: dict[str, DeltaChannelHistory] = {}
        for ch in channels:
            entry: DeltaChannelHistory = {"writes": list(reversed(collected[ch]))}
            if ch in found:
                bkey, raw = found[ch]
                entry["seed"] = self._loads(bkey, R.decode_blob(bkey, raw))
            out[ch] = entry
        return out

    def _versions(self, g: _Group) -> ChannelVersions:
        cp = self._loads(g.key, g.record.checkpoint)
        return dict(cp.get("channel_versions", {}))

    def _writes(self, g: _Group) -> list[tuple[str, R.WriteRecord]]:
        """A checkpoint's writes in ``writes_sort_key`` order."""
        writes = [(k, R.decode_write(k, _split(k, v)[1])) for k, v in g.writes]
        present = {(w.task_id, w.idx) for _, w in writes}
        # Drop the writes of a put_writes call that a non-atomic backend stored only in part.
        writes = [
            (k, w)
            for k, w in writes
            if w.batch is None or all((w.task_id, i) in present for i in w.batch)
        ]
        writes.sort(key=lambda kw: writes_sort_key(kw[1].task_path, kw[1].task_id, kw[1].idx))
        return writes

    def _chain(
        self,
        target: _Group,
        groups: list[_Group],
        channels: Sequence[str],
        seeds: dict[str, dict[str, bytes]],
        ns: str,
        versions_of: dict[str, ChannelVersions],
    ) -> tuple[list[_Group], bool]:
        """Ancestors of ``target`` found in ``groups``, nearest first; complete when the chain
        reaches the root or a seed candidate for every channel."""
        by_id = {g.record.checkpoint_id: g for g in groups}
        chain: list[_Group] = []
        pid = target.record.parent_id
        remaining = set(channels)
        while pid is not None and remaining:
            g = by_id.get(pid)
            if g is None:
                return chain, False
            chain.append(g)
            if g.key not in versions_of:
                versions_of[g.key] = self._versions(g)
            versions = versions_of[g.key]
            remaining = {
                ch
                for ch in remaining
                if not (ch in versions and K.blob_key(ns, ch, versions[ch]) in seeds[ch])
            }
            pid = g.record.parent_id
        return chain, True

    # --- plans: maintenance -------------------------------------------------------------------

    def _plan_copy(self, source: str, target: str) -> Plan[None]:
        """Blobs and writes are copied page by page; the (small) records are held back and
        written last, so a copied checkpoint becomes visible only once its data is there."""
        src, dst = K.partition(source), K.partition(target)
        recs: list[Op] = []
        for start, end in (K.ALL_BLOBS, K.ALL_CHECKPOINTS):
            while True:
                res: ScanResult = yield Scan(src, start, end, limit=_FULL_PAGE)
                data: list[Op] = []
                for key, value in res.items:
                    if K.is_record(key):
                        refs, payload = _split(key, value)
                        r = R.decode_checkpoint(key, payload)
                        moved = R.CheckpointRecord(
                            target, r.ns, r.checkpoint_id, r.parent_id, r.checkpoint, r.metadata
                        )
                        recs.append(Put(key, frame(refs, R.encode_checkpoint(moved))))
                    else:
                        data.append(Put(key, value))
                for i in range(0, len(data), _COPY_BATCH):
                    yield Write(dst, data[i : i + _COPY_BATCH])
                if len(res.items) < _FULL_PAGE:
                    break
                start = res.items[-1][0] + K.SEP
        for i in range(0, len(recs), _COPY_BATCH):
            yield Write(dst, recs[i : i + _COPY_BATCH])

    @staticmethod
    def _drop_ops(dead: list[_Group], kept: list[_Group]) -> list[Op]:
        """Delete the dead checkpoints (records and writes) and every blob of their namespaces
        that no kept record references, as a few range deletes (no need to list blobs)."""
        ops: list[Op] = [
            DeleteRange(*K.prefix_range(K.checkpoint_prefix(g.record.ns, g.record.checkpoint_id)))
            for g in dead
        ]
        for ns in sorted({g.record.ns for g in dead}):
            lo, hi = K.blob_ns_range(ns)
            for k in sorted({k for g in kept if g.record.ns == ns for k in g.refs}):
                ops.append(DeleteRange(lo, k))
                lo = k + K.SEP
            ops.append(DeleteRange(lo, hi))
        return ops

    def _plan_prune(self, thread_ids: Sequence[str], strategy: str) -> Plan[None]:
        if strategy not in ("keep_latest", "delete"):
            raise ConfigError(f"unknown prune strategy {strategy!r}: use 'keep_latest' or 'delete'")
        for tid in thread_ids:
            part = K.partition(tid)
            if strategy == "delete":
                yield Drop(part)
                continue
            groups = yield from self._read_all(part)
            by_ns: dict[str, list[_Group]] = {}
            for g in groups:
                by_ns.setdefault(g.record.ns, []).append(g)
            kept: list[_Group] = []
            for gs in by_ns.values():
                kept += yield from self._keep(part, gs)
            kept_keys = {g.key for g in kept}
            dead = [g for g in groups if g.key not in kept_keys]
            if dead:
                yield Write(part, self._drop_ops(dead, kept))

    def _keep(self, part: str, gs: list[_Group]) -> Plan[list[_Group]]:
        """What keep_latest keeps of one namespace: the latest checkpoint and, for each of its
        DeltaChannels, the ancestors back to the nearest stored snapshot (else the channel
        could not be rebuilt)."""
        gs.sort(key=lambda g: g.record.checkpoint_id)
        latest = gs[-1]
        md = self._loads(latest.key, latest.record.metadata)
        need = set(md.get("counters_since_delta_snapshot") or {})
        if not need:
            return [latest]
        by_id = {g.record.checkpoint_id: g for g in gs}
        chain = [latest]
        while chain[-1].record.parent_id in by_id:
            chain.append(by_id[chain[-1].record.parent_id])
        ns = latest.record.ns
        wanted = {
            (g.key, ch): K.blob_key(ns, ch, v)
            for g in chain
            for ch, v in self._versions(g).items()
            if ch in need
        }
        stored = yield Get(part, sorted(set(wanted.values())))
        kept: list[_Group] = []
        for g in chain:
            kept.append(g)
            need = {ch for ch in need if wanted.get((g.key, ch)) not in stored}
            if not need:
                break
        return kept

    def _plan_delete_for_runs(self, run_ids: Sequence[str]) -> Plan[None]:
        wanted = set(run_ids)
        if not wanted:
            return
        cursor: str | None = None
        while True:
            page = yield Partitions(cursor)
            for part in page.partitions:
                groups = yield from self._read_all(part)
                dead = [
                    g
                    for g in groups
                    if self._loads(g.key, g.record.metadata).get("run_id") in wanted
                ]
                if dead:
                    dead_keys = {g.key for g in dead}
                    yield Write(
                        part, self._drop_ops(dead, [g for g in groups if g.key not in dead_keys])
                    )
            cursor = page.cursor
            if cursor is None:
                return

    # --- the BaseCheckpointSaver API: sync ----------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return run(self.store, self._plan_get_tuple(config))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        return stream(self.store, self._plan_list(config, filter, before, limit))

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return run(self.store, self._plan_put(config, checkpoint, metadata, new_versions))

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        run(self.store, self._plan_put_writes(config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        self.store.drop(K.partition(thread_id))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        run(self.store, self._plan_delete_for_runs(run_ids))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        run(self.store, self._plan_copy(source_thread_id, target_thread_id))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        run(self.store, self._plan_prune(thread_ids, strategy))

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        return run(self.store, self._plan_delta(config, channels))

    # --- the BaseCheckpointSaver API: async ---------------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await arun(self.astore, self._plan_get_tuple(config))

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        async for item in astream(self.astore, self._plan_list(config, filter, before, limit)):
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await arun(self.astore, self._plan_put(config, checkpoint, metadata, new_versions))

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        await arun(self.astore, self._plan_put_writes(config, writes, task_id, task_path))

    async def adelete_thread(self, thread_id: str) -> None:
        await self.astore.drop(K.partition(thread_id))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await arun(self.astore, self._plan_delete_for_runs(run_ids))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await arun(self.astore, self._plan_copy(source_thread_id, target_thread_id))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        await arun(self.astore, self._plan_prune(thread_ids, strategy))

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        return await arun(self.astore, self._plan_delta(config, channels))
