"""Format 3's chains (``growth``): the types, and their compact CBOR.

A long chat's records each name up to ~30 earlier values (a chain), so a link is stored
compactly whenever it can be rebuilt exactly: our versions (``versions``) as ``[step, 8 random
bytes]``, a record key of the record's own namespace as its uuid's 16 bytes; anything else (a
copied thread's foreign versions, other ids) as its text.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any, NamedTuple

from checkpoint_kv import keys as K

__all__ = ["Grown", "Link", "grown_from_cbor", "links_from_cbor", "links_to_cbor"]


def _str(v: Any) -> str:
    if isinstance(v, str):
        return v
    raise TypeError(f"expected text, found {type(v).__name__}")


class Link(NamedTuple):
    """One earlier value a grown value is built on (see ``growth``)."""

    vc: str  # version component
    key: str  # the record holding it
    depth: int
    body_len: int  # its body's length: what the next link up extends


class Grown(NamedTuple):
    """Format 3: a channel value stored as the bytes it grew by (``growth``): ``head`` then
    the body of ``chain[0]``'s value then ``tail``; ``chain`` lists every base down to one
    stored whole, nearest first."""

    channel: str
    vc: str
    tag: str
    head: bytes
    tail: bytes
    depth: int
    chain: tuple[Link, ...]


_OUR_VC = re.compile(r"s(\d{32})\.k([0-9a-f]{16})")


def _pack_vc(vc: str) -> Any:
    m = _OUR_VC.fullmatch(vc)
    return [int(m[1]), bytes.fromhex(m[2])] if m else vc


def _unpack_vc(v: Any) -> str:
    if isinstance(v, list):
        step, rnd = v
        return f"s{int(step):032}.k{bytes(rnd).hex()}"
    return _str(v)


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _pack_key(ns: str, key: str) -> Any:
    head = K.checkpoint_prefix(ns, "")
    cid = key[len(head) : -2]
    if key.startswith(head) and key.endswith(K.SEP + "~") and _UUID.fullmatch(cid):
        return bytes.fromhex(cid.replace("-", ""))  # canonical text: rebuilt exactly
    return key


def _unpack_key(ns: str, v: Any) -> str:
    return K.record_key(ns, str(uuid.UUID(bytes=v))) if isinstance(v, bytes) else _str(v)


def links_to_cbor(ns: str, links: Sequence[Link]) -> list[list[Any]]:
    return [[_pack_vc(x.vc), _pack_key(ns, x.key), x.depth, x.body_len] for x in links]


def links_from_cbor(ns: str, v: Any) -> tuple[Link, ...]:
    return tuple(Link(_unpack_vc(vc), _unpack_key(ns, key), int(d), int(n)) for vc, key, d, n in v)


def grown_from_cbor(ns: str, v: Any) -> tuple[Grown, ...]:
    out = []
    for ch, vc, tag, head, tail, depth, chain in v or ():
        if not isinstance(head, bytes) or not isinstance(tail, bytes):
            raise TypeError("a grown value's head and tail must be bytes")
        links = links_from_cbor(ns, chain)
        out.append(Grown(_str(ch), _str(vc), _str(tag), head, tail, int(depth), links))
    return tuple(out)
