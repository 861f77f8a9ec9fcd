"""``threads`` and ``history``: what a store holds, read through the saver (never written).

:func:`history_row` and :func:`next_nodes` describe one checkpoint; ``show`` (``show.py``)
builds on them.
"""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from langgraph.checkpoint.base import CheckpointTuple

from checkpoint_kv import keys as K
from checkpoint_kv.cli.common import (
    EXIT_OK,
    add_command,
    add_url,
    dump,
    need_thread,
    saver,
    summary,
    table,
)
from checkpoint_kv.errors import redact_url
from checkpoint_kv.saver.migrate import all_partitions


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(
        subparsers, "threads", "threads with checkpoint counts and last update", cmd_threads
    )
    add_url(p)
    p.add_argument("--limit", type=int, help="at most N threads (most recent first)")

    p = add_command(subparsers, "history", "checkpoints of a thread, newest first", cmd_history)
    add_url(p)
    p.add_argument("thread", metavar="THREAD")
    p.add_argument("--ns", default="", help="checkpoint namespace (default: the root graph)")
    p.add_argument("--limit", type=int, help="at most N checkpoints")


def cmd_threads(args: argparse.Namespace, out: TextIO) -> int:
    with saver(args) as s:
        docs = [summary(s, p) for p in all_partitions(s.store) if K.is_thread_partition(p)]
    docs.sort(key=lambda d: d["last_update"] or "", reverse=True)
    if args.limit is not None:
        docs = docs[: args.limit]
    if args.json:
        dump({"url": redact_url(args.url), "threads": docs}, out)
    else:
        rows = [(d["thread_id"], d["checkpoints"], d["namespaces"], d["last_update"]) for d in docs]
        table(rows, ("THREAD", "CHECKPOINTS", "NAMESPACES", "LAST UPDATE"), out)
    return EXIT_OK


def cmd_history(args: argparse.Namespace, out: TextIO) -> int:
    with saver(args) as s:
        need_thread(s.store, args.url, args.thread)
        conf = {"configurable": {"thread_id": args.thread, "checkpoint_ns": args.ns}}
        docs = [history_row(t) for t in s.list(conf, limit=args.limit)]  # type: ignore[arg-type]
    if args.json:
        dump({"thread_id": args.thread, "checkpoint_ns": args.ns, "checkpoints": docs}, out)
    else:
        rows = [
            (
                d["checkpoint_id"],
                d["step"],
                d["source"],
                d["pending_writes"] or "",
                ",".join(d["next"]) + (" (interrupted)" if d["interrupts"] else ""),
                d["created_at"],
            )
            for d in docs
        ]
        table(rows, ("CHECKPOINT", "STEP", "SOURCE", "WRITES", "NEXT", "CREATED"), out)
    return EXIT_OK


def history_row(t: CheckpointTuple) -> dict[str, Any]:
    """One checkpoint as a row of ``history`` (and the head of ``show``)."""
    conf = t.config["configurable"]
    md = t.metadata or {}
    writes = t.pending_writes or []
    return {
        "checkpoint_id": conf["checkpoint_id"],
        "checkpoint_ns": conf.get("checkpoint_ns", ""),
        "parent_checkpoint_id": (t.parent_config or {})
        .get("configurable", {})
        .get("checkpoint_id"),
        "created_at": t.checkpoint.get("ts"),
        "step": md.get("step"),
        "source": md.get("source"),
        "pending_writes": len(writes),
        "interrupts": sum(1 for w in writes if w[1] == "__interrupt__"),
        "next": next_nodes(t),
    }


def next_nodes(t: CheckpointTuple) -> list[str]:
    """The nodes a checkpoint would run next, read from the checkpoint alone (no graph):
    nodes whose trigger channel (``branch:to:<node>``, ``__start__``) holds a value newer than
    the node last saw, plus the targets of pending ``Send``s. Matches ``StateSnapshot.next`` for
    ``StateGraph``s."""
    cp = t.checkpoint
    seen = cp.get("versions_seen") or {}
    available = cp.get("channel_values") or {}  # a consumed trigger has no stored value
    out: list[str] = []
    for ch, version in (cp.get("channel_versions") or {}).items():
        if ch not in available:
            continue
        if ch == "__start__":
            node = "__start__"
        elif ch.startswith("branch:to:"):
            node = ch[len("branch:to:") :]
        else:
            continue
        if _newer(version, (seen.get(node) or {}).get(ch)) and node not in out:
            out.append(node)
    for _, ch, value in t.pending_writes or []:
        target = getattr(value, "node", None)
        if ch == "__pregel_tasks" and isinstance(target, str) and target not in out:
            out.append(target)
    return out


def _newer(a: Any, b: Any) -> bool:
    if b is None:
        return True
    try:
        return bool(a > b)
    except TypeError:
        return str(a) > str(b)
