"""Copies between our saver and any other LangGraph ``BaseCheckpointSaver`` (``SqliteSaver``,
``PostgresSaver``, ``langgraph-checkpoint-redis``'s ``RedisSaver``, ``InMemorySaver``, the AWS
savers...): import a thread from theirs, or export one back. One idea, a little over 300
lines: the order that keeps an interrupted copy safe is read best in one place (opening the
other savers by URL is :mod:`.foreign`).

The other side is driven through the public ``BaseCheckpointSaver`` API only: ``list``,
``get_tuple``, ``put`` and ``put_writes``. A checkpoint is re-put with its own id, its parent's
id as the config's ``checkpoint_id``, its metadata and its channel versions as they were
(``new_versions`` names the channels whose version differs from the parent's, as LangGraph
itself would have passed: every saver stores a value once per version). Versions are never
re-made by the destination's ``get_next_version``: every official saver reads the others'
(``<int>.<suffix>`` strings, ints), so a graph resumed on the destination counts on from them.

Pending writes are re-put per task, ordinary writes in one call (their ``idx`` as LangGraph
gave them) and the special ones (``__interrupt__``, ``__resume__``, ``__error__``...) in a
second. ``PendingWrite`` carries no ``task_path``, so from a foreign source each task gets a
synthetic path that keeps the order ``get_tuple`` returned (``writes_sort_key`` order, which
``get_delta_channel_history`` replays): ``""`` for the null task (graph input, resume,
``update_state``), ``"~<n>"`` for the n-th other task. From our saver the real paths are read.

Order, so that an interruption never leaves a checkpoint without what it needs: a thread's
checkpoints go oldest first, each after its parent (every namespace, subgraphs included), and
a checkpoint's writes go before the checkpoint. So whatever is visible on the destination at
any moment has its writes and its whole parent chain (a ``DeltaChannel`` rebuilds from it).

A checkpoint whose parent the source no longer has (a pruned thread) keeps that parent id on
another saver; into ours it is put without a parent (ours shows only checkpoints whose
incarnation it can trace back to a first put), so it becomes the start of its chain there.

Resumable: before a thread is copied, the destination is listed; a checkpoint it already has
is skipped (never overwritten: a thread that went on running there is not rolled back), and a
task whose writes it lacks for that checkpoint is written. Verification lists it again: every
source checkpoint and every source task's writes must be there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import WRITES_IDX_MAP, BaseCheckpointSaver, CheckpointTuple

from checkpoint_kv import keys as K
from checkpoint_kv.errors import (
    ThreadNotFoundError,
)
from checkpoint_kv.saver.checkpointer import KVCheckpointSaver
from checkpoint_kv.saver.pending import merge

__all__ = ["NULL_TASK_ID", "ForeignCopy", "copy_saver_threads"]

NULL_TASK_ID = "00000000-0000-0000-0000-000000000000"  # LangGraph's task of input and resume


# --- the copy -------------------------------------------------------------------------------


@dataclass
class ForeignCopy:
    """One thread's counts (the fields of ``migrate.ThreadCopy``): checkpoints and tasks'
    writes on the source; ``copied`` and ``skipped`` count both."""

    thread_id: str
    checkpoints: int = 0
    writes: int = 0
    copied: int = 0
    skipped: int = 0
    verified: bool | None = None
    missing: int = 0
    reads: int = 0
    write_calls: int = 0


@dataclass
class _Entry:
    """What the thread's listing says about one source checkpoint."""

    ns: str
    checkpoint_id: str
    parent_id: str | None
    versions: dict[str, Any]
    tasks: set[str] = field(default_factory=set)  # task ids with pending writes
    writes: int = 0


def _cfg(thread_id: str, ns: str, checkpoint_id: str | None = None) -> RunnableConfig:
    conf: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ns}
    if checkpoint_id is not None:
        conf["checkpoint_id"] = checkpoint_id
    return {"configurable": conf}


def _ids(t: CheckpointTuple) -> tuple[str, str, str | None]:
    conf = t.config["configurable"]
    parent = (t.parent_config or {}).get("configurable", {}).get("checkpoint_id")
    return conf.get("checkpoint_ns", ""), conf["checkpoint_id"], parent


def _listing(saver: BaseCheckpointSaver[Any], thread_id: str) -> dict[tuple[str, str], _Entry]:
    """Every checkpoint of the thread, every namespace (``list`` with the thread id only)."""
    out: dict[tuple[str, str], _Entry] = {}
    for t in saver.list({"configurable": {"thread_id": thread_id}}):
        ns, cid, parent = _ids(t)
        if t.config["configurable"].get("thread_id", thread_id) != thread_id:
            continue  # a saver whose filter is loose
        writes = t.pending_writes or []
        out[(ns, cid)] = _Entry(
            ns,
            cid,
            parent,
            dict(t.checkpoint.get("channel_versions") or {}),
            {w[0] for w in writes},
            len(writes),
        )
    return out


def _fetch(saver: BaseCheckpointSaver[Any], config: RunnableConfig) -> CheckpointTuple | None:
    """One checkpoint as ``list`` shows it (``list`` with its id, checked), else ``get_tuple``:
    the listing is what the copy counted, and one saver (langgraph-checkpoint-redis 0.5) leaves
    older checkpoints' writes out of ``get_tuple`` while ``list`` has them."""
    want = config["configurable"]["checkpoint_id"]
    for t in saver.list(config, limit=1):
        if t.config["configurable"].get("checkpoint_id") == want:
            return t
    return saver.get_tuple(config)


def _oldest_first(entries: dict[tuple[str, str], _Entry]) -> list[_Entry]:
    """By id (uuid6: time order), each after its parent (a clock that went back cannot put a
    child first); no recursion, as a chain may be thousands long."""
    ordered = sorted(entries.values(), key=lambda e: (e.checkpoint_id, e.ns))
    placed: set[tuple[str, str]] = set()
    out: list[_Entry] = []
    for e in ordered:
        chain: list[_Entry] = []
        cur: _Entry | None = e
        while cur is not None and (cur.ns, cur.checkpoint_id) not in placed:
            placed.add((cur.ns, cur.checkpoint_id))
            chain.append(cur)
            cur = entries.get((cur.ns, cur.parent_id)) if cur.parent_id else None
        out.extend(reversed(chain))
    return out


def thread_ids(saver: BaseCheckpointSaver[Any]) -> list[str]:
    """Every thread of ``saver``: our partitions, or ``list(None)`` of another saver."""
    if isinstance(saver, KVCheckpointSaver):
        from checkpoint_kv.saver.migrate import all_partitions

        return [K.unescape(p) for p in all_partitions(saver.store) if K.is_thread_partition(p)]
    seen: dict[str, None] = {}
    for t in saver.list(None):
        seen.setdefault(str(t.config["configurable"]["thread_id"]), None)
    return list(seen)


def has_thread(saver: BaseCheckpointSaver[Any], thread_id: str) -> bool:
    return (
        next(iter(saver.list({"configurable": {"thread_id": thread_id}}, limit=1)), None)
        is not None
    )


def _task_paths(
    saver: BaseCheckpointSaver[Any], thread_id: str, ns: str, checkpoint_id: str
) -> dict[str, str]:
    """``task id -> task_path`` of one checkpoint's writes: read from our records (another
    saver's ``PendingWrite`` carries none; see :func:`_synthetic_paths`)."""
    if not isinstance(saver, KVCheckpointSaver):
        return {}
    start, end = K.prefix_range(K.checkpoint_prefix(ns, checkpoint_id) + K.SEP + "w")
    items = saver.store.scan(K.partition(thread_id), start, end).items
    return {w.task_id: w.task_path for w in merge(items)}


def _synthetic_paths(writes: Sequence[tuple[str, str, Any]]) -> dict[str, str]:
    """Paths that sort the tasks as ``writes`` lists them (``writes_sort_key`` order)."""
    out: dict[str, str] = {}
    for task_id, _, _ in writes:
        if task_id not in out:
            out[task_id] = "" if task_id == NULL_TASK_ID else f"~{len(out):06d}"
    return out


def _put_writes(
    dst: BaseCheckpointSaver[Any],
    config: RunnableConfig,
    writes: Sequence[tuple[str, str, Any]],
    tasks: Iterable[str],
    paths: dict[str, str],
    fc: ForeignCopy,
) -> None:
    """The writes of ``tasks``, per task: ordinary writes in one call (idx 0..n-1, as the
    task wrote them), the special channels in a second (their idx is fixed)."""
    wanted = set(tasks)
    by_task: dict[str, list[tuple[str, Any]]] = {}
    for task_id, channel, value in writes:
        if task_id in wanted:
            by_task.setdefault(task_id, []).append((channel, value))
    for task_id, pairs in by_task.items():
        plain = [(c, v) for c, v in pairs if c not in WRITES_IDX_MAP]
        special = [(c, v) for c, v in pairs if c in WRITES_IDX_MAP]
        for batch in (plain, special):
            if batch:
                dst.put_writes(config, batch, task_id, paths.get(task_id, ""))
                fc.write_calls += 1
        fc.copied += len(pairs)


def copy_saver_thread(
    src: BaseCheckpointSaver[Any],
    dst: BaseCheckpointSaver[Any],
    thread_id: str,
    *,
    verify: bool = True,
    on_progress: Callable[[int], None] | None = None,
) -> ForeignCopy:
    """Copy one thread (every namespace) from ``src`` to ``dst``; see the module docstring."""
    fc = ForeignCopy(thread_id)
    source = _listing(src, thread_id)
    fc.reads += 1
    have = _listing(dst, thread_id)
    fc.reads += 1
    fc.checkpoints = len(source)
    fc.writes = sum(e.writes for e in source.values())
    done = 0
    for e in _oldest_first(source):
        there = have.get((e.ns, e.checkpoint_id))
        missing_tasks = e.tasks - there.tasks if there is not None else e.tasks
        if there is not None and not missing_tasks:
            fc.skipped += 1 + e.writes
        else:
            t = _fetch(src, _cfg(thread_id, e.ns, e.checkpoint_id))
            fc.reads += 1
            if t is None:  # deleted on the source since it was listed (a prune beside us)
                fc.checkpoints -= 1
                fc.writes -= e.writes
                continue
            writes = list(t.pending_writes or [])
            paths = _synthetic_paths(writes)
            paths.update(_task_paths(src, thread_id, e.ns, e.checkpoint_id))
            here = _cfg(thread_id, e.ns, e.checkpoint_id)
            _put_writes(dst, here, writes, missing_tasks, paths, fc)
            fc.skipped += sum(1 for w in writes if w[0] not in missing_tasks)
            if there is None:
                parent = source.get((e.ns, e.parent_id)) if e.parent_id else None
                versions = dict(t.checkpoint.get("channel_versions") or {})
                new_versions = {
                    ch: v
                    for ch, v in versions.items()
                    if parent is None or parent.versions.get(ch) != v
                }
                parent_id = e.parent_id
                if (
                    parent is None
                    and (e.ns, parent_id) not in have
                    and isinstance(dst, KVCheckpointSaver)
                ):
                    # Its parent is gone (a prune): ours shows a checkpoint only in an
                    # incarnation it can trace, so it starts one, as a first put would.
                    parent_id = None
                dst.put(
                    _cfg(thread_id, e.ns, parent_id),
                    t.checkpoint,
                    t.metadata,
                    new_versions,
                )
                fc.write_calls += 1
                fc.copied += 1
            else:
                fc.skipped += 1
        done += 1 + e.writes
        if on_progress is not None:
            on_progress(done)
    if verify:
        after = _listing(dst, thread_id)
        fc.reads += 1
        missing = 0
        for key, e in source.items():
            got = after.get(key)
            if got is None:
                missing += 1 + e.writes
            else:
                missing += len(e.tasks - got.tasks)
        fc.missing = missing
        fc.verified = missing == 0
    return fc


def copy_saver_threads(
    src: BaseCheckpointSaver[Any],
    dst: BaseCheckpointSaver[Any],
    threads: Iterable[str] | None,
    *,
    src_name: str,
    verify: bool = True,
    on_thread: Callable[[int, int, str, ForeignCopy | None, int], None] | None = None,
) -> list[ForeignCopy]:
    """Copy ``threads`` (None: every thread of ``src``). ``on_thread(index, count, thread_id,
    copy or None while it runs, items done)`` reports progress."""
    if threads is None:
        wanted = thread_ids(src)
    else:
        wanted = list(dict.fromkeys(threads))
        absent = [t for t in wanted if not has_thread(src, t)]
        if absent:
            names = ", ".join(repr(t) for t in absent)
            raise ThreadNotFoundError(f"{src_name}: no such thread: {names}; nothing was copied")
    out: list[ForeignCopy] = []
    for i, tid in enumerate(wanted):

        def tick(done: int, i: int = i, tid: str = tid) -> None:
            if on_thread is not None:
                on_thread(i, len(wanted), tid, None, done)

        fc = copy_saver_thread(src, dst, tid, verify=verify, on_progress=tick)
        out.append(fc)
        if on_thread is not None:
            on_thread(i, len(wanted), tid, fc, fc.copied + fc.skipped)
    return out
