"""``sqlite:///path.db``: the embedded, persistent default (stdlib ``sqlite3``, no server).

One table ``kv(partition, key, value)`` with a composite primary key: SQLite's BINARY
collation compares the ASCII keys byte-wise, which is the order the port needs. WAL mode lets
readers run beside a writer, and ``busy_timeout`` lets two processes share the file. Every
``write`` is one transaction, so a batch is atomic.

Connections come from a small pool: a call takes an idle one (or opens one), uses it alone,
and hands it back. Per-thread connections were the old design; LangGraph runs writes on
threads it starts per ``invoke``, so each invoke paid a ``connect`` and its PRAGMAs on a cold
page cache, and the connections of finished threads stayed open (file descriptors grew with
every invoke until ``close``). A pooled connection is used by one thread at a time
(``check_same_thread=False``), never inside another call's transaction, and at most
``_IDLE`` of them stay open between calls.

``sqlite:///:memory:`` is one database for the store's lifetime: a private in-memory database
exists per *connection*, so per-thread connections would each see an empty one (every async
call runs on a worker thread). It uses one connection, shared by all threads behind a lock;
closing the store ends the database.

URL: ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db`` (SQLAlchemy's form).
``sqlite://relative.db`` (two slashes) is refused: the part after ``//`` is a host there, and
guessing would silently create a file (and directories) somewhere else.
Options: ``timeout`` (seconds to wait for a lock, default 30), ``synchronous``: ``NORMAL`` by
default, which in WAL mode survives any crash of the program (a killed process loses nothing
committed, and the file never corrupts) but may lose the last commits on power loss or an OS
crash; ``FULL`` fsyncs every commit and survives those too, at ~5x the write latency.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from checkpoint_kv._renamed import renamed
from checkpoint_kv.errors import BackendUnavailableError, ConfigError, redact_url
from checkpoint_kv.options import Option, Schema, url_query
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

__all__ = ["MEMORY", "OPTIONS", "SQLiteKV", "from_url", "parse_path"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    partition TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (partition, key)
) WITHOUT ROWID
"""
_PAGE = 1000
MEMORY = ":memory:"
# Idle connections kept for reuse; a burst of more concurrent calls opens more, closed when
# they come back to a full pool.
_IDLE = 8


class SQLiteKV:
    def __init__(self, path: str, *, timeout: float = 30.0, synchronous: str = "NORMAL") -> None:
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ConfigError(f"sqlite synchronous={synchronous!r}: use NORMAL or FULL")
        self.path = path
        self.timeout = timeout
        self.synchronous = synchronous.upper()
        # The pool: idle connections, the process that opened them (a forked child must not
        # use its parent's), and a generation bumped by ``close`` so a connection in use
        # while the store closes is closed when it comes back instead of rejoining the pool.
        self._idle: list[sqlite3.Connection] = []
        self._pid = os.getpid()
        self._generation = 0
        self._lock = threading.Lock()
        self._writer = threading.Lock()  # see _run
        self._ready = False
        # ``:memory:``: the one connection (the database lives as long as it is open) and the
        # lock that serialises every use of it, transactions included (re-entrant: a scan
        # calls ``get`` inside its read transaction).
        self._shared: sqlite3.Connection | None = None
        self._shared_lock = threading.RLock()

    def __repr__(self) -> str:
        return f"SQLiteKV({self.path!r})"

    @property
    def in_memory(self) -> bool:
        return self.path == MEMORY

    def _open(self) -> sqlite3.Connection:
        try:
            if not self.in_memory:
                parent = os.path.dirname(os.path.abspath(self.path))
                os.makedirs(parent, exist_ok=True)
            conn = sqlite3.connect(
                self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            if not self.in_memory:
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            if not self._ready or self.in_memory:
                conn.execute(_SCHEMA)
                self._ready = True
        except (sqlite3.Error, OSError) as e:
            raise BackendUnavailableError(f"cannot open SQLite file {self.path!r}: {e}") from e
        return conn

    @contextmanager
    def _use(self) -> Iterator[sqlite3.Connection]:
        """A connection for one call, this thread's alone until the call ends: ``:memory:``'s
        one connection under its lock, else one from the pool."""
        if self.in_memory:
            with self._shared_lock:
                if self._shared is None:
                    self._shared = self._open()
                yield self._shared
            return
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's connections are not ours
                self._idle, self._pid = [], os.getpid()
            conn = self._idle.pop() if self._idle else None
            generation = self._generation
        if conn is None:
            conn = self._open()
        try:
            yield conn
        finally:
            self._release(conn, generation)

    def _release(self, conn: sqlite3.Connection, generation: int) -> None:
        # A connection still inside a transaction (its ROLLBACK failed) is never reused.
        with self._lock:
            keep = (
                generation == self._generation
                and len(self._idle) < _IDLE
                and not conn.in_transaction
            )
            if keep:
                self._idle.append(conn)
        if not keep:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._use() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def get(self, partition: str, keys: Sequence[str]) -> dict[str, bytes]:
        with self._use() as conn:
            return self._get(conn, partition, keys)

    def _get(
        self, conn: sqlite3.Connection, partition: str, keys: Sequence[str]
    ) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
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
        """One ``SELECT``, the followed references included (see :data:`_SCAN_FOLLOW`): one
        statement reads one snapshot, so no read transaction is opened around it."""
        args = (partition, start, end, -1 if limit is None else limit)
        with self._use() as conn:
            if not follow:
                rows = conn.execute(_SCAN[reverse], args).fetchall()
                return ScanResult([(k, bytes(v)) for k, v in rows])
            rows = conn.execute(_SCAN_FOLLOW[reverse], (*args, follow)).fetchall()
        items = [(k, bytes(v)) for tag, k, v in rows if not tag]
        items.sort(key=_first, reverse=reverse)  # already in order: a safety net, O(n)
        # The statement returns every row a header names; the port's parser decides which
        # count (a damaged header is skipped, as for every backend).
        found = {k: v for tag, k, v in rows if tag}
        refs = {k: bytes(found[k]) for k in follow_refs(items, follow) if k in found}
        return ScanResult(items, refs)

    def write(self, partition: str, ops: Sequence[Op]) -> None:
        """Apply ``ops`` atomically, in as few statements as their order allows: a saver write
        (a step's blobs and record, a task's writes) is one multi-row ``INSERT``, which SQLite
        runs as its own transaction, so it needs no ``BEGIN``/``COMMIT`` around it. Only a
        batch that takes several statements is wrapped in ``BEGIN IMMEDIATE ... COMMIT``."""
        self._run(list(_statements(partition, ops)))

    def drop(self, partition: str) -> None:
        self._run([("DELETE FROM kv WHERE partition = ?", (partition,))])

    def _run(self, statements: list[tuple[str, tuple[object, ...]]]) -> None:
        # SQLite takes one writer at a time; in-process writers queue on ``_writer`` and
        # start the moment the previous one ends, instead of finding the file locked and
        # sleeping in SQLite's busy handler (1, 2, 5, 10... ms, retrying each time). LangGraph
        # runs a step's ``put`` and ``put_writes`` at once, so that happened most turns.
        # Other processes still meet at SQLite's lock (``timeout``).
        if not statements:
            return
        with self._writer:
            if len(statements) == 1:  # one statement is one (implicit) transaction
                with self._use() as conn:
                    conn.execute(*statements[0])
            else:
                with self._tx() as conn:
                    for sql, params in statements:
                        conn.execute(sql, params)

    def partitions(self, cursor: str | None = None) -> PartitionPage:
        with self._use() as conn:
            rows = conn.execute(
                "SELECT DISTINCT partition FROM kv WHERE partition > ? ORDER BY partition LIMIT ?",
                (cursor or "", _PAGE),
            )
            parts = [p for (p,) in rows]
        return PartitionPage(parts, parts[-1] if len(parts) == _PAGE else None)

    def setup(self) -> None:
        with self._use():
            pass

    def info(self) -> dict[str, Any]:
        """The port's optional ``info()`` (what ``checkpoint-kv doctor`` reports): the SQLite
        library's version, and the file with its size."""
        memory = self.in_memory
        size = os.path.getsize(self.path) if not memory and os.path.exists(self.path) else 0
        return {
            "server_version": f"SQLite {sqlite3.sqlite_version}",
            "ttl": "not supported: use `checkpoint-kv prune` or delete_thread",
            "file": f"{MEMORY} (in this process only)" if memory else os.path.abspath(self.path),
            "size_bytes": size,
            "problems": [],
        }

    def close(self) -> None:
        """Close every connection; for ``:memory:`` that ends the database (a later call
        starts an empty one)."""
        with self._shared_lock:
            shared, self._shared = self._shared, None
            with self._lock:
                conns, self._idle = self._idle, []
                self._generation += 1
            for conn in [*conns, *([shared] if shared is not None else [])]:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()


_RANGE = "FROM kv WHERE partition = ?1 AND key >= ?2 AND key < ?3 ORDER BY key {o} LIMIT ?4"
_SCAN = {r: f"SELECT key, value {_RANGE.format(o='DESC' if r else 'ASC')}" for r in (False, True)}
# A scan that follows references (``port.follow_refs``) in one statement: the range, then
# the header ("ref1\nref2\n\n<payload>") of the first ``?5`` items that have one, split at
# each newline by a recursive CTE, and the rows those keys name. Tagged 0 (item) / 1 (ref).
# The header stays a BLOB while it is split (byte-wise, whatever bytes a damaged one holds:
# text functions would stop at a NUL) and is cast to TEXT, byte for byte, only to be compared
# with keys; each step consumes at least one byte or ends the chain, so it always terminates.
_FOLLOW = """
WITH RECURSIVE
  items(key, value) AS (SELECT key, value {range}),
  refs(ref, rest) AS (
    SELECT NULL, head FROM (
      SELECT substr(value, 1, instr(value, X'0A0A') - 1) AS head
      FROM items WHERE instr(value, X'0A0A') > 1 ORDER BY key {o} LIMIT ?5)
    UNION ALL
    SELECT
      CASE WHEN instr(rest, X'0A') > 0 THEN substr(rest, 1, instr(rest, X'0A') - 1) ELSE rest END,
      CASE WHEN instr(rest, X'0A') > 0 THEN substr(rest, instr(rest, X'0A') + 1) END
    FROM refs WHERE rest IS NOT NULL)
SELECT 0, key, value FROM items
UNION ALL
SELECT 1, key, value FROM kv
WHERE partition = ?1 AND key IN (SELECT CAST(ref AS TEXT) FROM refs WHERE ref IS NOT NULL)
"""
_SCAN_FOLLOW = {
    r: _FOLLOW.format(range=_RANGE.format(o="DESC" if r else "ASC"), o="DESC" if r else "ASC")
    for r in (False, True)
}


def _first(item: tuple[str, bytes]) -> str:
    return item[0]


# Bound parameters per statement: 999 is SQLite's lowest compiled-in limit (before 3.32), so
# a chunk fits any build. A put binds 2 (key, value) besides the shared partition (``?1``).
_MAX_VARS = 999
_ROWS = (_MAX_VARS - 1) // 2


@functools.lru_cache(maxsize=256)
def _insert_sql(if_absent: bool, rows: int) -> str:
    verb = "INSERT OR IGNORE" if if_absent else "INSERT OR REPLACE"
    # "?" after "?1" takes the next free number: (?1, ?2, ?3), (?1, ?4, ?5), ...
    return f"{verb} INTO kv (partition, key, value) VALUES " + ", ".join(["(?1, ?, ?)"] * rows)


@functools.lru_cache(maxsize=256)
def _delete_sql(rows: int) -> str:
    return f"DELETE FROM kv WHERE partition = ? AND key IN ({','.join('?' * rows)})"


def _statements(partition: str, ops: Sequence[Op]) -> Iterator[tuple[str, tuple[object, ...]]]:
    """The statements applying ``ops`` in order: consecutive puts of one kind (replace or
    if-absent) become one multi-row ``INSERT`` (split where a key repeats, so a later put of
    the same key still runs after the earlier one), consecutive deletes one ``DELETE``."""
    i, n = 0, len(ops)
    while i < n:
        op = ops[i]
        if isinstance(op, Put):
            flag, seen = op.if_absent, set[str]()
            params: list[object] = [partition]
            while (
                i < n
                and isinstance(p := ops[i], Put)
                and p.if_absent == flag
                and p.key not in seen
                and len(seen) < _ROWS
            ):
                seen.add(p.key)
                params += (p.key, p.value)
                i += 1
            yield _insert_sql(flag, len(seen)), tuple(params)
        elif isinstance(op, Delete):
            keys: list[object] = [partition]
            while i < n and isinstance(d := ops[i], Delete) and len(keys) <= _ROWS:
                keys.append(d.key)
                i += 1
            yield _delete_sql(len(keys) - 1), tuple(keys)
        elif isinstance(op, DeleteRange):
            yield (
                "DELETE FROM kv WHERE partition = ? AND key >= ? AND key < ?",
                (partition, op.start, op.end),
            )
            i += 1
        else:  # pragma: no cover - defensive
            raise TypeError(f"unknown op {op!r}")


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


OPTIONS = Schema(
    "sqlite",
    [
        Option("timeout", "float", 30.0, "seconds to wait for another connection's lock"),
        Option(
            "synchronous",
            "enum",
            "NORMAL",
            "NORMAL survives a crash of the program, FULL also power loss (~5x write latency)",
            choices=("OFF", "NORMAL", "FULL", "EXTRA"),
        ),
    ],
)


def from_url(url: str, **options: Any) -> SQLiteKV:
    _, query = url_query(url, options)
    path = parse_path(url)
    opts = OPTIONS.parse(query)
    return SQLiteKV(path, timeout=opts["timeout"], synchronous=opts["synchronous"])


# --- old names ------------------------------------------------------------------------------
# Deprecated aliases: the adapters were named like LangGraph's memory stores (BaseStore).
if TYPE_CHECKING:
    SQLiteStore = SQLiteKV
else:
    __getattr__ = renamed(
        __name__,
        {
            "SQLiteStore": "SQLiteKV",
        },
    )
