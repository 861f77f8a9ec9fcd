"""Copying one thread's keys: the one routine behind ``copy_thread`` (same store, new thread
id) and ``copy_threads`` (another store, same thread id).

The source is read newest first, page by page (every backend reads a descending page without
listing the rest). Blobs, the namespace index and pending writes are written as they are read;
the (small) checkpoint records are held back and written last, so a copied checkpoint becomes
visible only once everything it needs is there: an interrupted copy shows fewer checkpoints,
never one without its data. A damaged source record is not copied; the healthy ones are, and
the copy then raises ``CorruptRecordError`` naming the damaged keys.

Records name records too: a packed record names as *home* of an unchanged value an older
record of its namespace (its header refs). So the held records are written named-first: oldest
first, and each after every held record it names (``_named_first``; a home is older, but the
order follows the refs, not the ids, so a clock that went back cannot break it). Why that is
safe on every backend:

- across write calls: a call returns once its ops are durable, and the next one starts after;
- inside a call: an atomic backend (memory, SQLite, Redis, one DynamoDB transaction) applies
  it whole or not at all. One that splits a batch or runs its requests in parallel (S3; a
  DynamoDB batch over a transaction's limits; a failure part way) honours only the
  ``Put(commit=True)`` barriers (``port.commit_groups``): ops of one group may land in any
  order. So ``_barriers`` makes a record a barrier exactly where it names a record of the group
  still open before it: everything before the barrier is durable before it, and it before
  everything after. Records that name nothing in the open group stay parallel.
- the data (blobs, writes, namespace index) goes in earlier calls than any record.

So at any moment, whatever a reader meets or an interruption leaves, each record on the
destination has every record, blob and write it names. The write calls are as few as before
(batches of ``batch_size`` ops / ``batch_bytes`` bytes); a barrier costs a request of its own
only on the backends that split (an S3 PUT, a DynamoDB ``PutItem`` waited for).

With ``keep_existing`` every put is ``if_absent`` and each page first asks the destination what
it already holds: a re-run after an interruption writes only what is missing (in the same
order: what it holds already has its data) and never overwrites a thread that went on running
on the destination.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from checkpoint_kv import keys as K
from checkpoint_kv.drive import Get, OnTarget, Plan, Scan, Write
from checkpoint_kv.errors import CorruptRecordError
from checkpoint_kv.port import Op, Put, ScanResult
from checkpoint_kv.saver import records as R
from checkpoint_kv.saver.packing import chain_links

__all__ = ["PAGE", "CopyJob", "families", "plan_copy"]

PAGE = 1000  # source items per scan
BATCH = 500  # ops per destination write
BATCH_BYTES = 4 << 20  # bytes per destination write
# Records (with their writes) first, blobs last: a prune beside the copy keeps a value it
# deletes a home of at its version's blob key before it deletes the home, so blobs read after
# the records include every one a record read before needs (see ``_whole``).
_FAMILIES = (K.ALL_CHECKPOINTS, K.ALL_NS_INDEX, K.ALL_BLOBS)
_EVERY_KEY = (("!", "~"),)  # a memory-store partition: its keys (v!, t!, x!) as they are


@dataclass
class CopyJob:
    """What to copy and how; the counters are filled in as the copy runs."""

    source: str  # partition
    target: str  # partition
    thread_id: str | None = None  # raw id written into the records (None: keep theirs)
    keep_existing: bool = False
    page_size: int | None = None  # default PAGE
    # read at run time (not frozen at import), so a test can make copy_thread's batches small
    batch_size: int = field(default_factory=lambda: BATCH)
    batch_bytes: int = field(default_factory=lambda: BATCH_BYTES)
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


def _record(job: CopyJob, key: str, value: bytes) -> tuple[bytes, tuple[str, ...]] | None:
    """The record as the destination gets it and the records it names, or None (and noted)
    when it is damaged."""
    try:
        refs, r = R.decode_stored_checkpoint(key, value)
    except CorruptRecordError:
        job.damaged.append(key)
        return None
    if job.found_thread_id is None:
        job.found_thread_id = r.thread_id
    names = tuple(ref for ref in refs if K.is_record(ref))  # blobs go before every record
    if job.thread_id is None or job.thread_id == r.thread_id:
        return value, names
    moved = r._replace(thread_id=job.thread_id)  # homes are keys of the same partition
    return R.encode_stored_checkpoint(moved, refs), names


def _named_first(held: list[Put], names: Mapping[str, tuple[str, ...]]) -> list[Put]:
    """``held`` (read newest first) oldest first, each record after every held record it
    names. A depth-first walk without recursion (a home chain may be thousands long); a cycle,
    which only damaged data could hold, is cut where it closes."""
    by_key = {p.key: p for p in held}
    placed: dict[str, bool] = {}  # False: on the walk's path, True: placed
    out: list[Put] = []
    for root in reversed(held):
        if root.key in placed:
            continue
        placed[root.key] = False
        path = [(root, iter(names.get(root.key, ())))]
        while path:
            node, todo = path[-1]
            for ref in todo:
                dep = by_key.get(ref)
                if dep is not None and ref not in placed:
                    placed[ref] = False
                    path.append((dep, iter(names.get(ref, ()))))
                    break
            else:
                path.pop()
                placed[node.key] = True
                out.append(node)
    return out


def _barriers(batch: list[Op], names: Mapping[str, tuple[str, ...]]) -> list[Op]:
    """``batch`` with a commit barrier on each record that names a record of the commit group
    still open before it (which a non-atomic backend may apply in parallel with it)."""
    out: list[Op] = []
    group: set[str] = set()  # keys of the open group
    for op in batch:
        if isinstance(op, Put):
            if any(ref in group for ref in names.get(op.key, ())):
                op = op._replace(commit=True)
                group = set()  # the barrier is durable before anything after it
            else:
                group.add(op.key)
        out.append(op)
    return out


def plan_copy(job: CopyJob) -> Plan[None]:
    page = job.page_size or PAGE
    records: list[Put] = []  # held back, newest first
    names: dict[str, tuple[str, ...]] = {}  # record key -> the records it names
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
                elif not key.startswith("n" + K.SEP) and not K.is_mark(key):
                    job.writes += 1
                if key in present:
                    job.skipped += 1
                elif is_record:
                    out = _record(job, key, value)
                    if out is not None:
                        records.append(Put(key, out[0], if_absent=job.keep_existing))
                        if out[1]:
                            names[key] = out[1]
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
    records = yield from _whole(job, records)
    yield from _write(job, _named_first(records, names), names=names)
    if job.damaged:
        raise CorruptRecordError(
            f"copied thread {job.found_thread_id or K.unescape(job.source)!r} to "
            f"{job.thread_id or K.unescape(job.target)!r} except {len(job.damaged)} damaged "
            f"checkpoint record(s), not copied: {job.damaged[:5]!r}"
        )


def _resolves(key: str, value: bytes, have: set[str]) -> bool:
    """Whether every value the record at ``key`` names is among ``have``: the record or blob
    it names, or for a home or a chain link that is gone, its version's blob
    (``packing.fallback_keys``)."""
    try:
        refs, rec = R.decode_stored_checkpoint(key, value)
    except CorruptRecordError:
        return True  # copied as it is only if healthy: ``_record`` already named it
    for ref in refs:
        if ref in have:
            continue
        if not K.is_record(ref):
            return False
        homed = [(ch, vc) for ch, vc, home in rec.homes if home == ref]
        homed += [(ch, link.vc) for ch, link in chain_links(rec) if link.key == ref]
        if not homed or any(K.blob_key_vc(rec.ns, ch, vc) not in have for ch, vc in homed):
            return False
    return True


def _whole(job: CopyJob, held: list[Put]) -> Plan[list[Put]]:
    """The held records whose every value the destination has or gets. One that names a value
    the copy did not read was deleted, with that value, by a prune or ``delete_for_runs``
    beside the copy after the copy read it: it is left out (fewer checkpoints, never one
    without its data) once the source confirms it is gone; one the source still holds is
    damaged there, and named."""
    doubtful = [p.key for p in held if not _resolves(p.key, p.value, job.keys)]
    if not doubtful:
        return held
    job.reads += 1
    still: dict[str, bytes] = yield Get(job.source, doubtful)
    job.damaged += [k for k in doubtful if k in still]
    job.keys.difference_update(doubtful)
    gone = set(doubtful)
    return [p for p in held if p.key not in gone]


def _write(
    job: CopyJob,
    ops: Sequence[Op],
    partial: bool = True,
    names: Mapping[str, tuple[str, ...]] | None = None,
) -> Plan[list[Op]]:
    """Write ``ops`` in batches (with ``names``: records, barriers placed by ``_barriers``);
    without ``partial`` a last batch that is not full is returned unwritten, to be topped up
    by the next page."""
    batches = list(_batches(ops, job.batch_size, job.batch_bytes))
    rest: list[Op] = []
    if batches and not partial and len(batches[-1]) < job.batch_size:
        rest = batches.pop()
    for batch in batches:
        job.write_calls += 1
        job.copied += len(batch)
        yield OnTarget(Write(job.target, batch if names is None else _barriers(batch, names)))
    return rest
