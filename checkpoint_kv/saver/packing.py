"""Where a checkpoint's channel values live (storage format 2, "packed").

A put writes ONE value: the checkpoint record carrying the values of the channels that changed
in that step (``inline``). A channel that did not change is read from the record that wrote its
current version, its *home*, named in the record (``homes``). So S3 and DynamoDB write one
object / item per put (atomic there), and storage keeps one copy per channel version.
Format-1 records and shallow savers keep one blob per value (``keys.blob_key``); a reader
follows either, and a packed record whose channel has no known home refers to that blob key
(exactly format 1's meaning).

A value that grew (format 3, ``growth``) is held by its record as the bytes it grew by, with
the chain of records it is built on; the record's reference header names them all. Where
recent values live is remembered per process (``locator``). Our versions carry random bits
(``versions``), so a version names one value across forks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from langgraph.checkpoint.base import ChannelVersions

from checkpoint_kv import keys as K
from checkpoint_kv.drive import Get, Plan
from checkpoint_kv.errors import CorruptRecordError
from checkpoint_kv.saver import records as R

__all__ = [
    "Loc",
    "chain_links",
    "entry_in",
    "fallback_keys",
    "held",
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
    for g in rec.grown:
        out[g.channel] = (g.vc, key)
    return out


def held(key: str, rec: R.CheckpointRecord) -> dict[tuple[str, str], str]:
    """``(channel, version component)`` -> the key holding that value, for every value the
    record holds or names a home for. Unlike ``locations``, one channel may appear at two
    versions: a put whose ``new_versions`` disagree with its checkpoint's versions holds the
    new value and names (or carries) the one its checkpoint reads."""
    if rec.inline is None:
        return {}
    out = {(ch, vc): home for ch, vc, home in rec.homes}
    out.update(((ch, vc), key) for ch, vc, _ in rec.inline)
    out.update(((g.channel, g.vc), key) for g in rec.grown)
    return out


def chain_links(rec: R.CheckpointRecord) -> list[tuple[str, R.Link]]:
    """``(channel, link)`` of every chain the record names: its grown values' and its homes'."""
    out = [(g.channel, link) for g in rec.grown for link in g.chain]
    out += [(ch, link) for ch, links in rec.chains for link in links]
    return out


def home_refs(rec: R.CheckpointRecord, ns: str, versions: ChannelVersions) -> list[str]:
    """The keys a record's values are read from, besides itself: its homes, and for format 1
    (or a channel without a home) the blob keys. Sorted: the reference header's order."""
    own = {(ch, vc) for ch, vc, _ in rec.inline or ()} | {(g.channel, g.vc) for g in rec.grown}
    homes = {ch: home for ch, _, home in rec.homes}
    refs = {
        homes.get(ch) or K.blob_key(ns, ch, v)
        for ch, v in versions.items()
        if (ch, K.version_component(v)) not in own
    }
    refs.update(link.key for _, link in chain_links(rec))
    if rec.root is not None:  # its incarnation's mark: read along, so visibility costs no call
        refs.add(K.mark_key(ns, rec.root))
    return sorted(refs)


def visible(rec: R.CheckpointRecord, found: Mapping[str, bytes]) -> bool:
    """Whether a record belongs to a live incarnation: its mark (in its reference header, so
    every read that follows references has it) is among what the read found. A record of a
    thread deleted while its run was in flight names a mark that is gone: never written."""
    return rec.root is None or K.mark_key(rec.ns, rec.root) in found


def entry_in(rec: R.CheckpointRecord, channel: str, vc: str) -> R.Typed | R.Grown | None:
    """The value of ``channel`` at ``vc`` that ``rec`` itself holds: whole, or grown (then
    ``growth.materialize`` makes it whole)."""
    for ch, v, typed in rec.inline or ():
        if ch == channel and v == vc:
            return typed
    for g in rec.grown:
        if g.channel == channel and g.vc == vc:
            return g
    return None


def value_at(key: str, raw: bytes, channel: str, vc: str) -> R.Typed | R.Grown | None:
    """The value of ``channel`` at version component ``vc`` stored at ``key``: what a packed
    record holds (None if nothing), or a blob (always whole)."""
    if not K.is_record(key):
        return R.decode_blob(key, raw)
    return entry_in(R.decode_stored_checkpoint(key, raw)[1], channel, vc)


def fallback_keys(rec: R.CheckpointRecord, found: Mapping[str, bytes]) -> list[str]:
    """The version blob keys (``keys.blob_key_vc``) of the values ``rec`` names a home for that
    ``found`` (what the read brought) does not hold: the home record is gone or does not hold
    that version. Versions are the truth and homes only hints: another process's prune or
    ``delete_for_runs`` may delete a home after this record named it, and keeps the value at
    its version's blob key first (see ``maintenance``). A damaged home is left to the reader,
    which names it."""
    out = []
    wanted = [(ch, vc, home) for ch, vc, home in rec.homes]
    wanted += [(ch, link.vc, link.key) for ch, link in chain_links(rec)]
    for ch, vc, home in wanted:
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


def where(
    key: str, rec: R.CheckpointRecord, channel: str, version: object
) -> tuple[str, str, R.Typed | R.Grown | None]:
    """``(version component, key holding the value, the value if the record itself holds it)``
    of ``channel`` at ``version`` in the record stored at ``key``."""
    vc = K.version_component(version)  # type: ignore[arg-type]
    entry = entry_in(rec, channel, vc)
    if entry is not None:
        return vc, key, entry
    for ch, _, home in rec.homes:
        if ch == channel:
            return vc, home, None
    return vc, K.blob_key_vc(rec.ns, channel, vc), None
