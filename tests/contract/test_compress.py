"""``?compress=zstd`` (issue 23): records, write batches and blobs stored zstd-compressed when
that is smaller, on every backend, compared with InMemorySaver; either way readable by any
saver of this release; damage named; an older release told to upgrade.

The option meets every other option in the option matrix (``test_matrix``: ``compress``)."""

from __future__ import annotations

import uuid
import zlib
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

import checkpoint_kv
from checkpoint_kv import ConfigError, CorruptRecordError, KVCheckpointSaver
from checkpoint_kv.envelope import COMPRESSED, HEADER, Compressor, Envelope
from checkpoint_kv.port import Put, split_refs
from checkpoint_kv.port_wrappers import DelegatingKV
from tests.support.graphs import PlainChat, cfg, chat

TEXT = "The assistant keeps the conversation in a list that grows with every turn. " * 8


class Written(DelegatingKV):
    """Counts the bytes of every value written."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.bytes = 0

    def write(self, part: str, ops: Any, *a: Any, **k: Any) -> Any:
        self.bytes += sum(len(op.value) for op in ops if isinstance(op, Put))
        return self.inner.write(part, ops, *a, **k)


def _url(url: str, compress: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}compress={compress}"


def test_a_compressed_chat_matches_inmemory_in_fewer_bytes(url: str, backend: str) -> None:
    turns = 12
    sizes = {}
    for compress in ("none", "zstd"):
        saver = checkpoint_kv.from_url(_url(url, compress))
        saver.setup()
        counted = Written(saver.store)
        ours = chat(KVCheckpointSaver(counted, compress=compress), PlainChat)
        model = chat(InMemorySaver(), PlainChat)
        t = cfg(f"{compress}-{uuid.uuid4().hex[:6]}")
        for turn in range(turns):
            msg = {"messages": [f"{turn}: {TEXT}"]}
            ours.invoke(msg, t)
            model.invoke(msg, t)
        # A saver without the option (another process, another release) reads it all.
        plain = chat(KVCheckpointSaver(saver.store), PlainChat)
        assert plain.get_state(t).values == model.get_state(t).values
        got = [s.values for s in plain.get_state_history(t)]
        assert got == [s.values for s in model.get_state_history(t)]
        sizes[compress] = counted.bytes
        saver.close()
    assert sizes["zstd"] < 0.6 * sizes["none"], sizes


def test_a_thread_continues_across_the_option(url: str) -> None:
    """Started plain, continued compressed, then plain again: one history, InMemorySaver's."""
    model = chat(InMemorySaver(), PlainChat)
    t = cfg("mixed-" + uuid.uuid4().hex[:6])
    base = checkpoint_kv.from_url(url)
    base.setup()
    for i, compress in enumerate(("none", "zstd", "none", "zstd")):
        g = chat(KVCheckpointSaver(base.store, compress=compress), PlainChat)
        for turn in range(3):
            msg = {"messages": [f"{i}.{turn}: {TEXT}"]}
            g.invoke(msg, t)
            model.invoke(msg, t)
        assert g.get_state(t).values == model.get_state(t).values
    base.close()


def test_the_envelope(monkeypatch: pytest.MonkeyPatch) -> None:
    env = Envelope(b"K", 3, "checkpoint-kv record")
    z = Compressor()
    big = {"k": "c", "v": TEXT.encode()}
    sealed = env.seal(big, 3, compress=z)
    assert sealed[1] == 3 | COMPRESSED and len(sealed) < len(TEXT) / 2
    assert env.open("c!!x!~", sealed, "c") == big
    # An older release compares the format byte with the newest it reads: 131 > 3, "upgrade".
    assert sealed[1] > 3
    small = {"k": "c", "v": b"tiny"}
    assert env.seal(small, 3, compress=z)[1] == 3  # not worth it: stored as it is
    # A frame that is not zstd, under a valid checksum: damage, named.
    body = b"not a zstd frame" * 4
    forged = b"K" + bytes([3 | COMPRESSED]) + zlib.crc32(body).to_bytes(4, "big") + body
    with pytest.raises(CorruptRecordError, match="c!!x!~"):
        env.open("c!!x!~", forged, "c")
    # A frame claiming more than MAX_BODY: refused, never allocated.
    bomb = Compressor().compress(b"\0" * (2 << 20))
    with monkeypatch.context() as m:
        m.setattr("checkpoint_kv.envelope.MAX_BODY", 1 << 20)
        framed = b"K" + bytes([3 | COMPRESSED]) + zlib.crc32(bomb).to_bytes(4, "big") + bomb
        with pytest.raises(CorruptRecordError, match="c!!x!~"):
            env.open("c!!x!~", framed, "c")
    # A flipped byte of a compressed record: the checksum names it first.
    flipped = bytearray(sealed)
    flipped[HEADER + 5] ^= 0xFF
    with pytest.raises(CorruptRecordError, match="checksum"):
        env.open("c!!x!~", bytes(flipped), "c")


def test_the_refs_header_stays_readable(url_memory: str) -> None:
    """The stores follow a record's references (Redis' script, DynamoDB, S3): never
    compressed."""
    saver = checkpoint_kv.from_url(_url(url_memory, "zstd"))
    g = chat(saver, PlainChat)
    t = cfg("refs")
    for turn in range(6):
        g.invoke({"messages": [f"{turn}: {TEXT}"]}, t)
    store: Any = saver.store
    part = next(iter(store.partitions(None).partitions))
    items = store.scan(part, "", "\U0010ffff").items
    records = [split_refs(v) for k, v in items if k.startswith("c!") and k.endswith("!~")]
    assert records and all(payload[:1] == b"K" for _, payload in records)
    assert any(refs and payload[1] & COMPRESSED for refs, payload in records)


@pytest.mark.parametrize("bad", ["lz4", "gzip", "zstd9"])
def test_an_unknown_compression_is_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match=f"compress={bad!r}"):
        checkpoint_kv.from_url(f"memory://?compress={bad}")
    assert checkpoint_kv.from_url("memory://?compress=none").compress is None
    assert "zstd" in repr(checkpoint_kv.from_url("memory://?compress=zstd"))
