"""``SqliteSaver`` (langgraph-checkpoint-sqlite): statements counted by SQLite's trace callback
(as for checkpoint-kv's SQLite backend), bound bytes by a connection factory."""

from __future__ import annotations

import os
import sqlite3
from typing import Any

from benchmarks.counting import Recorder, sqlite_bytes_factory, trace_sqlite
from benchmarks.peers import Handle

LABEL = "SqliteSaver"
UNIT = "statements"
VENV = "sqlite"
SERVICE = None
IMPORT = "from langgraph.checkpoint.sqlite import SqliteSaver"


def open(ctx: dict[str, Any], workload: str, rec: Recorder) -> Handle:
    from langgraph.checkpoint.sqlite import SqliteSaver

    path = os.path.join(ctx["dir"], f"sqlitesaver-{workload}.db")
    conn = sqlite3.connect(path, check_same_thread=False, factory=sqlite_bytes_factory(rec))
    trace_sqlite(conn, rec)
    saver = SqliteSaver(conn)
    with rec.paused():
        saver.setup()

    def held() -> dict[str, int]:
        c = sqlite3.connect(path)
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        c.close()
        size = sum(os.path.getsize(path + e) for e in ("", "-wal") if os.path.exists(path + e))
        return {"bytes": size}

    return Handle(saver, held, conn.close)
