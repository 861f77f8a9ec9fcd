"""CPU fast paths stay exact: what they produce is what the slow (reference) path produces.

The saver's hot paths (key escaping, the blob envelope, decoding) have hand-written fast paths
(see issue #12). These tests pin them to the reference behaviour - byte-identical output, the
same errors - and count work (decodes, checksums) instead of timing it, so they are
deterministic on any machine.
"""

from __future__ import annotations

import os
from typing import Any

import cbor2
import pytest

import checkpoint_kv
from checkpoint_kv import keys as K
from checkpoint_kv.errors import CorruptRecordError, UnsupportedFormatError
from checkpoint_kv.saver import records as R
from tests.support.graphs import DeltaChat, PlainChat, chat

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
        assert R.encode_blob((tag, data)) == R.ENVELOPE.seal({"k": "b", "v": [tag, data]})
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


# --- decoded records, remembered (records.MEMO) -------------------------------------------------


class _Count:
    """Counts calls of the uncached decoders: the work a read really does."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: dict[str, int] = {}
        for name in ("_decode_blob", "_decode_checkpoint", "_decode_batch"):
            monkeypatch.setattr(R, name, self._wrap(name, getattr(R, name)))
        R.MEMO.clear()

    def _wrap(self, name: str, fn: Any) -> Any:
        def counted(key: str, data: bytes) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            return fn(key, data)

        return counted

    def reset(self) -> dict[str, int]:
        out, self.calls = self.calls, {}
        return out


def test_memo_returns_the_decoded_value_only_for_identical_bytes() -> None:
    R.MEMO.clear()
    one = R.encode_blob(("msgpack", b"one"))
    two = R.encode_blob(("msgpack", b"two"))
    assert R.decode_blob("b!k", one) == ("msgpack", b"one")
    assert R.decode_blob("b!k", bytes(one)) == ("msgpack", b"one")  # equal bytes: a hit
    assert R.decode_blob("b!k", two) == ("msgpack", b"two")  # other bytes, same key: decoded
    flipped = two[:-1] + bytes([two[-1] ^ 1])
    with pytest.raises(CorruptRecordError, match="checksum"):
        R.decode_blob("b!k", flipped)  # damage is never masked by a remembered value
    R.remember_blob("b!x", one, ("msgpack", b"one"))
    with pytest.raises(CorruptRecordError):
        R.decode_blob("b!x", one[:-1])


def test_memo_is_bounded() -> None:
    memo = R.Memo(max_bytes=8000, max_items=3)
    for i in range(5):
        memo.put("b", f"k{i}", bytes(100), i)
    assert len(memo._items) == 3 and memo.get("b", "k0", bytes(100)) is None
    assert memo.get("b", "k4", bytes(100)) == 4
    memo.put("b", "big", bytes(600), "too big to keep")  # over an eighth of max_bytes
    assert memo.get("b", "big", bytes(600)) is None
    memo = R.Memo(max_bytes=8000, max_items=100)
    for i in range(15):
        memo.put("b", f"m{i}", bytes(400), i)  # counted as 800 bytes each: ten fit
    assert memo._items.total == 8000 and len(memo._items) == 10
    assert memo.get("b", "m4", bytes(400)) is None and memo.get("b", "m5", bytes(400)) == 5


def _graph(saver: Any, state: type) -> Any:
    return chat(saver, state, say="bot ")


def test_get_tuple_after_put_decodes_no_blob(monkeypatch: pytest.MonkeyPatch) -> None:
    """The blobs a put sealed read back without a checksum or CBOR pass; asking again decodes
    nothing at all (the record and the writes were decoded once)."""
    graph = _graph(checkpoint_kv.from_url("memory://"), PlainChat)
    cfg = {"configurable": {"thread_id": "memo"}}
    count = _Count(monkeypatch)
    graph.invoke({"messages": ["user"]}, cfg, durability="sync")
    count.reset()
    state = graph.get_state(cfg)
    assert state.values["messages"] == ["user", "bot 1"]
    assert count.reset().get("_decode_blob", 0) == 0
    graph.get_state(cfg)
    assert count.reset() == {}


def test_delta_history_decodes_each_stored_value_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """LangGraph rebuilds a DeltaChannel from the ancestors' writes at every step: the second
    get_state over the same chain decodes no record, write batch or blob again."""
    saver = checkpoint_kv.from_url("memory://")
    graph = _graph(saver, DeltaChat)
    cfg = {"configurable": {"thread_id": "memo-delta"}}
    for i in range(12):
        graph.invoke({"messages": [f"user {i}"]}, cfg, durability="sync")
    count = _Count(monkeypatch)
    first = graph.get_state(cfg).values["messages"]
    decoded = count.reset()
    assert decoded.get("_decode_checkpoint", 0) >= 12 and decoded.get("_decode_batch", 0) >= 12
    assert graph.get_state(cfg).values["messages"] == first
    assert count.reset() == {}


# --- cold start -----------------------------------------------------------------------------


def test_import_leaves_migration_and_listing_for_first_use() -> None:
    """``import checkpoint_kv`` does not import what a graph may never use (issue #12's cold
    start); the names still resolve on first use."""
    import subprocess
    import sys

    code = (
        "import sys, checkpoint_kv\n"
        "lazy = ['checkpoint_kv.saver.migrate', 'checkpoint_kv.saver.listing',"
        " 'checkpoint_kv.cli']\n"
        "print([m for m in lazy if m in sys.modules])\n"
        "from checkpoint_kv import copy_threads\n"
        "print(callable(copy_threads), 'copy_threads' in dir(checkpoint_kv))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[:2] == ["[]", "True True"]


def test_entry_points_are_scanned_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scanning installed distributions costs tens of ms: ``from_url`` does it once."""
    from checkpoint_kv import registry

    calls: list[str] = []

    def entry_points(group: str) -> list[Any]:
        calls.append(group)
        return []

    monkeypatch.setattr(registry, "entry_points", entry_points)
    for _ in range(3):
        checkpoint_kv.from_url("memory://")
    assert calls == ["checkpoint_kv.backends"]


def test_cached_blob_keys_keep_version_types_apart() -> None:
    keys = {K.blob_key("", "ch", v) for v in (1, 1.0, True, "1")}
    assert len(keys) == 4
    assert K.blob_key("ns", "ch", 1) == "b!ns!ch!i1"


def test_memo_keeps_only_immutable_bytes() -> None:
    """A backend handing out a bytearray could change it later: such a read is not kept."""
    R.MEMO.clear()
    raw = bytearray(R.encode_blob(("msgpack", b"v")))
    assert R.decode_blob("b!mutable", raw) == ("msgpack", b"v")
    raw[-1] ^= 1
    with pytest.raises(CorruptRecordError):
        R.decode_blob("b!mutable", raw)
