"""Pure helpers shared by the saver's plans: config ids, and grouping scan items into
checkpoints (a record with its writes).

A group decodes its record only when asked, so a listing can hand out the healthy checkpoints
of a page and raise (naming the key) only when it reaches a damaged one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import cached_property
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions

from checkpoint_kv import keys as K
from checkpoint_kv.drive import Get, Plan
from checkpoint_kv.errors import ConfigError, CorruptRecordError
from checkpoint_kv.saver import records as R
from checkpoint_kv.saver.packing import visible

__all__ = [
    "Group",
    "always_stored",
    "blob_keys",
    "covered",
    "group",
    "ids",
    "records_of",
    "plan_shown",
    "shown",
    "tconf",
    "version_gap",
]


def ids(
    config: RunnableConfig | None, *, need_checkpoint: bool = False
) -> tuple[str, str, str | None]:
    """``(thread_id, checkpoint_ns, checkpoint_id)`` of a config, or a ConfigError that says
    what to pass."""
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


def tconf(thread_id: str, ns: str, checkpoint_id: str) -> RunnableConfig:
    return {
        "configurable": {
            "thread_id": thread_id,
            "checkpoint_ns": ns,
            "checkpoint_id": checkpoint_id,
        }
    }


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


def always_stored(version: Any) -> bool:
    """Whether a blob is stored for every version of this kind (see
    ``KVCheckpointSaver.get_next_version``); other versions (format 1, or another saver's)
    stored nothing for an empty channel."""
    return isinstance(version, str) and version.partition(".")[2].startswith("k")


def _version_number(version: Any) -> int | None:
    try:
        return int(str(version).split(".")[0].lstrip("sif") or "0")
    except ValueError:
        return None


def version_gap(tversions: ChannelVersions, seeds: Mapping[str, Mapping[str, Any]]) -> int:
    """Updates between each channel's target version and its newest seed candidate (max)."""
    gap = 0
    for ch, cands in seeds.items():
        top = _version_number(tversions.get(ch))
        nums = [n for n in (_version_number(k.rsplit(K.SEP, 1)[1]) for k in cands) if n is not None]
        if top is not None and nums:
            gap = max(gap, top - max(nums))
    return gap


def blob_keys(ns: str, versions: ChannelVersions) -> dict[str, str]:
    return {ch: K.blob_key(ns, ch, v) for ch, v in versions.items()}
