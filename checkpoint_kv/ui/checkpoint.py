"""The checkpoint page: what one checkpoint holds, read with the saver's ``get_tuple``.

Why it reads this way: ``get_tuple`` is what ``graph.get_state`` reads, so the values shown
are the state a graph would resume from, after the same filtering the ``show`` command does:
LangGraph's own channels (``branch:to:*``, ``__start__``...) go to a collapsed section, and a
``DeltaChannel`` that this step did not store is rebuilt with ``--graph`` (its reducer is code)
or shown as its seed and the writes since (``cli.show``'s rules, shared, not copied).

The diff reads the parent with one more ``get_tuple`` and compares the two states channel by
channel (``state.diff``). Pending writes are grouped by the task that wrote them; a task's name
is not stored with its writes, so it is named when the checkpoint has a single next node or
the task ran a subgraph (its namespace is ``node:task_id``), else shown by id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from langgraph.checkpoint.base import CheckpointTuple

from checkpoint_kv.cli.common import HIDDEN_PREFIXES, jsonable
from checkpoint_kv.errors import ThreadNotFoundError
from checkpoint_kv.saver import KVCheckpointSaver
from checkpoint_kv.ui.state import ChannelDiff, Message, Node, as_messages, diff, tree
from checkpoint_kv.ui.timeline import Row, _row, namespaces

__all__ = ["ChannelView", "CheckpointPage", "TaskWrites", "checkpoint_page", "read", "state_of"]

SPECIAL = {"__interrupt__": "interrupt", "__resume__": "resume", "__error__": "error"}


@dataclass
class ChannelView:
    name: str
    node: Node
    messages: list[Message] | None
    delta: dict[str, Any] | None = None  # a DeltaChannel not stored at this step: how it was found


@dataclass
class TaskWrites:
    task_id: str
    name: str | None
    writes: list[tuple[str, Node]]
    interrupted: bool = False


@dataclass
class CheckpointPage:
    thread_id: str
    ns: str
    row: Row
    metadata: Node
    values: dict[str, Any]  # visible channels as JSON: what get_state(...).values holds
    channels: list[ChannelView]
    hidden: list[ChannelView]
    tasks: list[TaskWrites]
    interrupts: list[Node]
    diffs: list[ChannelDiff] = field(default_factory=list)
    parent_missing: bool = False


def read(saver: KVCheckpointSaver, thread_id: str, ns: str, cid: str | None) -> CheckpointTuple:
    conf: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ns}
    if cid:
        conf["checkpoint_id"] = cid
    t = saver.get_tuple({"configurable": conf})  # type: ignore[arg-type]
    if t is None:
        where = f"checkpoint {cid!r}" if cid else "no checkpoint"
        space = f" namespace {ns!r} of" if ns else ""
        raise ThreadNotFoundError(f"{where} not found in{space} thread {thread_id!r}")
    return t


def state_of(
    saver: KVCheckpointSaver, t: CheckpointTuple, specs: dict[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """``(visible values, LangGraph's own channels, DeltaChannel notes)``, values as JSON."""
    from checkpoint_kv.cli.show import _delta_values, _unwrap

    rebuilt, delta = _delta_values(saver, t, specs)
    stored = t.checkpoint.get("channel_values") or {}
    visible: dict[str, Any] = {}
    hidden: dict[str, Any] = {}
    for k, v in {**stored, **rebuilt}.items():
        (hidden if k.startswith(HIDDEN_PREFIXES) else visible)[k] = jsonable(_unwrap(v))
    notes: dict[str, Any] = {}
    for k, d in delta.items():
        if d.get("rebuilt"):
            notes[k] = {"rebuilt": True, "writes_since_seed": d["writes_since_seed"]}
        else:
            visible.setdefault(
                k, {"seed": jsonable(d.get("seed")), "writes": jsonable(d["writes"])}
            )
            notes[k] = {"rebuilt": False, "writes_since_seed": d["writes_since_seed"]}
    return visible, hidden, notes


def _views(values: dict[str, Any], notes: dict[str, Any]) -> list[ChannelView]:
    return [
        ChannelView(k, tree(v, (k,)), as_messages(v, (k,)), notes.get(k)) for k, v in values.items()
    ]


def _tasks(t: CheckpointTuple, row: Row, subgraphs: dict[str, str]) -> list[TaskWrites]:
    by_task: dict[str, TaskWrites] = {}
    for i, (task_id, ch, value) in enumerate(t.pending_writes or []):
        tw = by_task.get(task_id)
        if tw is None:
            name = subgraphs.get(task_id) or (row.next[0] if len(row.next) == 1 else None)
            tw = by_task[task_id] = TaskWrites(task_id, name, [])
        label = SPECIAL.get(ch, ch)
        tw.interrupted |= ch == "__interrupt__"
        tw.writes.append((label, tree(jsonable(value), ("__writes__", i, 2))))
    return list(by_task.values())


def checkpoint_page(
    saver: KVCheckpointSaver,
    thread_id: str,
    ns: str,
    cid: str | None,
    *,
    specs: dict[str, Any] | None = None,
    with_diff: bool = False,
) -> CheckpointPage:
    t = read(saver, thread_id, ns, cid)
    parent: CheckpointTuple | None = None
    if t.parent_config:
        parent = saver.get_tuple(t.parent_config)
    row = _row(t, parent, known=t.parent_config is None or parent is not None)
    visible, hidden, notes = state_of(saver, t, specs)
    spaces, _ = namespaces(saver, thread_id)
    subgraphs = {n.ns.split("|")[-1].split(":", 1)[-1]: n.node for n in spaces}
    page = CheckpointPage(
        thread_id=thread_id,
        ns=ns,
        row=row,
        metadata=tree(jsonable(t.metadata or {}), ("__metadata__",)),
        values=visible,
        channels=_views(visible, notes),
        hidden=_views(hidden, {}),
        tasks=_tasks(t, row, subgraphs),
        interrupts=[tree(jsonable(i), ("__interrupts__", n)) for n, i in enumerate(row.interrupts)],
    )
    if with_diff:
        if parent is None:
            page.parent_missing = t.parent_config is not None
            page.diffs = diff(visible, {})
        else:
            before, _, _ = state_of(saver, parent, specs)
            page.diffs = diff(visible, before)
    return page


def raw_value(
    saver: KVCheckpointSaver,
    thread_id: str,
    ns: str,
    cid: str,
    specs: dict[str, Any] | None,
) -> dict[str, Any]:
    """Everything a "show all" link may point into: the visible values, the metadata, the
    pending writes and the interrupts, as JSON."""
    t = read(saver, thread_id, ns, cid)
    visible, hidden, _ = state_of(saver, t, specs)
    row = _row(t, None, known=False)
    return {
        **visible,
        **hidden,
        "__metadata__": jsonable(t.metadata or {}),
        "__writes__": jsonable(t.pending_writes or []),
        "__interrupts__": jsonable(row.interrupts),
    }
