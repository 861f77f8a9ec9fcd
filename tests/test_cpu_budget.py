"""CPU fast paths stay exact: what they produce is what the slow (reference) path produces.

The saver's hot paths (key escaping, the blob envelope, decoding) have hand-written fast paths
(see issue #12). These tests pin them to the reference behaviour - byte-identical output, the
same errors - and count work (decodes, checksums) instead of timing it, so they are
deterministic on any machine.
"""

from __future__ import annotations

import os

import cbor2
import pytest

from checkpoint_kv import keys as K
from checkpoint_kv import records as R
from checkpoint_kv.errors import CorruptRecordError, UnsupportedFormatError

# --- key escaping ---------------------------------------------------------------------------


def _reference_escape(raw: str) -> str:
    out = []
    for ch in raw:
        if ch in K._KEEP:
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
    text = "".join(out)
    if len(text) > K.MAX_COMPONENT:
        import hashlib

        return "~" + hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()
    return text


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "abc",
        "1ef0c6b2-0d3c-6a4e-8001-6a3f6b0b1c2d",
        f"{7:032}.k{0xABCDEF:016x}",
        "a" * 120,
        "a" * 121,
        "a" * 119 + "!",
        "node:1ef0c6b2|sub:2",
        "ünïcödé",
        "line\nbreak",
        "trailing\n",
        "\ud800",
        "~tilde",
        "%41",
        "٣",  # a non-ASCII digit: \d would keep it, escaping must not
        "\uff41",  # a full-width letter
    ],
)
def test_escape_matches_reference(raw: str) -> None:
    assert K.escape(raw) == _reference_escape(raw)
    assert K.escape(raw) == _reference_escape(raw)  # cached answer too


# --- the blob envelope ----------------------------------------------------------------------

_SIZES = [0, 1, 23, 24, 255, 256, 65535, 65536, 70000]
_TAGS = ["msgpack", "", "x" * 23, "x" * 24, "é" * 20, "t" * 300, "empty"]


@pytest.mark.parametrize("tag", _TAGS)
def test_encode_blob_is_byte_identical_to_cbor2(tag: str) -> None:
    for n in _SIZES:
        data = os.urandom(n)
        assert R.encode_blob((tag, data)) == R._seal({"k": "b", "v": [tag, data]})
        assert R.decode_blob("b!k", R.encode_blob((tag, data))) == (tag, data)


def test_decode_blob_reads_other_valid_cbor_layouts() -> None:
    """A blob whose CBOR is valid but not in our shortest form (another encoder, indefinite
    lengths, another key order) decodes through cbor2, not the fast path."""
    data = b"payload" * 10
    for body in (
        cbor2.dumps({"v": ["msgpack", data], "k": "b"}),  # other key order
        b"\xa2\x61k\x61b\x61v\x82\x67msgpack\x58\x46" + data,  # 1-byte length where 0 would do
        b"\xa2\x61k\x61b\x61v\x82\x67msgpack\x5f\x43pay\x58\x43" + data[3:] + b"\xff",
    ):
        raw = b"K\x01" + __import__("zlib").crc32(body).to_bytes(4, "big") + body
        assert R.decode_blob("b!k", raw) == ("msgpack", data)


def test_decode_blob_errors_unchanged() -> None:
    good = R.encode_blob(("msgpack", b"x" * 100))
    flipped = good[:-1] + bytes([good[-1] ^ 1])
    with pytest.raises(CorruptRecordError, match="checksum"):
        R.decode_blob("b!k", flipped)
    with pytest.raises(UnsupportedFormatError):
        R.decode_blob("b!k", good[:1] + bytes([R.FORMAT + 1]) + good[2:])
    with pytest.raises(CorruptRecordError, match="not a checkpoint-kv record"):
        R.decode_blob("b!k", b"X" + good[1:])
    with pytest.raises(CorruptRecordError, match="expected a 'b' record"):
        R.decode_blob("b!k", R.encode_checkpoint(_record()))
    truncated = good[:-10]
    with pytest.raises(CorruptRecordError):
        R.decode_blob("b!k", truncated)


def _record() -> R.CheckpointRecord:
    return R.CheckpointRecord("t", "", "1", None, ("msgpack", b"c"), ("msgpack", b"m"))
