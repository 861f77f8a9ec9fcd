"""Reading checkpoints without decoding their state values, for the pages that show none.

Why: the threads page and the timeline show ids, metadata, what ran, what runs next, pending
writes and interrupts; none of that needs the channel values, yet decoding them is nearly all
the time a read takes (a 600-message chat: ~14 ms a checkpoint to build LangChain messages,
so 0.7 s for a page of 50). :class:`SkimSaver` is the same saver over the same store whose
codec hands back :data:`SKIPPED` in place of each channel value; the checkpoint, its metadata
and its pending writes are decoded as always, so everything the rows show is what ``list`` /
``get_tuple`` return (a value's presence, which ``next`` reads, is kept). Reads, visibility and
errors stay the saver's own: nothing of the storage layout is re-coded here.

It leans on how ``Codec.tuple`` decodes (the record's ``checkpoint`` and ``metadata`` pairs,
write keys holding ``!w!``), which is private to the saver; :func:`skimmed` therefore falls back
to the plain saver on any failure, so a change there costs speed, never a wrong page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import CheckpointTuple

from checkpoint_kv import keys as K
from checkpoint_kv.saver import KVCheckpointSaver
from checkpoint_kv.saver.codec import Codec

__all__ = ["SKIPPED", "SkimSaver", "skimmed"]

T = TypeVar("T")
WRITE = f"{K.SEP}w{K.SEP}"  # in every pending-write key


class _Skipped:
    def __repr__(self) -> str:
        return "<not decoded>"


SKIPPED: Any = _Skipped()


class _SkimCodec(Codec):
    """A codec that decodes the checkpoint, its metadata and its writes, not its values."""

    def __init__(self, serde: Any, locator: Any) -> None:
        super().__init__(serde, locator)
        self._record: Any = None

    def tuple(self, g: Any, blobs: Any, config: RunnableConfig | None = None) -> CheckpointTuple:
        self._record = g.record
        try:
            return super().tuple(g, blobs, config)
        finally:
            self._record = None

    def loads(self, key: str, typed: Any) -> Any:
        rec = self._record
        if rec is None or typed is rec.checkpoint or typed is rec.metadata or WRITE in key:
            return super().loads(key, typed)
        return SKIPPED


class SkimSaver(KVCheckpointSaver):
    """``saver``'s store and serializer; ``list`` and ``get_tuple`` skip the state values."""

    def __init__(self, saver: KVCheckpointSaver) -> None:
        super().__init__(saver.store, serde=saver.serde, shallow=saver.shallow, astore=saver.astore)

    @property
    def _codec(self) -> Codec:
        return _SkimCodec(self.serde, self._locator)


def skimmed(saver: KVCheckpointSaver, read: Callable[[KVCheckpointSaver], T]) -> T:
    """``read(SkimSaver(saver))``, or ``read(saver)`` if the skimming read fails."""
    try:
        return read(SkimSaver(saver))
    except Exception:
        return read(saver)  # the plain read: its answer, or its error, is the truth
