"""``SQLiteKV``: the key-value port over one SQLite database, on the connections of
:mod:`.pool` and the statements of :mod:`.sql`.

Every ``write`` is one transaction, so a batch is atomic; writers of this process queue on a
lock of their own rather than meet at SQLite's (see ``_run``). A scan is one ``SELECT``, the
references it follows included.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Sequence
from typing import Any

from checkpoint_kv.backends.sqlite.config import MEMORY, SYNCHRONOUS, check_ours
from checkpoint_kv.backends.sqlite.pool import Pool
from checkpoint_kv.backends.sqlite.sql import SCAN, SCAN_FOLLOW, statements
from checkpoint_kv.errors import ConfigError
from checkpoint_kv.port import Op, PartitionPage, ScanResult, follow_refs

__all__ = ["SQLiteKV"]

_PAGE = 1000  # partitions per page
_CHUNK = 500  # keys per SELECT of ``get``


class SQLiteKV:
    """The port over one SQLite database (a file, or ``:memory:``). Thread-safe."""

    def __init__(self, path: str, *, timeout: float = 30.0, synchronous: str = "NORMAL") -> None:
        if synchronous.upper() not in SYNCHRONOUS:
            raise ConfigError(f"sqlite synchronous={synchronous!r}: use NORMAL or FULL")
        check_ours(path)  # another program's file is refused here, never written
        self.path = path
        self.timeout = timeout
        self.synchronous = synchronous.upper()
        self._pool = Pool(path, timeout, self.synchronous)
        self._writer = threading.Lock()  # see _run

    def __repr__(self) -> str:
        return f"SQLiteKV({self.path!r})"

    @property
    def in_memory(self) -> bool:
        return self.path == MEMORY

    def get(self, partition: str, keys: Sequence[str]) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        keys = list(keys)
        with self._pool.use() as conn:
            for i in range(0, len(keys), _CHUNK):
                chunk = keys[i : i + _CHUNK]
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
        """One ``SELECT``, the followed references included (see :data:`.sql.SCAN_FOLLOW`):
        one statement reads one snapshot, so no read transaction is opened around it."""
        args = (partition, start, end, -1 if limit is None else limit)
        with self._pool.use() as conn:
            if not follow:
                rows = conn.execute(SCAN[reverse], args).fetchall()
                return ScanResult([(k, bytes(v)) for k, v in rows])
            rows = conn.execute(SCAN_FOLLOW[reverse], (*args, follow)).fetchall()
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
        self._run(list(statements(partition, ops)))

    def drop(self, partition: str) -> None:
        self._run([("DELETE FROM kv WHERE partition = ?", (partition,))])

    def _run(self, batch: list[tuple[str, tuple[object, ...]]]) -> None:
        # SQLite takes one writer at a time; in-process writers queue on ``_writer`` and
        # start the moment the previous one ends, instead of finding the file locked and
        # sleeping in SQLite's busy handler (1, 2, 5, 10... ms, retrying each time). LangGraph
        # runs a step's ``put`` and ``put_writes`` at once, so that happened most turns.
        # Other processes still meet at SQLite's lock (``timeout``).
        if not batch:
            return
        with self._writer:
            if len(batch) == 1:  # one statement is one (implicit) transaction
                with self._pool.use() as conn:
                    conn.execute(*batch[0])
            else:
                with self._pool.transaction() as conn:
                    for sql, params in batch:
                        conn.execute(sql, params)

    def partitions(self, cursor: str | None = None) -> PartitionPage:
        with self._pool.use() as conn:
            rows = conn.execute(
                "SELECT DISTINCT partition FROM kv WHERE partition > ? ORDER BY partition LIMIT ?",
                (cursor or "", _PAGE),
            )
            parts = [p for (p,) in rows]
        return PartitionPage(parts, parts[-1] if len(parts) == _PAGE else None)

    def setup(self) -> None:
        with self._pool.use():
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
        self._pool.close()


def _first(item: tuple[str, bytes]) -> str:
    return item[0]
