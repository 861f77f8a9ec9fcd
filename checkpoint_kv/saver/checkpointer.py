"""``KVCheckpointSaver``: LangGraph's checkpointer contract over the key-value port.

A facade: each method picks a *plan* (a generator that yields port requests, see ``drive``) and
runs it with the sync or the async driver, so the two cannot drift apart. The plans live in
modules named for what they do: ``writes`` (put, put_writes), ``reads`` (get_tuple, list),
``delta`` (DeltaChannel history), ``maintenance`` (prune, delete_for_runs, copy). The saver
holds no state but hints (``locator``) and histories read ahead for a listed page (``pages``),
both thread-safe, so it is thread-safe whenever its store is.

Round trips (port calls) per operation, whatever the backend:
``put`` 1, ``put_writes`` 1, ``get_tuple`` 1 (the scan follows the record's blob references),
``list(limit=N)`` 1-2, ``get_delta_channel_history`` 1 after a ``get_tuple`` of the same
checkpoint (its counters size the scan), else 2, however long the chain; a DeltaChannel
``get_state_history`` page: the listing and one history read (``pages``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    DeltaChannelHistory,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from checkpoint_kv import keys as K
from checkpoint_kv.aio import async_twin
from checkpoint_kv.drive import Plan, arun, astream, run, stream
from checkpoint_kv.envelope import Compressor
from checkpoint_kv.errors import ConfigError, redact
from checkpoint_kv.port import AsyncKVStore, KVStore
from checkpoint_kv.saver.codec import Codec
from checkpoint_kv.saver.configs import ids
from checkpoint_kv.saver.delta import plan_delta
from checkpoint_kv.saver.locator import Locator
from checkpoint_kv.saver.pages import HistoryPages
from checkpoint_kv.saver.reads import plan_get_tuple, plan_list
from checkpoint_kv.saver.versions import next_version
from checkpoint_kv.saver.writes import plan_put, plan_put_writes

__all__ = ["KVCheckpointSaver"]


def compressor(name: str | None) -> Compressor | None:
    """The ``compress=`` option: ``zstd``, or ``none``/empty for none."""
    if name is None or name.strip().lower() in ("", "none", "off", "false", "0"):
        return None
    if name.strip().lower() == "zstd":
        return Compressor()
    raise ConfigError(f"compress={name!r}: use compress=zstd or compress=none")


def _thread_of(config: RunnableConfig | None) -> str | None:
    thread_id = (config or {}).get("configurable", {}).get("thread_id")
    return None if thread_id is None else str(thread_id)


class KVCheckpointSaver(BaseCheckpointSaver[str]):
    """A LangGraph checkpointer over any :class:`~checkpoint_kv.port.KVStore`.

    Args:
        store: the backend (see ``checkpoint_kv.from_url``).
        serde: LangGraph serializer (default: ``JsonPlusSerializer``, no pickle).
        shallow: keep only the latest checkpoint per namespace (and its writes); superseded
            records, writes and blobs are removed in the same write as the new checkpoint.
        astore: the async twin of ``store`` (default: the backend's own, else a thread pool).
        compress: ``"zstd"`` stores records, writes and blobs zstd-compressed when that is
            smaller (``?compress=zstd``; fewer bytes, DynamoDB write units and Redis memory for
            some CPU: numbers in docs/ARCHITECTURE.md); every release since reads both.
    """

    def __init__(
        self,
        store: KVStore,
        *,
        serde: SerializerProtocol | None = None,
        shallow: bool = False,
        astore: AsyncKVStore | None = None,
        compress: str | None = None,
    ) -> None:
        super().__init__(serde=serde)
        self.store = store
        self.astore = astore if astore is not None else async_twin(store)
        self.shallow = shallow
        self.compress = compressor(compress)
        self._locator = Locator()  # where recent values live (see locator.py)
        self._pages = HistoryPages()  # histories read ahead for a page being listed

    def __repr__(self) -> str:
        extra = f", compress={self.compress.name!r}" if self.compress else ""
        return redact(f"KVCheckpointSaver(store={self.store!r}, shallow={self.shallow}{extra})")

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
        """Ours sort lexically and carry random bits: see :mod:`checkpoint_kv.saver.versions`."""
        return next_version(current)

    @property
    def _codec(self) -> Codec:
        grow = getattr(self.store, "grows_values", True)
        return Codec(self.serde, self._locator, grow, self.compress)

    # --- the BaseCheckpointSaver API: sync ----------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return run(self.store, plan_get_tuple(self._codec, config))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        plan = plan_list(self._codec, self.shallow, config, filter, before, limit)
        return self._pages.watch(_thread_of(config), stream(self.store, plan))

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return run(
            self.store,
            plan_put(self._codec, self.shallow, config, checkpoint, metadata, new_versions),
        )

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self._pages.forget([_thread_of(config) or ""])  # a descendant's history changes
        run(self.store, plan_put_writes(self._codec, config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        self._locator.forget([thread_id])
        self._pages.forget([thread_id])
        self.store.drop(K.partition(thread_id))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        from checkpoint_kv.saver.maintenance import (
            plan_delete_for_runs,  # lazy: keeps the import cheap
        )

        try:
            run(self.store, plan_delete_for_runs(self._codec, run_ids))
        finally:  # records may be gone or rewritten
            self._locator.clear()

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        from checkpoint_kv.saver.maintenance import plan_copy_thread  # lazy: keeps the import cheap

        run(self.store, plan_copy_thread(source_thread_id, target_thread_id))

    def prune(
        self,
        thread_ids: Sequence[str],
        *,
        strategy: str = "keep_latest",
        skip_corrupt: bool = False,
    ) -> None:
        from checkpoint_kv.saver.maintenance import plan_prune  # lazy: keeps the import cheap

        try:
            run(self.store, plan_prune(self._codec, thread_ids, strategy, skip_corrupt))
        finally:  # records may be gone or rewritten
            self._locator.forget(thread_ids)
            self._pages.forget(thread_ids)

    def _plan_delta(
        self, config: RunnableConfig, channels: Sequence[str]
    ) -> Plan[dict[str, DeltaChannelHistory]]:
        """The histories, read ahead with a page being listed if any (``pages``)."""
        thread_id, ns, cid = ids(config)
        kept = self._pages.take(thread_id, ns, cid, channels)
        if kept is not None:
            return kept
        hint = self._locator.counters(thread_id, ns, cid)
        below = self._pages.ahead(thread_id, ns, cid)
        top, others = yield from plan_delta(self._codec.loads, config, channels, hint, below)
        self._pages.keep(thread_id, ns, channels, others)
        return top

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        return run(self.store, self._plan_delta(config, channels))

    # --- the BaseCheckpointSaver API: async ---------------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await arun(self.astore, plan_get_tuple(self._codec, config))

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        plan = plan_list(self._codec, self.shallow, config, filter, before, limit)
        async for item in self._pages.awatch(_thread_of(config), astream(self.astore, plan)):
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await arun(
            self.astore,
            plan_put(self._codec, self.shallow, config, checkpoint, metadata, new_versions),
        )

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self._pages.forget([_thread_of(config) or ""])  # a descendant's history changes
        await arun(self.astore, plan_put_writes(self._codec, config, writes, task_id, task_path))

    async def adelete_thread(self, thread_id: str) -> None:
        self._locator.forget([thread_id])
        self._pages.forget([thread_id])
        await self.astore.drop(K.partition(thread_id))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        from checkpoint_kv.saver.maintenance import (
            plan_delete_for_runs,  # lazy: keeps the import cheap
        )

        try:
            await arun(self.astore, plan_delete_for_runs(self._codec, run_ids))
        finally:  # records may be gone or rewritten
            self._locator.clear()

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        from checkpoint_kv.saver.maintenance import plan_copy_thread  # lazy: keeps the import cheap

        await arun(self.astore, plan_copy_thread(source_thread_id, target_thread_id))

    async def aprune(
        self,
        thread_ids: Sequence[str],
        *,
        strategy: str = "keep_latest",
        skip_corrupt: bool = False,
    ) -> None:
        from checkpoint_kv.saver.maintenance import plan_prune  # lazy: keeps the import cheap

        try:
            await arun(self.astore, plan_prune(self._codec, thread_ids, strategy, skip_corrupt))
        finally:  # records may be gone or rewritten
            self._locator.forget(thread_ids)
            self._pages.forget(thread_ids)

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        return await arun(self.astore, self._plan_delta(config, channels))
