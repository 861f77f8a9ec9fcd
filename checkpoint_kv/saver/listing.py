"""``list``: checkpoints newest first, read lazily, page by page.

A thread's namespaces are separate key ranges (``c!<ns>!...``), each ordered by checkpoint id.
``list`` of one namespace pages down that range; ``list`` of a whole thread merges one
descending pager per namespace, opening a namespace only when its newest checkpoint (known from
the namespace index ``n!<ns>``, which ``put`` keeps) could come next. So ``limit=1`` reads about
one page, however long the thread or however many subgraph namespaces it has.

Records are decoded only when reached: the healthy checkpoints before a damaged one are handed
out first, then ``CorruptRecordError`` names the damaged key.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from checkpoint_kv import keys as K
from checkpoint_kv.drive import Emit, Get, Plan, Scan, StreamPlan
from checkpoint_kv.errors import CorruptRecordError
from checkpoint_kv.port import ScanResult
from checkpoint_kv.saver.groups import Group, group, records_of, shown
from checkpoint_kv.saver.packing import plan_fallbacks

__all__ = ["Lister", "ns_index_range"]

_MAX_PAGE = 1000
_FLUSH = 100  # checkpoints whose blobs are fetched together when no limit bounds the list
_TOP = "\x7f"  # sorts after every escaped id: a namespace whose newest id is unknown


def ns_index_range() -> tuple[str, str]:
    return K.ALL_NS_INDEX


@dataclass
class _Pager:
    """Descending pages of one namespace's checkpoints (``esc_ns`` is escaped)."""

    esc_ns: str
    end: str
    bound: tuple[str, str]  # no checkpoint of this namespace not yet read sorts above this
    page: int
    opened: bool = False
    exhausted: bool = False
    groups: deque[Group] = field(default_factory=deque)
    carry: list[tuple[str, bytes]] = field(default_factory=list)

    @property
    def start(self) -> str:
        return f"c{K.SEP}{self.esc_ns}{K.SEP}"


@dataclass
class Lister:
    """One thread's listing. ``emit`` turns a group and its blobs into what the caller gets;
    ``match`` applies the metadata filter."""

    part: str
    emit: Callable[[Group, dict[str, bytes]], Plan[Any]]  # None: deleted while read
    match: Callable[[Group], bool]
    before_id: str | None
    remaining: list[int | None]  # shared countdown (list(None) spans threads)
    shallow: bool = False
    follow: bool = True  # let the store return blobs with the page (not when a filter skips most)
    blobs: dict[str, bytes] = field(default_factory=dict)

    def _pager(self, esc_ns: str, newest: str) -> _Pager:
        want = self.remaining[0]
        page = max(16, want * 4) if want is not None else 100
        end = f"c{K.SEP}{esc_ns}{K.AFTER_SEP}"
        if self.before_id is not None and not self.shallow:
            end = f"c{K.SEP}{esc_ns}{K.SEP}{K.escape(self.before_id)}{K.SEP}"
        return _Pager(esc_ns, end, (newest, esc_ns), page)

    def plan(self, ns: str | None) -> StreamPlan:
        if ns is not None:
            pagers = [self._pager(K.escape(ns), _TOP)]
        else:
            res: ScanResult = yield Scan(self.part, *ns_index_range())
            pagers = [self._pager("", _TOP)]  # the root namespace is never indexed
            for key, value in res.items:
                pagers.append(self._pager(key.split(K.SEP, 1)[1], value.decode("ascii", "replace")))
        batch: list[Group] = []
        error: CorruptRecordError | None = None
        while self.remaining[0] is None or len(batch) < self.remaining[0]:
            best = yield from self._next(pagers)
            if best is None:
                break
            g = best.groups.popleft()
            if self.shallow:  # only the newest checkpoint of a namespace is listed
                best.groups.clear()
                best.exhausted = True
            try:
                if self.before_id is not None and g.record.checkpoint_id >= self.before_id:
                    continue
                if not self.match(g):
                    continue
                g.refs  # noqa: B018 - decode now, so a damaged record stops the batch here
            except CorruptRecordError as e:
                error = e
                break
            batch.append(g)
            if len(batch) >= _FLUSH and self.remaining[0] is None:
                yield from self._flush(batch)
                batch = []
        yield from self._flush(batch)
        if error is not None:
            raise error

    def _next(self, pagers: list[_Pager]) -> Plan[_Pager | None]:
        """The pager whose next checkpoint is the newest of all, reading pages as needed."""
        while True:
            live = [p for p in pagers if p.groups or not p.exhausted]
            if not live:
                return None
            best = max(live, key=lambda p: p.groups[0].sort_id if p.groups else p.bound)
            if best.groups:
                return best
            yield from self._read_page(best)

    def _read_page(self, p: _Pager) -> Plan[None]:
        want = self.remaining[0]
        follow = 0 if not self.follow else min(want, p.page) if want is not None else p.page
        # Without a filter every checkpoint read is listed: no more than ``want`` are needed,
        # so a store may stop before the next record (a short page then ends this pager).
        records = want if want is not None and self.follow and not self.shallow else 0
        res: ScanResult = yield Scan(
            self.part, p.start, p.end, reverse=True, limit=p.page, follow=follow, records=records
        )
        p.opened = True
        p.exhausted = len(res.items) < p.page
        self.blobs.update(res.refs)
        # Homes and the namespace's marks among them.
        self.blobs.update(kv for kv in res.items if K.is_record(kv[0]) or K.is_mark(kv[0]))
        items = p.carry + res.items
        groups = group(items, reverse=True)
        p.carry = []
        if not p.exhausted and groups:
            # The last checkpoint's writes may go on in the next page: hold it back.
            last = groups.pop()
            p.carry = items[next(i for i, kv in enumerate(items) if kv[0] == last.key) :]
        if res.items:
            p.end = res.items[-1][0]
        p.groups.extend(groups)
        head = p.groups[0].key if p.groups else p.carry[0][0] if p.carry else p.end
        parts = head.split(K.SEP)
        p.bound = (parts[2] if len(parts) > 2 else "", p.esc_ns)
        p.page = min(p.page * 2, _MAX_PAGE)

    def _flush(self, batch: list[Group]) -> StreamPlan:
        if not batch:
            return
        missing = sorted({k for g in batch for k in g.refs} - self.blobs.keys())
        if missing:
            self.blobs.update((yield Get(self.part, missing)))
        yield from plan_fallbacks(self.part, records_of(batch), self.blobs)
        for g in batch:
            if not shown(g, self.blobs):
                continue  # a late write of a deleted incarnation: never written
            out = yield from self.emit(g, self.blobs)
            if out is None:
                continue
            yield Emit(out)
            if self.remaining[0] is not None:
                self.remaining[0] -= 1
        if len(self.blobs) > 8 * _FLUSH:
            self.blobs.clear()  # memory stays flat on long lists; a shared blob is read again
