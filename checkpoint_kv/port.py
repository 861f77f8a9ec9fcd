"""The key-value port every backend implements.

A store is a set of *partitions* (one per thread), each an ordered map from sort key to bytes.
Sort keys are ASCII strings compared byte-wise; partitions are ASCII strings too. The saver
never looks past this port, so a backend is small: a handful of methods, sync and async twins
with the same names.

Contract, in the words a backend author needs:

- ``get(partition, keys)`` returns the values that exist, as ``{key: value}``.
- ``scan(partition, start, end, reverse=, limit=, follow=)`` returns items with
  ``start <= key < end`` in key order (descending when ``reverse``), at most ``limit`` of them.
  With ``follow=N`` the values are framed (see :func:`frame`): the backend also returns, in
  ``ScanResult.refs``, the values of the keys referenced by the first ``N`` returned values that
  carry references (it may leave out keys that are among the returned items). This lets "read
  a checkpoint and the values it references" be one round trip where the backend can (a Redis
  script); :func:`follow_refs` is the generic way for the others.
- ``write(partition, ops)`` applies ``Put``/``Delete``/``DeleteRange`` ops to one partition, in
  one round trip where the backend can, with the effect of applying them in list order. It is
  atomic where the backend can make it so. Where it cannot (a batch split across calls, parallel
  requests), a ``Put(commit=True)`` is a barrier: every op before it is durable before it is
  applied, and it is durable before any op after it is applied. The saver marks its checkpoint
  record as the commit, so a reader never sees a record whose blobs or writes are missing.
  ``Put(if_absent=True)`` silently keeps an existing value.
- Optional fast path ``scan_many(partition, specs)``: several independent scans of one partition
  in one round trip (a Redis pipeline); stores without it get them one by one (see
  ``drive.py``).
- Optional fast path ``scan_records(partition, start, end, limit, follow, records)``: a
  descending ``scan`` that may stop before the ``records + 1``-th record key (a key ending in
  ``!~``, a put's commit) among the items: the caller needs no item from there on. For stores
  that pay per value shipped (S3: one GET each; Redis: the older records' values over the
  wire); the others are sent a plain ``scan``.
- Optional attribute ``grows_values`` (default True): False asks the saver to store every value
  whole, never as the bytes it grew by (``saver.growth``), for a store where each extra key a
  read follows is one more billed request (S3).
- ``drop(partition)`` removes a partition; ``partitions(cursor)`` pages through the partitions.
- ``setup()`` creates what the backend needs (idempotent); ``close()`` releases connections.
- Optional ``info() -> dict[str, Any]``: what the backend says about itself for
  ``checkpoint-kv doctor``, as ``{**facts, "problems": [...]}``. Facts are text or numbers
  the CLI prints one per line: ``server_version`` (e.g. ``"Redis 7.0.15"``), ``ttl`` (the
  expiry setting, in words), and any others the backend names (``table``, ``file``,
  ``maxmemory_policy``...). ``problems`` lists misconfigurations found, each
  ``{"check": ..., "detail": ..., "fix": ...}`` (a failed doctor check). It may call the
  server (INFO, DescribeTable...); it never holds a secret. An async twin may offer it as a
  coroutine. Stores without it are fine: doctor then reports less.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol, runtime_checkable

__all__ = [
    "commit_groups",
    "AsyncKVStore",
    "Delete",
    "DeleteRange",
    "KVStore",
    "Op",
    "PartitionPage",
    "Put",
    "ScanResult",
    "ScanSpec",
    "NO_REFS",
    "frame",
    "frame_head",
    "follow_refs",
    "header_refs",
    "split_refs",
]


class Put(NamedTuple):
    key: str
    value: bytes
    if_absent: bool = False
    commit: bool = False


class Delete(NamedTuple):
    key: str


class DeleteRange(NamedTuple):
    """Delete every key with ``start <= key < end``."""

    start: str
    end: str


Op = Put | Delete | DeleteRange


class ScanSpec(NamedTuple):
    """One scan of a ``scan_many`` batch (same meaning as ``scan``'s arguments)."""

    start: str
    end: str
    reverse: bool = False
    limit: int | None = None
    follow: int = 0


class ScanResult:
    """What ``scan`` returns. A plain slotted class: a dataclass would cost ~0.7 ms at import."""

    __slots__ = ("items", "refs")

    def __init__(self, items: list[tuple[str, bytes]], refs: dict[str, bytes] | None = None):
        self.items = items
        self.refs: dict[str, bytes] = {} if refs is None else refs

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ScanResult):
            return NotImplemented
        return (self.items, self.refs) == (other.items, other.refs)

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it replaces

    def __repr__(self) -> str:
        return f"ScanResult(items={self.items!r}, refs={self.refs!r})"


class PartitionPage(NamedTuple):
    partitions: list[str]
    cursor: str | None = None  # None: no more pages


@runtime_checkable
class KVStore(Protocol):
    """Synchronous port. Implementations must be safe to call from several threads."""

    def get(self, partition: str, keys: Sequence[str]) -> dict[str, bytes]: ...

    def scan(
        self,
        partition: str,
        start: str,
        end: str,
        *,
        reverse: bool = False,
        limit: int | None = None,
        follow: int = 0,
    ) -> ScanResult: ...

    def write(self, partition: str, ops: Sequence[Op]) -> None: ...

    def drop(self, partition: str) -> None: ...

    def partitions(self, cursor: str | None = None) -> PartitionPage: ...

    def setup(self) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class AsyncKVStore(Protocol):
    """Asynchronous twin of :class:`KVStore`: same names, same semantics."""

    async def get(self, partition: str, keys: Sequence[str]) -> dict[str, bytes]: ...

    async def scan(
        self,
        partition: str,
        start: str,
        end: str,
        *,
        reverse: bool = False,
        limit: int | None = None,
        follow: int = 0,
    ) -> ScanResult: ...

    async def write(self, partition: str, ops: Sequence[Op]) -> None: ...

    async def drop(self, partition: str) -> None: ...

    async def partitions(self, cursor: str | None = None) -> PartitionPage: ...

    async def setup(self) -> None: ...

    async def close(self) -> None: ...


# --- reference framing -------------------------------------------------------------------
# A framed value is "ref1\nref2\n\n<payload>"; with no refs it is "\n\n<payload>". Keys never
# contain "\n" (see checkpoint_kv.keys), so the first "\n\n" always ends the header. The format
# is deliberately trivial so that a server-side script (Lua) can parse it.

_SEP = b"\n\n"


NO_REFS = "."  # the header of a record that references nothing (never a key)


def frame(refs: Sequence[str], payload: bytes) -> bytes:
    """``ref1\nref2\n\n<payload>``. A record framed with ``[NO_REFS]`` still counts as a
    record that carries references for ``follow`` (none to read); ``[]`` frames a value that
    is not a record (a write), which ``follow`` passes over."""
    return frame_head(refs) + payload


def frame_head(refs: Sequence[str]) -> bytes:
    """The header ``frame`` puts before the payload: a sealer can write header and payload in
    one join instead of copying a large payload twice."""
    return "\n".join(refs).encode("ascii") + _SEP


def split_refs(value: bytes) -> tuple[list[str], bytes]:
    i = value.find(_SEP)
    if i < 0:
        raise ValueError("value is not framed (no reference header)")
    head = value[:i]
    refs = head.decode("ascii").split("\n") if head else []
    return ([] if refs == [NO_REFS] else refs), value[i + 2 :]


def header_refs(value: bytes, valid: Callable[[str], bool] | None = None) -> list[str] | None:
    """The keys a framed record references, or None for a value without a reference header
    (a write) or with a damaged one (not ASCII, or a key ``valid`` refuses: the saver, which
    checks the header against the record, raises ``CorruptRecordError`` naming the record)."""
    i = value.find(_SEP)
    if i <= 0:
        return None
    try:
        refs = value[:i].decode("ascii").split("\n")
    except UnicodeDecodeError:
        return None
    if refs == [NO_REFS]:
        return []
    if valid is not None and not all(k and valid(k) for k in refs):
        return None
    return refs


def follow_refs(
    items: Sequence[tuple[str, bytes]],
    follow: int,
    valid: Callable[[str], bool] | None = None,
) -> list[str]:
    """Keys referenced by the first ``follow`` items that carry a reference header,
    deduplicated, leaving out the keys among ``items`` (the caller has their values)."""
    have = {k for k, _ in items}
    keys: dict[str, None] = {}
    taken = 0
    for _, value in items:
        if taken >= follow:
            break
        refs = header_refs(value, valid)
        if refs is None:
            if value.find(_SEP) > 0:
                taken += 1  # a damaged header still counts: its record is named on read
            continue
        taken += 1
        keys.update(dict.fromkeys(k for k in refs if k not in have))
    return list(keys)


def commit_groups(ops: Sequence[Op]) -> list[list[Op]]:
    """Split a batch at its commit barriers, for backends that cannot write it atomically.

    Ops inside one group may be applied in any order (in parallel); groups strictly in order.
    """
    groups: list[list[Op]] = [[]]
    for op in ops:
        if isinstance(op, Put) and op.commit:
            if groups[-1]:
                groups.append([])
            groups[-1].append(op)
            groups.append([])
        else:
            groups[-1].append(op)
    return [g for g in groups if g]
