"""``KVCheckpointSaver``: LangGraph's checkpointer contract over the key-value port.

Every operation is a *plan*: a generator that yields port requests (see ``drive``). Sync and
async methods run the same plan with a different driver, so they cannot drift apart. The saver
holds no mutable state, so it is thread-safe whenever its store is.

Round trips (port calls) per operation, whatever the backend:
``put`` 1, ``put_writes`` 1, ``get_tuple`` 1 (the scan follows the record's blob references),
``list(limit=N)`` 1-2, ``get_delta_channel_history`` about 3 however long the chain.
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
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
    get_checkpoint_metadata,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from checkpoint_kv import keys as K
from checkpoint_kv import pending
from checkpoint_kv import records as R
from checkpoint_kv.aio import async_twin
from checkpoint_kv.delta import plan_delta
from checkpoint_kv.drive import (
    Drop,
    Emit,
    Get,
    Partitions,
    Plan,
    Scan,
    StreamPlan,
    Write,
    arun,
    astream,
    run,
    stream,
)
from checkpoint_kv.errors import ConfigError, CorruptRecordError, SerializationError, redact
from checkpoint_kv.groups import Group, always_stored, blob_keys, ids, split, tconf
from checkpoint_kv.groups import covered as _covered
from checkpoint_kv.groups import group as _group
from checkpoint_kv.listing import Lister
from checkpoint_kv.port import (
    AsyncKVStore,
    Delete,
    DeleteRange,
    KVStore,
    Op,
    Put,
    ScanResult,
    frame,
)

__all__ = ["KVCheckpointSaver"]

_log = logging.getLogger("checkpoint_kv")

_LATEST_PAGE = 8  # items in the first page of a "latest" scan: a record and its few writes
_FULL_PAGE = 1000  # items per page when a whole family is read (copy, prune, list all)
_COPY_BATCH = 500  # ops per write call when copying
_EMPTY: R.Typed = ("empty", b"")  # the blob of a channel version without a value (as InMemorySaver)


def _decodes(g: Group) -> bool:
    try:
        g.record  # noqa: B018 - decoding is the check
    except CorruptRecordError:
        return False
    return True


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
        # The "k" after the dot marks a version whose blob is always stored (an empty marker
        # where the channel has no value), so a missing blob is damage, never "empty".
        if current is None:
            n = 0
        elif isinstance(current, (int, float)):
            n = int(current)
        else:
            n = int(current.split(".")[0])
        return f"{n + 1:032}.k{random.getrandbits(64):016x}"

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
        self, g: Group, blobs: Mapping[str, bytes], config: RunnableConfig | None = None
    ) -> CheckpointTuple:
        rec = g.record
        checkpoint: Checkpoint = self._loads(g.key, rec.checkpoint)
        if not isinstance(checkpoint, dict) or not isinstance(
            checkpoint.get("channel_versions", {}), dict
        ):
            raise CorruptRecordError(f"corrupt checkpoint at key {g.key!r}: not a checkpoint")
        bkeys = blob_keys(rec.ns, checkpoint.get("channel_versions", {}))
        if sorted(g.refs) != sorted(bkeys.values()):
            # The reference header sits outside the checksum: it must agree with the record.
            raise CorruptRecordError(f"corrupt record at key {g.key!r}: reference header mismatch")
        writes = pending.merge(g.writes)
        versions = checkpoint.get("channel_versions", {})
        values: dict[str, Any] = {}
        for ch, bkey in bkeys.items():
            raw = blobs.get(bkey)
            if raw is None:
                if always_stored(versions[ch]):
                    raise CorruptRecordError(
                        f"checkpoint at key {g.key!r} references the value of channel {ch!r} "
                        f"at key {bkey!r}, which is missing (deleted, expired or evicted)"
                    )
                continue  # format 1 stored nothing for an empty channel
            typed = R.decode_blob(bkey, raw)
            if typed[0] != _EMPTY[0]:
                values[ch] = self._loads(bkey, typed)
        return CheckpointTuple(
            config=config or tconf(rec.thread_id, rec.ns, rec.checkpoint_id),
            checkpoint={**checkpoint, "channel_values": values},
            metadata=self._loads(g.key, rec.metadata),
            parent_config=tconf(rec.thread_id, rec.ns, rec.parent_id) if rec.parent_id else None,
            pending_writes=[(w.task_id, w.channel, self._loads(w.key, w.value)) for w in writes],
        )

    # --- plans: writes ------------------------------------------------------------------------

    def _plan_put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> Plan[RunnableConfig]:
        thread_id, ns, parent_id = ids(config)
        cp: dict[str, Any] = dict(checkpoint)
        values: dict[str, Any] = cp.pop("channel_values", None) or {}
        cid = str(cp["id"])
        ops: list[Op] = []
        for ch, ver in new_versions.items():
            typed = self._dumps(values[ch], f"channel {ch!r}") if ch in values else _EMPTY
            ops.append(Put(K.blob_key(ns, ch, ver), R.encode_blob(typed)))
        record = R.CheckpointRecord(
            thread_id=thread_id,
            ns=ns,
            checkpoint_id=cid,
            parent_id=parent_id,
            checkpoint=self._dumps(cp, "the checkpoint"),
            metadata=self._dumps(get_checkpoint_metadata(config, metadata), "the metadata"),
        )
        versions = cp.get("channel_versions", {})
        if ns:
            # The namespace index lets list() of a whole thread open namespaces lazily.
            ops.append(Put(K.ns_index_key(ns), K.escape(cid).encode("ascii")))
        rkey = K.record_key(ns, cid)
        refs = list(blob_keys(ns, versions).values())
        ops.append(Put(rkey, frame(refs, R.encode_checkpoint(record)), commit=True))
        if self.shallow and not (metadata or {}).get("counters_since_delta_snapshot"):
            ops += _shallow_cleanup(ns, cid, versions if _snapshots(values) else new_versions)
        yield Write(K.partition(thread_id), ops)
        return tconf(thread_id, ns, cid)

    def _plan_put_writes(
        self,
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
                (WRITES_IDX_MAP.get(ch, i), ch, self._dumps(v, f"the write to {ch!r}"))
                for i, (ch, v) in enumerate(writes)
            ),
        )
        key = K.batch_key(ns, cid, task_id, batch.nonce)
        yield Write(K.partition(thread_id), [Put(key, frame([], R.encode_batch(batch)))])

    # --- plans: reads -------------------------------------------------------------------------

    def _plan_get_tuple(self, config: RunnableConfig) -> Plan[CheckpointTuple | None]:
        thread_id, ns, cid = ids(config)
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
    ) -> Plan[tuple[Group, dict[str, bytes]] | None]:
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

        def lister(part: str) -> Lister:
            return Lister(
                part,
                emit=self._tuple,
                match=lambda g: self._match(g, filter),
                before_id=before_id,
                remaining=remaining,
                shallow=self.shallow,
                follow=not filter,
            )

        if config is None:
            cursor: str | None = None
            while True:
                page = yield Partitions(cursor)
                for part in page.partitions:
                    yield from lister(part).plan(None)
                    if remaining[0] is not None and remaining[0] <= 0:
                        return
                cursor = page.cursor
                if cursor is None:
                    return

        thread_id, _, cid = ids(config)
        conf = config.get("configurable", {})
        ns = conf.get("checkpoint_ns")
        part = K.partition(thread_id)
        if cid is not None:
            ns = ns or ""
            res: ScanResult = yield Scan(
                part, *K.prefix_range(K.checkpoint_prefix(ns, cid)), follow=1
            )
            for g in _group(res.items, reverse=False):
                if (before_id is None or g.record.checkpoint_id < before_id) and self._match(
                    g, filter
                ):
                    yield Emit(self._tuple(g, res.refs))
            return
        yield from lister(part).plan(None if ns is None else str(ns))

    def _match(self, g: Group, filter: dict[str, Any] | None) -> bool:
        if not filter:
            return True
        md = self._loads(g.key, g.record.metadata)
        return all(md.get(k) == v for k, v in filter.items())

    def _read_all(
        self, part: str, family: tuple[str, str] = K.ALL_CHECKPOINTS
    ) -> Plan[list[Group]]:
        """Every checkpoint of a partition, with its writes. Pages go newest first: every
        backend reads a descending page of ``limit`` items without listing the rest (S3 lists
        ascending keys only, so it stores them inverted)."""
        start, end = family
        items: list[tuple[str, bytes]] = []
        while True:
            res: ScanResult = yield Scan(part, start, end, reverse=True, limit=_FULL_PAGE)
            items += res.items
            if len(res.items) < _FULL_PAGE:
                break
            end = res.items[-1][0]
        return _group(items, reverse=True)

    def _versions(self, g: Group) -> ChannelVersions:
        cp = self._loads(g.key, g.record.checkpoint)
        return dict(cp.get("channel_versions", {}))

    # --- plans: maintenance -------------------------------------------------------------------

    def _plan_copy(self, source: str, target: str) -> Plan[None]:
        """Blobs and writes are copied page by page; the (small) records are held back and
        written last, so a copied checkpoint becomes visible only once its data is there."""
        src, dst = K.partition(source), K.partition(target)
        recs: list[Op] = []
        damaged: list[str] = []
        for start, end in (K.ALL_BLOBS, K.ALL_NS_INDEX, K.ALL_CHECKPOINTS):
            while True:
                res: ScanResult = yield Scan(src, start, end, reverse=True, limit=_FULL_PAGE)
                data: list[Op] = []
                for key, value in res.items:
                    if K.is_record(key):
                        try:
                            refs, payload = split(key, value)
                            r = R.decode_checkpoint(key, payload)
                        except CorruptRecordError:
                            damaged.append(key)  # the healthy ones are still copied
                            continue
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
                end = res.items[-1][0]
        for i in range(0, len(recs), _COPY_BATCH):
            yield Write(dst, recs[i : i + _COPY_BATCH])
        if damaged:
            raise CorruptRecordError(
                f"copied thread {source!r} to {target!r} except {len(damaged)} damaged "
                f"checkpoint record(s), not copied: {damaged[:5]!r}"
            )

    @staticmethod
    def _drop(part: str, dead: list[Group], kept: list[Group]) -> Plan[None]:
        """Delete the dead checkpoints in reverse of how they were written: their records
        first (one write), then their writes and the blobs that only they referenced. A crash
        or a concurrent reader in between sees fewer checkpoints, never one without its data;
        and a blob a concurrent put wrote but has not yet committed is referenced by no dead
        record, so it is never deleted (no range deletes over blobs)."""
        yield Write(part, [Delete(g.key) for g in dead])
        live = {k for g in kept for k in g.refs}
        ops: list[Op] = [
            DeleteRange(*K.prefix_range(K.checkpoint_prefix(g.record.ns, g.record.checkpoint_id)))
            for g in dead
        ]
        ops += [Delete(k) for k in sorted({k for g in dead for k in g.refs} - live)]
        for i in range(0, len(ops), _COPY_BATCH):
            yield Write(part, ops[i : i + _COPY_BATCH])

    def _plan_prune(
        self, thread_ids: Sequence[str], strategy: str, skip_corrupt: bool = False
    ) -> Plan[None]:
        """A namespace holding a damaged record is left as it is (what it needs cannot be
        known) and named: in the ``CorruptRecordError`` raised once the rest is pruned, or,
        with ``skip_corrupt``, in a warning."""
        if strategy not in ("keep_latest", "delete"):
            raise ConfigError(f"unknown prune strategy {strategy!r}: use 'keep_latest' or 'delete'")
        damaged: list[str] = []
        for tid in thread_ids:
            part = K.partition(tid)
            if strategy == "delete":
                yield Drop(part)
                continue
            groups = yield from self._read_all(part)
            by_ns: dict[str, list[Group]] = {}
            for g in groups:
                by_ns.setdefault(g.sort_id[1], []).append(g)
            kept: list[Group] = []
            for gs in by_ns.values():
                try:
                    kept += yield from self._keep(part, gs)
                except CorruptRecordError:
                    bad = [g.key for g in gs if not _decodes(g)]
                    damaged += bad or [gs[-1].key]
                    kept += gs
            kept_keys = {g.key for g in kept}
            dead = [g for g in groups if g.key not in kept_keys]
            if dead:
                yield from self._drop(part, dead, kept)
        if damaged and not skip_corrupt:
            raise CorruptRecordError(
                f"prune left {len(damaged)} namespace(s) as they were: damaged record(s) "
                f"{damaged[:5]!r}; the rest is pruned (skip_corrupt=True only warns)"
            )
        if damaged:
            _log.warning("prune skipped namespaces with damaged records: %r", damaged[:20])

    def _keep(self, part: str, gs: list[Group]) -> Plan[list[Group]]:
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
        found = yield Get(part, sorted(set(wanted.values())))
        seeds = {k for k, v in found.items() if R.decode_blob(k, v)[0] != _EMPTY[0]}
        kept: list[Group] = []
        for g in chain:
            kept.append(g)
            need = {ch for ch in need if wanted.get((g.key, ch)) not in seeds}
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
                    yield from self._drop(part, dead, [g for g in groups if g.key not in dead_keys])
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

    def prune(
        self,
        thread_ids: Sequence[str],
        *,
        strategy: str = "keep_latest",
        skip_corrupt: bool = False,
    ) -> None:
        run(self.store, self._plan_prune(thread_ids, strategy, skip_corrupt))

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        return run(self.store, plan_delta(self._loads, config, channels))

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

    async def aprune(
        self,
        thread_ids: Sequence[str],
        *,
        strategy: str = "keep_latest",
        skip_corrupt: bool = False,
    ) -> None:
        await arun(self.astore, self._plan_prune(thread_ids, strategy, skip_corrupt))

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        return await arun(self.astore, plan_delta(self._loads, config, channels))
