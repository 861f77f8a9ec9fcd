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

The walk itself (which writes, which seed: ``replay``) follows InMemorySaver's. Where
InMemorySaver would stop silently at a missing ancestor, this raises ``CorruptRecordError``
naming it: a chain cut short would rebuild a wrong value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, DeltaChannelHistory

from checkpoint_kv import keys as K
from checkpoint_kv.drive import Get, Plan, Scan, ScanMany
from checkpoint_kv.errors import CorruptRecordError
from checkpoint_kv.port import ScanResult, ScanSpec
from checkpoint_kv.saver.configs import ids
from checkpoint_kv.saver.groups import Group, group
from checkpoint_kv.saver.packing import where
from checkpoint_kv.saver.replay import Loads, Seeds, collect, walk
from checkpoint_kv.saver.versions import version_gap

__all__ = ["plan_delta"]

Histories = dict[str, DeltaChannelHistory]  # channel -> its history at one checkpoint
_FIRST_PAGE = 32


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
    for below_target, t in enumerate(targets):  # the deepest chain among them sizes the scans
        md = loads(t.key, t.record.metadata)
        here = md.get("counters_since_delta_snapshot") or {}
        if t is target:
            counters = here
        depth = max(depth, (_depth(here, channels) or 0) + below_target)
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
    seeds = {ch: Seeds([], capped=False, scanned=False) for ch in channels}
    for (ch, spec), r in zip(blob_specs.items(), results, strict=False):
        seeds[ch] = Seeds(r.items, capped=len(r.items) >= (spec.limit or 0))
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
        unknown: set[tuple[str, str]] = set()  # (channel, key) the walks must read first
        short = []
        for t in pending_targets:
            chain, missing_parent, wants = walk(t, whole, channels, seeds, ns, versions, fetched)
            if wants:
                unknown.update(wants.items())
            elif missing_parent is None:
                chains[t.record.checkpoint_id] = chain
            else:
                short.append((t, missing_parent))
        if unknown:
            found = yield Get(part, sorted({key for _, key in unknown}))
            for ch, key in unknown:
                if K.is_record(key):
                    fetched[key] = found.get(key)
                else:
                    seeds[ch].add(key, found.get(key))
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
        t.record.checkpoint_id: collect(
            loads, chains[t.record.checkpoint_id], channels, seeds, ns, versions
        )
        for t in targets
        if t.record.checkpoint_id in chains
    }
    return out.pop(target.record.checkpoint_id), out
