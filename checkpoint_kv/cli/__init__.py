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
import difflib
import errno
import importlib
import os
import re
import sys
from collections.abc import Sequence
from typing import NoReturn, TextIO, cast

from checkpoint_kv import __version__
from checkpoint_kv.cli import waiting
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
    debug_enabled,
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


class _Parser(argparse.ArgumentParser):
    """argparse, with a "did you mean" for a mistyped command (subcommands are made with the
    parser's class, so ``store serach`` gets one too)."""

    def error(self, message: str) -> NoReturn:
        m = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if m is not None:
            choices = re.findall(r"'([^']*)'", m[2])
            close = difflib.get_close_matches(m[1], choices, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            message = f"unknown command {m[1]!r}{hint} (commands: {', '.join(choices)})"
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
    pipe = _Out(out)
    out = cast(TextIO, pipe)  # what the commands write to
    waiting.notice_stream = err if _isatty(err) else None
    try:
        _swapped(args)
        _fix_operands(args)
        code: int = args.fn(args, out)
        out.flush()
        return code
    except BaseException as e:
        if isinstance(e, SystemExit):
            raise
        if pipe.closed_pipe:  # `checkpoint-kv show URL t | head -2`: the reader is done
            _quiet_stdout(pipe.inner)
            return EXIT_OK
        code = code_for(e)
        if isinstance(e, Abort) and code == EXIT_OK:
            err.write(f"{PROG}: {e}\n")
            return code
        if debug_enabled() and code != EXIT_INTERRUPTED:
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
    finally:
        waiting.notice_stream = None


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class _Out:
    """stdout, noting when its reader went away (a write or flush raised ``EPIPE``): that ends
    the command quietly with exit 0, as ``head`` expects of any Unix tool. A broken pipe to a
    server is another error and reported as one."""

    def __init__(self, inner: TextIO) -> None:
        self.inner = inner
        self.closed_pipe = False

    def write(self, text: str) -> int:
        try:
            return self.inner.write(text)
        except OSError as e:
            self._note(e)
            raise

    def flush(self) -> None:
        try:
            self.inner.flush()
        except OSError as e:
            self._note(e)
            raise

    def _note(self, e: OSError) -> None:
        if isinstance(e, BrokenPipeError) or e.errno == errno.EPIPE:
            self.closed_pipe = True

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def _quiet_stdout(out: TextIO) -> None:
    """After the reader of a pipe left: point stdout at /dev/null so the interpreter's final
    flush does not report the broken pipe again (the Python docs' recipe)."""
    if out is not sys.stdout and out is not sys.__stdout__:
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


# Operands of each command after the URL, in order (the URL comes first).
def _swapped(args: argparse.Namespace) -> None:
    """``history t redis://...``: the URL given after the thread. Say so (a URL where a thread
    belongs would otherwise be "no such thread", or the thread "not a URL")."""
    url = getattr(args, "url", None)
    if not isinstance(url, str) or "://" in url:
        return
    names = ("thread", "checkpoint_id", "threads", "namespace", "key")
    later: list[str] = []
    for n in names:
        v = getattr(args, n, None)
        later += v if isinstance(v, list) else [v] if isinstance(v, str) else []
    for v in later:
        if "://" in v:
            shown = redact_url(v)
            others = [redact_url(x) for x in [url, *later] if x is not v]
            cmd = " ".join(_command_words(args))
            raise ConfigError(
                f"the URL comes first: {shown} was given after {url!r}; did you mean "
                f"`{PROG} {cmd} {shown} {' '.join(others)}`?"
            )


def _command_words(args: argparse.Namespace) -> list[str]:
    words = [args.command]
    sub = getattr(args, "store_command", None)
    if sub:
        words.append(sub)
    return words


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
        elif isinstance(getattr(args, "namespace", None), list):  # store get / search
            args.namespace, url = [url, *args.namespace], None
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
