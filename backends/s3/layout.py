"""Where each port key lives in the bucket: object names, and the order they list in.

Every port key is one object::

    PREFIX/<partition>!/<encoded sort key>

``<partition>`` is the escaped thread id (``keys.partition``: ``[A-Za-z0-9._%~-]``, at most
120 characters, never ``/``). The ``!/`` marker ends it, so a listing of the prefix with
``Delimiter='/'`` yields exactly our partitions, and two stores never see each other's data
even when one prefix is nested in the other (``a`` and ``a/b``: the prefix may not contain
``!``). Nothing else of ours lives under ``PREFIX/``; foreign objects there are ignored by
``partitions()``.

Newest first with one LIST. ListObjectsV2 lists ascending only, while the saver's hot reads
(latest checkpoint, ``list`` pages) are *descending* scans with a limit. So sort keys are stored
order-inverted: each character of the port's alphabet (ASCII 0x21..0x7E) is replaced by its
*complement* code, and a terminator ``~`` that sorts above every code is appended. Then
``a < b`` exactly when ``enc(a) > enc(b)``, prefixes included (``ab`` sorts after ``abc`` once
encoded, because ``~`` beats any code). A descending scan ``[start, end)`` with a limit is
therefore ONE ListObjectsV2 call: ``StartAfter=enc(end)``, ``MaxKeys=limit``, stop past
``enc(start)``; a thread with 500 checkpoints finds its latest with the same single LIST as one
with 5. A forward (ascending) scan must list its WHOLE range and reverse it, limit or not: its
first keys are the last ones S3 lists. It GETs only the ``limit`` items it returns, but a caller
that pages through a large range ascending re-lists the rest of the range for every page;
whole-thread reads should page descending (one LIST per page). ``Prefix`` is always narrowed
to the encoded common prefix of ``start`` and ``end`` (:func:`range_bounds`).

The code alphabet is printable ASCII without ``/`` and ``\\`` (MinIO and other file-backed
stores give those a meaning), which leaves 91 characters for 94 inputs. So the four rare
characters ``[ \\ ] ^`` (never produced by ``checkpoint_kv.keys``) get two-character codes under
one lead character; the codes stay prefix-free, so the order still inverts. Saver keys never grow
when encoded. Worst case (1,000-character ids are hashed to 65 characters by ``keys.escape``):
a write key of ~375 bytes plus a 120-byte partition, so a prefix of up to ``MAX_PREFIX`` bytes
keeps every object key under S3's 1,024-byte limit (checked on every write anyway).
"""

from __future__ import annotations

from checkpoint_kv.errors import ConfigError

__all__ = [
    "MARK",
    "MAX_KEY_BYTES",
    "MAX_PREFIX",
    "PAGE",
    "decode_key",
    "encodable",
    "encode_key",
    "object_name",
    "partition_dir",
    "partition_of",
    "range_bounds",
]

MAX_KEY_BYTES = 1024  # S3's limit on an object key
MAX_PREFIX = 400  # bytes; leaves room for the worst-case partition and saver sort key
# ListObjectsV2 and DeleteObjects maximum. Read as ``layout.PAGE`` where it is used, so that
# tests can pretend S3's page is smaller.
PAGE = 1000
MARK = "!/"  # ends a partition segment


# --- order-inverting key encoding ---------------------------------------------------------

_INPUT = [chr(c) for c in range(0x21, 0x7F)]  # the port's sort-key alphabet
_CODE_CHARS = [chr(c) for c in range(0x21, 0x7E) if chr(c) not in "/\\"]  # 91 characters
_END = "~"  # terminator: above every code
_DOUBLE = "[\\]^"  # rare input characters that get two-character codes


def _build_codes() -> tuple[dict[str, str], str]:
    """Codes ascending while the input characters descend; one lead for the double codes."""
    codes: dict[str, str] = {}
    singles = iter(_CODE_CHARS)
    lead = ""
    seconds = iter(_CODE_CHARS)
    for ch in reversed(_INPUT):
        if ch in _DOUBLE:
            lead = lead or next(singles)
            codes[ch] = lead + next(seconds)
        else:
            codes[ch] = next(singles)
    assert next(singles, None) is None, "the code alphabet must be used up exactly"
    return codes, lead


_CODES, _LEAD = _build_codes()
_DECODE = {v: k for k, v in _CODES.items()}


def _codes(key: str) -> str:
    try:
        return "".join([_CODES[c] for c in key])
    except KeyError as e:
        raise ValueError(f"sort key {key!r} has a character outside ASCII 0x21..0x7E") from e


def encode_key(key: str) -> str:
    """The order-inverted form of a sort key: ``a < b`` iff ``encode_key(a) > encode_key(b)``."""
    return _codes(key) + _END


def decode_key(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text) and text[i] != _END:
        n = 2 if text[i] == _LEAD else 1
        out.append(_DECODE[text[i : i + n]])
        i += n
    if i != len(text) - 1:
        raise KeyError(text)
    return "".join(out)


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def encodable(key: str) -> bool:
    """Whether an object can have this sort key (a damaged header may name one that cannot)."""
    try:
        _codes(key)
    except ValueError:
        return False
    return True


# --- object names -------------------------------------------------------------------------


def partition_dir(root: str, partition: str) -> str:
    """``PREFIX/<partition>!/``: what every object name of the partition starts with."""
    if not partition or "/" in partition:
        raise ValueError(f"bad partition {partition!r}: non-empty, no '/'")
    return f"{root}{partition}{MARK}"


def partition_of(segment: str) -> str | None:
    """The partition a listed common prefix (``<partition>!/``) names, or None (foreign)."""
    if segment.endswith(MARK) and len(segment) > len(MARK):
        return segment[: -len(MARK)]
    return None


def object_name(base: str, key: str) -> str:
    """The object of ``key`` in the partition ``base``, refused when over S3's key limit."""
    name = base + encode_key(key)
    if len(name.encode()) > MAX_KEY_BYTES:
        raise ConfigError(
            f"S3 object key would be {len(name.encode())} bytes (limit {MAX_KEY_BYTES}): "
            "use a shorter prefix"
        )
    return name


def range_bounds(base: str, start: str, end: str) -> tuple[str, str, str]:
    """``(after, last, prefix)`` of ``[start, end)`` listed DESCENDING: ``StartAfter`` (the
    encoded ``end``), the last object name in range (the encoded ``start``), and the narrowest
    ``Prefix`` (the encoded common prefix)."""
    after = base + encode_key(end)
    last = base + encode_key(start)
    return after, last, base + _codes(_common_prefix(start, end))
