"""The threads page: one page of threads, read through the port's partition paging.

Why it reads this way: a store may hold millions of threads, and the port lists partitions a
page at a time (``partitions(cursor)``) in the backend's own order (sorted on SQLite and in
memory, hash order on Redis). No backend keeps an index by time, so "every thread, newest
first" would read every thread before showing one. The page instead takes the next ``size``
threads in store order, reads each one's latest checkpoint with ``get_tuple`` (what
``graph.get_state`` reads; in parallel, so a network backend costs a round trip, not fifty;
without decoding state values: ``skim``) and sorts that page newest first. The first page of
a 10,000-thread store costs the same as the first page of a 25-thread one.

Search narrows by thread id prefix (a string test on partition names: no read) and by metadata
of the latest checkpoint (``key=value``, values read as JSON when they parse: ``step=3``). A
search that matches little would otherwise read on and on, so one request examines at most
``EXAMINE`` partitions and reads at most ``READS`` checkpoints, then offers to continue from
where it stopped (the cursor). An exact thread id is looked up directly, whatever the order.
"""

from __future__ import annotations

import base64
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from langgraph.checkpoint.base import CheckpointTuple

from checkpoint_kv import keys as K
from checkpoint_kv.errors import ConfigError
from checkpoint_kv.saver import KVCheckpointSaver
from checkpoint_kv.ui.skim import skimmed

__all__ = ["Cursor", "ThreadPage", "ThreadRow", "latest", "parse_meta", "row_of", "thread_page"]

PAGE = 25
EXAMINE = 5000  # partitions one request may look at while searching
READS = 200  # latest checkpoints one request may read while searching by metadata
WORKERS = 8  # get_tuple calls in flight


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: the port's cursor of the partition page, and how many of
    that page's partitions were already examined."""

    port: str | None = None
    skip: int = 0

    def encode(self) -> str:
        raw = json.dumps([self.port, self.skip], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str | None) -> Cursor:
        if not text:
            return cls()
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            port, skip = json.loads(raw)
        except (ValueError, TypeError) as e:
            raise ConfigError(
                "this page link is damaged (bad cursor): start from the first page"
            ) from e
        if not (port is None or isinstance(port, str)) or not isinstance(skip, int) or skip < 0:
            raise ConfigError("this page link is damaged (bad cursor): start from the first page")
        return cls(port, skip)


@dataclass
class ThreadRow:
    thread_id: str
    checkpoint_id: str | None
    updated: str | None
    step: Any
    source: Any
    next: list[str]
    interrupts: int
    metadata: dict[str, Any]


@dataclass
class ThreadPage:
    rows: list[ThreadRow]
    next: Cursor | None  # None: the store has no more
    examined: int = 0
    exact: ThreadRow | None = None  # the thread named exactly by the search, wherever it is
    stopped_early: bool = False  # a search ran out of its budget before filling the page
    notes: list[str] = field(default_factory=list)


def parse_meta(text: str) -> dict[str, Any]:
    """``key=value`` pairs (one per line or separated by ``&``/``,``); values as JSON when they
    parse (``step=3``, ``ok=true``), else as text."""
    out: dict[str, Any] = {}
    for part in text.replace("&", "\n").replace(",", "\n").splitlines():
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"metadata filter {part!r}: use key=value")
        value = value.strip()
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


def latest(saver: KVCheckpointSaver, thread_id: str) -> CheckpointTuple | None:
    """The thread's latest root checkpoint: what ``graph.get_state`` starts from."""
    return saver.get_tuple({"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}})


def row_of(thread_id: str, t: CheckpointTuple) -> ThreadRow:
    from checkpoint_kv.ui.timeline import next_of

    md = dict(t.metadata or {})
    return ThreadRow(
        thread_id=thread_id,
        checkpoint_id=t.config["configurable"].get("checkpoint_id"),
        updated=t.checkpoint.get("ts"),
        step=md.get("step"),
        source=md.get("source"),
        next=next_of(t),
        interrupts=sum(1 for w in t.pending_writes or [] if w[1] == "__interrupt__"),
        metadata=md,
    )


def _thread_id(saver: KVCheckpointSaver, part: str) -> str:
    """The raw thread id of a partition: its unescaped name, or for a hashed one (an id over
    120 escaped characters) the id its records carry."""
    if not part.startswith("~"):
        return K.unescape(part)
    from checkpoint_kv.cli.common import summary

    return str(summary(saver, part)["thread_id"])


def _matches(md: dict[str, Any], want: dict[str, Any]) -> bool:
    return all(md.get(k) == v for k, v in want.items())


def _read(
    saver: KVCheckpointSaver, ids: list[str], pool: ThreadPoolExecutor
) -> list[tuple[str, CheckpointTuple | None]]:
    """Each thread's latest checkpoint, without decoding the state values no row shows."""

    def one(thread_id: str) -> CheckpointTuple | None:
        return skimmed(saver, lambda s: latest(s, thread_id))

    return list(zip(ids, pool.map(one, ids), strict=True))


def thread_page(
    saver: KVCheckpointSaver,
    cursor: Cursor,
    *,
    size: int = PAGE,
    prefix: str = "",
    meta: dict[str, Any] | None = None,
) -> ThreadPage:
    """One page of threads from ``cursor`` on, newest first within the page."""
    page = ThreadPage(rows=[], next=None)
    if prefix and not cursor.port and not cursor.skip:
        t = latest(saver, prefix)
        if t is not None and _matches(dict(t.metadata or {}), meta or {}):
            page.exact = row_of(prefix, t)
    want_prefix = K.escape(prefix) if prefix and len(K.escape(prefix)) <= K.MAX_COMPONENT else ""
    reads = 0
    port, skip = cursor.port, cursor.skip
    with ThreadPoolExecutor(WORKERS, thread_name_prefix="ckv-ui") as pool:
        while True:
            listed = saver.store.partitions(port)
            parts = listed.partitions
            i = skip
            while i < len(parts) and len(page.rows) < size:
                budget = size - len(page.rows)
                if meta:
                    budget = max(budget, 4 * WORKERS)
                chosen: list[str] = []
                while i < len(parts) and len(chosen) < budget:
                    part = parts[i]
                    i += 1
                    page.examined += 1
                    if not K.is_thread_partition(part):
                        continue
                    if prefix and not (part.startswith(want_prefix) or part.startswith("~")):
                        continue
                    chosen.append(part)
                ids = [_thread_id(saver, p) for p in chosen]
                found = _read(saver, [t for t in ids if t.startswith(prefix)], pool)
                reads += len(found)
                for thread_id, t in found:
                    if t is None or not _matches(dict(t.metadata or {}), meta or {}):
                        continue
                    if page.exact is not None and thread_id == page.exact.thread_id:
                        continue
                    if len(page.rows) < size:
                        page.rows.append(row_of(thread_id, t))
                    else:  # a metadata search read ahead: resume right after the last kept
                        i = min(i, parts.index(K.partition(thread_id)))
                        break
                if _over(page, reads, prefix, meta):
                    break
            if i < len(parts):
                page.next = Cursor(port, i)
            elif listed.cursor is not None:
                page.next = Cursor(listed.cursor, 0)
            if page.next is None or len(page.rows) >= size:
                break
            if _over(page, reads, prefix, meta):
                page.stopped_early = True
                break
            port, skip = listed.cursor, 0
    page.rows.sort(key=lambda r: r.updated or "", reverse=True)
    return page


def _over(page: ThreadPage, reads: int, prefix: str, meta: dict[str, Any] | None) -> bool:
    """A search's budget for one request is spent (a plain listing stops at a full page)."""
    return bool((prefix or meta) and (page.examined >= EXAMINE or reads >= READS))
