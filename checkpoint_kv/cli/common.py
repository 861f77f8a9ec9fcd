"""What every command shares: exit codes and the error -> code map, opening a store from a
URL, the table / JSON output, the confirmation prompt, and registering a command. One idea,
the contract between ``main`` and the command modules, a little over 300 lines: splitting it
would make every command import from several places to do the one thing.

A command module (``inspect``, ``maintain``, ... or one outside this package) defines
``add_commands(subparsers)`` and calls :func:`add_command` for each command, so each gets the
same ``--json`` / ``--serde`` options and ``main`` runs it with the same error handling.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from typing import Any, TextIO

from checkpoint_kv import keys as K
from checkpoint_kv.cli import waiting
from checkpoint_kv.errors import (
    BackendUnavailableError,
    ConfigError,
    CorruptRecordError,
    MissingDependencyError,
    StoreNotFoundError,
    ThreadNotFoundError,
    redact_url,
)
from checkpoint_kv.keys import unescape
from checkpoint_kv.port import KVStore, split_refs
from checkpoint_kv.registry import SERDE_ENV, load_serde, open_store, split_options, url_like
from checkpoint_kv.saver import KVCheckpointSaver
from checkpoint_kv.saver import records as R
from checkpoint_kv.saver.checkpointer import compressor
from checkpoint_kv.saver.migrate import CopyVerificationError

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

PROG = "checkpoint-kv"
HIDDEN_PREFIXES = ("branch:", "__", "start:", "join:")  # LangGraph's own channels
SERDE_HELP = (
    "the serializer the graph wrote with: a factory called with no arguments, e.g. "
    "langgraph.checkpoint.serde.encrypted:EncryptedSerializer.from_pycryptodome_aes "
    f"(reads LANGGRAPH_AES_KEY); default ${SERDE_ENV}, else LangGraph's default"
)
YES_HELP = "confirm: needed without a terminal (a terminal asks)"

Command = Callable[[argparse.Namespace, TextIO], int]


class Abort(Exception):
    """Leave with ``code`` after printing ``message`` (a check that failed, not a crash)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def code_for(e: BaseException) -> int:
    """The documented exit code of an error (``EXIT_CODES``; docs/cli.md)."""
    if isinstance(e, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(e, Abort):
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


# --- registering commands --------------------------------------------------------------------


def add_command(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help: str,
    fn: Command,
) -> argparse.ArgumentParser:
    """A subcommand running ``fn(args, out)``; ``--json`` and ``--serde`` may also follow it."""
    p = subparsers.add_parser(name, help=help, description=help)
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="JSON out")
    p.add_argument("--serde", default=argparse.SUPPRESS, metavar="MODULE:FACTORY", help=SERDE_HELP)
    p.set_defaults(fn=fn)
    return p


def add_url(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "url", nargs="?", metavar="URL", help="backend URL (default: $CHECKPOINT_KV_URL)"
    )


# --- output ----------------------------------------------------------------------------------


def jsonable(obj: Any) -> Any:
    """Channel values and metadata as JSON: messages and models by their fields, the rest by
    ``repr`` (output only; nothing is read back)."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (datetime, date)):
        return obj.isoformat()
    if isinstance(obj, bytes):
        return f"<{len(obj)} bytes>"
    model_dump = getattr(obj, "model_dump", None)
    if callable(model_dump):
        try:
            return jsonable(model_dump())
        except Exception:
            pass
    if is_dataclass(obj) and not isinstance(obj, type):
        return jsonable(asdict(obj))
    return repr(obj)


def table(rows: Sequence[Sequence[Any]], header: Sequence[str], out: TextIO) -> None:
    cells = [[str(c) for c in header]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for r in cells:
        out.write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n")


def dump(doc: Any, out: TextIO) -> None:
    out.write(json.dumps(jsonable(doc), indent=2, ensure_ascii=False) + "\n")


def indent(value: Any, n: int = 2) -> str:
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
    return "".join(" " * n + line + "\n" for line in text.splitlines() or [""])


def confirm(args: argparse.Namespace, question: str) -> None:
    """Ask on a terminal; without one (a pipe, cron, CI) refuse unless ``--yes`` was given:
    a script that forgot it must not destroy data without a word."""
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise Abort(
            EXIT_USAGE,
            f"{question.rstrip('?')}: refused without confirmation; stdin is not a terminal, "
            "pass --yes to confirm",
        )
    err: TextIO = getattr(args, "err", sys.stderr)
    err.write(f"{question} [y/N] ")
    err.flush()
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        raise Abort(EXIT_OK, "nothing done")


def debug_enabled() -> bool:
    """``CHECKPOINT_KV_DEBUG`` set to anything but ``""``, ``0``, ``false``, ``no``, ``off``."""
    value = os.environ.get("CHECKPOINT_KV_DEBUG", "").strip().lower()
    return value not in ("", "0", "false", "no", "off")


# --- opening and reading a store -------------------------------------------------------------


def refuse_saver_url(url: str) -> None:
    """A ``langgraph+...://`` URL names another saver: only ``copy`` reads those."""
    if url.partition("://")[0].lower().startswith("langgraph+"):
        shown = redact_url(url)
        raise ConfigError(
            f"a LangGraph saver's URL: only `{PROG} copy` reads it; import its threads first: "
            f"`{PROG} copy {shown} sqlite:///new.db` (or any checkpoint-kv URL)"
        )


def open_url(url: str, *, must_exist: bool = True) -> KVStore:
    """The store of ``url``; with ``must_exist``, a SQLite file that is not there is
    ``StoreNotFoundError`` (opening would silently create an empty one). While a command
    runs on a terminal, a store that waits on a server says so after a second."""
    refuse_saver_url(url)
    store = open_store(_without_history(url))
    stream = waiting.notice_stream
    where = waiting.endpoint(url) if stream is not None else None
    if stream is not None and where is not None:
        store = waiting.Waiting(store, where, stream)
    if must_exist:
        from checkpoint_kv.backends.sqlite import SQLiteKV

        path = store.path if isinstance(store, SQLiteKV) else None
        if path is not None and path != ":memory:" and not os.path.exists(path):
            raise StoreNotFoundError(
                f"no SQLite file at {path!r}: create it with "
                f"`{PROG} setup {redact_url(url)}` (or check the path)"
            )
    return store


def _without_history(url: str) -> str:
    """The app's URL may carry ``?history=latest`` or ``?compress=zstd`` (saver options, not
    the backend's): every command reads and prunes either way, so they are dropped here."""
    base, query = split_options(url)
    history = query.pop("history", None)
    compress = query.pop("compress", None)  # ours reads either; checked, then dropped
    if history is None and compress is None:
        return url
    if history is not None and history.lower() not in ("all", "full", "latest", "shallow"):
        raise ConfigError(f"history={history!r}: use history=all or history=latest")
    compressor(compress)
    from urllib.parse import urlencode

    return f"{base}?{urlencode(query)}" if query else base


def serde(args: argparse.Namespace) -> Any:
    """The serializer of ``--serde`` / ``$CHECKPOINT_KV_SERDE`` (None: LangGraph's default).
    Stores written with another one (``EncryptedSerializer``) cannot be read without it."""
    if not hasattr(args, "serde_obj"):
        spec = getattr(args, "serde", None) or os.environ.get(SERDE_ENV)
        args.serde_obj = load_serde(spec) if spec else None
    return args.serde_obj


def saver(args: argparse.Namespace) -> KVCheckpointSaver:
    return KVCheckpointSaver(open_url(args.url), serde=serde(args))


def need_thread(store: KVStore, url: str, thread_id: str) -> None:
    """``ThreadNotFoundError`` unless the thread has a checkpoint (a URL in its place says so)."""
    if not store.scan(K.partition(thread_id), *K.ALL_CHECKPOINTS, limit=1).items:
        meant = url_like(thread_id)
        hint = (
            f"; {redact_url(thread_id)!r} looks like a backend URL: the URL comes first, then "
            f"the thread (e.g. `{PROG} history {redact_url(meant)} THREAD`)"
            if meant
            else ""
        )
        raise ThreadNotFoundError(f"no thread {redact_url(thread_id)!r}{hint}")


def summary(saver: KVCheckpointSaver, part: str) -> dict[str, Any]:
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
