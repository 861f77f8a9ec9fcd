"""The saver's records: checkpoints, pending writes and channel values, each a CBOR map sealed
in the shared envelope (:mod:`checkpoint_kv.envelope`, magic ``K``). One idea, a little over
300 lines: every record kind's encoding next to its decoding, so a format change is made (and
reviewed) in one file (a chain's links: :mod:`.links`).

Channel values, checkpoints and metadata keep the
saver's ``serde`` typed form ``(tag, bytes)`` inside the map, so an ``EncryptedSerializer``
encrypts everything user-provided and the envelope itself holds only ids.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, TypeVar

from checkpoint_kv.envelope import HEADER, Compressor, Envelope, cbor_head, read_cbor_head
from checkpoint_kv.errors import CorruptRecordError
from checkpoint_kv.port import NO_REFS, frame_head, split_refs

# A record's parts, named R.Grown and R.Link beside R.CheckpointRecord:
from checkpoint_kv.saver.links import Grown as Grown
from checkpoint_kv.saver.links import Link as Link
from checkpoint_kv.saver.links import grown_from_cbor, links_from_cbor, links_to_cbor
from checkpoint_kv.saver.memo import Memo

FORMAT = 3  # the newest format this version reads; see ``Envelope.seal``
ENVELOPE = Envelope(b"K", FORMAT, "checkpoint-kv record")

Typed = tuple[str, bytes]


class CheckpointRecord(NamedTuple):
    thread_id: str
    ns: str
    checkpoint_id: str
    parent_id: str | None
    checkpoint: Typed  # the checkpoint dict without channel_values
    metadata: Typed
    # Format 2 ("packed"): the values this put wrote, ``(channel, version component, value)``,
    # live in the record itself; ``homes`` names, per unchanged channel, the record that holds
    # its value, ``(channel, version component, record key)``. Format 1 (``inline is None``):
    # every value is a blob of its own (``keys.blob_key``), as shallow savers still write.
    inline: tuple[tuple[str, str, Typed], ...] | None = None
    homes: tuple[tuple[str, str, str], ...] = ()
    # The id of the checkpoint that started this incarnation of the namespace (inherited from
    # the parent; a put without parent starts one): visible only while its mark is there
    # (``keys.mark_key``). None for records written before marks, visible as they were.
    root: str | None = None
    # Format 3: the step's values stored as the bytes they grew by (``growth``), and for an
    # unchanged channel whose home holds such a value, that value's chain: every key a reader
    # needs is in the reference header, so the read that gets the record gets them all.
    grown: tuple[Grown, ...] = ()
    chains: tuple[tuple[str, tuple[Link, ...]], ...] = ()


class WriteRecord(NamedTuple):
    task_id: str
    task_path: str
    idx: int
    channel: str
    value: Typed
    # Format 1 stored one key per write (read still; new writes are a ``WriteBatch``). The idx
    # of every write stored by the same put_writes call: a reader ignores a write whose siblings
    # are not all there (a non-atomic backend cut the batch short).
    batch: tuple[int, ...] | None = None


class WriteBatch(NamedTuple):
    """Every write of one ``put_writes`` call, stored as ONE value: a backend writes a value
    whole or not at all, so a reader sees a call's writes whole or none of them, even when the
    call is cut short and LangGraph re-runs the task with other values. ``nonce`` orders the
    calls of one task (see ``keys.write_nonce``)."""

    task_id: str
    task_path: str
    nonce: str
    writes: tuple[tuple[int, str, Typed], ...]  # (idx, channel, value)


def _typed(v: Any) -> Typed:
    tag, data = v
    if not isinstance(tag, str) or not isinstance(data, bytes):
        raise TypeError("typed value must be (str, bytes)")
    return tag, data


def encode_checkpoint(
    r: CheckpointRecord, head: bytes = b"", compress: Compressor | None = None
) -> bytes:
    obj: dict[str, Any] = {
        "k": "c",
        "t": r.thread_id,
        "n": r.ns,
        "i": r.checkpoint_id,
        "p": r.parent_id,
        "c": list(r.checkpoint),
        "m": list(r.metadata),
    }
    if r.root is not None:
        obj["r"] = r.root
    if r.inline is None:
        return ENVELOPE.seal(obj, 1, head, compress)
    obj["b"] = [[ch, vc, tag, data] for ch, vc, (tag, data) in r.inline]
    if r.grown or r.chains:
        obj["h"] = [list(h) for h in r.homes]
        obj["g"] = [
            [g.channel, g.vc, g.tag, g.head, g.tail, g.depth, links_to_cbor(r.ns, g.chain)]
            for g in r.grown
        ]
        obj["q"] = [[ch, links_to_cbor(r.ns, links)] for ch, links in r.chains]
        return ENVELOPE.seal(obj, 3, head, compress)
    obj["h"] = [list(h) for h in r.homes]
    return ENVELOPE.seal(obj, 2, head, compress)


def encode_write(r: WriteRecord) -> bytes:
    obj: dict[str, Any] = {
        "k": "w",
        "t": r.task_id,
        "a": r.task_path,
        "x": r.idx,
        "h": r.channel,
        "v": list(r.value),
    }
    if r.batch is not None:
        obj["s"] = list(r.batch)
    return ENVELOPE.seal(obj)


def encode_batch(r: WriteBatch, compress: Compressor | None = None) -> bytes:
    return ENVELOPE.seal(
        {
            "k": "W",
            "t": r.task_id,
            "a": r.task_path,
            "o": r.nonce,
            "w": [[idx, ch, list(v)] for idx, ch, v in r.writes],
        },
        compress=compress,
    )


# ``{"k": "b", "v": [`` as cbor2 encodes it: a blob is this, the tag (text), the data (bytes).
_BLOB_PREFIX = b"\xa2\x61k\x61b\x61v\x82"


def encode_blob(value: Typed, compress: Compressor | None = None) -> bytes:
    """Byte for byte what ``ENVELOPE.seal({"k": "b", "v": list(value)})`` writes, built by hand: a
    channel value can be megabytes, and cbor2 copies a large byte string several times where
    this copies it once (the CRC runs over it in place)."""
    tag, data = _typed(value)
    if compress is not None:
        return ENVELOPE.seal({"k": "b", "v": [tag, data]}, compress=compress)
    tag_b = tag.encode("utf-8")
    head = _BLOB_PREFIX + cbor_head(3, len(tag_b)) + tag_b + cbor_head(2, len(data))
    crc = zlib.crc32(data, zlib.crc32(head))
    return b"".join((ENVELOPE.magic, b"\x01", crc.to_bytes(4, "big"), head, data))


def _str(v: Any, optional: bool = False) -> Any:
    if isinstance(v, str) or (optional and v is None):
        return v
    raise TypeError(f"expected text, found {type(v).__name__}")


def _inline(v: Any) -> tuple[tuple[str, str, Typed], ...] | None:
    if v is None:
        return None
    return tuple((_str(ch), _str(vc), _typed((tag, data))) for ch, vc, tag, data in v)


def _homes(v: Any) -> tuple[tuple[str, str, str], ...]:
    return tuple((_str(ch), _str(vc), _str(key)) for ch, vc, key in v or ())


def _decode_checkpoint(key: str, data: bytes) -> CheckpointRecord:
    obj = ENVELOPE.open(key, data, "c")
    try:
        return CheckpointRecord(
            thread_id=_str(obj["t"]),
            ns=_str(obj["n"]),
            checkpoint_id=_str(obj["i"]),
            parent_id=_str(obj["p"], optional=True),
            checkpoint=_typed(obj["c"]),
            metadata=_typed(obj["m"]),
            inline=_inline(obj.get("b")),
            homes=_homes(obj.get("h")),
            root=_str(obj.get("r"), optional=True),
            grown=grown_from_cbor(obj["n"], obj.get("g")),
            chains=tuple((_str(ch), links_from_cbor(obj["n"], x)) for ch, x in obj.get("q") or ()),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise CorruptRecordError(f"corrupt checkpoint record at key {key!r}: {e!r}") from e


def _decode_write(key: str, data: bytes) -> WriteRecord:
    obj = ENVELOPE.open(key, data, "w")
    try:
        batch = obj.get("s")
        if batch is not None and not all(isinstance(i, int) for i in batch):
            raise TypeError("batch must list integers")
        idx = obj["x"]
        if not isinstance(idx, int):
            raise TypeError("idx must be an integer")
        return WriteRecord(
            task_id=_str(obj["t"]),
            task_path=_str(obj["a"]),
            idx=idx,
            channel=_str(obj["h"]),
            value=_typed(obj["v"]),
            batch=None if batch is None else tuple(batch),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise CorruptRecordError(f"corrupt write record at key {key!r}: {e!r}") from e


def _decode_batch(key: str, data: bytes) -> WriteBatch:
    obj = ENVELOPE.open(key, data, "W")
    try:
        writes = []
        for entry in obj["w"]:
            idx, ch, value = entry
            if not isinstance(idx, int):
                raise TypeError("idx must be an integer")
            writes.append((idx, _str(ch), _typed(value)))
        return WriteBatch(
            task_id=_str(obj["t"]),
            task_path=_str(obj["a"]),
            nonce=_str(obj["o"]),
            writes=tuple(writes),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise CorruptRecordError(f"corrupt write record at key {key!r}: {e!r}") from e


def _fast_blob(data: bytes) -> Typed | None:
    """The typed value of a blob laid out as ``encode_blob`` writes it (else None: the caller
    decodes with cbor2). Reads the tag and slices the data once, instead of cbor2's copies."""
    pos = HEADER + len(_BLOB_PREFIX)
    if data[HEADER:pos] != _BLOB_PREFIX:
        return None
    tag_head = read_cbor_head(data, pos, 3)
    if tag_head is None:
        return None
    n, pos = tag_head
    try:
        tag = data[pos : pos + n].decode("utf-8")
    except UnicodeDecodeError:
        return None
    data_head = read_cbor_head(data, pos + n, 2)
    if data_head is None or data_head[0] != len(data) - data_head[1]:
        return None
    return tag, data[data_head[1] :]


def _decode_blob(key: str, data: bytes) -> Typed:
    if ENVELOPE.intact(data):
        fast = _fast_blob(data)
        if fast is not None:
            return fast
    # Anything else (damage, a newer format, another CBOR layout) takes the checked path.
    obj = ENVELOPE.open(key, data, "b")
    try:
        return _typed(obj["v"])
    except (KeyError, TypeError, ValueError) as e:
        raise CorruptRecordError(f"corrupt blob at key {key!r}: {e!r}") from e


# --- decoded records, remembered (memo.py) ---------------------------------------------------

T = TypeVar("T")

MEMO = Memo()


def _memoized(kind: str, key: str, data: bytes, decode: Callable[[str, bytes], T]) -> T:
    hit = MEMO.get(kind, key, data)
    if hit is not None:
        return hit  # type: ignore[no-any-return]
    value = decode(key, data)
    MEMO.put(kind, key, data, value)
    return value


def decode_checkpoint(key: str, data: bytes) -> CheckpointRecord:
    return _memoized("c", key, data, _decode_checkpoint)


def decode_write(key: str, data: bytes) -> WriteRecord:
    return _memoized("w", key, data, _decode_write)


def decode_batch(key: str, data: bytes) -> WriteBatch:
    return _memoized("W", key, data, _decode_batch)


def decode_blob(key: str, data: bytes) -> Typed:
    return _memoized("b", key, data, _decode_blob)


Stored = tuple[list[str], CheckpointRecord]  # a stored record: its references, the record


def _decode_stored(key: str, value: bytes) -> tuple[tuple[str, ...], CheckpointRecord]:
    try:
        refs, payload = split_refs(value)
    except (ValueError, UnicodeDecodeError) as e:
        raise CorruptRecordError(f"corrupt record at key {key!r}: {e}") from e
    return tuple(refs), _decode_checkpoint(key, payload)


def encode_stored_checkpoint(
    rec: CheckpointRecord, refs: Sequence[str], compress: Compressor | None = None
) -> bytes:
    """The record as stored: framed with its references (``[NO_REFS]`` if none, never
    compressed: the stores follow them) and sealed in one join, so a large value is copied
    once."""
    return encode_checkpoint(rec, frame_head(refs or [NO_REFS]), compress)


def decode_stored_checkpoint(key: str, value: bytes) -> Stored:
    """A record as stored (framed, ``port.frame``), remembered by those bytes: a hit costs no
    slice of the payload, and on ``memory://`` not even a compare (the same object). The
    references come as a fresh list (the remembered ones are a tuple: shared, never changed)."""
    refs, rec = _memoized("f", key, value, _decode_stored)
    return list(refs), rec


def remember_stored_checkpoint(
    key: str, value: bytes, refs: Sequence[str], rec: CheckpointRecord
) -> None:
    """Note a record just sealed and framed: the next invoke's ``get_tuple`` reads it back
    without decoding it (it carries the step's values)."""
    MEMO.put("f", key, value, (tuple(refs), rec))


def remember_blob(key: str, data: bytes, value: Typed) -> None:
    """Note a blob just sealed (``data == encode_blob(value)``): reading it back is free."""
    MEMO.put("b", key, data, value)
