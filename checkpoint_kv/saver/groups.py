"""Grouping scan items into checkpoints (a record with its writes), and which of them a reader
may show (a record whose incarnation mark is gone belongs to a deleted thread).

A group decodes its record only when asked, so a listing can hand out the healthy checkpoints
of a page and raise (naming the key) only when it reaches a damaged one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import cached_property

from checkpoint_kv import keys as K
from checkpoint_kv.drive import Get, Plan
from checkpoint_kv.errors import CorruptRecordError
from checkpoint_kv.saver import records as R
from checkpoint_kv.saver.packing import visible

__all__ = ["Group", "covered", "group", "plan_shown", "records_of", "shown"]


class Group:
    """One checkpoint as read from a scan: its record and its stored write values."""

    def __init__(self, key: str, value: bytes, writes: list[tuple[str, bytes]] | None = None):
        self.key = key
        self.value = value
        self.writes: list[tuple[str, bytes]] = [] if writes is None else writes

    def __repr__(self) -> str:
        return f"Group({self.key!r}, {len(self.writes)} writes)"

    @cached_property
    def _parts(self) -> tuple[list[str], R.CheckpointRecord]:
        return R.decode_stored_checkpoint(self.key, self.value)

    @property
    def record(self) -> R.CheckpointRecord:
        return self._parts[1]

    @property
    def refs(self) -> list[str]:
        return self._parts[0]

    @property
    def sort_id(self) -> tuple[str, str]:
        """(escaped checkpoint id, escaped ns) from the key alone: newest-first order across
        namespaces without decoding (uuid6 ids escape to themselves)."""
        _, ns, cid = self.key.split(K.SEP, 3)[:3]
        return cid, ns


def records_of(groups: Iterable[Group]) -> Iterator[R.CheckpointRecord]:
    """The decodable records of ``groups``; a damaged one is skipped here and named by
    whoever builds its checkpoint."""
    for g in groups:
        try:
            yield g.record
        except CorruptRecordError:
            continue


def shown(g: Group, found: Mapping[str, bytes]) -> bool:
    """``packing.visible`` for a group whose mark was looked up (it is in its reference
    header, so any read that followed or fetched its references did). A damaged record, or one
    whose header lacks its own mark, counts as shown: building it names the damage."""
    try:
        rec = g.record
    except CorruptRecordError:
        return True
    if rec.root is None or K.mark_key(rec.ns, rec.root) not in g.refs:
        return True
    return visible(rec, found)


def plan_shown(part: str, g: Group, found: dict[str, bytes]) -> Plan[bool]:
    """``shown``, reading the mark first when the read so far did not bring it (a record of a
    deleted incarnation: one more ``get``, only then)."""
    try:
        rec = g.record
    except CorruptRecordError:
        return True
    if rec.root is not None:
        mark = K.mark_key(rec.ns, rec.root)
        if mark in g.refs and mark not in found:
            found.update((yield Get(part, [mark])))
    return shown(g, found)


def group(items: Sequence[tuple[str, bytes]], reverse: bool) -> list[Group]:
    """Group scan items into checkpoints, each record with its writes.

    In descending order a record precedes its writes; in ascending order it follows them.
    Writes whose record is absent (never committed) are ignored.
    """
    groups: list[Group] = []
    pending: list[tuple[str, bytes]] = []  # ascending: writes seen before their record
    current: Group | None = None
    for key, value in items:
        owner = K.owner(key)
        if K.is_record(key):
            current = Group(key, value)
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


def covered(items: Sequence[tuple[str, bytes]], follow: int) -> set[str]:
    """Record keys whose references the store followed (see ``port.follow_refs``)."""
    out: set[str] = set()
    for key, value in items:
        if len(out) >= follow:
            break
        if K.is_record(key) and not value.startswith(b"\n\n"):
            out.add(key)
    return out
