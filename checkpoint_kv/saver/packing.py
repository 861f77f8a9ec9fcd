"""Where a checkpoint's channel values live (storage format 2, "packed").

A put writes ONE value: the checkpoint record carrying the values of the channels that changed
in that step (``inline``). A channel that did not change is read from the record that wrote its
current version, its *home*, named in the record (``homes``). So S3 and DynamoDB write one
object / item per put (atomic there), and storage keeps one copy per channel version.
Format-1 records and shallow savers keep one blob per value (``keys.blob_key``); a reader
follows either, and a packed record whose channel has no known home refers to that blob key
(exactly format 1's meaning).

``Locator`` remembers where recent values live, by ``(thread, ns, channel, version)``, so a
put finds the homes of its unchanged channels without a read in LangGraph's loop (a
``get_tuple``, then ``put``s; also with ``durability="exit"``, whose parent was never stored).
Only on a miss does a put read its parent's record. Our versions carry random bits
(``KVCheckpointSaver.get_next_version``), so a version names one value across forks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from langgraph.checkpoint.base import ChannelVersions

from checkpoint_kv import keys as K
from checkpoint_kv.cache import BoundedCache
from checkpoint_kv.drive import Get, Plan
from checkpoint_kv.errors import CorruptRecordError
from checkpoint_kv.saver import records as R

__all__ = [
    "Locator",
    "fallback_keys",
    "home_refs",
    "locations",
    "plan_fallbacks",
    "value_at",
    "visible",
]

Loc = tuple[str, str]  # (version component, key of the record or blob that holds the value)


def locations(key: str, rec: R.CheckpointRecord) -> dict[str, Loc]:
    """channel -> where its value lives, as far as the record says (empty for format 1)."""
    if rec.inline is None:
        return {}
    out = {ch: (vc, home) for ch, vc, home in rec.homes}
    for ch, vc, _ in rec.inline:
        out[ch] = (vc, key)
    return out


def home_refs(rec: R.CheckpointRecord, ns: str, versions: ChannelVersions) -> list[str]:
    """The keys a record's values are read from, besides itself: its homes, and for format 1
    (or a channel without a home) the blob keys. Sorted: the reference header's order."""
    inline = {ch for ch, _, _ in rec.inline or ()}
    homes = {ch: home for ch, _, home in rec.homes}
    refs = {
        homes.get(ch) or K.blob_key(ns, ch, v) for ch, v in versions.items() if ch not in inline
    }
    if rec.root is not None:  # its incarnation's mark: read along, so visibility costs no call
        refs.add(K.mark_key(ns, rec.root))
    return sorted(refs)


def visible(rec: R.CheckpointRecord, found: Mapping[str, bytes]) -> bool:
    """Whether a record belongs to a live incarnation: its mark (in its reference header, so
    every read that follows references has it) is among what the read found. A record of a
    thread deleted while its run was in flight names a mark that is gone: never written."""
    return rec.root is None or K.mark_key(rec.ns, rec.root) in found


def value_at(key: str, raw: bytes, channel: str, vc: str) -> R.Typed | None:
    """The value of ``channel`` at version component ``vc`` stored at ``key``: the inline value
    of a packed record (None if it holds none), or a blob."""
    if not K.is_record(key):
        return R.decode_blob(key, raw)
    for ch, v, typed in R.decode_stored_checkpoint(key, raw)[1].inline or ():
        if ch == channel and v == vc:
            return typed
    return None


def fallback_keys(rec: R.CheckpointRecord, found: Mapping[str, bytes]) -> list[str]:
    """The version blob keys (``keys.blob_key_vc``) of the values ``rec`` names a home for that
    ``found`` (what the read brought) does not hold: the home record is gone or does not hold
    that version. Versions are the truth and homes only hints: another process's prune or
    ``delete_for_runs`` may delete a home after this record named it, and keeps the value at
    its version's blob key first (see ``maintenance``). A damaged home is left to the reader,
    which names it."""
    out = []
    for ch, vc, home in rec.homes:
        raw = found.get(home)
        try:
            if raw is not None and value_at(home, raw, ch, vc) is not None:
                continue
        except CorruptRecordError:
            continue
        key = K.blob_key_vc(rec.ns, ch, vc)
        if key not in found:
            out.append(key)
    return out


def plan_fallbacks(
    part: str, recs: Iterable[R.CheckpointRecord], found: dict[str, bytes]
) -> Plan[None]:
    """Read the version blobs of the values whose home is gone (one ``get``, and none at all
    while every home is there: the common case costs nothing)."""
    keys = sorted({k for rec in recs for k in fallback_keys(rec, found)})
    if keys:
        found.update((yield Get(part, keys)))


_MAX_COUNTERS = 1024  # checkpoints whose DeltaChannel counters are remembered
_MAX_ROOTS = 4096  # checkpoints whose incarnation root is remembered
CARRY_MAX = 2048  # a value this small (serialized) is copied into the next records instead
CARRY_TOTAL = 8192  # of being read from its home, up to this much per put


class Locator:
    """Where recently written or read values live: ``(thread, ns, channel, version) -> (key,
    the value if it is small)``. Least recently used entries go past ``max_items`` (small
    values: at most ``max_items * CARRY_MAX`` bytes); thread-safe."""

    def __init__(self, max_items: int = 16384) -> None:
        self.max_items = max_items
        self._items: BoundedCache[tuple[str, str, str, str], tuple[str, R.Typed | None]]
        self._items = BoundedCache(max_items)
        # (thread, ns, checkpoint id) -> its DeltaChannel counters (metadata), noted by put and
        # get_tuple: LangGraph asks for the history of the checkpoint it just read, and the
        # counters size the history's first scan (one round trip instead of two).
        self._counters: BoundedCache[tuple[str, str, str], dict[str, Any]]
        self._counters = BoundedCache(_MAX_COUNTERS)
        # (thread, ns, checkpoint id) -> (the root of its incarnation,) (records.CheckpointRecord
        # .root), noted by put and get_tuple: a put inherits its parent's without a read.
        self._roots: BoundedCache[tuple[str, str, str], tuple[str | None]]
        self._roots = BoundedCache(_MAX_ROOTS)

    def note(
        self,
        thread_id: str,
        ns: str,
        locs: Mapping[str, Loc],
        values: Mapping[str, R.Typed] | None = None,
    ) -> None:
        values = values or {}
        for ch, (vc, key) in locs.items():
            typed = values.get(ch)
            small = typed if typed is not None and len(typed[1]) <= CARRY_MAX else None
            self._items.put((thread_id, ns, ch, vc), (key, small))

    def find(
        self, thread_id: str, ns: str, wanted: Mapping[str, str]
    ) -> dict[str, tuple[str, R.Typed | None]]:
        """channel -> (key holding it, the value if small) for the ``wanted`` channel ->
        version component pairs known."""
        out: dict[str, tuple[str, R.Typed | None]] = {}
        for ch, vc in wanted.items():
            entry = self._items.get((thread_id, ns, ch, vc))
            if entry is not None:
                out[ch] = entry
        return out

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
        for cache in (self._items, self._counters, self._roots):
            cache.discard_where(lambda k: k[0] in gone)

    def clear(self) -> None:
        for cache in (self._items, self._counters, self._roots):
            cache.clear()

    def plan_homes(
        self, part: str, thread_id: str, ns: str, parent_id: str | None, wanted: Mapping[str, str]
    ) -> Plan[dict[str, tuple[str, R.Typed | None]]]:
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
            locs = locations(pkey, rec)
            inline = {ch: typed for ch, _, typed in rec.inline or ()}
            self.note(thread_id, ns, locs, inline)
            self.note_root(thread_id, ns, parent_id, rec.root)
            for ch, vc in wanted.items():
                loc = locs.get(ch)
                if ch not in found and loc is not None and loc[0] == vc:
                    typed = inline.get(ch) if loc[1] == pkey else None
                    found[ch] = (loc[1], typed if typed and len(typed[1]) <= CARRY_MAX else None)
        return found


def where(
    key: str, rec: R.CheckpointRecord, channel: str, version: object
) -> tuple[str, str, R.Typed | None]:
    """``(version component, key holding the value, the value if the record itself holds it)``
    of ``channel`` at ``version`` in the record stored at ``key``."""
    vc = K.version_component(version)  # type: ignore[arg-type]
    for ch, v, typed in rec.inline or ():
        if ch == channel and v == vc:
            return vc, key, typed
    for ch, _, home in rec.homes:
        if ch == channel:
            return vc, home, None
    return vc, K.blob_key_vc(rec.ns, channel, vc), None
