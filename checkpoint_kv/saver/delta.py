"""``get_delta_channel_history`` in a few port calls, however long the chain.

A DeltaChannel stores a full value (the *seed*: a snapshot) only every N updates and an empty
marker at the other versions; its value at a checkpoint is the nearest seed up the parent chain
plus the writes stored on the ancestors in between. The base class walks the chain with one
``get_tuple`` per ancestor; here:

1. one descending scan from the target: the target record and its nearest ancestors;
2. per channel, one descending scan of its blobs at or below the target's version, sized from
   the target's ``counters_since_delta_snapshot`` (updates since the snapshot): the seed
   candidates; with (1) continued when the counters say the snapshot lies further back, these
   are independent scans of one partition (one round trip where the store has ``scan_many``);
3. only if the chain is still not in hand, larger scans; only if an ancestor's version lies
   below what step 2 scanned, one ``get`` of exactly those blobs.

The walk itself (which writes, which seed) follows InMemorySaver's. Where InMemorySaver would
stop silently at a missing ancestor, this raises ``CorruptRecordError`` naming it: a chain cut
short would rebuild a wrong value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, DeltaChannelHistory, PendingWrite

from checkpoint_kv import keys as K
from checkpoint_kv.drive import Get, Plan, Scan, ScanMany
from checkpoint_kv.errors import CorruptRecordError
from checkpoint_kv.port import ScanResult, ScanSpec
from checkpoint_kv.saver import pending
from checkpoint_kv.saver import records as R
from checkpoint_kv.saver.configs import ids
from checkpoint_kv.saver.groups import Group, group
from checkpoint_kv.saver.growth import whole_at
from checkpoint_kv.saver.packing import value_at, where
from checkpoint_kv.saver.versions import always_stored, version_gap

__all__ = ["plan_delta"]

Loads = Callable[[str, R.Typed], Any]
Histories = dict[str, DeltaChannelHistory]  # channel -> its history at one checkpoint
_FIRST_PAGE = 32


class _Seeds:
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


def _depth(counters: Mapping[str, Any], channels: Sequence[str]) -> int | None:
    """Checkpoints back to the oldest last snapshot among ``channels`` (LangGraph's counters:
    ``[updates, checkpoints]`` since each channel's snapshot), None if they say nothing."""
    try:
        found = [int(counters[ch][1]) for ch in channels if ch in counters]
    except (TypeError, ValueError, IndexError, KeyError):
        return None
    return max(found) if found else None


def _need(depth: int, per_checkpoint: float) -> int:
    """Items a scan takes to cover ``depth`` checkpoints, with a margin."""
    return max(64, int((depth + 4) * per_checkpoint * 1.5))


def plan_delta(
    loads: Loads,
    config: RunnableConfig,
    channels: Sequence[str],
    hint: Mapping[str, Any] | None = None,
    below: int = 0,
) -> Plan[tuple[Histories, dict[str, Histories]]]:
    """The histories of ``channels`` at the checkpoint ``config`` names (or the latest); with
    ``below``, also those (by checkpoint id) at up to that many checkpoints under it in its
    namespace that the same scans bring (a history page: LangGraph asks for each checkpoint of
    a ``get_state_history`` page in turn, so one plan serves the page).

    ``hint``: the target's ``counters_since_delta_snapshot`` if this process has seen them
    (``Locator.counters``): the first scan is then sized for the whole chain, one round trip
    instead of two. Only a size: a short or wrong hint costs a further scan, never history."""
    if not channels:
        return {}, {}
    thread_id, ns, cid = ids(config)
    part = K.partition(thread_id)
    start = K.ns_prefix(ns) + K.SEP
    end = K.checkpoint_prefix(ns, cid) + K.AFTER_SEP if cid else K.ns_prefix(ns) + K.AFTER_SEP
    first = _FIRST_PAGE + 2 * below
    if hint:
        hinted = _depth(hint, channels)
        if hinted is not None:
            # Two items a checkpoint (a record and about one write), no further margin: on
            # S3 every item scanned is a GET, and a short guess costs one more scan.
            first = max(first, (hinted + 2 + below) * 2)
    res: ScanResult = yield Scan(part, start, end, reverse=True, limit=first)
    items = list(res.items)
    groups = group(items, reverse=True)
    if not groups or (cid is not None and groups[0].record.checkpoint_id != cid):
        return {ch: {"writes": []} for ch in channels}, {}
    exhausted = len(res.items) < first
    # The page's other checkpoints: those the first scan holds whole (with every write).
    targets = groups[: 1 + below] if exhausted else groups[: min(1 + below, len(groups) - 1)]
    targets = targets or groups[:1]
    versions_of: dict[str, ChannelVersions] = {}

    def versions(g: Group) -> ChannelVersions:
        if g.key not in versions_of:
            cp = loads(g.key, g.record.checkpoint)
            versions_of[g.key] = dict(cp.get("channel_versions", {}))
        return versions_of[g.key]

    target = groups[0]
    tversions = versions(target)
    depth, counters = 0, dict[str, Any]()
    for t in targets:  # the deepest chain among them sizes the scans
        md = loads(t.key, t.record.metadata)
        here = md.get("counters_since_delta_snapshot") or {}
        if t is target:
            counters = here
        depth = max(depth, (_depth(here, channels) or 0) + targets.index(t))
    per_checkpoint = max(2.0, len(items) / len(groups))
    # Blob scans only for channels whose values are blobs of their own (format 1, shallow):
    # packed values come with the records.
    blob_specs: dict[str, ScanSpec] = {}
    for ch in channels:
        if ch in tversions and K.is_record(where(target.key, target.record, ch, tversions[ch])[1]):
            continue
        lo, hi = K.blob_channel_range(ns, ch)
        top = K.blob_key(ns, ch, tversions[ch]) + K.SEP if ch in tversions else hi
        updates = int(counters[ch][0]) if ch in counters else 4
        limit = max(8, 2 * updates + 8) + 2 * (len(targets) - 1)
        blob_specs[ch] = ScanSpec(lo, top, reverse=True, limit=limit)
    specs = list(blob_specs.values())
    need = _need(depth, per_checkpoint) if counters else 256
    deeper = not exhausted and (depth + 2 > len(groups) or not counters)
    if deeper:
        specs.append(ScanSpec(start, items[-1][0], reverse=True, limit=need))
    results: list[ScanResult] = (yield ScanMany(part, specs)) if specs else []
    seeds = {ch: _Seeds([], capped=False, scanned=False) for ch in channels}
    for (ch, spec), r in zip(blob_specs.items(), results, strict=False):
        seeds[ch] = _Seeds(r.items, capped=len(r.items) >= (spec.limit or 0))
    fetched: dict[str, bytes | None] = {}  # home records read by key
    if deeper:
        exhausted = len(results[-1].items) < need
        items += results[-1].items
        groups = group(items, reverse=True)
        depth = depth * 2 + 16
    chains: dict[str, list[Group]] = {}
    pending_targets = list(targets)
    while pending_targets:
        # Unless the scan reached the start, the last group may lack some of its writes.
        whole = groups if exhausted else groups[:-1]
        unknown: dict[str, str] = {}
        short = []
        for t in pending_targets:
            chain, missing_parent, wants = _walk(t, whole, channels, seeds, ns, versions, fetched)
            if wants:
                unknown.update({f"{ch}\0{key}": key for ch, key in wants.items()})
            elif missing_parent is None:
                chains[t.record.checkpoint_id] = chain
            else:
                short.append((t, missing_parent))
        if unknown:
            found = yield Get(part, sorted(set(unknown.values())))
            for tag, key in unknown.items():
                if K.is_record(key):
                    fetched[key] = found.get(key)
                else:
                    seeds[tag.split("\0", 1)[0]].add(key, found.get(key))
            pending_targets = [t for t in pending_targets if t.record.checkpoint_id not in chains]
            continue
        pending_targets = [t for t, _ in short]
        if not short:
            break
        if exhausted:
            if target in pending_targets:
                raise CorruptRecordError(
                    f"the history of channels {sorted(channels)} at checkpoint "
                    f"{target.key!r} needs ancestor {K.record_key(ns, short[0][1])!r}, "
                    "which is missing"
                )
            break  # a checkpoint below: its own call raises, naming what is missing
        gap = version_gap(tversions, {c: s.values for c, s in seeds.items()})
        depth = max(depth * 2 + 16, gap)
        need = _need(depth, per_checkpoint)
        res = yield Scan(part, start, items[-1][0], reverse=True, limit=need)
        exhausted = len(res.items) < need
        items += res.items
        groups = group(items, reverse=True)
    out = {
        t.record.checkpoint_id: _collect(
            loads, chains[t.record.checkpoint_id], channels, seeds, ns, versions
        )
        for t in targets
        if t.record.checkpoint_id in chains
    }
    return out.pop(target.record.checkpoint_id), out


def _walk(
    target: Group,
    groups: list[Group],
    channels: Sequence[str],
    seeds: dict[str, _Seeds],
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


def _collect(
    loads: Loads,
    chain: list[Group],
    channels: Sequence[str],
    seeds: dict[str, _Seeds],
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
