"""``show``: the state values and metadata of one checkpoint, with the ``DeltaChannel`` values
a checkpoint does not store rebuilt (``--graph``) or shown as their seed and writes."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from langgraph.checkpoint.base import CheckpointTuple
from langgraph.checkpoint.serde.types import _DeltaSnapshot

from checkpoint_kv.cli.common import (
    EXIT_OK,
    HIDDEN_PREFIXES,
    add_command,
    add_url,
    dump,
    indent,
    jsonable,
    need_thread,
    saver,
)
from checkpoint_kv.cli.inspect import history_row
from checkpoint_kv.errors import ConfigError, ThreadNotFoundError
from checkpoint_kv.registry import load_object
from checkpoint_kv.saver import KVCheckpointSaver


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(
        subparsers,
        "show",
        "state values and metadata of a checkpoint (default: latest)",
        cmd_show,
    )
    add_url(p)
    p.add_argument("thread", metavar="THREAD")
    p.add_argument("checkpoint_id", nargs="?", metavar="CHECKPOINT_ID")
    p.add_argument("--ns", default="", help="checkpoint namespace (default: the root graph)")
    p.add_argument("--all-channels", action="store_true", help="include LangGraph's own channels")
    p.add_argument(
        "--graph",
        metavar="MODULE:ATTR",
        help="the graph (module:attr or file.py:attr), to rebuild DeltaChannel values",
    )


def cmd_show(args: argparse.Namespace, out: TextIO) -> int:
    specs = _graph_channels(args.graph)
    with saver(args) as s:
        need_thread(s.store, args.url, args.thread)
        conf: dict[str, Any] = {"thread_id": args.thread, "checkpoint_ns": args.ns}
        if args.checkpoint_id:
            conf["checkpoint_id"] = args.checkpoint_id
        t = s.get_tuple({"configurable": conf})
        if t is None:
            where = f"checkpoint {args.checkpoint_id!r}" if args.checkpoint_id else "no checkpoint"
            ns = f" namespace {args.ns!r} of" if args.ns else ""
            raise ThreadNotFoundError(f"{where} not found in{ns} thread {args.thread!r}")
        rebuilt, delta = _delta_values(s, t, specs)
    values = {
        k: _unwrap(v)
        for k, v in {**t.checkpoint.get("channel_values", {}), **rebuilt}.items()
        if args.all_channels or not k.startswith(HIDDEN_PREFIXES)
    }
    doc = {
        **history_row(t),
        "thread_id": args.thread,
        "metadata": t.metadata,
        "values": values,
        "delta_channels": delta,
        "pending_writes": [
            {"task_id": tid, "channel": ch, "value": v} for tid, ch, v in t.pending_writes or []
        ],
    }
    if args.json:
        dump(doc, out)
        return EXIT_OK
    _print(args, doc, delta, out)
    return EXIT_OK


def _print(
    args: argparse.Namespace, doc: dict[str, Any], delta: dict[str, Any], out: TextIO
) -> None:
    head = [
        ("thread", args.thread),
        ("checkpoint", doc["checkpoint_id"]),
        ("namespace", repr(doc["checkpoint_ns"])),
        ("parent", doc["parent_checkpoint_id"] or "-"),
        ("created", doc["created_at"]),
        ("step", f"{doc['step']} ({doc['source']})"),
        ("next", ", ".join(doc["next"]) or "-"),
    ]
    for name, value in head:
        out.write(f"{name + ':':<12}{value}\n")
    out.write("metadata:\n" + indent(jsonable(doc["metadata"])))
    out.write("values:\n")
    for k, v in doc["values"].items():
        d = delta.get(k)
        note = ""
        if d:
            note = f" (DeltaChannel: rebuilt, {d['writes_since_seed']} writes since its seed)"
        out.write(f"  {k}{note}:\n" + indent(jsonable(v), 4))
    for k, d in delta.items():
        if d["rebuilt"]:
            continue
        out.write(
            f"  {k} (DeltaChannel, not stored at this step: its seed and the "
            f"{d['writes_since_seed']} writes since; --graph module:attr rebuilds the value):\n"
        )
        out.write("    seed:\n" + indent(jsonable(d["seed"]), 6))
        out.write("    writes:\n" + indent(jsonable(d["writes"]), 6))
    if doc["pending_writes"]:
        out.write("pending writes:\n")
        for w in doc["pending_writes"]:
            out.write(
                f"  {w['channel']} (task {w['task_id']}):\n" + indent(jsonable(w["value"]), 4)
            )


def _unwrap(value: Any) -> Any:
    """A ``DeltaChannel`` snapshot blob shows as the value it holds."""
    return value.value if isinstance(value, _DeltaSnapshot) else value


def _graph_channels(spec: str | None) -> dict[str, Any] | None:
    """The channel specs of ``--graph module:attr`` (a compiled graph, a ``StateGraph``, or a
    function returning one): what rebuilding a ``DeltaChannel`` needs (its reducer)."""
    if not spec:
        return None
    obj = load_object(spec, "graph")
    if not hasattr(obj, "channels") and callable(obj):
        try:
            obj = obj()
        except Exception as e:
            raise ConfigError(
                f"graph {spec!r} is not a LangGraph graph, and calling it "
                f"failed: {type(e).__name__}: {e}"
            ) from e
    channels = getattr(obj, "channels", None)
    if not isinstance(channels, dict):
        raise ConfigError(f"graph {spec!r} is not a LangGraph graph (no channels)")
    return channels


def _delta_values(
    saver: KVCheckpointSaver, t: CheckpointTuple, specs: dict[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Values of the ``DeltaChannel``s a checkpoint does not store, and how each was found.

    On a non-snapshot step a ``DeltaChannel`` is absent from ``channel_values``; LangGraph
    rebuilds it from the nearest stored seed plus the writes since (the saver's
    ``get_delta_channel_history``) through the channel's reducer. With the graph's specs this
    does the same; without them (no reducer) it reports the seed and the writes."""
    cp = t.checkpoint
    stored = cp.get("channel_values") or {}
    missing = [
        ch
        for ch in cp.get("channel_versions") or {}
        if ch not in stored
        and not ch.startswith(HIDDEN_PREFIXES)
        and (specs is None or _is_delta_spec(specs.get(ch)))
    ]
    if not missing:
        return {}, {}
    history = saver.get_delta_channel_history(config=t.config, channels=missing)
    values: dict[str, Any] = {}
    info: dict[str, Any] = {}
    for ch in missing:
        h = history.get(ch) or {"writes": []}
        writes = [v for _, _, v in h["writes"]]
        if "seed" not in h and not writes:
            continue  # never written (or a consumed non-delta channel): nothing to show
        doc: dict[str, Any] = {"writes_since_seed": len(writes), "has_seed": "seed" in h}
        if specs is not None:
            channel = _replay(specs[ch], h)
            if channel.is_available():
                values[ch] = channel.get()
            doc["rebuilt"] = True
        else:
            doc.update(rebuilt=False, seed=_unwrap(h.get("seed")), writes=writes)
        info[ch] = doc
    return values, info


def _is_delta_spec(spec: Any) -> bool:
    # LangGraph rebuilds these two when nothing is stored (pregel._checkpoint).
    return type(spec).__name__ in ("DeltaChannel", "BinaryOperatorAggregate")


def _replay(spec: Any, history: Any) -> Any:
    """LangGraph's own replay (``pregel._checkpoint._replay``): the seed, then the writes."""
    channel = spec.from_checkpoint(history.get("seed"))
    if hasattr(channel, "replay_writes"):
        channel.replay_writes(history["writes"])
    else:
        for _, _, value in history["writes"]:
            channel.update([value])
    return channel
