"""Between LangGraph's values and stored bytes: the serializer's typed pairs, with our errors.

A value the serializer refuses is a ``SerializationError`` before anything is written; a stored
value it cannot read back is a ``CorruptRecordError`` naming the key. ``Codec.tuple`` rebuilds
a ``CheckpointTuple`` from a group and the blobs its record references, checking that every
referenced value is there: a missing blob is damage, never an empty channel.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointTuple
from langgraph.checkpoint.serde.base import SerializerProtocol

from checkpoint_kv import keys as K
from checkpoint_kv.drive import Get, Plan
from checkpoint_kv.envelope import Compressor
from checkpoint_kv.errors import CorruptRecordError, SerializationError
from checkpoint_kv.saver import pending
from checkpoint_kv.saver import records as R
from checkpoint_kv.saver.configs import tconf
from checkpoint_kv.saver.groups import Group
from checkpoint_kv.saver.growth import MIN_BASE, MissingLinks, Tracked, lookup_in, materialize
from checkpoint_kv.saver.locator import Locator
from checkpoint_kv.saver.packing import home_refs, value_at, where
from checkpoint_kv.saver.versions import always_stored

__all__ = ["EMPTY", "Codec"]

# (version component, key holding it, the whole value, its grown entry if any)
_Value = tuple[str, str, R.Typed, R.Grown | None]

EMPTY: R.Typed = ("empty", b"")  # the blob of a channel version without a value (as InMemorySaver)


class Codec:
    __slots__ = ("compress", "grow", "locator", "serde")

    def __init__(
        self,
        serde: SerializerProtocol,
        locator: Locator | None = None,
        grow: bool = True,
        compress: Compressor | None = None,
    ) -> None:
        self.serde = serde
        self.compress = compress  # how records, write batches and blobs are sealed (envelope)
        # Whether a put may store a value as the bytes it grew by (``growth``): the store's
        # ``grows_values`` (S3 says no: each link is a GET on a cold read, and S3 bills requests).
        self.grow = grow
        self.locator = Locator() if locator is None else locator  # see locator.py

    def dumps(self, value: Any, what: str) -> R.Typed:
        try:
            return self.serde.dumps_typed(value)
        except Exception as e:
            raise SerializationError(
                f"the serializer refused {what} (type {type(value).__name__}): {e}; "
                "nothing was written"
            ) from e

    def loads(self, key: str, typed: R.Typed) -> Any:
        try:
            return self.serde.loads_typed(typed)
        except Exception as e:
            raise CorruptRecordError(
                f"cannot deserialize the value stored at key {key!r}: {e!r}"
            ) from e

    def metadata(self, g: Group) -> dict[str, Any]:
        md = self.loads(g.key, g.record.metadata)
        return md if isinstance(md, dict) else {}

    def versions(self, g: Group) -> ChannelVersions:
        cp = self.loads(g.key, g.record.checkpoint)
        return dict(cp.get("channel_versions", {}))

    def tuple(
        self, g: Group, blobs: Mapping[str, bytes], config: RunnableConfig | None = None
    ) -> CheckpointTuple:
        rec = g.record
        checkpoint: Checkpoint = self.loads(g.key, rec.checkpoint)
        if not isinstance(checkpoint, dict) or not isinstance(
            checkpoint.get("channel_versions", {}), dict
        ):
            raise CorruptRecordError(f"corrupt checkpoint at key {g.key!r}: not a checkpoint")
        versions = checkpoint.get("channel_versions", {})
        if sorted(g.refs) != home_refs(rec, rec.ns, versions):
            # The reference header sits outside the checksum: it must agree with the record.
            raise CorruptRecordError(f"corrupt record at key {g.key!r}: reference header mismatch")
        values: dict[str, Any] = {}
        locs: dict[str, tuple[str, str]] = {}
        found: dict[str, R.Typed] = {}
        chains: dict[str, tuple[R.Link, ...]] = {}
        for ch, ver in versions.items():
            got = self._value(g.key, rec, ch, ver, blobs)
            if got is None:
                continue  # format 1 stored nothing for an empty channel
            vc, loc, typed, grown = got
            locs[ch] = (vc, loc)
            found[ch] = typed
            if grown is not None:
                chains[ch] = grown.chain
            if typed[0] != EMPTY[0]:
                values[ch] = self.loads(loc, typed)
                if len(typed[1]) >= MIN_BASE and K.is_record(loc):
                    depth, chain = (grown.depth, grown.chain) if grown else (0, ())
                    tracked = Tracked(vc, loc, depth, chain, typed, rec.root)
                    self.locator.note_tracked(rec.thread_id, rec.ns, ch, tracked)
        self.locator.note(rec.thread_id, rec.ns, locs, found, chains)
        self.locator.note_root(rec.thread_id, rec.ns, rec.checkpoint_id, rec.root)
        metadata = self.loads(g.key, rec.metadata)
        self.locator.note_counters(rec.thread_id, rec.ns, rec.checkpoint_id, metadata)
        writes = pending.merge(g.writes)
        return CheckpointTuple(
            config=config or tconf(rec.thread_id, rec.ns, rec.checkpoint_id),
            checkpoint={**checkpoint, "channel_values": values},
            metadata=metadata,
            parent_config=tconf(rec.thread_id, rec.ns, rec.parent_id) if rec.parent_id else None,
            pending_writes=[(w.task_id, w.channel, self.loads(w.key, w.value)) for w in writes],
        )

    def _value(
        self, key: str, rec: R.CheckpointRecord, ch: str, ver: Any, blobs: Mapping[str, bytes]
    ) -> _Value | None:
        """``(version component, key holding it, the whole value, its grown entry if any)`` of
        ``ch`` at ``ver``, from the record or what the read brought; None for a format-1 empty
        channel; ``CorruptRecordError`` naming the key for a value that is missing or damaged,
        ``growth.MissingLinks`` for links of a chain the read did not bring."""
        vc, loc, entry = where(key, rec, ch, ver)
        raw = None
        if entry is None:
            raw = blobs.get(loc)
            entry = None if raw is None else value_at(loc, raw, ch, vc)
            if entry is None and K.is_record(loc):
                # The home is gone (a concurrent prune): the value is kept by version.
                vkey = K.blob_key_vc(rec.ns, ch, vc)
                vraw = blobs.get(vkey)
                if vraw is not None:
                    loc, raw, entry = vkey, vraw, value_at(vkey, vraw, ch, vc)
        if entry is None:
            if always_stored(ver):
                why = "is missing (deleted, expired or evicted)"
                if raw is not None:
                    why = "does not hold that version (damaged or overwritten)"
                raise CorruptRecordError(
                    f"checkpoint at key {key!r} references the value of channel "
                    f"{ch!r} at key {loc!r}, which {why}"
                )
            return None
        if not isinstance(entry, R.Grown):
            return vc, loc, entry, None

        return vc, loc, materialize(loc, entry, lookup_in(rec.ns, ch, blobs)), entry

    def plan_tuple(
        self,
        part: str,
        g: Group,
        found: dict[str, bytes],
        config: RunnableConfig | None = None,
    ) -> Plan[CheckpointTuple | None]:
        """``tuple``, or None when the record was deleted while it was read.

        A read that takes two requests (DynamoDB: a Query, then a BatchGetItem for a home
        outside the page; S3: a LIST, then GETs) can meet a ``delete_thread``, a prune or a
        ``delete_for_runs`` between them: the record it found names data that is gone. Only
        then is the record read again: gone too, it was deleted under the read (never shown);
        still there, the damage is real and named."""
        for attempt in range(3):
            try:
                return self.tuple(g, found, config)
            except MissingLinks as e:
                # A chain link the read did not bring (a record this process did not write
                # named it, or its home is gone): read it and its version's blob, once.
                ns = g.record.ns
                keys = [k for x in e.links for k in (x.key, K.blob_key_vc(ns, e.channel, x.vc))]
                keys = sorted(set(keys) - found.keys())
                if attempt == 2 or not keys:
                    missing = ", ".join(repr(link.key) for link in e.links)
                    broken = CorruptRecordError(
                        f"checkpoint at key {g.key!r} holds a value built on {missing}, "
                        "which is missing (deleted, expired or evicted)"
                    )
                    still = yield Get(part, [g.key])
                    if g.key not in still:
                        return None
                    raise broken from None
                found.update((yield Get(part, keys)))
            except CorruptRecordError:
                still = yield Get(part, [g.key])
                if g.key not in still:
                    return None
                raise
        raise AssertionError("unreachable")  # pragma: no cover
