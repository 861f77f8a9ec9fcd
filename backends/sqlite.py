"""``sqlite:///path.db``: the embedded, persistent default (stdlib ``sqlite3``, no server).

One table ``kv(partition, key, value)`` with a composite primary key: SQLite's BINARY
collation compares the ASCII keys byte-wise, which is the order the port needs. WAL mode lets
readers run beside a writer, and ``busy_timeout`` lets two processes share the file. Each
thread gets its own connection (sqlite3 connections must not cross threads); every ``write``
is one ``BEGIN IMMEDIATE`` transaction, so a batch is atomic.

URL: ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db`` (SQLAlchemy's form).
Options: ``timeout`` (seconds to wait for a lock, default 30), ``synchronous``: ``NORMAL`` by
default, which in WAL mode survives any crash of the program (a killed process loses nothing
committed, and the file never corrupts) but may lose the last commits on power loss or an OS
crash; ``FULL`` fsyncs every commit and survives those too, at ~5x the write latency.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote

from checkpoint_kv.errors import BackendUnavailableError, ConfigError
from checkpoint_kv.port import (
    Delete,
    DeleteRange,
    Op,
    PartitionPage,
    Put,
    ScanResult,
    follow_refs,
)
from checkpoint_kv.registry import split_options

__all__ = ["SQLiteStore", "from_url"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    partition TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (partition, key)
) WITHOUT ROWID
"""
_PAGE = 1000


class SQLiteStore:
    def __init__(self, path: str, *, timeout: float = 30.0, synchronous: str = "NORMAL") -> None:
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ConfigError(f"sqlite synchronous={synchronous!r}: use NORMAL or FULL")
        self.path = path
        self.timeout = timeout
        self.synchronous = synchronous.upper()
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._ready = False

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                if self.path != ":memory:":
                    parent = os.path.dirname(os.path.abspath(self.path))
                    os.makedirs(parent, exist_ok=True)
                conn = sqlite3.connect(
                    self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
                )
                conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute(f"PRAGMA synchronous = {self.synchronous}")
                if not self._ready:
                    conn.execute(_SCHEMA)
                    self._ready = True
            except (sqlite3.Error, OSError) as e:
                raise BackendUnavailableError(f"cannot open SQLite file {self.path!r}: {e}") from e
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def get(self, partition: str, keys: Sequence[str]) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        conn = self._conn()
        keys = list(keys)
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                f"SELECT key, value FROM kv WHERE partition = ? AND key IN ({marks})",
                (partition, *chunk),
            )
            out.update((k, bytes(v)) for k, v in rows)
        return out

    def scan(
        self,
        partition: str,
        start: str,
        end: str,
        *,
        reverse: bool = False,
        limit: int | None = None,
        follow: int = 0,
    ) -> ScanResult:
        order = "DESC" if reverse else "ASC"
        sql = (
            "SELECT key, value FROM kv WHERE partition = ? AND key >= ? AND key < ? "
            f"ORDER BY key {order} LIMIT ?"
        )
        conn = self._conn()
        # One read transaction, so the followed refs come from the same snapshot as the items.
        conn.execute("BEGIN")
        try:
            rows = conn.execute(sql, (partition, start, end, -1 if limit is None else limit))
            items = [(k, bytes(v)) for k, v in rows]
            refs = self.get(partition, follow_refs(items, follow)) if follow else {}
        finally:
            conn.execute("COMMIT")
        return ScanResult(items, refs)

    def write(self, partition: str, ops: Sequence[Op]) -> None:
        with self._tx() as conn:
            for op in ops:
                if isinstance(op, Put):
                    verb = "INSERT OR IGNORE" if op.if_absent else "INSERT OR REPLACE"
                    conn.execute(
                        f"{verb} INTO kv (partition, key, value) VALUES (?, ?, ?)",
                        (partition, op.key, op.value),
                    )
                elif isinstance(op, Delete):
                    conn.execute(
                        "DELETE FROM kv WHERE partition = ? AND key = ?", (partition, op.key)
                    )
                elif isinstance(op, DeleteRange):
                    conn.execute(
                        "DELETE FROM kv WHERE partition = ? AND key >= ? AND key < ?",
                        (partition, op.start, op.end),
                    )
                else:  # pragma: no cover - defensive
                    raise TypeError(f"unknown op {op!r}")

    def drop(self, partition: str) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM kv WHERE partition = ?", (partition,))

    def partitions(self, cursor: str | None = None) -> PartitionPage:
        rows = self._conn().execute(
            "SELECT DISTINCT partition FROM kv WHERE partition > ? ORDER BY partition LIMIT ?",
            (cursor or "", _PAGE),
        )
        parts = [p for (p,) in rows]
        return PartitionPage(parts, parts[-1] if len(parts) == _PAGE else None)

    def setup(self) -> None:
        self._conn()

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        self._local = threading.local()


def from_url(url: str, **options: Any) -> SQLiteStore:
    base, query = split_options(url)
    query.update({k: str(v) for k, v in options.items()})
    path = unquote(base.split("://", 1)[1])
    path = path[1:] if path.startswith("/") else path
    if not path:
        raise ConfigError(
            "sqlite URL needs a file: sqlite:///relative.db or sqlite:////abs/path.db"
        )
    unknown = set(query) - {"timeout", "synchronous"}
    if unknown:
        raise ConfigError(f"unknown sqlite option(s): {', '.join(sorted(unknown))}")
    return SQLiteStore(
        path,
        timeout=float(query.get("timeout", 30)),
        synchronous=query.get("synchronous", "NORMAL"),
    )
