"""A ``sqlite:`` URL and its options, and what they do to a connection when it opens (the
file's directory, the PRAGMAs, the schema).

URL: ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db`` (SQLAlchemy's form).
``sqlite://relative.db`` (two slashes) is refused: the part after ``//`` is a host there, and
guessing would silently create a file (and directories) somewhere else.
Options: ``timeout`` (seconds to wait for a lock, default 30), ``synchronous``: ``NORMAL`` by
default, which in WAL mode survives any crash of the program (a killed process loses nothing
committed, and the file never corrupts) but may lose the last commits on power loss or an OS
crash; ``FULL`` fsyncs every commit and survives those too, at ~5x the write latency. WAL mode
lets readers run beside a writer, and ``busy_timeout`` lets two processes share the file.

A file that is not ours (another program's tables: LangGraph's ``SqliteSaver`` or
``SqliteStore``, an app's database) is refused with :class:`ForeignFileError`, naming what it
looks like, before anything is written to it: no table, no journal mode. The check reads the
schema through a read-only connection when the store is made (so ``from_url`` refuses it) and
again on the first connection, before the PRAGMAs.
"""

from __future__ import annotations

import os
import sqlite3
from urllib.parse import quote, unquote

from checkpoint_kv.backends.sqlite.sql import SCHEMA
from checkpoint_kv.errors import BackendUnavailableError, ConfigError, redact_url
from checkpoint_kv.options import Option, Schema
from checkpoint_kv.registry import split_options

__all__ = [
    "MEMORY",
    "OPTIONS",
    "SYNCHRONOUS",
    "ForeignFileError",
    "check_ours",
    "connect",
    "foreign_reason",
    "parse_path",
    "sqlite_tables",
]

MEMORY = ":memory:"
SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")

OPTIONS = Schema(
    "sqlite",
    [
        Option("timeout", "float", 30.0, "seconds to wait for another connection's lock"),
        Option(
            "synchronous",
            "enum",
            "NORMAL",
            "NORMAL survives a crash of the program, FULL also power loss (~5x write latency)",
            choices=SYNCHRONOUS,
        ),
    ],
)


def parse_path(url: str) -> str:
    """The file path of a ``sqlite:`` URL (``:memory:`` for the in-memory database).

    ``sqlite:///rel.db`` is relative, ``sqlite:////abs.db`` absolute. ``sqlite://rel.db`` is
    refused: there the name is in the *host* position, and quietly reading it as a path
    created files (and directories) the user never asked for.
    """
    base, _ = split_options(url)
    scheme, _, rest = base.partition("://")
    need = (
        f"sqlite URL needs a file: {scheme}:///relative.db or {scheme}:////abs/path.db "
        f"(or {scheme}:///{MEMORY})"
    )
    if not rest:
        raise ConfigError(need)
    if not rest.startswith("/"):
        if unquote(rest) == MEMORY:  # before redact_url(), which hides a "port" like "memory:"
            raise ConfigError(
                f"sqlite URL {base!r} has only two slashes: did you mean {scheme}:///{MEMORY}?"
            )
        shown = redact_url(base)
        name = unquote(shown.partition("://")[2])
        raise ConfigError(
            f"sqlite URL {shown!r} has only two slashes, so {name!r} is a host, not a path: "
            f"did you mean {scheme}:///{name} (relative to the working directory) or "
            f"{scheme}:////abs/path/{name} (absolute)?"
        )
    path = unquote(rest[1:])
    if not path:
        raise ConfigError(need)
    return path


class ForeignFileError(ConfigError):
    """The SQLite file belongs to another program (the message says what it looks like and
    what to do); nothing was written to it."""


_OUR_COLUMNS = ["partition", "key", "value"]


def _read_only(path: str) -> sqlite3.Connection:
    """A connection that cannot write, nor leave ``-wal``/``-shm`` files beside a WAL-mode
    file (``immutable``: it may miss what only a WAL holds yet, which the first real
    connection checks again before it writes anything)."""
    return sqlite3.connect(f"file:{quote(os.path.abspath(path))}?mode=ro&immutable=1", uri=True)


def sqlite_tables(path: str) -> set[str] | None:
    """The tables of an existing file, read through a read-only connection (None: not a
    SQLite database)."""
    try:
        conn = _read_only(path)
    except sqlite3.Error:
        return None
    try:
        return _tables(conn)
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def _tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {str(r[0]) for r in rows if not str(r[0]).startswith("sqlite_")}


def _kv_columns(conn: sqlite3.Connection) -> list[str]:
    return [str(r[1]) for r in conn.execute("PRAGMA table_info(kv)").fetchall()]


def foreign_reason(path: str, tables: set[str], kv_columns: list[str] | None) -> str | None:
    """Why a database with ``tables`` is not a checkpoint-kv file, or None when it is ours
    (our ``kv`` table, whatever else is beside it) or empty."""
    if not tables:
        return None
    if "kv" in tables and (kv_columns is None or kv_columns == _OUR_COLUMNS):
        return None
    shown = path
    if {"checkpoints", "writes"} <= tables:
        return (
            f"{shown!r} is a LangGraph SqliteSaver file (tables checkpoints, writes), not a "
            f"checkpoint-kv one: import it with `checkpoint-kv copy langgraph+sqlite:///{shown} "
            "sqlite:///new.db` (then use sqlite:///new.db); nothing was written to it"
        )
    if "store" in tables and ("store_migrations" in tables or "store_vectors" in tables):
        return (
            f"{shown!r} is a LangGraph SqliteStore file (long-term memory: table store), not a "
            "checkpoint-kv one: point the URL at another file; nothing was written to it"
        )
    names = ", ".join(sorted(tables)[:8]) + (", ..." if len(tables) > 8 else "")
    return (
        f"{shown!r} is a SQLite database of another program (tables: {names}), not a "
        "checkpoint-kv file: point the URL at a new file; nothing was written to it"
    )


def check_ours(path: str) -> None:
    """``ForeignFileError`` unless the file at ``path`` is absent, empty, or ours; read-only."""
    if path == MEMORY or not os.path.isfile(path) or os.path.getsize(path) == 0:
        return
    try:
        conn = _read_only(path)
    except sqlite3.Error:
        return  # unreadable here: the connection that opens it reports why
    try:
        reason = foreign_reason(path, _tables(conn), _kv_columns(conn))
    except sqlite3.DatabaseError as e:
        raise ForeignFileError(
            f"{path!r} is not a SQLite database ({e}), nor a checkpoint-kv file: point the URL "
            "at a new file; nothing was written to it"
        ) from None
    finally:
        conn.close()
    if reason is not None:
        raise ForeignFileError(reason)


def connect(path: str, timeout: float, synchronous: str, *, schema: bool) -> sqlite3.Connection:
    """A new connection to ``path`` (its directory made if missing), in autocommit mode (the
    store opens its transactions itself), with the lock wait and durability of the options;
    ``schema``: also create the table if it is not there, after checking that the file is not
    another program's (:class:`ForeignFileError`, before any PRAGMA writes to it)."""
    memory = path == MEMORY
    try:
        if not memory:
            parent = os.path.dirname(os.path.abspath(path))
            os.makedirs(parent, exist_ok=True)
        conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        if schema and not memory:
            reason = foreign_reason(path, _tables(conn), _kv_columns(conn))
            if reason is not None:
                conn.close()
                raise ForeignFileError(reason)
        if not memory:
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        if schema:
            conn.execute(SCHEMA)
    except (sqlite3.Error, OSError) as e:
        raise BackendUnavailableError(f"cannot open SQLite file {path!r}: {e}") from e
    return conn
