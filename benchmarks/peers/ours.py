"""checkpoint-kv itself, on any backend: the URL template comes from ``run.py``'s ``OURS``.

Round trips are counted by wrapping the port store (one hit per port call); where the backend
talks to a server through redis-py or botocore, the wire requests are the primary count and
port calls a secondary one, so a port call that costs several requests cannot hide. On SQLite
the primary count is the SQL statements SQLite runs (its trace callback), the unit SqliteSaver
is counted in.
"""

from __future__ import annotations

import os
from typing import Any

from benchmarks.counting import (
    Recorder,
    patch_botocore,
    patch_redis,
    patch_sqlite_connect,
    wrap_module_functions,
)
from benchmarks.peers import Handle, ddb_held, redis_held, s3_held, safe_name
from checkpoint_kv.port_wrappers import DelegatingKV, Intercept

LABEL = "checkpoint-kv"
UNIT = "port calls"  # replaced by the wire unit for server backends (see unit())
SERVICE = None
VENV = None
IMPORT = "import checkpoint_kv"  # plus the backend module, see import_statement()


def import_statement(backend: str) -> str:
    return f"import checkpoint_kv, checkpoint_kv.backends.{backend}"


def unit(backend: str) -> str:
    return {
        "redis": "redis round trips",
        "dynamodb": "API calls",
        "s3": "API calls",
        "sqlite": "statements",
    }.get(backend, "port calls")


class RecordingStore(DelegatingKV):
    """A port store that reports each call (and the bytes it writes) to the recorder; optional
    port methods (``scan_many``) are the backend's, so the saver takes its real paths."""

    def __init__(self, inner: Any, rec: Recorder, primary: bool, local: bool) -> None:
        super().__init__(inner)
        self.rec, self.primary, self.local = rec, primary, local

    def before_call(self, method: str, args: tuple[Any, ...]) -> Intercept | None:
        n = 0
        if method == "write":
            from checkpoint_kv.port import Put

            n = sum(len(o.key) + len(o.value) for o in args[1] if isinstance(o, Put))
        self.rec.hit(1, n if self.primary else 0, kind="port calls", primary=self.primary)
        if method == "write" and not self.primary:
            self.rec.hit(n, kind="bytes in port writes", primary=False)
            if self.local:  # no client patch counts bytes: the port writes are what is sent
                self.rec.add_bytes(n)
        return None


def open(ctx: dict[str, Any], workload: str, rec: Recorder) -> Handle:
    import checkpoint_kv.saver.records as records
    from checkpoint_kv import KVCheckpointSaver
    from checkpoint_kv.registry import open_store

    backend = ctx["backend"]
    name = safe_name("ckv", workload)
    url = ctx["url_template"].format(
        dir=ctx["dir"], workload=workload, name=name, **ctx.get("services", {})
    )
    if backend == "sqlite":
        patch_sqlite_connect(rec)
    if backend == "redis":
        patch_redis(rec)
    elif backend in ("dynamodb", "s3"):
        patch_botocore(rec)
    wrap_module_functions(
        records,
        [
            "encode_checkpoint",
            "encode_write",
            "encode_blob",
            "decode_checkpoint",
            "decode_write",
            "decode_blob",
        ],
        rec,
    )
    with rec.paused():
        admin: Any = None
        if backend == "redis":
            import redis

            admin = redis.Redis.from_url(url.split("?")[0])
            admin.flushall()
        elif backend == "s3":
            import boto3

            admin = boto3.client("s3", endpoint_url=ctx["services"]["moto"])
            admin.create_bucket(Bucket=name)
        elif backend == "dynamodb":
            import boto3

            admin = boto3.client("dynamodb", endpoint_url=ctx["services"]["moto"])
        inner = open_store(url)
        store = RecordingStore(
            inner, rec, primary=backend == "memory", local=backend in ("memory", "sqlite")
        )
        saver = KVCheckpointSaver(store)
        saver.setup()

    def held() -> dict[str, int]:
        logical = 0
        page = inner.partitions(None)
        parts = list(page.partitions)
        while page.cursor:
            page = inner.partitions(page.cursor)
            parts += page.partitions
        for p in parts:
            res = inner.scan(p, "!", "~" * 200)  # every key: ASCII 0x21..0x7E
            logical += sum(len(k) + len(v) for k, v in res.items)
        out = {"logical_bytes": logical}
        if backend == "sqlite":
            import sqlite3

            path = inner.path
            c = sqlite3.connect(path)
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            c.close()
            size = os.path.getsize(path)
            for ext in ("-wal", "-shm"):
                if os.path.exists(path + ext):
                    size += os.path.getsize(path + ext)
            out["bytes"] = size
        elif backend == "redis":
            out.update(redis_held(admin))
        elif backend == "dynamodb":
            out.update(ddb_held(admin, name))
        elif backend == "s3":
            out.update(s3_held(admin, name))
        else:
            out["bytes"] = logical
        return out

    return Handle(saver, held, saver.close)
