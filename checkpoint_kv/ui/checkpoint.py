"""The checkpoint page: what one checkpoint holds, read with the saver's ``get_tuple``.

Why it reads this way: ``get_tuple`` is what ``graph.get_state`` reads, so the values shown
are the state a graph would resume from, after the same filtering the ``show`` command does:
LangGraph's own channels (``branch:to:*``, ``__start__``...) go to a collapsed section, and a
``DeltaChannel`` that this step did not store is rebuilt with ``--graph`` (its reducer is code)
or shown as its seed and the writes since (``cli.show``'s rules, shared, not copied).

The diff reads the parent with one more ``get_tuple`` and compares the two states channel by
channel (``state.diff``). Pending writes are grouped by the task that wrote them. A task's name
is not stored with its writes; :func:`task_names` recomputes the id LangGraph gives each next
node's task and names a task only when an id matches exactly (or when the task ran a subgraph,
whose namespace is ``node:task_id``), so a name shown is never a guess; others show by id.
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

MESSAGES = 200  # newest messages of a conversation shown; the rest behind "show all"
SPECIAL = {"__interrupt__": "interrupt", "__resume__": "resume", "__error__": "error"}


@dataclass
class ChannelView:
    name: str
    node: Node
    messages: list[Message] | None
    delta: dict[str, Any] | None = None  # a DeltaChannel not stored at this step: how it was found
    earlier: int = 0  # older messages not shown (the newest MESSAGES are)


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
    if specs is not None:
        _defaults(specs, visible)
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


def _defaults(specs: dict[str, Any], values: dict[str, Any]) -> None:
    """With the graph, the channels never written show as ``get_state`` shows them: their
    empty value (``[]`` for a list with a reducer), when the channel has one."""
    try:
        from langgraph._internal._typing import MISSING
    except ImportError:  # LangGraph moved it: such channels stay absent, as without --graph
        return
    for name, spec in specs.items():
        if name in values or name.startswith(HIDDEN_PREFIXES):
            continue
        try:
            channel = spec.from_checkpoint(MISSING)
            if channel.is_available():
                values[name] = jsonable(channel.get())
        except Exception:
            continue


def _views(values: dict[str, Any], notes: dict[str, Any]) -> list[ChannelView]:
    out = []
    for k, v in values.items():
        view = ChannelView(k, tree(v, (k,)), as_messages(v, (k,)), notes.get(k))
        if view.messages is not None and len(view.messages) > MESSAGES:
            view.earlier = len(view.messages) - MESSAGES
            view.messages = view.messages[-MESSAGES:]
        out.append(view)
    return out


def task_names(t: CheckpointTuple, names: list[str]) -> dict[str, str]:
    """``{task id: node}`` for the next step's tasks of ``names``, computed as LangGraph
    computes them (``pregel._algo``: the checkpoint id, namespace, step, node, its trigger).
    Private to LangGraph, so any failure means no names, and callers use a name only for an
    id that matches a stored write's."""
    try:
        from langgraph.pregel._algo import _uuid5_str, _xxhash_str

        cp = t.checkpoint
        step = (t.metadata or {}).get("step")
        if not isinstance(step, int):
            return {}
        raw = bytes.fromhex(str(cp["id"]).replace("-", ""))
        make = _xxhash_str if int(cp.get("v", 1)) > 1 else _uuid5_str
        parent = str(t.config["configurable"].get("checkpoint_ns", ""))
        out: dict[str, str] = {}
        for name in names:
            ns = f"{parent}|{name}" if parent else name
            trigger = "__start__" if name == "__start__" else f"branch:to:{name}"
            out[make(raw, ns, str(step + 1), name, "__pregel_pull", trigger)] = name
        return out
    except Exception:
        return {}


def _tasks(t: CheckpointTuple, row: Row, subgraphs: dict[str, str]) -> list[TaskWrites]:
    by_task: dict[str, TaskWrites] = {}
    named = {**task_names(t, row.next), **subgraphs}
    for i, (task_id, ch, value) in enumerate(t.pending_writes or []):
        tw = by_task.get(task_id)
        if tw is None:
            tw = by_task[task_id] = TaskWrites(task_id, named.get(task_id), [])
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
