"""The storage envelope: CBOR records with a format version.

Channel values, checkpoints and metadata keep the saver's ``serde`` typed form ``(tag, bytes)``
inside the envelope, so an ``EncryptedSerializer`` encrypts everything user-provided and the
envelope itself holds only ids. Each record is a CBOR map with ``"f"`` (format version); a
reader refuses a newer format with a clear message instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cbor2

from checkpoint_kv.errors import CorruptRecordError, UnsupportedFormatError

FORMAT = 1

Typed = tuple[str, bytes]


@dataclass(frozen=True, slots=True)
class CheckpointRecord:
    thread_id: str
    ns: str
    checkpoint_id: str
    parent_id: str | None
    checkpoint: Typed  # the checkpoint dict without channel_values
    metadata: Typed


@dataclass(frozen=True, slots=True)
class WriteRecord:
    task_id: str
    task_path: str
    idx: int
    channel: str
    value: Typed


def _typed(v: Any) -> Typed:
    tag, data = v
    if not isinstance(tag, str) or not isinstance(data, bytes):
        raise TypeError("typed value must be (str, bytes)")
    return tag, data


def encode_checkpoint(r: CheckpointRecord) -> bytes:
    return cbor2.dumps(
        {
            "f": FORMAT,
            "k": "c",
            "t": r.thread_id,
            "n": r.ns,
            "i": r.checkpoint_id,
            "p": r.parent_id,
            "c": list(r.checkpoint),
            "m": list(r.metadata),
        }
    )


def encode_write(r: WriteRecord) -> bytes:
    return cbor2.dumps(
        {
            "f": FORMAT,
            "k": "w",
            "t": r.task_id,
            "a": r.task_path,
            "x": r.idx,
            "h": r.channel,
            "v": list(r.value),
        }
    )


def encode_blob(value: Typed) -> bytes:
    return cbor2.dumps({"f": FORMAT, "k": "b", "v": list(value)})


def _load(key: str, data: bytes, kind: str) -> dict[str, Any]:
    try:
        obj = cbor2.loads(data)
    except Exception as e:  # cbor2 raises several types on garbage
        raise CorruptRecordError(f"corrupt record at key {key!r}: not valid CBOR ({e})") from e
    if not isinstance(obj, dict) or "f" not in obj:
        raise CorruptRecordError(f"corrupt record at key {key!r}: not a checkpoint-kv record")
    fmt = obj["f"]
    if not isinstance(fmt, int) or fmt > FORMAT:
        raise UnsupportedFormatError(
            f"record at key {key!r} has storage format {fmt!r}, newer than format {FORMAT} "
            "that this checkpoint-kv reads: upgrade checkpoint-kv to read it"
        )
    if obj.get("k") != kind:
        raise CorruptRecordError(
            f"corrupt record at key {key!r}: expected a {kind!r} record, found {obj.get('k')!r}"
        )
    return obj


def decode_checkpoint(key: str, data: bytes) -> CheckpointRecord:
    obj = _load(key, data, "c")
    try:
        return CheckpointRecord(
            thread_id=obj["t"],
            ns=obj["n"],
            checkpoint_id=obj["i"],
            parent_id=obj["p"],
            checkpoint=_typed(obj["c"]),
            metadata=_typed(obj["m"]),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise CorruptRecordError(f"corrupt checkpoint record at key {key!r}: {e!r}") from e


def decode_write(key: str, data: bytes) -> WriteRecord:
    obj = _load(key, data, "w")
    try:
        return WriteRecord(
            task_id=obj["t"],
            task_path=obj["a"],
            idx=obj["x"],
            channel=obj["h"],
            value=_typed(obj["v"]),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise CorruptRecordError(f"corrupt write record at key {key!r}: {e!r}") from e


def decode_blob(key: str, data: bytes) -> Typed:
    obj = _load(key, data, "b")
    try:
        return _typed(obj["v"])
    except (KeyError, TypeError, ValueError) as e:
        raise CorruptRecordError(f"corrupt blob at key {key!r}: {e!r}") from e
