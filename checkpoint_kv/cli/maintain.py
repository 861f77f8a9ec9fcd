"""``delete``, ``prune`` and ``copy``: the commands that change data. The two that destroy
ask first (:func:`~checkpoint_kv.cli.common.confirm`); ``copy`` is safe to re-run.

``copy`` also imports from and exports to LangGraph's own savers, named by URL:
``langgraph+sqlite:///file.db`` (SqliteSaver), ``langgraph+postgres://user:pass@host/db``
(PostgresSaver), ``langgraph+redis://host:6379/0`` (langgraph-checkpoint-redis),
``langgraph+memory://`` (an empty InMemorySaver); a missing package is named with its
``pip install`` line (:mod:`checkpoint_kv.saver.interop`)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, TextIO

from checkpoint_kv import keys as K
from checkpoint_kv.cli.common import (
    EXIT_OK,
    YES_HELP,
    add_command,
    add_url,
    confirm,
    dump,
    need_thread,
    open_url,
    saver,
    summary,
    table,
)
from checkpoint_kv.errors import ConfigError, redact_url
from checkpoint_kv.saver.foreign import is_foreign
from checkpoint_kv.saver.migrate import (
    CopyProgress,
    CopyVerificationError,
    all_partitions,
    copy_threads,
)


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(subparsers, "delete", "delete a thread and everything it stored", cmd_delete)
    add_url(p)
    p.add_argument("thread", metavar="THREAD")
    p.add_argument("-y", "--yes", action="store_true", help=YES_HELP)

    p = add_command(subparsers, "prune", "drop old checkpoints of some or all threads", cmd_prune)
    add_url(p)
    p.add_argument("threads", nargs="*", metavar="THREAD", help="default: every thread")
    p.add_argument("--keep-latest", action="store_true", help="keep each namespace's latest")
    p.add_argument("-y", "--yes", action="store_true", help=YES_HELP)

    p = add_command(
        subparsers,
        "copy",
        "copy threads to another backend, or from/to a LangGraph saver (safe to re-run)",
        cmd_copy,
    )
    p.add_argument(
        "src", metavar="SRC_URL", help="ours, or langgraph+sqlite|postgres|redis|memory://..."
    )
    p.add_argument(
        "dst", metavar="DST_URL", help="ours, or langgraph+sqlite|postgres|redis|memory://..."
    )
    p.add_argument("--thread", action="append", metavar="T", help="only this thread (repeat)")
    p.add_argument("--setup", action="store_true", help="create the destination table/bucket")
    p.add_argument("--no-verify", dest="verify", action="store_false", help="skip the recount")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.add_argument("--batch-size", type=int, default=500, help="ops per write call (500)")


def cmd_delete(args: argparse.Namespace, out: TextIO) -> int:
    with saver(args) as s:
        need_thread(s.store, args.url, args.thread)
        before = summary(s, K.partition(args.thread))
        confirm(args, f"delete thread {args.thread!r} ({before['checkpoints']} checkpoints)?")
        s.delete_thread(args.thread)
    doc = {"deleted": args.thread, "checkpoints": before["checkpoints"]}
    if args.json:
        dump(doc, out)
    else:
        out.write(f"deleted thread {args.thread!r} ({before['checkpoints']} checkpoints)\n")
    return EXIT_OK


def cmd_prune(args: argparse.Namespace, out: TextIO) -> int:
    if not args.keep_latest:
        raise ConfigError("prune needs a strategy: --keep-latest")
    with saver(args) as s:
        if args.threads:
            for t in args.threads:
                need_thread(s.store, args.url, t)
            parts = [K.partition(t) for t in args.threads]
        else:
            parts = [p for p in all_partitions(s.store) if K.is_thread_partition(p)]
        befores = [summary(s, p) for p in parts]
        befores = [b for b in befores if b["checkpoints"]]
        total = sum(b["checkpoints"] for b in befores)
        confirm(args, f"prune {len(befores)} thread(s) ({total} checkpoints) to their latest?")
        docs = []
        for b in befores:
            s.prune([b["thread_id"]], strategy="keep_latest")
            after = summary(s, b["partition"])["checkpoints"]
            docs.append(
                {
                    "thread_id": b["thread_id"],
                    "before": b["checkpoints"],
                    "after": after,
                    "removed": b["checkpoints"] - after,
                }
            )
    if args.json:
        dump({"strategy": "keep_latest", "threads": docs}, out)
    else:
        rows = [(d["thread_id"], d["before"], d["after"], d["removed"]) for d in docs]
        table(rows, ("THREAD", "BEFORE", "AFTER", "REMOVED"), out)
    return EXIT_OK


def cmd_copy(args: argparse.Namespace, out: TextIO) -> int:
    err: TextIO = getattr(args, "err", sys.stderr)
    bar = _Bar(err) if args.progress and err.isatty() else None
    if is_foreign(args.src) or is_foreign(args.dst):
        return _copy_foreign(args, out, bar)
    src = open_url(args.src)
    dst = open_url(args.dst, must_exist=False)
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


def _copy_foreign(args: argparse.Namespace, out: TextIO, bar: _Bar | None) -> int:
    """``copy`` when a side is a LangGraph saver's URL: that side is opened by the interop
    module (its package named when missing), ours as every command opens it."""
    from contextlib import ExitStack

    with ExitStack() as stack:
        ends: list[Any] = []
        for url, is_dst in ((args.src, False), (args.dst, True)):
            if is_foreign(url):
                ends.append(url)
            else:
                store = open_url(url, must_exist=not is_dst)
                stack.callback(store.close)
                ends.append(store)
        if bar is not None:
            stack.callback(bar.close)
        try:
            report = copy_threads(
                ends[0],
                ends[1],
                args.thread or None,
                verify=args.verify,
                setup=args.setup,
                progress=bar,
            )
        except CopyVerificationError as e:
            _print_copy(args, e.report.to_dict(), out)
            e.reported = True  # type: ignore[attr-defined]
            raise
    _print_copy(args, report.to_dict(), out)
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


def _print_copy(args: argparse.Namespace, doc: dict[str, Any], out: TextIO) -> None:
    doc = {"source": redact_url(args.src), "destination": redact_url(args.dst), **doc}
    if args.json:
        dump(doc, out)
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
    table(rows, header, out)
    tot = doc["totals"]
    out.write(
        f"{len(rows)} thread(s), {tot['checkpoints']} checkpoints: copied {tot['copied']} keys, "
        f"skipped {tot['skipped']} already there, in {doc['write_calls']} write calls"
        + ("" if not args.verify else "; verified" if doc["ok"] else "; VERIFICATION FAILED")
        + "\n"
    )
