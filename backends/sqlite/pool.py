"""The store's connections: a small pool of them for a file, the one connection of a
``:memory:`` database.

Connections come from a small pool: a call takes an idle one (or opens one), uses it alone,
and hands it back. Per-thread connections were the old design; LangGraph runs writes on
threads it starts per ``invoke``, so each invoke paid a ``connect`` and its PRAGMAs on a cold
page cache, and the connections of finished threads stayed open (file descriptors grew with
every invoke until ``close``). A pooled connection is used by one thread at a time
(``check_same_thread=False``), never inside another call's transaction, and at most
``IDLE`` of them stay open between calls.

``sqlite:///:memory:`` is one database for the store's lifetime: a private in-memory database
exists per *connection*, so per-thread connections would each see an empty one (every async
call runs on a worker thread). It uses one connection, shared by all threads behind a lock;
closing the store ends the database.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from checkpoint_kv.backends.sqlite.config import MEMORY, connect

__all__ = ["IDLE", "Pool"]

# Idle connections kept for reuse; a burst of more concurrent calls opens more, closed when
# they come back to a full pool.
IDLE = 8


class Pool:
    """The connections to one database; every method is thread-safe."""

    def __init__(self, path: str, timeout: float, synchronous: str) -> None:
        self.path = path
        self.timeout = timeout
        self.synchronous = synchronous
        # Idle connections, the process that opened them (a forked child must not use its
        # parent's), and a generation bumped by ``close`` so a connection in use while the
        # store closes is closed when it comes back instead of rejoining the pool.
        self._idle: list[sqlite3.Connection] = []
        self._pid = os.getpid()
        self._generation = 0
        self._lock = threading.Lock()
        self._ready = False  # the schema exists (a file's first connection creates it)
        # ``:memory:``: the one connection (the database lives as long as it is open) and the
        # lock that serialises every use of it, transactions included (re-entrant: a scan
        # calls ``get`` inside its read transaction).
        self._shared: sqlite3.Connection | None = None
        self._shared_lock = threading.RLock()

    @property
    def in_memory(self) -> bool:
        return self.path == MEMORY

    def _open(self) -> sqlite3.Connection:
        schema = not self._ready or self.in_memory
        conn = connect(self.path, self.timeout, self.synchronous, schema=schema)
        if schema:
            self._ready = True
        return conn

    @contextmanager
    def use(self) -> Iterator[sqlite3.Connection]:
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
                and len(self._idle) < IDLE
                and not conn.in_transaction
            )
            if keep:
                self._idle.append(conn)
        if not keep:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A connection inside ``BEGIN IMMEDIATE``: committed when the block ends, rolled
        back when it raises."""
        with self.use() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

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
