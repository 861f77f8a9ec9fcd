"""``checkpoint-kv``: see and move checkpoint data without writing code.

Every command takes a backend URL (or ``$CHECKPOINT_KV_URL``), prints a table for people and
one JSON document with ``--json`` for scripts. Errors are one line on stderr, name the backend
(password redacted) and map to exit codes scripts can trust (see ``EXIT_CODES`` and
``docs/cli.md``). Only the standard library: the command line adds no dependency.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from typing import Any, TextIO

from langgraph.checkpoint.base import CheckpointTuple
from langgraph.checkpoint.serde.types import _DeltaSnapshot

from checkpoint_kv import __version__
from checkpoint_kv import keys as K
from checkpoint_kv import records as R
from checkpoint_kv.errors import (
    BackendUnavailableError,
    ConfigError,
    CorruptRecordError,
    MissingDependencyError,
    StoreNotFoundError,
    ThreadNotFoundError,
    redact,
    redact_url,
)
from checkpoint_kv.keys import unescape
from checkpoint_kv.migrate import (
    CopyProgress,
    CopyVerificationError,
    all_partitions,
    copy_threads,
)
from checkpoint_kv.port import KVStore, Put, split_refs
from checkpoint_kv.registry import (
    SERDE_ENV,
    load_object,
    load_serde,
    open_store,
    split_options,
    url_like,
)
from checkpoint_kv.saver import KVCheckpointSaver

__all__ = ["EXIT_CODES", "main"]

EXIT_OK = 0
EXIT_ERROR = 1  # unexpected error (a bug, or a backend error we do not classify)
EXIT_USAGE = 2  # bad arguments, bad URL or option, unknown scheme, missing client library
EXIT_UNAVAILABLE = 3  # server unreachable, refused the credentials, or permission denied
EXIT_NO_STORE = 4  # the table / bucket / SQLite file does not exist (run `setup`)
EXIT_NOT_FOUND = 5  # the thread or checkpoint does not exist
EXIT_CHECK_FAILED = 6  # copy verification failed, or doctor found a problem
EXIT_CORRUPT = 7  # a stored record cannot be decoded (or needs a newer checkpoint-kv)
EXIT_INTERRUPTED = 130

EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success",
    EXIT_ERROR: "unexpected error",
    EXIT_USAGE: "usage: bad arguments, URL, option or scheme; missing client library",
    EXIT_UNAVAILABLE: "backend unreachable, credentials refused or permission denied",
    EXIT_NO_STORE: "table, bucket or SQLite file does not exist (run `checkpoint-kv setup`)",
    EXIT_NOT_FOUND: "thread or checkpoint not found",
    EXIT_CHECK_FAILED: "copy verification failed, or doctor found a problem",
    EXIT_CORRUPT: "a stored record cannot be decoded",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}

_PROG = "checkpoint-kv"
_HIDDEN_PREFIXES = ("branch:", "__", "start:", "join:")


class _Abort(Exception):
    """Leave with ``code`` after printing ``message`` (a check that failed, not a crash)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


# --- output helpers --------------------------------------------------------------------------


def _jsonable(obj: Any) -> Any:
    """Channel values and metadata as JSON: messages and models by their fields, the rest by
    ``repr`` (output only; nothing is read back)."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (datetime, date)):
        return obj.isoformat()
    if isinstance(obj, bytes):
        return f"<{len(obj)} bytes>"
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        try:
            return _jsonable(dump())
        except Exception:
            pass
    if is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(asdict(obj))
    return repr(obj)


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str], out: TextIO) -> None:
    cells = [[str(c) for c in header]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for r in cells:
        out.write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n")


def _dump(doc: Any, out: TextIO) -> None:
    out.write(json.dumps(_jsonable(doc), indent=2, ensure_ascii=False) + "\n")


# --- reading a store -------------------------------------------------------------------------


def _open(url: str, *, must_exist: bool = True) -> KVStore:
    store = open_store(_without_history(url))
    if must_exist:
        from checkpoint_kv.backends.sqlite import SQLiteStore

        path = store.path if isinstance(store, SQLiteStore) else None
        if path is not None and path != ":memory:" and not os.path.exists(path):
            raise StoreNotFoundError(
                f"no SQLite file at {path!r}: create it with "
                f"`{_PROG} setup {redact_url(url)}` (or check the path)"
            )
    return store


def _without_history(url: str) -> str:
    """The app's URL may carry ``?history=latest`` (a saver option, not the backend's): every
    command reads and prunes either history mode, so it is dropped here."""
    base, query = split_options(url)
    history = query.pop("history", None)
    if history is None:
        return url
    if history.lower() not in ("all", "full", "latest", "shallow"):
        raise ConfigError(f"history={history!r}: use history=all or history=latest")
    from urllib.parse import urlencode

    return f"{base}?{urlencode(query)}" if query else base


def _serde(args: argparse.Namespace) -> Any:
    """The serializer of ``--serde`` / ``$CHECKPOINT_KV_SERDE`` (None: LangGraph's default).
    Stores written with another one (``EncryptedSerializer``) cannot be read without it."""
    if not hasattr(args, "serde_obj"):
        spec = getattr(args, "serde", None) or os.environ.get(SERDE_ENV)
        args.serde_obj = load_serde(spec) if spec else None
    return args.serde_obj


def _saver(args: argparse.Namespace) -> KVCheckpointSaver:
    return KVCheckpointSaver(_open(args.url), serde=_serde(args))


def _exists(store: KVStore, thread_id: str) -> bool:
    return bool(store.scan(K.partition(thread_id), *K.ALL_CHECKPOINTS, limit=1).items)


def _need_thread(store: KVStore, url: str, thread_id: str) -> None:
    if not _exists(store, thread_id):
        meant = url_like(thread_id)
        hint = (
            f"; {redact_url(thread_id)!r} looks like a backend URL: the URL comes first, then "
            f"the thread (e.g. `{_PROG} history {redact_url(meant)} THREAD`)"
            if meant
            else ""
        )
        raise ThreadNotFoundError(f"no thread {redact_url(thread_id)!r}{hint}")


def _summary(saver: KVCheckpointSaver, part: str) -> dict[str, Any]:
    """Checkpoint count, namespaces and last update of one thread (pages of records)."""
    start, end = K.ALL_CHECKPOINTS
    count = 0
    namespaces: set[str] = set()
    latest: tuple[str, str, bytes] | None = None  # (checkpoint id, key, value)
    while True:
        items = saver.store.scan(part, start, end, limit=1000).items
        for key, value in items:
            if K.is_record(key):
                _, ns, cid, _ = key.split(K.SEP)
                count += 1
                namespaces.add(ns)
                if latest is None or cid > latest[0]:
                    latest = (cid, key, value)
        if len(items) < 1000:
            break
        start = items[-1][0] + K.SEP
    doc: dict[str, Any] = {
        "thread_id": unescape(part),
        "partition": part,
        "checkpoints": count,
        "namespaces": len(namespaces),
        "last_update": None,
        "latest_checkpoint_id": None,
    }
    if latest is not None:
        _, key, value = latest
        rec = R.decode_checkpoint(key, _payload(key, value))
        try:
            checkpoint = saver.serde.loads_typed(rec.checkpoint)
        except Exception as e:  # another serializer wrote it (EncryptedSerializer), or damage
            raise CorruptRecordError(
                f"cannot decode the checkpoint at key {key!r}: {type(e).__name__}: {e}"
            ) from e
        doc.update(
            thread_id=rec.thread_id,
            last_update=checkpoint.get("ts"),
            latest_checkpoint_id=rec.checkpoint_id,
        )
    return doc


def _payload(key: str, value: bytes) -> bytes:
    try:
        return split_refs(value)[1]
    except (ValueError, UnicodeDecodeError) as e:
        raise CorruptRecordError(f"corrupt record at key {key!r}: {e}") from e


def _newer(a: Any, b: Any) -> bool:
    if b is None:
        return True
    try:
        return bool(a > b)
    except TypeError:
        return str(a) > str(b)


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


def _history_row(t: CheckpointTuple) -> dict[str, Any]:
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


# --- commands --------------------------------------------------------------------------------


def _cmd_threads(args: argparse.Namespace, out: TextIO) -> int:
    with _saver(args) as saver:
        docs = [_summary(saver, p) for p in all_partitions(saver.store)]
    docs.sort(key=lambda d: d["last_update"] or "", reverse=True)
    if args.limit is not None:
        docs = docs[: args.limit]
    if args.json:
        _dump({"url": redact_url(args.url), "threads": docs}, out)
    else:
        rows = [(d["thread_id"], d["checkpoints"], d["namespaces"], d["last_update"]) for d in docs]
        _table(rows, ("THREAD", "CHECKPOINTS", "NAMESPACES", "LAST UPDATE"), out)
    return EXIT_OK


def _cmd_history(args: argparse.Namespace, out: TextIO) -> int:
    with _saver(args) as saver:
        _need_thread(saver.store, args.url, args.thread)
        conf = {"configurable": {"thread_id": args.thread, "checkpoint_ns": args.ns}}
        docs = [_history_row(t) for t in saver.list(conf, limit=args.limit)]  # type: ignore[arg-type]
    if args.json:
        _dump({"thread_id": args.thread, "checkpoint_ns": args.ns, "checkpoints": docs}, out)
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
        _table(rows, ("CHECKPOINT", "STEP", "SOURCE", "WRITES", "NEXT", "CREATED"), out)
    return EXIT_OK


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
        and not ch.startswith(_HIDDEN_PREFIXES)
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


def _cmd_show(args: argparse.Namespace, out: TextIO) -> int:
    specs = _graph_channels(args.graph)
    with _saver(args) as saver:
        _need_thread(saver.store, args.url, args.thread)
        conf: dict[str, Any] = {"thread_id": args.thread, "checkpoint_ns": args.ns}
        if args.checkpoint_id:
            conf["checkpoint_id"] = args.checkpoint_id
        t = saver.get_tuple({"configurable": conf})
        if t is None:
            where = f"checkpoint {args.checkpoint_id!r}" if args.checkpoint_id else "no checkpoint"
            ns = f" namespace {args.ns!r} of" if args.ns else ""
            raise ThreadNotFoundError(f"{where} not found in{ns} thread {args.thread!r}")
        rebuilt, delta = _delta_values(saver, t, specs)
    values = {
        k: _unwrap(v)
        for k, v in {**t.checkpoint.get("channel_values", {}), **rebuilt}.items()
        if args.all_channels or not k.startswith(_HIDDEN_PREFIXES)
    }
    doc = {
        **_history_row(t),
        "thread_id": args.thread,
        "metadata": t.metadata,
        "values": values,
        "delta_channels": delta,
        "pending_writes": [
            {"task_id": tid, "channel": ch, "value": v} for tid, ch, v in t.pending_writes or []
        ],
    }
    if args.json:
        _dump(doc, out)
        return EXIT_OK
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
    out.write("metadata:\n" + _indent(_jsonable(t.metadata)))
    out.write("values:\n")
    for k, v in values.items():
        d = delta.get(k)
        note = ""
        if d:
            note = f" (DeltaChannel: rebuilt, {d['writes_since_seed']} writes since its seed)"
        out.write(f"  {k}{note}:\n" + _indent(_jsonable(v), 4))
    for k, d in delta.items():
        if d["rebuilt"]:
            continue
        out.write(
            f"  {k} (DeltaChannel, not stored at this step: its seed and the "
            f"{d['writes_since_seed']} writes since; --graph module:attr rebuilds the value):\n"
        )
        out.write("    seed:\n" + _indent(_jsonable(d["seed"]), 6))
        out.write("    writes:\n" + _indent(_jsonable(d["writes"]), 6))
    if doc["pending_writes"]:
        out.write("pending writes:\n")
        for w in doc["pending_writes"]:
            out.write(
                f"  {w['channel']} (task {w['task_id']}):\n" + _indent(_jsonable(w["value"]), 4)
            )
    return EXIT_OK


def _indent(value: Any, n: int = 2) -> str:
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
    return "".join(" " * n + line + "\n" for line in text.splitlines() or [""])


def _confirm(args: argparse.Namespace, question: str) -> None:
    """Ask on a terminal; without one (a pipe, cron, CI) refuse unless ``--yes`` was given:
    a script that forgot it must not destroy data without a word."""
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise _Abort(
            EXIT_USAGE,
            f"{question.rstrip('?')}: refused without confirmation; stdin is not a terminal, "
            "pass --yes to confirm",
        )
    err: TextIO = getattr(args, "err", sys.stderr)
    err.write(f"{question} [y/N] ")
    err.flush()
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        raise _Abort(EXIT_OK, "nothing done")


def _cmd_delete(args: argparse.Namespace, out: TextIO) -> int:
    with _saver(args) as saver:
        _need_thread(saver.store, args.url, args.thread)
        before = _summary(saver, K.partition(args.thread))
        _confirm(args, f"delete thread {args.thread!r} ({before['checkpoints']} checkpoints)?")
        saver.delete_thread(args.thread)
    doc = {"deleted": args.thread, "checkpoints": before["checkpoints"]}
    if args.json:
        _dump(doc, out)
    else:
        out.write(f"deleted thread {args.thread!r} ({before['checkpoints']} checkpoints)\n")
    return EXIT_OK


def _cmd_prune(args: argparse.Namespace, out: TextIO) -> int:
    if not args.keep_latest:
        raise ConfigError("prune needs a strategy: --keep-latest")
    with _saver(args) as saver:
        if args.threads:
            for t in args.threads:
                _need_thread(saver.store, args.url, t)
            parts = [K.partition(t) for t in args.threads]
        else:
            parts = list(all_partitions(saver.store))
        befores = [_summary(saver, p) for p in parts]
        befores = [b for b in befores if b["checkpoints"]]
        total = sum(b["checkpoints"] for b in befores)
        _confirm(args, f"prune {len(befores)} thread(s) ({total} checkpoints) to their latest?")
        docs = []
        for b in befores:
            saver.prune([b["thread_id"]], strategy="keep_latest")
            after = _summary(saver, b["partition"])["checkpoints"]
            docs.append(
                {
                    "thread_id": b["thread_id"],
                    "before": b["checkpoints"],
                    "after": after,
                    "removed": b["checkpoints"] - after,
                }
            )
    if args.json:
        _dump({"strategy": "keep_latest", "threads": docs}, out)
    else:
        rows = [(d["thread_id"], d["before"], d["after"], d["removed"]) for d in docs]
        _table(rows, ("THREAD", "BEFORE", "AFTER", "REMOVED"), out)
    return EXIT_OK


class _Bar:
    """A one-line progress bar on a terminal's stderr (nothing when not a terminal)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.last = 0.0

    def __call__(self, p: CopyProgress) -> None:
        now = time.monotonic()
        if not p.finished and now - self.last < 0.1 and p.thread_index + 1 < p.thread_count:
            return
        self.last = now
        done = p.thread_index + (1 if p.finished else 0)
        width = 30
        fill = int(width * done / max(p.thread_count, 1))
        self.stream.write(
            f"\r[{'#' * fill}{'.' * (width - fill)}] {done}/{p.thread_count} threads, "
            f"{p.total_keys_done:,} keys  {p.thread_id[:30]:<30}"
        )
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\r" + " " * 100 + "\r")
        self.stream.flush()


def _cmd_copy(args: argparse.Namespace, out: TextIO) -> int:
    err: TextIO = getattr(args, "err", sys.stderr)
    bar = _Bar(err) if args.progress and err.isatty() else None
    src = _open(args.src)
    dst = _open(args.dst, must_exist=False)
    try:
        report = copy_threads(
            src,
            dst,
            args.thread or None,
            verify=args.verify,
            setup=args.setup,
            progress=bar,
            batch_size=args.batch_size,
        )
    except CopyVerificationError as e:
        _print_copy(args, e.report.to_dict(), out)
        e.reported = True  # type: ignore[attr-defined]  # main prints no second document
        raise
    finally:
        if bar is not None:
            bar.close()
        src.close()
        dst.close()
    _print_copy(args, report.to_dict(), out)
    return EXIT_OK


def _print_copy(args: argparse.Namespace, doc: dict[str, Any], out: TextIO) -> None:
    doc = {"source": redact_url(args.src), "destination": redact_url(args.dst), **doc}
    if args.json:
        _dump(doc, out)
        return
    rows = [
        (
            t["thread_id"],
            t["checkpoints"],
            t["writes"],
            t["blobs"],
            t["copied"],
            t["skipped"],
            {True: "ok", False: f"MISSING {t['missing']}", None: "-"}[t["verified"]],
        )
        for t in doc["threads"]
    ]
    header = ("THREAD", "CHECKPOINTS", "WRITES", "BLOBS", "COPIED", "SKIPPED", "VERIFIED")
    _table(rows, header, out)
    tot = doc["totals"]
    out.write(
        f"{len(rows)} thread(s), {tot['checkpoints']} checkpoints: copied {tot['copied']} keys, "
        f"skipped {tot['skipped']} already there, in {doc['write_calls']} write calls"
        + ("" if not args.verify else "; verified" if doc["ok"] else "; VERIFICATION FAILED")
        + "\n"
    )


def _cmd_setup(args: argparse.Namespace, out: TextIO) -> int:
    store = _open(args.url, must_exist=False)
    try:
        store.setup()
    finally:
        store.close()
    if args.json:
        _dump({"ok": True, "url": redact_url(args.url)}, out)
    else:
        out.write(f"ready: {redact_url(args.url)}\n")
    return EXIT_OK


def _backend_info(store: KVStore) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """What the backend says about itself (server version, TTL...), and the problems found.

    A backend may offer ``info() -> dict`` (keys ``server_version``, ``ttl``, anything else);
    for the built-in backends that do not (yet), the facts are read here through their client.
    """
    info = getattr(store, "info", None)
    if callable(info):
        return dict(info()), []
    module = type(store).__module__
    if module.endswith("backends.sqlite"):
        import sqlite3

        path = str(getattr(store, "path", ""))
        memory = path == ":memory:"
        size = os.path.getsize(path) if not memory and os.path.exists(path) else 0
        return {
            "server_version": f"SQLite {sqlite3.sqlite_version}",
            "ttl": "not supported: use `checkpoint-kv prune` or delete_thread",
            "file": ":memory: (in this process only)" if memory else os.path.abspath(path),
            "size_bytes": size,
        }, []
    if module.endswith("backends.memory"):
        return {"server_version": "in-process", "ttl": "no (data dies with the process)"}, []
    if module.endswith("backends.redis"):
        return _redis_info(store)
    if module.endswith("backends.dynamodb"):
        return _dynamodb_info(store)
    if module.endswith("backends.s3"):
        return _s3_info(store)
    return {}, []


def _problem(check: str, detail: str, fix: str) -> dict[str, Any]:
    return {"check": check, "ok": False, "detail": detail, "fix": fix, "code": EXIT_CHECK_FAILED}


def _redis_info(store: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    def section(name: str) -> dict[str, Any]:
        raw = store.client.info(name)
        if raw and all(isinstance(v, dict) for v in raw.values()):  # a cluster: node -> info
            raw = next(iter(raw.values()))
        return dict(raw)

    server, memory = section("server"), section("memory")
    ttl = int(getattr(store, "ttl", 0) or 0)
    policy = str(memory.get("maxmemory_policy", "?"))
    name = "Valkey" if "valkey_version" in server else "Redis"
    version = server.get("valkey_version") or server.get("redis_version", "?")
    facts = {
        "server_version": f"{name} {version}" + (" (cluster)" if store.cluster else ""),
        "ttl": f"on: a thread expires {ttl} s after its last write"
        if ttl
        else "off: threads never expire (add ?ttl=SECONDS to the URL)",
        "maxmemory_policy": policy,
    }
    problems = []
    if policy.startswith("allkeys-"):
        problems.append(
            _problem(
                "eviction",
                f"maxmemory-policy {policy} may evict checkpoints of live threads",
                "CONFIG SET maxmemory-policy noeviction (or volatile-lru with ?ttl=)",
            )
        )
    return facts, problems


def _s3_info(store: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """S3 has no TTL: report the lifecycle rules that cover the prefix (docs/backends/s3.md)."""
    where = f" at {store.endpoint_url}" if store.endpoint_url else ""
    try:
        rules = store.client.get_bucket_lifecycle_configuration(Bucket=store.bucket)["Rules"]
    except Exception as e:  # NoSuchLifecycleConfiguration: no rule at all
        if "NoSuchLifecycleConfiguration" not in str(e):
            raise
        rules = []
    prefix = store.prefix or ""
    covering = [
        r
        for r in rules
        if r.get("Status") == "Enabled"
        and "Expiration" in r
        and prefix.startswith(r.get("Filter", {}).get("Prefix", r.get("Prefix", "")) or "")
    ]
    ttl = (
        "lifecycle expiration: " + ", ".join(str(r["Expiration"]) for r in covering)
        if covering
        else "off: no lifecycle rule expires this prefix (S3 has no TTL; see docs/backends/s3.md)"
    )
    return {
        "server_version": f"S3, bucket {store.bucket!r}, region "
        f"{store.client.meta.region_name}{where}",
        "ttl": ttl,
    }, []


def _aws_target(region: str | None, endpoint_url: str | None) -> str:
    """``--region`` and ``--endpoint-url`` for an ``aws`` command a fix prints: without the
    endpoint, pasting it would act on real AWS instead of the emulator or store in the URL."""
    out = f" --region {region}" if region else ""
    return out + (f" --endpoint-url {redact_url(endpoint_url)}" if endpoint_url else "")


def _dynamodb_info(store: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    table = store.client.describe_table(TableName=store.table)["Table"]
    ttl_desc = store.client.describe_time_to_live(TableName=store.table)
    status = ttl_desc.get("TimeToLiveDescription", {}).get("TimeToLiveStatus", "DISABLED")
    billing = table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    where = f" at {store.endpoint_url}" if store.endpoint_url else ""
    facts = {
        "server_version": f"DynamoDB, region {store.region}{where}",
        "ttl": f"table TTL {status}; items "
        + (f"expire {store.ttl} s after their last write" if store.ttl else "carry no ttl"),
        "table": f"{store.table}: {table.get('TableStatus')}, {billing}, "
        f"{table.get('ItemCount', '?')} items",
    }
    problems = []
    if store.ttl and status not in ("ENABLED", "ENABLING"):
        problems.append(
            _problem(
                "ttl",
                f"items carry a ttl but the table's TTL is {status}: nothing expires",
                f"aws dynamodb update-time-to-live --table-name {store.table} "
                "--time-to-live-specification Enabled=true,AttributeName=ttl"
                + _aws_target(store.region, store.endpoint_url),
            )
        )
    return facts, problems


def _chain_text(e: BaseException) -> str:
    """The messages and class names of ``e`` and the errors it was raised from."""
    parts: list[str] = []
    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        parts += [type(cur).__name__, str(cur)]
        cur = cur.__cause__ or cur.__context__
    return " ".join(parts)


def _cause_fix(e: BaseException) -> str | None:
    """The fix for the cause a failure names (missing credentials, a password, a refused
    connection...), or None when it names none we know. Read from the backend's message and
    the client error beneath it; the fix never holds a secret."""
    text = _chain_text(e)
    low = text.lower()
    if "NoCredentialsError" in text or "no aws credentials" in low:
        return (
            "no AWS credentials were found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or run with an IAM role (a local emulator such as moto "
            "accepts any values); never put them in the URL"
        )
    if "(NOAUTH)" in text:
        return (
            "the server requires a password: put it in the URL, redis://:<password>@host:port/0 "
            "(an ACL user: redis://<user>:<password>@host:port/0)"
        )
    if "(WRONGPASS)" in text:
        return (
            "the server refused the user name or password in the URL: check both (the default "
            "user: redis://:<password>@host:port/0; an ACL user: redis://<user>:<password>@...)"
        )
    if "has no password set" in text:
        return "the server has no password: remove it from the URL (redis://host:port/0)"
    if "not a cluster" in text:
        return "the server is not a cluster: use redis://host:port (without +cluster)"
    if "Redis Cluster" in text and "cannot reach" in text:
        return (
            "no cluster node accepted a connection at the seed host:port: start the cluster, "
            "or point the URL at any node's host:port (every node is a seed); a single server "
            "is redis://host:port, without +cluster"
        )
    if "did not answer in time" in low or "timed out" in low or "timeout on endpoint" in low:
        return (
            "the server accepted the connection but did not answer in time: it is stopped, "
            "overloaded, or not the service the URL names (a TLS port needs rediss://)"
        )
    if "connection refused" in low or "error 111" in low or "could not connect" in low:
        return (
            "nothing accepts connections at that host:port: start the server, or fix the host "
            "and port in the URL"
        )
    if "NOPERM" in text or "lacks a permission" in text:
        return "grant the Redis user the ACL in docs/backends/redis.md (section ACL)"
    if "AccessDenied" in text or "UnrecognizedClient" in text or "InvalidAccessKeyId" in text:
        return (
            "the AWS credentials were refused or lack a permission: see the IAM policy on the "
            "backend's page in docs/backends/"
        )
    return None


def _doctor_checks(url: str) -> Iterator[dict[str, Any]]:
    """Each check: name, ok, detail, and (when not ok) the fix and the exit code it maps to."""

    def fail(name: str, e: BaseException, fix: str) -> dict[str, Any]:
        return {
            "check": name,
            "ok": False,
            "detail": redact(str(e)),
            "fix": fix,
            "code": _code_for(e),
        }

    try:
        store = _open(url)
    except Exception as e:
        if isinstance(e, StoreNotFoundError):
            fix = f"run `{_PROG} setup {redact_url(url)}`"
        else:
            fix = (
                _cause_fix(e)
                or "check the URL (see docs/backends/) and install the backend's extra"
            )
        yield fail("open", e, fix)
        return
    yield {"check": "open", "ok": True, "detail": type(store).__name__}
    try:
        t0 = time.perf_counter()
        store.partitions()
        ms = (time.perf_counter() - t0) * 1000
    except Exception as e:
        if isinstance(e, StoreNotFoundError):
            fix = f"run `{_PROG} setup {redact_url(url)}` (needs create permission)"
        elif _cause_fix(e):
            fix = str(_cause_fix(e))
        elif isinstance(e, PermissionError):
            fix = "grant read access (see the IAM/ACL section of the backend's docs page)"
        else:
            fix = "is the server running and reachable from here? check host, port, TLS, password"
        yield fail("reach", e, fix)
        store.close()
        return
    yield {"check": "reach", "ok": True, "detail": f"listed partitions in {ms:.1f} ms"}
    probe = f"~doctor-{uuid.uuid4().hex[:12]}"  # never an escaped thread id (those have no '-')
    try:
        store.write(probe, [Put("p!1", b"ping"), Put("p!2", b"pong", commit=True)])
        got = store.get(probe, ["p!1", "p!2"])
        scanned = store.scan(probe, "p!", "p~").items
        if got != {"p!1": b"ping", "p!2": b"pong"} or len(scanned) != 2:
            raise CorruptRecordError(f"wrote 2 keys, read back {len(got)} / scanned {len(scanned)}")
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            store.get(probe, ["p!1"])
            times.append((time.perf_counter() - t0) * 1000)
        store.drop(probe)
        if store.get(probe, ["p!1"]):
            raise CorruptRecordError("drop left the probe key behind")
    except Exception as e:
        yield fail(
            "read-write",
            e,
            _cause_fix(e)
            or "grant write and delete permission (see the IAM/ACL section of the backend's page)",
        )
        store.close()
        return
    times.sort()
    yield {"check": "read-write", "ok": True, "detail": "write, get, scan and drop work"}
    yield {"check": "round-trip", "ok": True, "detail": f"{times[2]:.2f} ms (median of 5 gets)"}
    try:
        info, problems = _backend_info(store)
    except Exception as e:
        yield fail("server", e, "grant INFO (Redis) / DescribeTable, DescribeTimeToLive (AWS)")
        store.close()
        return
    store.close()
    version = info.pop("server_version", None)
    yield {"check": "server", "ok": True, "detail": version or "not reported by this backend"}
    ttl = info.pop("ttl", None)
    yield {"check": "ttl", "ok": True, "detail": ttl if ttl is not None else "not reported"}
    for k, v in info.items():
        yield {"check": k, "ok": True, "detail": v}
    yield from problems


def _cmd_doctor(args: argparse.Namespace, out: TextIO) -> int:
    checks = list(_doctor_checks(args.url))
    failed = [c for c in checks if not c["ok"]]
    code = failed[0].pop("code") if failed else EXIT_OK
    for c in failed[1:]:
        c.pop("code", None)
    if code == EXIT_ERROR:
        code = EXIT_CHECK_FAILED
    if args.json:
        _dump({"url": redact_url(args.url), "ok": not failed, "checks": checks}, out)
    else:
        out.write(f"{redact_url(args.url)}\n")
        width = max(len(c["check"]) for c in checks)
        for c in checks:
            mark = "ok  " if c["ok"] else "FAIL"
            out.write(f"  {mark} {c['check']:<{width}}  {c['detail']}\n")
            if not c["ok"]:
                out.write(f"       fix: {c['fix']}\n")
    return code


# --- parsing and error mapping ---------------------------------------------------------------


def _code_for(e: BaseException) -> int:
    if isinstance(e, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(e, _Abort):
        return e.code
    if isinstance(e, StoreNotFoundError):
        return EXIT_NO_STORE
    if isinstance(e, ThreadNotFoundError):
        return EXIT_NOT_FOUND
    if isinstance(e, CopyVerificationError):
        return EXIT_CHECK_FAILED
    if isinstance(e, CorruptRecordError):
        return EXIT_CORRUPT
    if isinstance(e, (ConfigError, MissingDependencyError)):
        return EXIT_USAGE
    if isinstance(e, (BackendUnavailableError, ConnectionError, TimeoutError, PermissionError)):
        return EXIT_UNAVAILABLE
    # Client libraries' own classes (a backend should have wrapped them; be forgiving).
    names = " ".join(c.__name__ for c in type(e).__mro__)
    if any(w in names for w in ("Connection", "Timeout", "Authentication", "NoCredentials")):
        return EXIT_UNAVAILABLE
    return EXIT_ERROR


def _add_url(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "url", nargs="?", metavar="URL", help="backend URL (default: $CHECKPOINT_KV_URL)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="Inspect, prune and move LangGraph checkpoints stored by checkpoint-kv.",
        epilog="exit codes: "
        + "; ".join(f"{k} {v}" for k, v in EXIT_CODES.items())
        + ". Docs: docs/cli.md",
    )
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument("--version", action="version", version=f"{_PROG} {__version__}")
    serde = (
        "the serializer the graph wrote with: a factory called with no arguments, e.g. "
        "langgraph.checkpoint.serde.encrypted:EncryptedSerializer.from_pycryptodome_aes "
        f"(reads LANGGRAPH_AES_KEY); default ${SERDE_ENV}, else LangGraph's default"
    )
    parser.add_argument("--serde", metavar="MODULE:FACTORY", help=serde)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help: str, fn: Callable[[argparse.Namespace, TextIO], int]) -> Any:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="JSON out")
        p.add_argument("--serde", default=argparse.SUPPRESS, metavar="MODULE:FACTORY", help=serde)
        p.set_defaults(fn=fn)
        return p

    p = command("threads", "threads with checkpoint counts and last update", _cmd_threads)
    _add_url(p)
    p.add_argument("--limit", type=int, help="at most N threads (most recent first)")

    p = command("history", "checkpoints of a thread, newest first", _cmd_history)
    _add_url(p)
    p.add_argument("thread", metavar="THREAD")
    p.add_argument("--ns", default="", help="checkpoint namespace (default: the root graph)")
    p.add_argument("--limit", type=int, help="at most N checkpoints")

    p = command("show", "state values and metadata of a checkpoint (default: latest)", _cmd_show)
    _add_url(p)
    p.add_argument("thread", metavar="THREAD")
    p.add_argument("checkpoint_id", nargs="?", metavar="CHECKPOINT_ID")
    p.add_argument("--ns", default="", help="checkpoint namespace (default: the root graph)")
    p.add_argument("--all-channels", action="store_true", help="include LangGraph's own channels")
    p.add_argument(
        "--graph",
        metavar="MODULE:ATTR",
        help="the graph (module:attr or file.py:attr), to rebuild DeltaChannel values",
    )

    yes = "confirm: needed without a terminal (a terminal asks)"
    p = command("delete", "delete a thread and everything it stored", _cmd_delete)
    _add_url(p)
    p.add_argument("thread", metavar="THREAD")
    p.add_argument("-y", "--yes", action="store_true", help=yes)

    p = command("prune", "drop old checkpoints of some or all threads", _cmd_prune)
    _add_url(p)
    p.add_argument("threads", nargs="*", metavar="THREAD", help="default: every thread")
    p.add_argument("--keep-latest", action="store_true", help="keep each namespace's latest")
    p.add_argument("-y", "--yes", action="store_true", help=yes)

    p = command("copy", "copy threads to another backend (safe to re-run)", _cmd_copy)
    p.add_argument("src", metavar="SRC_URL")
    p.add_argument("dst", metavar="DST_URL")
    p.add_argument("--thread", action="append", metavar="T", help="only this thread (repeat)")
    p.add_argument("--setup", action="store_true", help="create the destination table/bucket")
    p.add_argument("--no-verify", dest="verify", action="store_false", help="skip the recount")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.add_argument("--batch-size", type=int, default=500, help="ops per write call (500)")

    p = command("setup", "create the table / bucket / file (idempotent)", _cmd_setup)
    _add_url(p)
    p = command("doctor", "check reachability, permissions, latency, version, TTL", _cmd_doctor)
    _add_url(p)
    return parser


def _fix_operands(args: argparse.Namespace) -> None:
    """Let the URL come from ``$CHECKPOINT_KV_URL``: argparse fills the optional URL first,
    so an operand that is not a URL moves to the thread slots."""
    env = os.environ.get("CHECKPOINT_KV_URL")
    if args.command == "copy":
        return
    url = args.url
    if url is not None and "://" not in url and env:
        if args.command == "show" and args.checkpoint_id is None:
            args.thread, args.checkpoint_id, url = url, args.thread, None
        elif args.command == "prune":
            args.threads, url = [url, *args.threads], None
    if url is None:
        if not env:
            _url_as_thread(args)
            raise ConfigError("no backend URL: pass one (scheme://...) or set CHECKPOINT_KV_URL")
        url = env
    args.url = url


def _url_as_thread(args: argparse.Namespace) -> None:
    """``history URL`` (no thread): argparse fills the required THREAD first, so the URL
    lands there and "no backend URL" would be the wrong news. Say what happened instead."""
    thread = getattr(args, "thread", None)
    meant = url_like(thread) if isinstance(thread, str) else None
    if meant is None:
        return
    shown = redact_url(meant)
    extra = " [CHECKPOINT_ID]" if args.command == "show" else ""
    raise ConfigError(
        f"{args.command} needs a URL and a thread: the only operand, "
        f"{redact_url(str(thread))!r}, was taken as the thread. Usage: "
        f"{_PROG} {args.command} {shown} THREAD{extra} (list the threads with "
        f"`{_PROG} threads {shown}`)"
    )


def _describe(args: argparse.Namespace) -> str:
    urls = [getattr(args, n, None) for n in ("url", "src", "dst")]
    names = [redact_url(u) for u in urls if isinstance(u, str) and "://" in u]
    return " -> ".join(names)


def main(
    argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, or a usage error (argparse printed it)
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    args.err = err
    try:
        _fix_operands(args)
        code: int = args.fn(args, out)
        return code
    except BaseException as e:
        if isinstance(e, SystemExit):
            raise
        code = _code_for(e)
        if isinstance(e, _Abort) and code == EXIT_OK:
            err.write(f"{_PROG}: {e}\n")
            return code
        if os.environ.get("CHECKPOINT_KV_DEBUG") and code != EXIT_INTERRUPTED:
            import traceback

            err.write(redact("".join(traceback.format_exception(e))))
        where = _describe(args)
        what = "interrupted" if code == EXIT_INTERRUPTED else redact(str(e) or type(e).__name__)
        if code == EXIT_CORRUPT and getattr(args, "serde_obj", None) is None:
            what += (
                " (if the graph wrote with another serializer, e.g. EncryptedSerializer, "
                f"pass --serde MODULE:FACTORY or set {SERDE_ENV})"
            )
        if code == EXIT_ERROR:
            what = f"unexpected {type(e).__name__}: {what} (CHECKPOINT_KV_DEBUG=1 for a traceback)"
        line = " ".join(f"{_PROG}: {where + ': ' if where else ''}{what}".split())
        err.write(line + "\n")
        if getattr(args, "json", False) and not getattr(e, "reported", False):
            _dump({"ok": False, "error": line, "exit_code": code}, out)
        return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
