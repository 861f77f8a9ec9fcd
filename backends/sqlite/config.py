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
"""

from __future__ import annotations

import os
import sqlite3
from urllib.parse import unquote

from checkpoint_kv.backends.sqlite.sql import SCHEMA
from checkpoint_kv.errors import BackendUnavailableError, ConfigError, redact_url
from checkpoint_kv.options import Option, Schema
from checkpoint_kv.registry import split_options

__all__ = ["MEMORY", "OPTIONS", "SYNCHRONOUS", "connect", "parse_path"]

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


def connect(path: str, timeout: float, synchronous: str, *, schema: bool) -> sqlite3.Connection:
    """A new connection to ``path`` (its directory made if missing), in autocommit mode (the
    store opens its transactions itself), with the lock wait and durability of the options;
    ``schema``: also create the table if it is not there."""
    memory = path == MEMORY
    try:
        if not memory:
            parent = os.path.dirname(os.path.abspath(path))
            os.makedirs(parent, exist_ok=True)
        conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        if not memory:
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        if schema:
            conn.execute(SCHEMA)
    except (sqlite3.Error, OSError) as e:
        raise BackendUnavailableError(f"cannot open SQLite file {path!r}: {e}") from e
    return conn
