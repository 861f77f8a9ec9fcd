"""A growing channel stored in the bytes it grew by.

Most graphs keep their conversation in ``messages: Annotated[list, operator.add]``: LangGraph
hands the saver the whole list at every step. When a channel's new serialized value *extends*
an earlier one, byte for byte, the record stores only what was added, plus a reference to that
earlier version (a :class:`~checkpoint_kv.saver.records.Grown` entry); otherwise the value is
stored whole. The test is on bytes, never on object identity: a node that edits an old message
in place yields bytes that do not extend, and the value is stored whole.

What "extends" means. A value is a *head* (a msgpack container header: the array's or the
string's length, which changes as it grows; empty for other encodings) and a *body*. A value
extends another of the same tag when its body starts with the other's body; it is stored as
its head and the rest of its body (the *tail*). Encrypted values never extend: stored whole.

Which earlier version. Reading a value walks its *chain*: the base it extends, that base's
base, ... down to a value stored whole (depth 0). Extending always the previous version would
make every read walk the whole history; extending always the whole one would rewrite the
history at every step. A value at depth ``n`` extends the one at depth ``n - 8**p``, where
``p`` is the position of ``n``'s lowest non-zero base-8 digit (Subversion's skip-deltas, in base
``RADIX`` = 8): a read walks at most 7 links per base-8 digit of the depth (28 below 4,096
versions), and each byte is written about ``log8(versions)`` times (2.9 for a 400-version
chat): the bytes written per step and the bytes stored stay a small multiple of what was
added, where a larger radix writes less but lists more links in every record (measured in
the README). The base a new value needs is always in its parent's chain (or the parent
itself), so the writer never reads to find it. Past ``MAX_DEPTH`` the value is stored whole again.

Each entry lists its whole chain: ``(version component, key of the record holding it, depth,
body length)``. The record's reference header names every key of its chains, so a read gets
the whole chain in the round trip that gets the record (Redis' script follows references;
DynamoDB and S3 read them with the record's other references). Versions are the truth, as
everywhere: a chain link whose record is gone is read at its version's blob key, where
maintenance keeps it, whole, before deleting the record (``maintenance._drop``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

from checkpoint_kv import keys as K
from checkpoint_kv.errors import CorruptRecordError
from checkpoint_kv.saver import records as R
from checkpoint_kv.saver.packing import value_at

__all__ = [
    "MAX_DEPTH",
    "MIN_BASE",
    "MissingLinks",
    "Tracked",
    "base_depth",
    "body_start",
    "extend",
    "lookup_in",
    "materialize",
    "whole_at",
]

RADIX = 8
MAX_DEPTH = 4096  # a value this deep in its chain is stored whole again
MIN_BASE = 512  # a base body smaller than this is not worth a reference: stored whole


class Tracked(NamedTuple):
    """What a writer knows of a channel's latest value: where it lives and its whole bytes."""

    vc: str  # version component
    key: str  # the record holding it
    depth: int
    chain: tuple[R.Link, ...]  # its bases, nearest first (empty at depth 0)
    value: R.Typed  # the whole serialized value
    root: str | None  # the incarnation of the record holding it (``keys.mark_key``)


def body_start(tag: str, data: bytes) -> int:
    """Where the body starts: after a msgpack array, string or binary header (its length,
    which changes as the value grows); 0 for every other encoding."""
    if tag != "msgpack" or not data:
        return 0
    b = data[0]
    if 0x90 <= b <= 0x9F or 0xA0 <= b <= 0xBF:  # fixarray, fixstr
        return 1
    return {0xDC: 3, 0xDD: 5, 0xD9: 2, 0xDA: 3, 0xDB: 5, 0xC4: 2, 0xC5: 3, 0xC6: 5}.get(b, 0)


def base_depth(depth: int) -> int:
    """The depth of the value a value at ``depth`` (>= 1) extends: ``depth`` minus the place
    value of its lowest non-zero base-``RADIX`` digit."""
    step = 1
    while (depth // step) % RADIX == 0:
        step *= RADIX
    return depth - step


def extend(prev: Tracked, value: R.Typed) -> tuple[int, bytes, bytes, tuple[R.Link, ...]] | None:
    """``(depth, head, tail, chain)`` storing ``value`` as an extension of ``prev``'s chain, or
    None when it must be stored whole (it does not extend, the base is small, the chain is
    deep)."""
    tag, data = value
    if tag != prev.value[0] or prev.depth + 1 >= MAX_DEPTH:
        return None
    depth = prev.depth + 1
    want = base_depth(depth)
    prev_start = body_start(*prev.value)
    links = (R.Link(prev.vc, prev.key, prev.depth, len(prev.value[1]) - prev_start), *prev.chain)
    at = next((i for i, link in enumerate(links) if link.depth == want), None)
    if at is None:  # a chain this process did not write (another release, a damaged one)
        return None
    base = links[at]
    start = body_start(tag, data)
    if base.body_len < MIN_BASE or len(data) - start < base.body_len:
        return None
    # The base's body is the first body_len bytes of the previous value's body (it extends
    # it): the new body must start with them. One memcmp (a memoryview compares item by item).
    old = prev.value[1][prev_start : prev_start + base.body_len]
    if not data.startswith(old, start):
        return None
    return depth, data[:start], data[start + base.body_len :], links[at:]


# An entry as a reader finds it: a whole value, or a Grown entry to resolve; None if absent.
Lookup = Callable[[str, str], "R.Typed | R.Grown | None"]


def materialize(key: str, entry: R.Grown, lookup: Lookup) -> R.Typed:
    """The whole value of ``entry`` (found at ``key``): its chain walked to the value stored
    whole, every length checked, the tails joined once. ``lookup(vc, key)`` gives the entry of
    the channel's version ``vc`` at ``key`` (or at its version's blob key when that record is
    gone), None when neither was read: then :class:`MissingLinks` names what to read."""
    tails = [entry.tail]
    for i, link in enumerate(entry.chain):
        found = lookup(link.vc, link.key)
        if found is None:
            raise MissingLinks(entry.channel, list(entry.chain[i:]))
        if isinstance(found, R.Grown):
            if found.depth != link.depth or found.tag != entry.tag:
                break
            tails.append(found.tail)
            continue
        if found[0] != entry.tag:
            break
        body = memoryview(found[1])[body_start(*found) :]
        size = len(body)
        if size != link.body_len:
            break
        # Every link's body is the root's and the tails above it: check each stated length.
        sizes_ok = True
        for deeper, tail in zip(reversed(entry.chain[:i]), reversed(tails[1:]), strict=True):
            size += len(tail)
            sizes_ok = sizes_ok and size == deeper.body_len
        if not sizes_ok:
            break
        return entry.tag, b"".join((entry.head, body, *reversed(tails)))
    raise CorruptRecordError(
        f"the value of channel {entry.channel!r} at key {key!r} extends values that do not "
        f"add up (its chain: {[link.key for link in entry.chain]!r}): damaged"
    )


class MissingLinks(Exception):
    """Links of a chain that the read did not bring: the caller reads them (and their version
    blob keys) and tries again; a link still missing then is damage, named."""

    def __init__(self, channel: str, links: list[R.Link]) -> None:
        super().__init__(channel, links)
        self.channel, self.links = channel, links


def lookup_in(ns: str, channel: str, found: Mapping[str, bytes]) -> Lookup:
    """The ``lookup`` :func:`materialize` walks a chain with, over what a read brought: a
    link's value in its record, else kept whole at its version's blob key (versions are the
    truth: maintenance writes it there before deleting the record)."""

    def lookup(link_vc: str, link_key: str) -> R.Typed | R.Grown | None:
        for k in (link_key, K.blob_key_vc(ns, channel, link_vc)):
            raw = found.get(k)
            if raw is not None:
                got = value_at(k, raw, channel, link_vc)
                if got is not None:
                    return got
        return None

    return lookup


def whole_at(
    ns: str, key: str, channel: str, vc: str, found: Mapping[str, bytes]
) -> R.Typed | None:
    """The whole value of ``channel`` at ``vc`` held at ``key`` (or kept at its version's blob
    key), from what a read brought, its chain included; None when that is not enough."""
    lookup = lookup_in(ns, channel, found)
    entry = lookup(vc, key)
    if not isinstance(entry, R.Grown):
        return entry
    try:
        return materialize(key, entry, lookup)
    except MissingLinks:
        return None
