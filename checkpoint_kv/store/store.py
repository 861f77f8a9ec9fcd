"""``KVBaseStore``: LangGraph's ``BaseStore`` (long-term memory) over the key-value port.

Same backends and URLs as the checkpointer (``checkpoint_kv.store_from_url``). ``batch`` and
``abatch`` differ only in I/O: embeddings are computed first (the caller's sync or async
function), then one plan (``plans.py``) runs through ``drive.run`` or ``drive.arun``, in
one of the store's in-flight slots (``inflight.py``: a burst queues there, never in a pool).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from langgraph.store.base import (
    BaseStore,
    IndexConfig,
    InvalidNamespaceError,
    Op,
    PutOp,
    Result,
    SearchOp,
    TTLConfig,
    ensure_embeddings,
    validate_op_namespace,
)

from checkpoint_kv import drive
from checkpoint_kv.aio import async_twin
from checkpoint_kv.errors import ConfigError
from checkpoint_kv.port import KVStore
from checkpoint_kv.store.inflight import InFlight, limit_for
from checkpoint_kv.store.layout import to_micros
from checkpoint_kv.store.plans import Batch, IndexCache, plan_batch, plan_sweep
from checkpoint_kv.store.ttl import AsyncSweeper, ThreadSweeper
from checkpoint_kv.store.vectors import distance_type, index_fields, texts_to_embed

__all__ = ["KVBaseStore"]


class KVBaseStore(BaseStore):
    """Long-term memory on a checkpoint-kv backend.

    ``index``: LangGraph's ``IndexConfig`` (``dims``, ``embed``, ``fields``, and
    ``PostgresStore``'s ``distance_type``: ``cosine``, ``l2`` or ``inner_product``) for semantic
    search, similarity computed client-side. ``ttl``: LangGraph's ``TTLConfig``
    (``default_ttl`` minutes, ``refresh_on_read``, ``sweep_interval_minutes``); expired items
    are never returned, whether swept yet or not. ``clock``: seconds since the epoch (tests
    pass a fake one). ``max_in_flight``: batches run against the backend at once (default: the
    backend's pool size, see ``inflight.py``); more wait their turn. The store closes
    ``store`` on ``close()`` unless ``owns_store=False``.
    """

    supports_ttl = True

    def __init__(
        self,
        store: KVStore,
        *,
        index: IndexConfig | None = None,
        ttl: TTLConfig | None = None,
        clock: Callable[[], float] | None = None,
        owns_store: bool = True,
        max_in_flight: int | None = None,
    ) -> None:
        self.store = store
        self.astore = async_twin(store)
        self.index_config = dict(index) if index else None
        self.embeddings = ensure_embeddings(index.get("embed")) if index else None
        if index and self.embeddings is None:
            raise ConfigError("index= needs an 'embed' function or Embeddings")
        self._fields = index_fields(index) if index else []
        self._distance = distance_type(index) if index else "cosine"
        self._inflight = InFlight(limit_for(store, max_in_flight))
        self.ttl_config = ttl
        self._clock = clock or time.time
        self._indexed = IndexCache()
        self._owns = owns_store
        self._sweeper: ThreadSweeper | None = None
        self._asweeper: AsyncSweeper | None = None

    def __repr__(self) -> str:
        return f"KVBaseStore({self.store!r})"

    @property
    def max_in_flight(self) -> int:
        """Batches run against the backend at once; the rest wait their turn."""
        return self._inflight.limit

    # --- batch ------------------------------------------------------------------------------

    def _prepare(self, ops: Iterable[Op]) -> tuple[Batch, list[str], list[tuple[Any, str]]]:
        ops = list(ops)
        for op in ops:
            validate_op_namespace(op)
            if isinstance(op, PutOp) and not op.namespace:
                raise InvalidNamespaceError("Namespace cannot be empty.")
        b = Batch(ops, to_micros(self._clock()), self._indexed, self._distance)
        queries: list[str] = []
        texts: list[tuple[Any, str]] = []
        if self.embeddings is not None:
            queries = list(
                dict.fromkeys(op.query for op in ops if isinstance(op, SearchOp) and op.query)
            )
            last: dict[tuple[Any, str], PutOp] = {}
            for op in ops:
                if isinstance(op, PutOp):
                    last[(tuple(op.namespace), op.key)] = op
            texts = list(texts_to_embed(list(last.values()), self._fields).items())
        return b, queries, texts

    @staticmethod
    def _fill(
        b: Batch,
        queries: list[str],
        qvecs: list[list[float]],
        texts: list[tuple[Any, str]],
        unique: list[str],
        dvecs: list[list[float]],
    ) -> None:
        if len(qvecs) != len(queries) or len(dvecs) != len(unique):
            raise ValueError(
                f"the embedding function returned {len(qvecs) + len(dvecs)} vectors "
                f"for {len(queries) + len(unique)} texts"
            )
        b.query_vectors = dict(zip(queries, qvecs, strict=True))
        by_text = dict(zip(unique, dvecs, strict=True))
        b.put_vectors = {where: by_text[text] for where, text in texts}

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        b, queries, texts = self._prepare(ops)
        if self.embeddings is not None and (queries or texts):
            unique = list(dict.fromkeys(t for _, t in texts))
            qvecs = [self.embeddings.embed_query(q) for q in queries]
            dvecs = self.embeddings.embed_documents(unique) if unique else []
            self._fill(b, queries, qvecs, texts, unique, dvecs)
        with self._inflight.sync:
            return drive.run(self.store, plan_batch(b))

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        b, queries, texts = self._prepare(ops)
        if self.embeddings is not None and (queries or texts):
            unique = list(dict.fromkeys(t for _, t in texts))
            qvecs = [await self.embeddings.aembed_query(q) for q in queries]
            dvecs = await self.embeddings.aembed_documents(unique) if unique else []
            self._fill(b, queries, qvecs, texts, unique, dvecs)
        async with self._inflight.here():
            return await drive.arun(self.astore, plan_batch(b))

    # --- TTL --------------------------------------------------------------------------------

    def sweep_ttl(self) -> int:
        """Delete expired items now; returns how many were deleted."""
        with self._inflight.sync:
            return drive.run(self.store, plan_sweep(to_micros(self._clock())))

    async def asweep_ttl(self) -> int:
        async with self._inflight.here():
            return await drive.arun(self.astore, plan_sweep(to_micros(self._clock())))

    def _interval_s(self, minutes: float | None) -> float:
        minutes = minutes or (self.ttl_config or {}).get("sweep_interval_minutes") or 5
        return float(minutes) * 60

    def start_ttl_sweeper(self, sweep_interval_minutes: float | None = None) -> Any:
        """Sweep every ``sweep_interval_minutes`` (default: the TTL config's, else 5) from a
        daemon thread; returns a ``concurrent.futures.Future`` done when the sweeper stops."""
        if self._sweeper is None:
            self._sweeper = ThreadSweeper(self.sweep_ttl, self._interval_s(sweep_interval_minutes))
        return self._sweeper.future

    def stop_ttl_sweeper(self, timeout: float | None = None) -> bool:
        sweeper, self._sweeper = self._sweeper, None
        return sweeper.stop(timeout) if sweeper is not None else True

    async def astart_ttl_sweeper(self, sweep_interval_minutes: float | None = None) -> Any:
        """The async twin: an ``asyncio.Task`` on the running loop."""
        if self._asweeper is None:
            self._asweeper = AsyncSweeper(self.asweep_ttl, self._interval_s(sweep_interval_minutes))
        return self._asweeper.task

    async def astop_ttl_sweeper(self, timeout: float | None = None) -> bool:
        sweeper, self._asweeper = self._asweeper, None
        return await sweeper.stop(timeout) if sweeper is not None else True

    # --- lifecycle --------------------------------------------------------------------------

    def setup(self) -> None:
        """Create the table/bucket if missing (idempotent), as the saver's ``setup``."""
        self.store.setup()

    async def asetup(self) -> None:
        await self.astore.setup()

    def close(self) -> None:
        self.stop_ttl_sweeper()
        if self._owns:
            self.store.close()

    async def aclose(self) -> None:
        await self.astop_ttl_sweeper()
        self.stop_ttl_sweeper()
        if self._owns:
            await self.astore.close()
            self.store.close()

    def _sweeps(self) -> bool:
        return bool((self.ttl_config or {}).get("sweep_interval_minutes"))

    def __enter__(self) -> KVBaseStore:
        if self._sweeps():
            self.start_ttl_sweeper()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> KVBaseStore:
        if self._sweeps():
            await self.astart_ttl_sweeper()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
