"""``checkpoint-kv``: see and move checkpoint data without writing code.

Every command takes a backend URL (or ``$CHECKPOINT_KV_URL``), prints a table for people and
one JSON document with ``--json`` for scripts. Errors are one line on stderr, name the backend
(password redacted) and map to exit codes scripts can trust (see ``EXIT_CODES`` and
``docs/cli.md``). Only the standard library: the command line adds no dependency.

The commands live in modules by what they do, each with ``add_commands(subparsers)``:
``inspect`` (threads, history), ``show``, ``maintain`` (delete, prune, copy), ``doctor``
(setup, doctor); ``common`` has what they share (exit codes, opening a store, output,
confirmation, :func:`~checkpoint_kv.cli.common.add_command`). :data:`COMMAND_MODULES` names
them in the order ``--help`` shows them: a new command group is one more entry there.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from checkpoint_kv import __version__
from checkpoint_kv.cli.common import (
    EXIT_CHECK_FAILED,
    EXIT_CODES,
    EXIT_CORRUPT,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_NO_STORE,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    PROG,
    SERDE_HELP,
    Abort,
    code_for,
    dump,
)
from checkpoint_kv.cli.inspect import next_nodes
from checkpoint_kv.errors import ConfigError, redact, redact_url
from checkpoint_kv.registry import SERDE_ENV, url_like

__all__ = [
    "COMMAND_MODULES",
    "EXIT_CHECK_FAILED",
    "EXIT_CODES",
    "EXIT_CORRUPT",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_FOUND",
    "EXIT_NO_STORE",
    "EXIT_OK",
    "EXIT_UNAVAILABLE",
    "EXIT_USAGE",
    "build_parser",
    "main",
    "next_nodes",
]

# Each module's add_commands(subparsers) registers its commands, in this order (--help's).
# Imported when the parser is built, so a module here may import checkpoint_kv.cli.common.
COMMAND_MODULES: tuple[str, ...] = (
    "checkpoint_kv.cli.inspect",  # threads, history
    "checkpoint_kv.cli.show",  # show
    "checkpoint_kv.cli.maintain",  # delete, prune, copy
    "checkpoint_kv.cli.doctor",  # setup, doctor
    "checkpoint_kv.cli.store",  # store namespaces|get|search (long-term memory)
    "checkpoint_kv.cli.ui",  # ui: a local web page (the [ui] extra)
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Inspect, prune and move LangGraph checkpoints stored by checkpoint-kv.",
        epilog="exit codes: "
        + "; ".join(f"{k} {v}" for k, v in EXIT_CODES.items())
        + ". Docs: docs/cli.md",
    )
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument("--serde", metavar="MODULE:FACTORY", help=SERDE_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_commands(sub)
    return parser


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
        code = code_for(e)
        if isinstance(e, Abort) and code == EXIT_OK:
            err.write(f"{PROG}: {e}\n")
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
        line = " ".join(f"{PROG}: {where + ': ' if where else ''}{what}".split())
        err.write(line + "\n")
        if getattr(args, "json", False) and not getattr(e, "reported", False):
            dump({"ok": False, "error": line, "exit_code": code}, out)
        return code


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
        f"{PROG} {args.command} {shown} THREAD{extra} (list the threads with "
        f"`{PROG} threads {shown}`)"
    )


def _describe(args: argparse.Namespace) -> str:
    urls = [getattr(args, n, None) for n in ("url", "src", "dst")]
    names = [redact_url(u) for u in urls if isinstance(u, str) and "://" in u]
    return " -> ".join(names)
