"""``PostgresSaver`` on the local PostgreSQL 15 that ``run.py`` starts; a database per workload."""

from __future__ import annotations

from typing import Any

from benchmarks.counting import Recorder, patch_psycopg
from benchmarks.peers import Handle

LABEL = "PostgresSaver"
UNIT = "statements"
VENV = "postgres"
SERVICE = "postgres"
IMPORT = "from langgraph.checkpoint.postgres import PostgresSaver"


def open(ctx: dict[str, Any], workload: str, rec: Recorder) -> Handle:
    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.rows import dict_row

    dsn = ctx["services"]["postgres"]
    db = "bench_" + workload.replace("-", "_")
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {db}")
        admin.execute(f"CREATE DATABASE {db}")
    conn = psycopg.connect(
        dsn.rsplit("/", 1)[0] + "/" + db, autocommit=True, prepare_threshold=0, row_factory=dict_row
    )
    saver = PostgresSaver(conn)
    saver.setup()
    patch_psycopg(rec)

    def held() -> dict[str, int]:
        with psycopg.connect(dsn.rsplit("/", 1)[0] + "/" + db, autocommit=True) as c:
            c.execute("VACUUM")
            rows = c.execute(
                "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname LIKE 'checkpoint%'"
            ).fetchone()
        return {"bytes": int(rows[0] or 0)}

    return Handle(saver, held, conn.close)
