"""DeltaChannel histories of a ``list()`` page, read together.

LangGraph's ``get_state_history`` reads a ``list()`` page, then asks
``get_delta_channel_history`` for each checkpoint of it in turn: one call per checkpoint, each
a round trip, while the chains of a page's checkpoints overlap almost entirely. So the
checkpoints a ``list()`` yields are noted here, and the first history asked of one of them is
read together with those of the listed checkpoints under it (``delta.plan_delta`` with
``below``), in the same round trips; the others are kept for the calls that follow. A page of
ten costs the listing's round trip and one history read, not eleven.

What is kept is one read, served once, for a few seconds at most and never after this
process writes to the thread: not a cache of another process's data. A ``put_writes`` another
process makes to an ancestor meanwhile is seen by the next read, as it would be had this read
been made a moment earlier.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence

from langgraph.checkpoint.base import CheckpointTuple, DeltaChannelHistory

__all__ = ["HistoryPages"]

Histories = dict[str, DeltaChannelHistory]
AHEAD_MAX = 31  # listed checkpoints whose histories are read with one asked for
MAX_THREADS = 1024  # threads whose last listing is remembered
KEEP_SECONDS = 5.0  # a history read ahead and not asked for within this is dropped


class HistoryPages:
    """The checkpoints this process listed last, per thread, and the histories read ahead
    for them. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # thread -> (when, the (namespace, checkpoint id) its last list() yielded, in order)
        self._listed: dict[str, tuple[float, list[tuple[str, str]]]] = {}
        self._ahead: dict[tuple[str, str, str, tuple[str, ...]], tuple[float, Histories]] = {}

    def watch(
        self, thread_id: str | None, it: Iterator[CheckpointTuple]
    ) -> Iterator[CheckpointTuple]:
        """``it`` (a ``list()``), noting the checkpoints it yields."""
        page = self._start(thread_id)
        for tup in it:
            page.append(_where(tup))
            yield tup

    async def awatch(
        self, thread_id: str | None, it: AsyncIterator[CheckpointTuple]
    ) -> AsyncIterator[CheckpointTuple]:
        page = self._start(thread_id)
        async for tup in it:
            page.append(_where(tup))
            yield tup

    def ahead(self, thread_id: str, ns: str, cid: str | None) -> int:
        """How many listed checkpoints under this one to read the histories of with its own:
        those after it in the thread's last listing (same namespace), if recent."""
        with self._lock:
            listed = self._listed.get(thread_id)
            if cid is None or listed is None or time.monotonic() - listed[0] > KEEP_SECONDS:
                return 0
            page = listed[1]
            if (ns, cid) not in page:
                return 0
            after = page[page.index((ns, cid)) + 1 :]
            return min(AHEAD_MAX, sum(1 for n, _ in after if n == ns))

    def take(
        self, thread_id: str, ns: str, cid: str | None, channels: Sequence[str]
    ) -> Histories | None:
        """The histories read ahead for this checkpoint and these channels (served once)."""
        if cid is None or not self._ahead:
            return None
        with self._lock:
            got = self._ahead.pop((thread_id, ns, cid, tuple(channels)), None)
            if got is None or time.monotonic() - got[0] > KEEP_SECONDS:
                return None
            return got[1]

    def keep(
        self,
        thread_id: str,
        ns: str,
        channels: Sequence[str],
        others: Mapping[str, Histories],
    ) -> None:
        if not others:
            return
        now = time.monotonic()
        with self._lock:
            for key in [k for k, (t, _) in self._ahead.items() if now - t > KEEP_SECONDS]:
                del self._ahead[key]  # never asked for: dropped
            for cid, histories in others.items():
                self._ahead[(thread_id, ns, cid, tuple(channels))] = (now, histories)

    def forget(self, thread_ids: Iterable[str]) -> None:
        """Drop what was read ahead for these threads (written to, deleted, pruned)."""
        gone = set(thread_ids)
        if not self._ahead:
            return  # the common case: nothing read ahead, no lock taken
        with self._lock:
            for key in [k for k in self._ahead if k[0] in gone]:
                del self._ahead[key]

    def _start(self, thread_id: str | None) -> list[tuple[str, str]]:
        page: list[tuple[str, str]] = []
        if thread_id is not None:
            with self._lock:
                if len(self._listed) >= MAX_THREADS:
                    self._listed.clear()
                self._listed[thread_id] = (time.monotonic(), page)
        return page


def _where(tup: CheckpointTuple) -> tuple[str, str]:
    conf = tup.config["configurable"]
    return str(conf.get("checkpoint_ns", "")), str(conf["checkpoint_id"])
