"""A thread's checkpoints as a timeline: what ``graph.get_state_history`` lists, a page at a time.

Why it reads this way: rows come from the saver's ``list`` (the method ``get_state_history``
calls), newest first, ``PAGE`` at a time with ``before=`` paging, so a 300-turn thread opens
with one page of reads, not 600 checkpoints. Each row says what a user debugging a run asks
first: step, source (``input``, ``loop``, ``update``, ``fork``), the node(s) that produced it
(the nodes whose ``versions_seen`` moved since its parent: what ran between the two), the run
id, the nodes it would run next (``next``, as ``StateSnapshot.next``), its pending writes and
interrupts.

Rows are read with :mod:`checkpoint_kv.ui.skim` (the same ``list``, without decoding the state
values no row shows): a page of a long chat costs its reads, not 50 conversations rebuilt.

Forks (``update_state``, replaying from an older checkpoint) are drawn as lanes, like
``git log --graph``: each row's parent is known, so a checkpoint with two children on the page
is where a branch starts. The layout is computed per page in :func:`lanes` (pure, tested on its
own); a branch that continues past the page goes off the bottom.

Subgraph namespaces (``node:task_id``) are listed from the thread's namespace index keys
(``n!<ns>``: one small scan), each with its own timeline; ``ns=*`` merges every namespace
newest first, as ``list`` does without a namespace.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from langgraph.checkpoint.base import CheckpointTuple

from checkpoint_kv import keys as K
from checkpoint_kv.port import split_refs
from checkpoint_kv.saver import KVCheckpointSaver
from checkpoint_kv.ui.skim import skimmed

__all__ = [
    "ALL_NS",
    "Cell",
    "Namespace",
    "Row",
    "Timeline",
    "lanes",
    "namespaces",
    "next_of",
    "timeline",
]

PAGE = 50
ALL_NS = "*"  # every namespace, merged newest first
PARENT_READS = 8  # parents off the page read per page (to name the nodes that ran)
MAX_NAMESPACES = 200


@dataclass
class Cell:
    """The lane drawing of one row: its lane, the lanes' segments, fork/head marks."""

    lane: int = 0
    width: int = 1
    segments: list[tuple[int, int, int, int]] = field(default_factory=list)  # lane, y0, lane, y1
    fork: bool = False  # two or more children on this page start here
    head: bool = False  # no child on this page: a branch's newest checkpoint (or the page top)


@dataclass
class Row:
    checkpoint_id: str
    ns: str
    parent_id: str | None
    created: str | None
    step: Any
    source: Any
    nodes: list[str] | None  # None: the parent could not be read to compare
    run_id: Any
    next: list[str]
    writes: int
    tasks: int
    interrupts: list[Any]
    cell: Cell = field(default_factory=Cell)


@dataclass
class Namespace:
    ns: str
    newest: str | None
    node: str


@dataclass
class Timeline:
    thread_id: str
    ns: str
    rows: list[Row]
    before: str | None  # the id to page on from (older), None at the oldest
    namespaces: list[Namespace]
    more_namespaces: bool = False


def next_of(t: CheckpointTuple) -> list[str]:
    """``StateSnapshot.next`` of a checkpoint read by id (what ``cli.inspect.next_nodes``
    finds), in LangGraph's order: ``Send`` targets first, then the triggered nodes sorted by
    name (``prepare_next_tasks`` sorts them when the checkpoint records its updated channels)."""
    from checkpoint_kv.cli.inspect import next_nodes

    found = next_nodes(t)
    if t.checkpoint.get("updated_channels") is None:
        return found
    pushed = []
    for _, ch, value in t.pending_writes or []:
        target = getattr(value, "node", None)
        if ch == "__pregel_tasks" and isinstance(target, str) and target not in pushed:
            pushed.append(target)
    return pushed + sorted(n for n in found if n not in pushed)


def ran(t: CheckpointTuple, parent: CheckpointTuple | None) -> list[str]:
    """The nodes that ran between ``parent`` and ``t``: their ``versions_seen`` moved."""
    seen = t.checkpoint.get("versions_seen") or {}
    before = (parent.checkpoint.get("versions_seen") or {}) if parent is not None else {}
    return [n for n, v in seen.items() if v != before.get(n)]


def _parent_id(t: CheckpointTuple) -> str | None:
    if not t.parent_config:
        return None
    pid = t.parent_config.get("configurable", {}).get("checkpoint_id")
    return str(pid) if pid else None


def _row(t: CheckpointTuple, parent: CheckpointTuple | None, known: bool) -> Row:
    conf = t.config["configurable"]
    md = dict(t.metadata or {})
    writes = t.pending_writes or []
    interrupts: list[Any] = []
    for _, ch, value in writes:
        if ch == "__interrupt__":
            interrupts.extend(value if isinstance(value, (list, tuple)) else [value])
    return Row(
        checkpoint_id=str(conf["checkpoint_id"]),
        ns=str(conf.get("checkpoint_ns", "")),
        parent_id=_parent_id(t),
        created=t.checkpoint.get("ts"),
        step=md.get("step"),
        source=md.get("source"),
        nodes=ran(t, parent) if known else None,
        run_id=md.get("run_id"),
        next=next_of(t),
        writes=len(writes),
        tasks=len({w[0] for w in writes}),
        interrupts=interrupts,
    )


def lanes(pairs: list[tuple[str, str | None]]) -> list[Cell]:
    """Lane cells for ``(checkpoint id, parent id)`` rows, newest first (segments in lane
    units, y in 0..2: top, middle, bottom of the row)."""
    expect: list[str | None] = []  # per lane: the checkpoint id it runs down to
    cells: list[Cell] = []
    for cid, parent in pairs:
        hits = [i for i, e in enumerate(expect) if e == cid]
        above = [i for i, e in enumerate(expect) if e is not None]
        cell = Cell(fork=len(hits) > 1, head=not hits)
        if hits:
            lane = hits[0]
        else:
            lane = expect.index(None) if None in expect else len(expect)
            if lane == len(expect):
                expect.append(None)
        for i in above:
            cell.segments.append((i, 0, lane, 1) if i in hits else (i, 0, i, 2))
        for i in hits[1:]:
            expect[i] = None
        expect[lane] = parent
        if parent is not None:
            cell.segments.append((lane, 1, lane, 2))
        cell.lane = lane
        while expect and expect[-1] is None:
            expect.pop()
        cells.append(cell)
    width = max([c.lane + 1 for c in cells] + [s[2] + 1 for c in cells for s in c.segments] + [1])
    for c in cells:
        c.width = width
    return cells


def timeline(
    saver: KVCheckpointSaver,
    thread_id: str,
    ns: str = "",
    before: str | None = None,
    size: int = PAGE,
) -> Timeline:
    """One page of the thread's checkpoints in ``ns`` (:data:`ALL_NS`: every namespace),
    older than ``before``; ``size + 1`` are read, so the last row's parent is on hand."""
    conf: dict[str, Any] = {"thread_id": thread_id}
    if ns != ALL_NS:
        conf["checkpoint_ns"] = ns
    before_conf = None
    if before:
        before_conf = {"configurable": {**conf, "checkpoint_id": before}}
    got = skimmed(
        saver,
        lambda s: list(s.list({"configurable": conf}, before=before_conf, limit=size + 1)),  # type: ignore[arg-type]
    )
    shown = got[:size]
    by_id = {str(t.config["configurable"]["checkpoint_id"]): t for t in got}
    reads = 0
    rows: list[Row] = []
    for t in shown:
        pid = _parent_id(t)
        parent = by_id.get(pid) if pid else None
        if pid and parent is None and reads < PARENT_READS:
            reads += 1
            pconf = {**t.config["configurable"], "checkpoint_id": pid}
            parent = _skim_get(saver, {"configurable": pconf})
            if parent is not None:
                by_id[pid] = parent
        rows.append(_row(t, parent, known=pid is None or parent is not None))
    for r, c in zip(rows, lanes([(r.checkpoint_id, r.parent_id) for r in rows]), strict=True):
        r.cell = c
    spaces, more = namespaces(saver, thread_id)
    return Timeline(
        thread_id=thread_id,
        ns=ns,
        rows=rows,
        before=rows[-1].checkpoint_id if len(got) > size else None,
        namespaces=spaces,
        more_namespaces=more,
    )


def _skim_get(saver: KVCheckpointSaver, conf: Any) -> CheckpointTuple | None:
    return skimmed(saver, lambda s: s.get_tuple(conf))


def namespaces(saver: KVCheckpointSaver, thread_id: str) -> tuple[list[Namespace], bool]:
    """The thread's subgraph namespaces (its ``n!`` index keys: one scan), newest first."""
    part = K.partition(thread_id)
    items = saver.store.scan(part, *K.ALL_NS_INDEX).items
    out: list[Namespace] = []
    for key, value in items:
        esc = key.split(K.SEP, 1)[1]
        ns = _raw_ns(saver, part, esc) if esc.startswith("~") else K.unescape(esc)
        if ns is None:
            continue
        last = ns.split("|")[-1]
        out.append(Namespace(ns, value.decode("ascii", "replace") or None, last.split(":")[0]))
    out.sort(key=lambda n: n.newest or "", reverse=True)
    return out[:MAX_NAMESPACES], len(out) > MAX_NAMESPACES


def _raw_ns(saver: KVCheckpointSaver, part: str, esc: str) -> str | None:
    """A hashed namespace (over 120 escaped characters, nested subgraphs): the raw name its
    newest record carries."""
    from checkpoint_kv.saver import records as R

    prefix = f"c{K.SEP}{esc}"
    for key, value in saver.store.scan(part, *K.prefix_range(prefix), reverse=True, limit=16).items:
        if K.is_checkpoint_record(key):
            return R.decode_checkpoint(key, split_refs(value)[1]).ns
    return None
