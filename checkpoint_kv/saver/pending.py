"""Pending writes: how the stored ``put_writes`` calls of one checkpoint become its writes.

Each call is stored as one value (a :class:`~checkpoint_kv.saver.records.WriteBatch`), so a call is
visible whole or not at all on every backend. Several calls for one task (a task re-run after a
crash, an interrupt then a resume) merge as ``InMemorySaver`` merges them: an ordinary write
(``idx >= 0``) keeps the first stored value for its ``(task, idx)``; the special channels of
``WRITES_IDX_MAP`` (negative idx) take the latest. Calls apply in nonce order (call order).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from langgraph.checkpoint.base import writes_sort_key

from checkpoint_kv.envelope import kind_of
from checkpoint_kv.errors import CorruptRecordError
from checkpoint_kv.port import split_refs
from checkpoint_kv.saver import records as R

__all__ = ["PendingWrite", "merge"]


class PendingWrite(NamedTuple):
    key: str  # the stored key it came from (named in errors)
    task_id: str
    task_path: str
    idx: int
    channel: str
    value: R.Typed


def _payload(key: str, value: bytes) -> bytes:
    try:
        return split_refs(value)[1]
    except (ValueError, UnicodeDecodeError) as e:
        raise CorruptRecordError(f"corrupt record at key {key!r}: {e}") from e


def _legacy(items: Sequence[tuple[str, R.WriteRecord]]) -> list[PendingWrite]:
    """Format-1 writes (one key per write): drop a call a non-atomic backend cut short."""
    present = {(w.task_id, w.idx) for _, w in items}
    return [
        PendingWrite(k, w.task_id, w.task_path, w.idx, w.channel, w.value)
        for k, w in items
        if w.batch is None or all((w.task_id, i) in present for i in w.batch)
    ]


def merge(stored: Sequence[tuple[str, bytes]]) -> list[PendingWrite]:
    """The writes of one checkpoint from its stored write values, in ``writes_sort_key`` order."""
    legacy: list[tuple[str, R.WriteRecord]] = []
    batches: list[tuple[str, R.WriteBatch]] = []
    for key, raw in stored:
        payload = _payload(key, raw)
        if kind_of(payload) == "w":
            legacy.append((key, R.decode_write(key, payload)))
        else:
            batches.append((key, R.decode_batch(key, payload)))
    chosen: dict[tuple[str, int], PendingWrite] = {(w.task_id, w.idx): w for w in _legacy(legacy)}
    batches.sort(key=lambda kb: kb[1].nonce)
    for key, b in batches:
        for idx, channel, value in b.writes:
            if idx >= 0 and (b.task_id, idx) in chosen:
                continue
            chosen[(b.task_id, idx)] = PendingWrite(
                key, b.task_id, b.task_path, idx, channel, value
            )
    return sorted(chosen.values(), key=lambda w: writes_sort_key(w.task_path, w.task_id, w.idx))
