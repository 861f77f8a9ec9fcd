"""The ancestor walk behind ``get_delta_channel_history`` (``delta``), over what its scans
brought: which ancestors a checkpoint's DeltaChannels are rebuilt from (nearest first, up to
each channel's seed), what must still be read before the walk can go on, and the history it
collects. It follows InMemorySaver's walk; where that one would stop silently at a missing
ancestor or value, this raises ``CorruptRecordError`` naming the key.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langgraph.checkpoint.base import ChannelVersions, DeltaChannelHistory, PendingWrite

from checkpoint_kv import keys as K
from checkpoint_kv.errors import CorruptRecordError
from checkpoint_kv.saver import pending
from checkpoint_kv.saver import records as R
from checkpoint_kv.saver.groups import Group
from checkpoint_kv.saver.growth import whole_at
from checkpoint_kv.saver.packing import value_at, where
from checkpoint_kv.saver.versions import always_stored

__all__ = ["Loads", "Seeds", "collect", "walk"]

Loads = Callable[[str, R.Typed], Any]


class Seeds:
    """What is known of one channel's blobs: non-empty values (seed candidates), empty
    markers, keys read and found absent, and the lowest key the probe reached (below it nothing
    is known; a key the probe covered and did not return is absent)."""

    def __init__(
        self, items: Sequence[tuple[str, bytes]], capped: bool, scanned: bool = True
    ) -> None:
        self.values: dict[str, R.Typed] = {}
        self.empty: set[str] = set()
        self.absent: set[str] = set()
        self.floor = items[-1][0] if capped and items else None
        if not scanned:
            self.floor = "\U0010ffff"  # no blob scanned: every blob key is unknown
        for key, raw in items:
            self.add(key, raw)

    def add(self, key: str, raw: bytes | None) -> None:
        if raw is None:
            self.absent.add(key)
            return
        self.put(key, R.decode_blob(key, raw))

    def put(self, key: str, typed: R.Typed) -> None:
        if typed[0] == "empty":
            self.empty.add(key)
        else:
            self.values[key] = typed

    def known(self, key: str) -> bool:
        return (
            self.floor is None
            or key > self.floor
            or key in self.values
            or key in self.empty
            or key in self.absent
        )


def walk(
    target: Group,
    groups: list[Group],
    channels: Sequence[str],
    seeds: dict[str, Seeds],
    ns: str,
    versions: Callable[[Group], ChannelVersions],
    fetched: dict[str, bytes | None],
) -> tuple[list[Group], str | None, dict[str, str]]:
    """Ancestors of ``target`` nearest first, until every channel has its seed or the root.
    Returns the chain, the id of a parent not in ``groups`` (None if the walk ended), and the
    keys (channel -> blob or home record) the walk must read before it can go on."""
    # By key, not by decoded id: only the records on the chain get decoded (a scan holds
    # about twice as many), each checked to be the one its key names.
    by_key = {g.key: g for g in groups}
    held = {g.key: g.value for g in groups}
    chain: list[Group] = []
    pid = target.record.parent_id
    remaining = set(channels)
    unknown: dict[str, str] = {}
    while pid is not None and remaining:
        g = by_key.get(K.record_key(ns, pid))
        if g is None:
            return chain, pid, unknown
        if g.record.checkpoint_id != pid:
            raise CorruptRecordError(
                f"the record at key {g.key!r} holds checkpoint {g.record.checkpoint_id!r}, "
                f"not {pid!r}"
            )
        chain.append(g)
        here = versions(g)
        for ch in list(remaining):
            if ch not in here:
                continue
            vc, loc, typed = where(g.key, g.record, ch, here[ch])
            key = K.blob_key_vc(ns, ch, vc)
            if typed is None and K.is_record(loc):
                if loc not in held and loc not in fetched:
                    unknown[ch] = loc
                    remaining.discard(ch)  # decided once the record is read
                    continue
                raw = held.get(loc) or fetched.get(loc)
                typed = None if raw is None else value_at(loc, raw, ch, vc)
                # A home that is gone (a concurrent prune) leaves the value at its version's
                # blob key (``key``): read below, and missing there it is damage.
            if isinstance(typed, R.Grown):  # not written for DeltaChannels; whole if so
                have = {**held, **{k: v for k, v in fetched.items() if v is not None}}
                typed = whole_at(ns, loc, ch, vc, have)
            if typed is not None:
                seeds[ch].put(key, typed)
            if not seeds[ch].known(key):
                unknown[ch] = key
                remaining.discard(ch)  # decided once the blob is read
            elif key in seeds[ch].values:
                remaining.discard(ch)
            elif key not in seeds[ch].empty and always_stored(here[ch]):
                raise CorruptRecordError(
                    f"checkpoint at key {g.key!r} references the value of channel {ch!r} "
                    f"at key {key!r}, which is missing (deleted, expired or evicted)"
                )
        pid = g.record.parent_id
    return chain, None, unknown


def collect(
    loads: Loads,
    chain: list[Group],
    channels: Sequence[str],
    seeds: dict[str, Seeds],
    ns: str,
    versions: Callable[[Group], ChannelVersions],
) -> dict[str, DeltaChannelHistory]:
    collected: dict[str, list[PendingWrite]] = {ch: [] for ch in channels}
    found: dict[str, tuple[str, R.Typed]] = {}
    remaining = set(channels)
    for g in chain:
        if not remaining:
            break
        here = versions(g)
        seeded = {}
        for ch in remaining:
            key = K.blob_key(ns, ch, here[ch]) if ch in here else None
            if key is not None and key in seeds[ch].values:
                seeded[ch] = (key, seeds[ch].values[key])
        for w in reversed(pending.merge(g.writes)):
            if w.channel in remaining:
                collected[w.channel].append((w.task_id, w.channel, loads(w.key, w.value)))
        found.update(seeded)
        remaining -= seeded.keys()
    out: dict[str, DeltaChannelHistory] = {}
    for ch in channels:
        entry: DeltaChannelHistory = {"writes": list(reversed(collected[ch]))}
        if ch in found:
            key, typed = found[ch]
            entry["seed"] = loads(key, typed)
        out[ch] = entry
    return out
