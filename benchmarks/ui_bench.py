"""``checkpoint-kv ui`` benchmark: how long the pages a user opens first take, over HTTP.

    python -m benchmarks.ui_bench            # sqlite and Redis (a redis-server started here)
    python -m benchmarks.ui_bench --quick    # 1,000 threads instead of 10,000

Measured, each as the median of ``--runs`` GETs through a real uvicorn server on loopback
(the app, the saver and the backend; no browser), with the HTML size:

- **threads, first page** on a store of 25 and of 10,000 threads (sqlite, Redis): the page
  reads one page of partitions and the latest checkpoint of the 25 threads it shows, so the
  two should cost the same. Threads are written with the saver's ``put`` (one checkpoint with a
  short conversation each), which is what a graph's first step writes.
- **a 300-turn thread's timeline**: the first page (50 checkpoints of 900) and the last one
  (``before=`` the 851st), then its latest checkpoint (state, diff from the parent).
- **a checkpoint with a 1 MB state** (250 messages of 4 KB): state, diff and JSON views.

The numbers go in docs/cli.md (the ``ui`` section). This script is standalone: it does not
touch ``benchmarks/run.py``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

import checkpoint_kv
from checkpoint_kv.saver import KVCheckpointSaver

PAGE_THREADS = 25


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def redis_server(tmp: str) -> Iterator[str | None]:
    exe = "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
    exe = exe or shutil.which("redis-server")
    if exe is None:
        yield None
        return
    port = _free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", tmp],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def serve(saver: KVCheckpointSaver) -> Iterator[str]:
    import uvicorn

    from checkpoint_kv.ui.app import create_app
    from checkpoint_kv.ui.server import bind

    sock = bind("127.0.0.1", 0)
    app = create_app(saver, label="bench")
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    )
    t = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    t.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        t.join(10)
        sock.close()


def timed(get: Callable[[], Any], runs: int) -> tuple[float, int]:
    """Median milliseconds of ``runs`` calls (after one warm-up), and the body's size."""
    body = get()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        body = get()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), len(body)


def page(client: Any, path: str, **params: str) -> Callable[[], bytes]:
    def get() -> bytes:
        r = client.get(path, params=params)
        r.raise_for_status()
        return bytes(r.content)

    return get


def seed_threads(saver: KVCheckpointSaver, count: int) -> None:
    """``count`` threads, one checkpoint each (a human message and a reply), through ``put``."""
    from langchain_core.messages import AIMessage, HumanMessage
    from langgraph.checkpoint.base import empty_checkpoint

    for i in range(count):
        cp = empty_checkpoint()
        cp["channel_values"] = {
            "messages": [HumanMessage(f"question {i}"), AIMessage(f"answer {i}")]
        }
        version = saver.get_next_version(None)
        cp["channel_versions"] = {"messages": version}
        conf = {"configurable": {"thread_id": f"thread-{i:05d}", "checkpoint_ns": ""}}
        saver.put(conf, cp, {"source": "loop", "step": 1}, {"messages": version})  # type: ignore[arg-type, typeddict-item]


class State(TypedDict):
    messages: Annotated[list[Any], add_messages]


def chat(saver: KVCheckpointSaver, thread: str, turns: int, size: int = 0) -> Any:
    from langchain_core.messages import AIMessage, HumanMessage
    from langgraph.graph import END, START, StateGraph

    pad = "x" * size
    b: Any = StateGraph(State)
    b.add_node("bot", lambda s: {"messages": [AIMessage(f"reply {len(s['messages'])} {pad}")]})
    b.add_edge(START, "bot")
    b.add_edge("bot", END)
    graph = b.compile(checkpointer=saver)
    conf = {"configurable": {"thread_id": thread}}
    for i in range(turns):
        graph.invoke({"messages": [HumanMessage(f"question {i} {pad}")]}, conf)
    return graph


def run_backend(name: str, url_for: Callable[[str], str], args: argparse.Namespace) -> list[str]:
    import httpx

    rows: list[str] = []

    def row(what: str, ms: float, size: int) -> None:
        line = f"| {name} | {what} | {ms:.1f} | {size / 1024:.0f} KB |"
        rows.append(line)
        print(line, flush=True)

    for count in (PAGE_THREADS, args.threads):
        saver = checkpoint_kv.from_url(url_for(f"threads{count}"))
        saver.setup()
        t0 = time.perf_counter()
        seed_threads(saver, count)
        print(f"  ({name}: {count:,} threads written in {time.perf_counter() - t0:.1f} s)")
        with serve(saver) as base, httpx.Client(base_url=base, timeout=60) as c:
            ms, size = timed(page(c, "/"), args.runs)
            row(f"threads, first page ({PAGE_THREADS} of {count:,})", ms, size)
        saver.close()

    saver = checkpoint_kv.from_url(url_for("long"))
    saver.setup()
    graph = chat(saver, "chat-300", 300)
    history = [
        s.config["configurable"]["checkpoint_id"]
        for s in graph.get_state_history({"configurable": {"thread_id": "chat-300"}})
    ]
    chat(saver, "state-1mb", 125, size=4096)
    with serve(saver) as base, httpx.Client(base_url=base, timeout=60) as c:
        n = len(history)
        ms, size = timed(page(c, "/thread", thread="chat-300"), args.runs)
        row(f"300-turn timeline, first page (50 of {n})", ms, size)
        ms, size = timed(page(c, "/thread", thread="chat-300", before=history[-50]), args.runs)
        row(f"300-turn timeline, last page ({n - 49}-{n})", ms, size)
        for view in ("state", "diff"):
            ms, size = timed(page(c, "/checkpoint", thread="chat-300", view=view), args.runs)
            row(f"300-turn latest checkpoint, {view} (600 messages)", ms, size)
        for view in ("state", "diff", "json"):
            ms, size = timed(page(c, "/checkpoint", thread="state-1mb", view=view), args.runs)
            row(f"1 MB state (250 messages of 4 KB), {view}", ms, size)
    saver.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="1,000 threads instead of 10,000")
    p.add_argument("--runs", type=int, default=7, help="GETs per page (median)")
    p.add_argument("--backends", default="sqlite,redis")
    args = p.parse_args(argv)
    args.threads = 1000 if args.quick else 10_000
    wanted = args.backends.split(",")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpu; median of {args.runs} GETs")
    print("| backend | page | ms | HTML |\n|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        if "sqlite" in wanted:
            run_backend("sqlite", lambda n: f"sqlite:///{tmp}/{n}.db", args)
        if "redis" in wanted:
            with redis_server(tmp) as redis:
                if redis is None:
                    print("| redis | not run: no redis-server (apt-get install redis-server) | | |")
                else:
                    run_backend("redis", lambda n: f"{redis}?prefix={n}", args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
