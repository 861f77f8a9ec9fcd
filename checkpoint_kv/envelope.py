"""The one storage envelope: every value either the saver or the memory store writes is sealed here.

    <magic, 1 byte> <format, 1 byte> <CRC32 of the body, 4 bytes> <CBOR map: {"k": kind, ...}>

A saver made with ``compress="zstd"`` (``?compress=zstd``) stores the body as a zstd frame
when that is smaller, and says so in the format byte's high bit (``COMPRESSED``): any reader
of this release opens either; an older release sees format 128+ and says "upgrade". The
checksum covers the stored bytes, so damage is named before decompressing.

The format byte comes first so a reader refuses a newer layout with a clear message
(``UnsupportedFormatError``: "upgrade checkpoint-kv") instead of guessing; the checksum turns a
flipped byte into a ``CorruptRecordError`` naming the key rather than silently different data;
the map's first entry names the record's kind, so a value of another kind (or another tool's
bytes) is refused by name. The saver's records (:mod:`checkpoint_kv.saver.records`, magic ``K``)
and the store's (:mod:`checkpoint_kv.store.layout`, magic ``M``) differ only in their magic, so a
tool reading a partition never mistakes one for the other.
"""

from __future__ import annotations

import zlib
from typing import Any

import cbor2

from checkpoint_kv.errors import (
    ConfigError,
    CorruptRecordError,
    SerializationError,
    UnsupportedFormatError,
)

__all__ = ["COMPRESSED", "HEADER", "Compressor", "Envelope", "cbor_head", "read_cbor_head"]

HEADER = 6  # magic, format, crc32
COMPRESSED = 0x80  # in the format byte: the body is a zstd frame
COMPRESS_MIN = 256  # a body smaller than this is stored as it is
MAX_BODY = 1 << 30  # a frame claiming more than this when opened is refused, not allocated


class Compressor:
    """zstd, from the standard library (Python 3.14+) or the ``zstandard`` package
    (``pip install 'checkpoint-kv[zstd]'``). Thread-safe: one context per call."""

    name = "zstd"

    def __init__(self, level: int = 3) -> None:
        self.level = level
        _zstd()  # fail now, with the install hint, rather than at the first write

    def compress(self, body: bytes) -> bytes:
        return bytes(_zstd().compress(body, self.level))

    def __repr__(self) -> str:
        return f"Compressor({self.name!r}, level={self.level})"


def _zstd() -> Any:
    """A module with ``compress(data, level)`` and ``decompress(data, max_size)``."""
    global _ZSTD
    if _ZSTD is None:
        _ZSTD = _load_zstd()
    return _ZSTD


_ZSTD: Any = None


def _load_zstd() -> Any:
    try:
        from compression import zstd  # type: ignore[import-not-found]  # Python 3.14+

        class _Std:
            @staticmethod
            def compress(data: bytes, level: int) -> bytes:
                return bytes(zstd.compress(data, level=level))

            @staticmethod
            def decompress(data: bytes, max_size: int) -> bytes:
                return bytes(zstd.ZstdDecompressor().decompress(data, max_length=max_size))

        return _Std
    except ImportError:
        pass
    try:
        import zstandard
    except ImportError:
        raise ConfigError(
            "compress=zstd needs zstd: pip install 'checkpoint-kv[zstd]' (or Python 3.14+)"
        ) from None

    class _Pkg:
        @staticmethod
        def compress(data: bytes, level: int) -> bytes:
            return bytes(zstandard.ZstdCompressor(level=level).compress(data))

        @staticmethod
        def decompress(data: bytes, max_size: int) -> bytes:
            # max_output_size bounds only frames without a content size: check the header's.
            if zstandard.frame_content_size(data) > max_size:
                raise ValueError(f"the frame claims more than {max_size} bytes")
            return bytes(zstandard.ZstdDecompressor().decompress(data, max_output_size=max_size))

    return _Pkg


class Envelope:
    """Sealing and opening for one family of records (one magic byte)."""

    def __init__(self, magic: bytes, newest: int, family: str) -> None:
        self.magic, self.newest, self.family = magic, newest, family

    def seal(
        self,
        obj: dict[str, Any],
        fmt: int = 1,
        head: bytes = b"",
        compress: Compressor | None = None,
    ) -> bytes:
        """Format 1 unless the value needs a newer one (an older release then says "upgrade"
        instead of misreading it). ``head`` (a frame header, ``port.frame_head``) goes in front
        in the same join: one copy of a large body, not two. With ``compress``, a body of
        ``COMPRESS_MIN`` bytes or more is stored compressed when that is smaller."""
        try:
            body = cbor2.dumps(obj)
        except Exception as e:  # cbor2 raises several types for what it cannot encode
            raise SerializationError(f"{self.family} cannot be encoded: {e}") from e
        if compress is not None and len(body) >= COMPRESS_MIN:
            small = compress.compress(body)
            if len(small) < len(body):
                body, fmt = small, fmt | COMPRESSED
        crc = zlib.crc32(body).to_bytes(4, "big")
        return b"".join((head, self.magic, bytes([fmt]), crc, body))

    def open(self, key: str, data: bytes, kind: str) -> dict[str, Any]:
        """The record's map, checked: ours, a format this release reads, intact, of ``kind``."""
        if len(data) < HEADER or data[:1] != self.magic:
            raise CorruptRecordError(f"corrupt record at key {key!r}: not a {self.family}")
        fmt = data[1] & ~COMPRESSED
        if fmt > self.newest or (data[1] & COMPRESSED and fmt == 0):
            raise UnsupportedFormatError(
                f"{self.family} at key {key!r} has storage format {fmt}, newer than format "
                f"{self.newest} that this checkpoint-kv reads: upgrade checkpoint-kv to read it"
            )
        body = data[HEADER:]
        if zlib.crc32(body) != int.from_bytes(data[2:HEADER], "big"):
            raise CorruptRecordError(f"corrupt record at key {key!r}: checksum mismatch")
        if data[1] & COMPRESSED:
            body = _decompressed(key, body)
        try:
            obj = cbor2.loads(body)
        except Exception as e:  # cbor2 raises several types on garbage
            raise CorruptRecordError(f"corrupt record at key {key!r}: not valid CBOR ({e})") from e
        if not isinstance(obj, dict) or obj.get("k") != kind:
            found = obj.get("k") if isinstance(obj, dict) else type(obj).__name__
            raise CorruptRecordError(
                f"corrupt record at key {key!r}: expected a {kind!r} record, found {found!r}"
            )
        return obj

    def intact(self, data: bytes) -> bool:
        """Ours, a readable format stored uncompressed, and a matching checksum (computed in
        place, no copy): what a fast path may slice without ``open``."""
        return (
            len(data) >= HEADER
            and data[:1] == self.magic
            and data[1] <= self.newest
            and zlib.crc32(memoryview(data)[HEADER:]) == int.from_bytes(data[2:HEADER], "big")
        )


def _decompressed(key: str, body: bytes) -> bytes:
    try:
        return _zstd().decompress(body, MAX_BODY)  # type: ignore[no-any-return]
    except ConfigError as e:
        raise ConfigError(f"the record at key {key!r} is stored compressed: {e}") from None
    except Exception as e:  # the zstd bindings raise their own error types
        raise CorruptRecordError(f"corrupt record at key {key!r}: bad zstd frame ({e})") from e


def kind_of(data: bytes) -> str:
    """The one-letter kind of a sealed record, read without decoding it ("" if unknown, or
    stored compressed): the CBOR map starts with the entry ``"k": <kind>`` (map head, ``"k"``,
    then a one-letter text at a fixed offset)."""
    if len(data) <= HEADER + 4 or data[1] & COMPRESSED:
        return ""
    return chr(data[HEADER + 4])


def cbor_head(major: int, n: int) -> bytes:
    """A CBOR item head in its shortest form, as ``cbor2`` writes it."""
    if n < 24:
        return bytes([major << 5 | n])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * size):
            return bytes([major << 5 | info]) + n.to_bytes(size, "big")
    raise ValueError("value too large for CBOR")


def read_cbor_head(data: bytes, pos: int, major: int) -> tuple[int, int] | None:
    """``(length, next position)`` of the CBOR head of ``major`` type at ``pos``, or None."""
    if pos >= len(data) or data[pos] >> 5 != major:
        return None
    info = data[pos] & 31
    if info < 24:
        return info, pos + 1
    size = {24: 1, 25: 2, 26: 4, 27: 8}.get(info)
    if size is None or pos + 1 + size > len(data):
        return None
    return int.from_bytes(data[pos + 1 : pos + 1 + size], "big"), pos + 1 + size
