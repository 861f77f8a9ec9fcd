"""Copying one thread's keys: the one routine behind ``copy_thread`` (same store, new thread
id) and ``copy_threads`` (another store, same thread id).

The source is read newest first, page by page (every backend reads a descending page without
listing the rest). Blobs, the namespace index and pending writes are written as they are read;
the (small) checkpoint records are held back and written last, so a copied checkpoint becomes
visible only once everything it needs is there: an interrupted copy shows fewer checkpoints,
never one without its data. A damaged source record is not copied; the healthy ones are, and
the copy then raises ``CorruptRecordError`` naming the damaged keys.

With ``keep_existing`` every put is ``if_absent`` and each page first asks the destination what
it already holds: a re-run after an interruption writes only what is missing and never
overwrites a thread that went on running on the destination.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from checkpoint_kv import keys as K
from checkpoint_kv import records as R
from checkpoint_kv.drive import OnTarget, Plan, Scan, Write
from checkpoint_kv.errors import CorruptRecordError
from checkpoint_kv.port import Op, Put, ScanResult

__all__ = ["PAGE", "CopyJob", "families", "plan_copy"]

PAGE = 1000  # source items per scan
BATCH = 500  # ops per destination write
BATCH_BYTES = 4 << 20  # bytes per destination write
_FAMILIES = (K.ALL_BLOBS, K.ALL_NS_INDEX, K.ALL_CHECKPOINTS)
_EVERY_KEY = (("!", "~"),)  # a memory-store partition: its keys (v!, t!, x!) as they are


@dataclass
class CopyJob:
    """What to copy and how; the counters are filled in as the copy runs."""

    source: str  # partition
    target: str  # partition
    thread_id: str | None = None  # raw id written into the records (None: keep theirs)
    keep_existing: bool = False
    page_size: int | None = None  # default PAGE
    batch_size: int = BATCH
    batch_bytes: int = BATCH_BYTES
    on_page: Callable[[int], None] | None = None  # items read so far, after each page
    blobs: int = 0
    checkpoints: int = 0
    writes: int = 0
    copied: int = 0
    skipped: int = 0
    reads: int = 0  # port calls, both stores
    write_calls: int = 0
    keys: set[str] = field(default_factory=set)  # every source key read
    found_thread_id: str | None = None  # the raw id carried by the source's records
    damaged: list[str] = field(default_factory=list)


def families(part: str) -> tuple[tuple[str, str], ...]:
    """The key ranges a copy of ``part`` reads: a thread's key families, or every key of a
    memory-store partition."""
    return _FAMILIES if K.is_thread_partition(part) else _EVERY_KEY


def _batches(ops: Sequence[Op], max_ops: int, max_bytes: int) -> Iterator[list[Op]]:
    batch: list[Op] = []
    size = 0
    for op in ops:
        cost = len(op.key) + len(op.value) if isinstance(op, Put) else 0
        if batch and (len(batch) >= max_ops or size + cost > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(op)
        size += cost
    if batch:
        yield batch


def _record(job: CopyJob, key: str, value: bytes) -> bytes | None:
    """The record as the destination gets it, or None (and noted) when it is damaged."""
    try:
        refs, r = R.decode_stored_checkpoint(key, value)
    except CorruptRecordError:
        job.damaged.append(key)
        return None
    if job.found_thread_id is None:
        job.found_thread_id = r.thread_id
    if job.thread_id is None or job.thread_id == r.thread_id:
        return value
    moved = r._replace(thread_id=job.thread_id)  # homes are keys of the same partition
    return R.encode_stored_checkpoint(moved, refs)


def plan_copy(job: CopyJob) -> Plan[None]:
    page = job.page_size or PAGE
    records: list[Op] = []
    data: list[Op] = []  # read but not yet written: carried over pages to fill batches
    done = 0
    for start, end in families(job.source):
        while True:
            job.reads += 1
            res: ScanResult = yield Scan(job.source, start, end, reverse=True, limit=page)
            if not res.items:
                break
            present: set[str] = set()
            if job.keep_existing:
                lo, hi = res.items[-1][0], res.items[0][0] + K.SEP
                job.reads += 1
                have: ScanResult = yield OnTarget(Scan(job.target, lo, hi))
                present = {k for k, _ in have.items}
            for key, value in res.items:
                job.keys.add(key)
                is_record = K.is_record(key)
                if key.startswith("b" + K.SEP):
                    job.blobs += 1
                elif is_record:
                    job.checkpoints += 1
                elif not key.startswith("n" + K.SEP):
                    job.writes += 1
                if key in present:
                    job.skipped += 1
                elif is_record:
                    value_out = _record(job, key, value)
                    if value_out is not None:
                        records.append(Put(key, value_out, if_absent=job.keep_existing))
                else:
                    data.append(Put(key, value, if_absent=job.keep_existing))
            data = yield from _write(job, data, partial=False)
            done += len(res.items)
            if job.on_page is not None:
                job.on_page(done)
            if len(res.items) < page:
                break
            end = res.items[-1][0]
    yield from _write(job, data)
    yield from _write(job, records)
    if job.damaged:
        raise CorruptRecordError(
            f"copied thread {job.found_thread_id or K.unescape(job.source)!r} to "
            f"{job.thread_id or K.unescape(job.target)!r} except {len(job.damaged)} damaged "
            f"checkpoint record(s), not copied: {job.damaged[:5]!r}"
        )


def _write(job: CopyJob, ops: list[Op], partial: bool = True) -> Plan[list[Op]]:
    """Write ``ops`` in batches; without ``partial`` a last batch that is not full is returned
    unwritten, to be topped up by the next page."""
    batches = list(_batches(ops, job.batch_size, job.batch_bytes))
    rest: list[Op] = []
    if batches and not partial and len(batches[-1]) < job.batch_size:
        rest = batches.pop()
    for batch in batches:
        job.write_calls += 1
        job.copied += len(batch)
        yield OnTarget(Write(job.target, batch))
    return rest
