"""What this process remembers of where values live: hints that save a put its reads.

``Locator`` remembers, by ``(thread, ns, channel, version)``, which record holds a value (its
*home*), a copy of it when small, and the chain it is built on when it was stored grown
(``growth``), so a put names the homes of its unchanged channels without a read in LangGraph's
loop (a ``get_tuple``, then ``put``s; also with ``durability="exit"``, whose parent was never
stored). Only on a miss does a put read its parent's record. It also remembers each channel's
latest whole value (``Tracked``), which a put extends instead of storing the value whole.

Everything here is a hint, never the truth: another process may write the same thread. A
wrong home costs a reader one ``get`` (``packing.fallback_keys``); a grown value is checked
byte for byte against the value it extends, so a stale one is only a value stored whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from checkpoint_kv import keys as K
from checkpoint_kv.cache import BoundedCache
from checkpoint_kv.drive import Get, Plan
from checkpoint_kv.errors import CorruptRecordError
from checkpoint_kv.saver import records as R
from checkpoint_kv.saver.growth import Tracked
from checkpoint_kv.saver.packing import Loc, held, locations

__all__ = ["CARRY_MAX", "CARRY_TOTAL", "Home", "Locator"]

_MAX_COUNTERS = 1024  # checkpoints whose DeltaChannel counters are remembered
_MAX_ROOTS = 4096  # checkpoints whose incarnation root is remembered
CARRY_MAX = 2048  # a value this small (serialized) is copied into the next records instead
CARRY_TOTAL = 8192  # of being read from its home, up to this much per put
TRACKED_BYTES = 64 << 20  # latest whole values kept to be extended (per process)


class Home(NamedTuple):
    key: str  # the record (or blob) holding the value
    small: R.Typed | None  # the whole value, when small enough to be copied along
    chain: tuple[R.Link, ...] = ()  # what the value is built on, when stored grown


class Locator:
    """Where recently written or read values live. Least recently used entries go past
    ``max_items`` (small values: at most ``max_items * CARRY_MAX`` bytes); thread-safe."""

    def __init__(self, max_items: int = 16384) -> None:
        self.max_items = max_items
        self._items: BoundedCache[tuple[str, str, str, str], Home] = BoundedCache(max_items)
        # (thread, ns, checkpoint id) -> its DeltaChannel counters (metadata), noted by put and
        # get_tuple: LangGraph asks for the history of the checkpoint it just read, and the
        # counters size the history's first scan (one round trip instead of two).
        self._counters: BoundedCache[tuple[str, str, str], dict[str, Any]]
        self._counters = BoundedCache(_MAX_COUNTERS)
        # (thread, ns, checkpoint id) -> (the root of its incarnation,) (records.CheckpointRecord
        # .root), noted by put and get_tuple: a put inherits its parent's without a read.
        self._roots: BoundedCache[tuple[str, str, str], tuple[str | None]]
        self._roots = BoundedCache(_MAX_ROOTS)
        # (thread, ns, channel) -> its latest whole value, for the next put to extend.
        self._tracked: BoundedCache[tuple[str, str, str], Tracked] = BoundedCache(
            4096, max_cost=TRACKED_BYTES, cost=lambda t: len(t.value[1])
        )

    def note(
        self,
        thread_id: str,
        ns: str,
        locs: Mapping[str, Loc],
        values: Mapping[str, R.Typed] | None = None,
        chains: Mapping[str, tuple[R.Link, ...]] | None = None,
    ) -> None:
        """Where ``locs``' values live; ``values`` must be whole values (never a tail)."""
        values, chains = values or {}, chains or {}
        for ch, (vc, key) in locs.items():
            typed = values.get(ch)
            small = typed if typed is not None and len(typed[1]) <= CARRY_MAX else None
            self._items.put((thread_id, ns, ch, vc), Home(key, small, chains.get(ch, ())))

    def find(self, thread_id: str, ns: str, wanted: Mapping[str, str]) -> dict[str, Home]:
        """channel -> its home, for the ``wanted`` channel -> version component pairs known."""
        out: dict[str, Home] = {}
        for ch, vc in wanted.items():
            entry = self._items.get((thread_id, ns, ch, vc))
            if entry is not None:
                out[ch] = entry
        return out

    def note_tracked(self, thread_id: str, ns: str, channel: str, value: Tracked) -> None:
        self._tracked.put((thread_id, ns, channel), value)

    def tracked(self, thread_id: str, ns: str, channel: str) -> Tracked | None:
        return self._tracked.get((thread_id, ns, channel))

    def note_counters(self, thread_id: str, ns: str, cid: str, metadata: Any) -> None:
        counters = (
            metadata.get("counters_since_delta_snapshot") if isinstance(metadata, dict) else None
        )
        if counters and isinstance(counters, dict):
            self._counters.put((thread_id, ns, cid), dict(counters))

    def note_root(self, thread_id: str, ns: str, cid: str, root: str | None) -> None:
        self._roots.put((thread_id, ns, cid), (root,))

    def root(self, thread_id: str, ns: str, cid: str) -> tuple[bool, str | None]:
        """``(known, root)`` of a checkpoint this process wrote or read."""
        known = self._roots.get((thread_id, ns, cid))
        return (True, known[0]) if known is not None else (False, None)

    def counters(self, thread_id: str, ns: str, cid: str | None) -> dict[str, Any] | None:
        """A hint only: the history plan checks what it reads whatever the hint says."""
        if cid is None:
            return None
        return self._counters.get((thread_id, ns, cid))

    def forget(self, thread_ids: Iterable[str]) -> None:
        """Drop what is known of these threads (deleted, pruned: their records may be gone)."""
        gone = set(thread_ids)
        for cache in (self._items, self._counters, self._roots, self._tracked):
            cache.discard_where(lambda k: k[0] in gone)

    def clear(self) -> None:
        for cache in (self._items, self._counters, self._roots, self._tracked):
            cache.clear()

    def plan_homes(
        self, part: str, thread_id: str, ns: str, parent_id: str | None, wanted: Mapping[str, str]
    ) -> Plan[dict[str, Home]]:
        """Where each ``wanted`` channel's value lives (channel -> version component): from
        what this process knows, else from the parent's record (one read, which also tells the
        parent's root when this process does not know it). A channel left out has no known
        home: the put refers to its blob key (format 1), as a put always did."""
        found = self.find(thread_id, ns, wanted)
        if parent_id is None:
            return found
        if len(found) == len(wanted) and self.root(thread_id, ns, parent_id)[0]:
            return found
        pkey = K.record_key(ns, parent_id)
        got = yield Get(part, [pkey])
        raw = got.get(pkey)
        if raw is not None:
            try:
                rec = R.decode_stored_checkpoint(pkey, raw)[1]
            except CorruptRecordError:
                return found  # a damaged parent: its children read as damaged too, naming keys
            inline = {ch: typed for ch, _, typed in rec.inline or ()}
            chains = {g.channel: g.chain for g in rec.grown} | dict(rec.chains)
            self.note(thread_id, ns, locations(pkey, rec), inline, chains)
            self.note_root(thread_id, ns, parent_id, rec.root)
            # Per (channel, version): a record may hold one channel at two versions.
            whole = {(ch, vc): typed for ch, vc, typed in rec.inline or ()}
            home_vc = {ch: vc for ch, vc, _ in rec.homes}
            built = {(g.channel, g.vc): g.chain for g in rec.grown}
            built.update(((ch, home_vc[ch]), links) for ch, links in rec.chains if ch in home_vc)
            for (ch, vc), loc in held(pkey, rec).items():
                if ch not in found and wanted.get(ch) == vc:
                    typed = whole.get((ch, vc)) if loc == pkey else None
                    small = typed if typed and len(typed[1]) <= CARRY_MAX else None
                    found[ch] = Home(loc, small, built.get((ch, vc), ()))
        return found
