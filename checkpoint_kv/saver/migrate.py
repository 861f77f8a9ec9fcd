"""Copy threads from one store to another, through the port, so a graph resumes on the
destination exactly where it stopped on the source. One idea, ``copy_threads`` with its report,
progress and verification, a little over 300 lines (the copy itself is :mod:`.copying`; to
and from other savers, :mod:`.interop`).

A thread is a partition; copying it copies its keys unchanged (checkpoint records, pending
writes, blobs, the namespace index), so ids, parents and the raw thread id inside each record
stay as they were. The copy itself is ``copying.plan_copy``, the routine ``copy_thread`` runs
too: pages newest first, records written last (a checkpoint becomes visible on the destination
only with everything it needs), every put ``if_absent`` so a re-run after an interruption writes
only what is missing and never overwrites a thread that went on running on the destination.
Here it runs between two stores, batched (at most ``batch_size`` ops / ``batch_bytes`` bytes
per write), with progress, and at the end each partition is re-read on the destination: every
source key must be there.

Ported engines need nothing else: the same function copies SQLite to Redis, Redis to
DynamoDB, or back.

Any other LangGraph saver can be either side too (``SqliteSaver``, ``PostgresSaver``,
``RedisSaver``, ``InMemorySaver``..., as an object or by a ``langgraph+sqlite:///...``,
``langgraph+postgres://...``, ``langgraph+redis://...`` URL): then the copy goes through the
savers' public API (:mod:`checkpoint_kv.saver.interop`), with the same report, progress,
verification and re-run guarantees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from typing import Any, TypeAlias

from langgraph.checkpoint.base import BaseCheckpointSaver

from checkpoint_kv import keys as K
from checkpoint_kv.drive import run_pair
from checkpoint_kv.errors import (
    CheckpointKVError,
    ConfigError,
    ThreadNotFoundError,
    redact_url,
)
from checkpoint_kv.port import KVStore
from checkpoint_kv.registry import open_store
from checkpoint_kv.saver import KVCheckpointSaver
from checkpoint_kv.saver import records as R
from checkpoint_kv.saver.copying import CopyJob, families, plan_copy
from checkpoint_kv.saver.foreign import is_foreign, open_side
from checkpoint_kv.saver.interop import ForeignCopy, copy_saver_threads

__all__ = [
    "CopyProgress",
    "CopyReport",
    "CopyVerificationError",
    "ThreadCopy",
    "ThreadNotFoundError",
    "all_partitions",
    "copy_threads",
    "thread_id_of",
]

StoreLike: TypeAlias = "str | KVStore | BaseCheckpointSaver[Any]"


class CopyVerificationError(CheckpointKVError):
    """After a copy, some source keys are missing on the destination (``report`` says which
    threads); re-running the copy is safe and writes only what is missing."""

    def __init__(self, message: str, report: CopyReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class ThreadCopy:
    """What happened to one thread. Counts are keys on the source; ``copied`` were written,
    ``skipped`` were already on the destination."""

    partition: str
    thread_id: str
    checkpoints: int = 0
    writes: int = 0
    blobs: int = 0
    copied: int = 0
    skipped: int = 0
    verified: bool | None = None  # None: verification was not asked for
    missing: int = 0  # source keys absent on the destination after the copy


@dataclass
class CopyReport:
    threads: list[ThreadCopy] = field(default_factory=list)
    read_calls: int = 0
    write_calls: int = 0

    @property
    def ok(self) -> bool:
        return all(t.verified is not False for t in self.threads)

    def totals(self) -> dict[str, int]:
        keys = ("checkpoints", "writes", "blobs", "copied", "skipped", "missing")
        return {k: sum(getattr(t, k) for t in self.threads) for k in keys}

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "threads": [asdict(t) for t in self.threads],
            "totals": self.totals(),
            "read_calls": self.read_calls,
            "write_calls": self.write_calls,
        }


@dataclass(frozen=True)
class CopyProgress:
    """Passed to the ``progress`` callback after every batch."""

    thread_index: int  # 0-based
    thread_count: int
    thread_id: str
    keys_done: int  # keys of this thread handled so far (copied or skipped)
    total_keys_done: int
    finished: bool = False  # True once for every thread, after its verification


# --- helpers shared with the command line --------------------------------------------------


def thread_id_of(key: str, value: bytes) -> str:
    """The raw thread id carried by a checkpoint record."""
    return R.decode_stored_checkpoint(key, value)[1].thread_id


def all_partitions(store: KVStore) -> Iterator[str]:
    """Every partition of ``store``, following the cursor."""
    cursor: str | None = None
    while True:
        page = store.partitions(cursor)
        yield from page.partitions
        cursor = page.cursor
        if cursor is None:
            return


def _open(target: StoreLike, stack: ExitStack) -> tuple[KVStore, str]:
    if isinstance(target, str):
        store = open_store(target)
        stack.callback(store.close)
        return store, redact_url(target)
    if isinstance(target, KVCheckpointSaver):
        return target.store, repr(target.store)
    if isinstance(target, BaseCheckpointSaver):  # not reached: copy_threads routes it
        raise ConfigError(f"{type(target).__name__} is not a checkpoint-kv store")
    return target, repr(target)


# --- the copy -------------------------------------------------------------------------------


class _Copier:
    def __init__(
        self,
        src: KVStore,
        dst: KVStore,
        report: CopyReport,
        *,
        page_size: int,
        batch_size: int,
        batch_bytes: int,
        progress: Callable[[CopyProgress], None] | None,
    ) -> None:
        self.src, self.dst, self.report = src, dst, report
        self.page_size, self.batch_size, self.batch_bytes = page_size, batch_size, batch_bytes
        self.progress = progress
        self.total_done = 0

    def _scan(self, store: KVStore, part: str, start: str, end: str, limit: int | None) -> Any:
        self.report.read_calls += 1
        return store.scan(part, start, end, limit=limit)

    def exists(self, part: str) -> bool:
        return bool(self._scan(self.src, part, *K.ALL_CHECKPOINTS, 1).items)

    def copy(
        self, part: str, index: int, count: int, known_id: str | None
    ) -> tuple[ThreadCopy, set[str]]:
        base = self.total_done

        def on_page(done: int) -> None:
            self.total_done = base + done
            self.tick(index, count, tc.thread_id, done)

        tc = ThreadCopy(part, known_id or K.unescape(part))
        job = CopyJob(
            part,
            part,
            keep_existing=True,
            page_size=self.page_size,
            batch_size=self.batch_size,
            batch_bytes=self.batch_bytes,
            on_page=on_page,
        )
        try:
            run_pair(self.src, self.dst, plan_copy(job))
        finally:
            if known_id is None and job.found_thread_id is not None:
                tc.thread_id = job.found_thread_id
            for name in ("checkpoints", "writes", "blobs", "copied", "skipped"):
                setattr(tc, name, getattr(job, name))
            self.report.read_calls += job.reads
            self.report.write_calls += job.write_calls
        return tc, job.keys

    def verify(self, tc: ThreadCopy, src_keys: set[str]) -> None:
        seen: set[str] = set()
        for start, end in families(tc.partition):
            while True:
                items = self._scan(self.dst, tc.partition, start, end, self.page_size).items
                seen.update(k for k, _ in items)
                if len(items) < self.page_size:
                    break
                start = items[-1][0] + K.SEP
        tc.missing = len(src_keys - seen)
        tc.verified = tc.missing == 0

    def tick(self, index: int, count: int, thread_id: str, done: int, fin: bool = False) -> None:
        if self.progress is not None:
            self.progress(CopyProgress(index, count, thread_id, done, self.total_done, fin))


def copy_threads(
    src: StoreLike,
    dst: StoreLike,
    threads: Iterable[str] | None = None,
    *,
    verify: bool = True,
    setup: bool = False,
    progress: Callable[[CopyProgress], None] | None = None,
    page_size: int = 1000,
    batch_size: int = 500,
    batch_bytes: int = 4 << 20,
) -> CopyReport:
    """Copy threads (every checkpoint, pending write and blob) from ``src`` to ``dst``.

    ``src``/``dst`` are URLs (opened and closed here), savers or stores; either may be another
    LangGraph saver (an object, or ``langgraph+sqlite:///file.db``,
    ``langgraph+postgres://...``, ``langgraph+redis://...``, ``langgraph+memory://``), copied
    through the public saver API (:mod:`~checkpoint_kv.saver.interop`). ``threads`` are raw
    thread ids; ``None`` copies every thread. Safe to re-run: keys already on the destination
    are skipped, never overwritten. ``setup=True`` creates the destination's table/bucket
    first. Raises ``ThreadNotFoundError`` (before copying anything) for a named thread the
    source does not have, and ``CopyVerificationError`` if, after the copy, a source key is
    missing on the destination.
    """
    if page_size < 1 or batch_size < 1 or batch_bytes < 1:
        raise ConfigError("page_size, batch_size and batch_bytes must be positive")
    if (isinstance(src, str) and isinstance(dst, str) and src == dst) or src is dst:
        raise ConfigError("source and destination are the same store")
    report = CopyReport()
    if is_foreign(src) or is_foreign(dst):
        return _copy_foreign(src, dst, threads, verify=verify, setup=setup, progress=progress)
    with ExitStack() as stack:
        s, s_name = _open(src, stack)
        d, _ = _open(dst, stack)
        if setup:
            d.setup()
        copier = _Copier(
            s,
            d,
            report,
            page_size=page_size,
            batch_size=batch_size,
            batch_bytes=batch_bytes,
            progress=progress,
        )
        wanted: list[tuple[str, str | None]]
        if threads is None:
            wanted = [(p, None) for p in all_partitions(s)]
        else:
            wanted = [(K.partition(t), t) for t in dict.fromkeys(threads)]
            absent = [t for p, t in wanted if not copier.exists(p)]
            if absent:
                names = ", ".join(repr(t) for t in absent)
                raise ThreadNotFoundError(f"{s_name}: no such thread: {names}; nothing was copied")
        for i, (part, tid) in enumerate(wanted):
            tc, src_keys = copier.copy(part, i, len(wanted), tid)
            if verify:
                copier.verify(tc, src_keys)
            report.threads.append(tc)
            copier.tick(i, len(wanted), tc.thread_id, tc.copied + tc.skipped, True)
        if not report.ok:
            bad = [t.thread_id for t in report.threads if t.verified is False]
            raise CopyVerificationError(
                f"{sum(t.missing for t in report.threads)} key(s) of {len(bad)} thread(s) "
                f"missing on the destination after the copy ({', '.join(map(repr, bad[:5]))}); "
                "re-run the copy: it writes only what is missing",
                report,
            )
    return report


def _copy_foreign(
    src: StoreLike,
    dst: StoreLike,
    threads: Iterable[str] | None,
    *,
    verify: bool,
    setup: bool,
    progress: Callable[[CopyProgress], None] | None,
) -> CopyReport:
    """``copy_threads`` when either side is another LangGraph saver (see ``interop``)."""
    report = CopyReport()
    with ExitStack() as stack:
        s, s_name = open_side(src, stack, destination=False)
        d, _ = open_side(dst, stack, destination=True, setup=setup)
        if s is d:
            raise ConfigError("source and destination are the same saver")
        base = [0]

        def on_thread(i: int, n: int, tid: str, fc: ForeignCopy | None, done: int) -> None:
            if fc is not None:
                report.threads.append(_thread_copy(fc))
                report.read_calls += fc.reads
                report.write_calls += fc.write_calls
                base[0] += done
            if progress is not None:
                total = base[0] if fc is not None else base[0] + done
                progress(CopyProgress(i, n, tid, done, total, fc is not None))

        copy_saver_threads(s, d, threads, src_name=s_name, verify=verify, on_thread=on_thread)
    if not report.ok:
        bad = [t.thread_id for t in report.threads if t.verified is False]
        raise CopyVerificationError(
            f"{sum(t.missing for t in report.threads)} checkpoint(s) or write(s) of "
            f"{len(bad)} thread(s) missing on the destination after the copy "
            f"({', '.join(map(repr, bad[:5]))}); re-run the copy: it writes only what is missing",
            report,
        )
    return report


def _thread_copy(fc: ForeignCopy) -> ThreadCopy:
    return ThreadCopy(
        K.partition(fc.thread_id),
        fc.thread_id,
        checkpoints=fc.checkpoints,
        writes=fc.writes,
        copied=fc.copied,
        skipped=fc.skipped,
        verified=fc.verified,
        missing=fc.missing,
    )
