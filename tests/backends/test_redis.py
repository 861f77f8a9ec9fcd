"""Redis-specific promises, on a real ``redis-server``, a real 3-node Cluster and fakeredis.

The port contract and the conformance suite run on all three through ``tests/contract/test_port.py``
and ``tests/contract/test_conformance.py``; this module covers what only Redis has: round trips
counted
by the server itself (MONITOR), TTL, Cluster slots, prefixes, script reloading, crash recovery
with AOF, and errors that never leak a password.
"""

from __future__ import annotations

import asyncio
import operator
import os
import queue
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
import redis
import redis.cluster
from langgraph.channels.delta import DeltaChannel
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

import checkpoint_kv
from checkpoint_kv import (
    BackendUnavailableError,
    ConfigError,
    CorruptRecordError,
    KVCheckpointSaver,
)
from checkpoint_kv import keys as K
from checkpoint_kv.backends import redis as ckv_redis
from checkpoint_kv.backends.redis.codec import Layout
from checkpoint_kv.errors import BackendError
from checkpoint_kv.port import Put
from tests.support.fixtures_redis import (
    RedisClusterProcs,
    RedisProc,
    SilentPeer,
    free_port,
    need_redis_binaries,
)


def _prefix() -> str:
    return "t" + uuid.uuid4().hex[:12]


def _keys_with_prefix(client: Any, prefix: str) -> list[bytes]:
    return sorted(client.scan_iter(match=f"{prefix}:*", count=1000))


class Chat(TypedDict, total=False):
    messages: Annotated[list[str], operator.add]


def _chat_graph(saver: KVCheckpointSaver) -> Any:
    b = StateGraph(Chat)
    b.add_node("bot", lambda s: {"messages": [f"bot {len(s['messages'])}"]})
    b.add_node("tool", lambda s: {"messages": ["tool ok"]})
    b.add_edge(START, "bot")
    b.add_edge("bot", "tool")
    b.add_edge("tool", END)
    return b.compile(checkpointer=saver)


def _cfg(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


# --- server-side command log -------------------------------------------------------------


# Sent once when a pooled connection opens, not per operation.
_HANDSHAKE = {"HELLO", "AUTH", "CLIENT", "SELECT"}


class ServerLog:
    """Commands the server received from clients (MONITOR; script-internal calls and
    connection handshakes excluded).

    ``take()`` returns the commands since the previous ``take()``: it sends a marker ``ECHO``
    on its own connection and waits until the monitor has seen it, so nothing is lost.
    """

    def __init__(self, url: str) -> None:
        self.handshakes = 0
        self.client = redis.Redis.from_url(url)
        self.control = redis.Redis.from_url(url)
        self.queue: queue.Queue[str] = queue.Queue()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(10)
        self.take()

    def _run(self) -> None:
        with self.client.monitor() as m:
            self.ready.set()
            while True:
                cmd = m.next_command()
                if cmd["client_type"] == "lua":
                    continue
                self.queue.put(cmd["command"])
                if cmd["command"] == "ECHO ckv-monitor-stop":
                    return

    def take(self) -> list[str]:
        token = "ckv-mark-" + uuid.uuid4().hex
        self.control.echo(token)
        out: list[str] = []
        while True:
            cmd = self.queue.get(timeout=10)
            if cmd == f"ECHO {token}":
                return out
            if cmd.startswith("ECHO ckv-mark-"):
                continue
            name = cmd.split(" ", 1)[0].upper()
            if name in _HANDSHAKE:
                self.handshakes += 1
            else:
                out.append(name)

    def close(self) -> None:
        self.control.echo("ckv-monitor-stop")
        self.thread.join(10)
        self.control.close()
        self.client.close()


@pytest.fixture
def server_log(redis_server: RedisProc) -> Iterator[ServerLog]:
    log = ServerLog(redis_server.url)
    try:
        yield log
    finally:
        log.close()


class CountingSaver(KVCheckpointSaver):
    """Counts the LangGraph-facing calls, to compare with what the server saw."""

    calls: Counter[str]

    def get_tuple(self, config: Any) -> Any:
        self.calls["get_tuple"] += 1
        return super().get_tuple(config)

    def put(self, *a: Any) -> Any:
        self.calls["put"] += 1
        return super().put(*a)

    def put_writes(self, *a: Any, **kw: Any) -> None:
        self.calls["put_writes"] += 1
        super().put_writes(*a, **kw)


# --- round trips, counted by the real server ----------------------------------------------


def test_round_trips_counted_by_server(redis_server: RedisProc, server_log: ServerLog) -> None:
    saver = checkpoint_kv.from_url(f"{redis_server.url}?prefix={_prefix()}")
    saver.setup()
    graph = _chat_graph(saver)
    thread = _cfg("rt-" + uuid.uuid4().hex[:6])
    for i in range(12):  # real (v4) checkpoints, blobs and writes made by a graph
        graph.invoke({"messages": [f"user {i}"]}, thread, durability="sync")
    latest = saver.get_tuple(thread)
    assert latest is not None
    server_log.take()

    assert saver.get_tuple(thread) is not None
    assert server_log.take() == ["EVALSHA"]

    history = list(saver.list(thread, limit=10))
    assert len(history) == 10
    assert len(server_log.take()) <= 2

    cp = empty_checkpoint()
    cp["channel_versions"] = {"messages": saver.get_next_version(None, None)}
    cp["channel_values"] = {"messages": ["hello"]}
    conf = saver.put(latest.config, cp, {"source": "update", "step": 99}, cp["channel_versions"])
    assert server_log.take() == ["EVALSHA"]

    saver.put_writes(conf, [("messages", ["a"]), ("__interrupt__", "x")], "task-1")
    assert server_log.take() == ["EVALSHA"]
    saver.close()


def test_large_values_sent_by_redis_py_packer(redis_server: RedisProc) -> None:
    """from_url's clients pack commands in Python: hiredis.pack_command copies every argument
    (60x slower for a 300 KB record). A value above the packer's 6 KB cutoff, sent as its own
    buffer, arrives whole."""
    from redis.connection import PythonRespSerializer

    url = f"{redis_server.url}?prefix={_prefix()}"
    saver = checkpoint_kv.from_url(url)
    conn = saver.store.client.connection_pool.get_connection()
    try:
        assert isinstance(conn._command_packer, PythonRespSerializer)
    finally:
        saver.store.client.connection_pool.release(conn)
    big = [os.urandom(1000).hex() for _ in range(300)]  # ~600 KB, beyond the 6 KB cutoff
    cp = empty_checkpoint()
    cp["channel_versions"] = {"messages": saver.get_next_version(None, None)}
    cp["channel_values"] = {"messages": big}
    conf = saver.put(_cfg("big"), cp, {"step": 0}, cp["channel_versions"])
    saver.put_writes(conf, [("messages", big[:50])], "task-1")
    checkpoint_kv.saver.records.MEMO.clear()
    got = checkpoint_kv.from_url(url)  # a cold saver: reads what the server holds
    tup = got.get_tuple(_cfg("big"))
    assert tup is not None and tup.checkpoint["channel_values"]["messages"] == big
    assert tup.pending_writes == [("task-1", "messages", big[:50])]
    saver.close()
    got.close()


class _DeltaChat(TypedDict, total=False):
    messages: Annotated[list[str], DeltaChannel(lambda s, ws: [*s, *(x for w in ws for x in w)])]


def test_delta_history_in_two_round_trips(
    redis_server: RedisProc, server_log: ServerLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``get_delta_channel_history`` on a 150-turn DeltaChannel thread: the target page, then the
    seed probe and the rest of the chain pipelined together: 2 round trips (3 commands)."""
    saver = checkpoint_kv.from_url(f"{redis_server.url}?prefix={_prefix()}")
    saver.setup()
    b = StateGraph(_DeltaChat)
    b.add_node("bot", lambda s: {"messages": [f"bot {len(s['messages'])}"]})
    b.add_edge(START, "bot")
    b.add_edge("bot", END)
    graph = b.compile(checkpointer=saver)
    thread = _cfg("delta-" + uuid.uuid4().hex[:6])
    for i in range(150):
        graph.invoke({"messages": [f"user {i}"]}, thread, durability="sync")
    # The newest checkpoint that is not itself a snapshot (what get_state asks about).
    latest = next(
        t for t in saver.list(thread, limit=5) if t.metadata.get("counters_since_delta_snapshot")
    )
    pipelines: list[int] = []
    real_execute = redis.client.Pipeline.execute

    def counted(self: Any, *a: Any, **kw: Any) -> Any:
        pipelines.append(len(self.command_stack))
        return real_execute(self, *a, **kw)

    monkeypatch.setattr(redis.client.Pipeline, "execute", counted)
    server_log.take()
    hist = saver.get_delta_channel_history(config=latest.config, channels=["messages"])
    commands = server_log.take()
    round_trips = len(commands) - sum(pipelines) + len(pipelines)
    assert round_trips <= 2, (commands, pipelines)
    n = len(hist["messages"]["writes"]) + len(hist["messages"]["seed"].value)
    assert n == len(graph.get_state(latest.config).values["messages"])  # rebuilds that state
    assert len(graph.get_state(thread).values["messages"]) == 300
    saver.close()


def test_graph_run_is_one_command_per_saver_call(
    redis_server: RedisProc, server_log: ServerLog
) -> None:
    store = checkpoint_kv.from_url(f"{redis_server.url}?prefix={_prefix()}").store
    saver = CountingSaver(store)
    saver.calls = Counter()
    saver.setup()
    graph = _chat_graph(saver)
    thread = _cfg("graph-" + uuid.uuid4().hex[:6])
    server_log.take()
    for i in range(5):
        graph.invoke({"messages": [f"user {i}"]}, thread, durability="sync")
    commands = server_log.take()
    assert set(commands) == {"EVALSHA"}
    assert len(commands) == sum(saver.calls.values())
    assert saver.calls["get_tuple"] == 5 and saver.calls["put"] >= 15
    assert saver.calls["put_writes"] >= 10
    saver.close()


def test_noscript_is_reloaded(redis_server: RedisProc, server_log: ServerLog) -> None:
    saver = checkpoint_kv.from_url(f"{redis_server.url}?prefix={_prefix()}")
    graph = _chat_graph(saver)
    thread = _cfg("noscript")
    graph.invoke({"messages": ["hi"]}, thread)
    redis.Redis.from_url(redis_server.url).script_flush()
    server_log.take()
    assert saver.get_tuple(thread) is not None
    assert server_log.take() == ["EVALSHA", "EVAL"]  # NOSCRIPT, then EVAL caches it again
    assert saver.get_tuple(thread) is not None
    assert server_log.take() == ["EVALSHA"]

    async def go() -> None:
        assert await saver.aget_tuple(thread) is not None
        assert await saver.aget_tuple(thread) is not None
        assert server_log.take() == ["EVAL", "EVALSHA"]  # first use by this client: EVAL
        redis.Redis.from_url(redis_server.url).script_flush()
        server_log.take()
        assert await saver.aget_tuple(thread) is not None

    asyncio.run(go())
    assert server_log.take() == ["EVALSHA", "EVAL"]
    saver.close()


# --- TTL -------------------------------------------------------------------------------------


def _wait_until_gone(client: Any, prefix: str, limit: float = 20.0) -> list[bytes]:
    deadline = time.monotonic() + limit
    while True:
        left = _keys_with_prefix(client, prefix)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def test_ttl_expires_every_key_of_a_thread(redis_server: RedisProc) -> None:
    prefix = _prefix()
    client = redis.Redis.from_url(redis_server.url)
    saver = checkpoint_kv.from_url(f"{redis_server.url}?prefix={prefix}&ttl=1")
    graph = _chat_graph(saver)
    graph.invoke({"messages": ["hi"]}, _cfg("old"))
    graph.invoke({"messages": ["again"]}, _cfg("old"))
    keys = _keys_with_prefix(client, prefix)
    assert len(keys) == 2  # the sorted set and the hash: a thread is two keys, nothing else
    assert all(0 < client.pttl(k) <= 1000 for k in keys)

    assert _wait_until_gone(client, prefix) == []

    graph.invoke({"messages": ["later"]}, _cfg("new"))
    state = graph.get_state(_cfg("new"))
    assert state.values["messages"] == ["later", "bot 1", "tool ok"]
    assert graph.get_state(_cfg("old")).values == {}
    zkey, hkey = (f"{prefix}:{{new}}:{s}".encode() for s in "zh")
    assert _keys_with_prefix(client, prefix) == sorted([zkey, hkey])
    assert client.zcard(zkey) == client.hlen(hkey) > 0
    saver.close()


def test_ttl_refreshed_on_write_and_optionally_on_read(redis_server: RedisProc) -> None:
    client = redis.Redis.from_url(redis_server.url)
    for on_read in (False, True):
        prefix = _prefix()
        url = f"{redis_server.url}?prefix={prefix}&ttl=1000&ttl_on_read={str(on_read).lower()}"
        store = checkpoint_kv.open_store(url)
        store.write("p", [Put("a", b"1")])
        z, h = f"{prefix}:{{p}}:z", f"{prefix}:{{p}}:h"
        assert 500 < client.ttl(z) <= 1000 and 500 < client.ttl(h) <= 1000  # no clock assert
        client.expire(z, 50)
        client.expire(h, 50)
        assert store.get("p", ["a"]) == {"a": b"1"}
        store.scan("p", "", "~")
        assert (client.ttl(z) > 50) is on_read
        store.write("p", [Put("b", b"2")])
        assert client.ttl(z) > 50 and client.ttl(h) > 50
        store.close()


def test_no_ttl_means_no_expiry(redis_server: RedisProc) -> None:
    prefix = _prefix()
    store = checkpoint_kv.open_store(f"{redis_server.url}?prefix={prefix}")
    store.write("p", [Put("a", b"1")])
    client = redis.Redis.from_url(redis_server.url)
    assert client.ttl(f"{prefix}:{{p}}:z") == -1
    store.close()


# --- prefixes, partitions, layout -------------------------------------------------------------


@pytest.mark.parametrize("kind", ["redis", "redis_cluster"])
def test_prefixes_isolate_tenants(kind: str, request: pytest.FixtureRequest) -> None:
    base = request.getfixturevalue(f"url_{kind}").split("?")[0]
    a = checkpoint_kv.open_store(f"{base}?prefix=tenant-a-{_prefix()}")
    b = checkpoint_kv.open_store(f"{base}?prefix=tenant-a-{_prefix()}:sub")
    a.write("t1", [Put("k", b"a")])
    b.write("t1", [Put("k", b"b")])
    b.write("t2", [Put("k", b"b")])
    assert a.get("t1", ["k"]) == {"k": b"a"}
    assert a.partitions().partitions == ["t1"]
    assert sorted(b.partitions().partitions) == ["t1", "t2"]
    a.drop("t1")
    assert b.get("t1", ["k"]) == {"k": b"b"}
    a.close()
    b.close()


@pytest.mark.parametrize("kind", ["redis", "redis_cluster"])
def test_partitions_page_through_everything(kind: str, request: pytest.FixtureRequest) -> None:
    store = checkpoint_kv.open_store(request.getfixturevalue(f"url_{kind}"))
    wanted = {f"thread-{i:04d}" for i in range(1100)}
    for p in wanted:
        store.write(p, [Put("k", b"v")])
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = store.partitions(cursor)
        seen += page.partitions
        pages += 1
        cursor = page.cursor
        if cursor is None:
            break
    assert set(seen) == wanted
    assert pages >= 2

    async def go() -> set[str]:
        astore = store.async_twin()  # type: ignore[attr-defined]
        out: set[str] = set()
        cur = None
        while True:
            pg = await astore.partitions(cur)
            out |= set(pg.partitions)
            cur = pg.cursor
            if cur is None:
                await astore.close()
                return out

    assert asyncio.run(go()) == wanted
    store.close()


def test_thread_keys_share_one_cluster_slot() -> None:
    for thread in ["a", "x{y}z", "{", "}", "ü/|:", "t" * 1000]:
        z, h = Layout("ckv").keys(K.partition(thread))
        assert redis.cluster.key_slot(z.encode()) == redis.cluster.key_slot(h.encode())


# --- Cluster -------------------------------------------------------------------------------


def test_cluster_graph_spread_over_all_nodes(redis_cluster: RedisClusterProcs) -> None:
    prefix = _prefix()
    saver = checkpoint_kv.from_url(f"{redis_cluster.url}?prefix={prefix}")
    saver.setup()
    client: redis.cluster.RedisCluster = saver.store.client  # type: ignore[attr-defined]
    per_node: dict[str, list[str]] = {}
    i = 0
    while len(per_node) < 3 or min(len(v) for v in per_node.values()) < 3:
        thread = f"user/{i}:{{chat}}"
        z, _ = Layout(prefix).keys(K.partition(thread))
        node = client.get_node_from_key(z)
        per_node.setdefault(node.name, []).append(thread)
        i += 1
    assert len(per_node) == 3 == len(redis_cluster.nodes)
    threads = [t for ts in per_node.values() for t in ts[:3]]

    graph = _chat_graph(saver)
    for t in threads:
        graph.invoke({"messages": ["hi"]}, _cfg(t))
        graph.invoke({"messages": ["again"]}, _cfg(t))
        assert graph.get_state(_cfg(t)).values["messages"][-1] == "tool ok"
        assert len(list(graph.get_state_history(_cfg(t)))) == 8

    async def go() -> None:
        for t in threads:
            await graph.ainvoke({"messages": ["async"]}, _cfg(t))
            state = await graph.aget_state(_cfg(t))
            assert len(state.values["messages"]) == 9

    asyncio.run(go())
    found = {c.config["configurable"]["thread_id"] for c in saver.list(None)}
    assert found == set(threads)
    for node_threads in per_node.values():
        saver.delete_thread(node_threads[0])
    assert len({c.config["configurable"]["thread_id"] for c in saver.list(None)}) == 6
    saver.copy_thread(threads[1], "copied")
    assert graph.get_state(_cfg("copied")).values == graph.get_state(_cfg(threads[1])).values
    saver.close()


# --- crash recovery ---------------------------------------------------------------------------


class Steps(TypedDict, total=False):
    steps: Annotated[list[str], operator.add]


def test_sigkill_mid_run_then_resume_with_aof(tmp_path: Path) -> None:
    need_redis_binaries()
    durable = ["--appendonly", "yes", "--appendfsync", "always"]
    server = RedisProc(free_port(), tmp_path / "aof", durable)
    server.start()
    ran: Counter[str] = Counter()

    def node(name: str) -> Any:
        def run(state: Steps) -> Steps:
            ran[name] += 1
            if name == "s3" and ran[name] == 1:
                server.kill()  # the server dies while the graph is in the middle of a run
            return {"steps": [name]}

        return run

    try:
        saver = checkpoint_kv.from_url(f"{server.url}?prefix=crash&retries=2&connect_timeout=1")
        b = StateGraph(Steps)
        names = [f"s{i}" for i in range(1, 6)]
        for n in names:
            b.add_node(n, node(n))
        for x, y in zip([START, *names], [*names, END], strict=True):
            b.add_edge(x, y)
        graph = b.compile(checkpointer=saver)
        cfg = _cfg("crash-thread")

        with pytest.raises(BackendUnavailableError) as err:
            graph.invoke({"steps": []}, cfg, durability="sync")
        assert f"127.0.0.1:{server.port}" in str(err.value)

        server.start()  # same port, same directory: the AOF is replayed
        state = graph.get_state(cfg)
        assert state.values["steps"] == ["s1", "s2"]
        assert state.next == ("s3",)
        final = graph.invoke(None, cfg, durability="sync")
        assert final["steps"] == names
        assert ran == Counter(s1=1, s2=1, s3=2, s4=1, s5=1)
        saver.close()
    finally:
        server.stop()


# --- URLs and errors ------------------------------------------------------------------------


def test_parse_url_forms() -> None:
    cfg = ckv_redis.parse_url("redis://bob:s3cret@db.example:6380/2?prefix=app&ttl=60")
    assert (cfg.where, cfg.prefix, cfg.ttl, cfg.cluster) == ("db.example:6380", "app", 60, False)
    assert ckv_redis.parse_url("redis+cluster://h:7000").cluster
    assert ckv_redis.parse_url("rediss+cluster://h:7000").client_url.startswith("rediss://")
    assert ckv_redis.parse_url("redis://h:7000?cluster=true").cluster
    assert ckv_redis.parse_url("unix:///run/redis.sock?db=3").where == "/run/redis.sock"
    assert ckv_redis.parse_url("redis://h", ttl=5, ttl_on_read=True).ttl_on_read
    cfg = ckv_redis.parse_url("redis://h?max_connections=7&socket_timeout=2&connect_timeout=1")
    assert cfg.client_kwargs == {
        "max_connections": 7,
        "socket_timeout": 2.0,
        "socket_connect_timeout": 1.0,
    }
    for bad in [
        "redis://h?prefx=a",
        "redis://h?prefix=a{b}",
        "redis://h?ttl=-1",
        "redis://h?ttl=soon",
        "redis://h?ttl_on_read=maybe",
        "unix:///s.sock?cluster=true",
    ]:
        with pytest.raises(ConfigError):
            ckv_redis.parse_url(bad)


def test_unreachable_server_names_host_never_password() -> None:
    port = free_port()
    url = f"redis://bob:hunter2@127.0.0.1:{port}/0?retries=1&connect_timeout=0.5"
    saver = checkpoint_kv.from_url(url)
    assert "hunter2" not in repr(saver) and "hunter2" not in repr(saver.store)
    with pytest.raises(BackendUnavailableError) as err:
        saver.setup()
    assert f"127.0.0.1:{port}" in str(err.value) and "hunter2" not in str(err.value)
    with pytest.raises(ConnectionError):  # also the builtin it means
        saver.get_tuple(_cfg("t"))

    async def go() -> None:
        with pytest.raises(BackendUnavailableError) as aerr:
            await saver.aget_tuple(_cfg("t"))
        assert f"127.0.0.1:{port}" in str(aerr.value) and "hunter2" not in str(aerr.value)

    asyncio.run(go())


def test_unreachable_cluster_names_host() -> None:
    port = free_port()
    with pytest.raises(BackendUnavailableError) as err:
        checkpoint_kv.from_url(
            f"redis+cluster://bob:hunter2@127.0.0.1:{port}?retries=0&connect_timeout=0.5"
        ).setup()
    assert f"127.0.0.1:{port}" in str(err.value) and "hunter2" not in str(err.value)


def test_wrong_password_is_a_clear_error(tmp_path: Path) -> None:
    need_redis_binaries()
    server = RedisProc(free_port(), tmp_path / "auth", password="right-one")
    server.start()
    try:
        good = checkpoint_kv.from_url(f"redis://:right-one@127.0.0.1:{server.port}/0?prefix=x")
        good.setup()
        bad = checkpoint_kv.from_url(f"redis://:wrong-one@127.0.0.1:{server.port}/0?retries=0")
        with pytest.raises(BackendUnavailableError) as err:
            bad.setup()
        assert "wrong-one" not in str(err.value) and "right-one" not in str(err.value)
        good.close()
        bad.close()
    finally:
        server.stop()


def test_read_only_replica_is_retried_then_a_clear_error(tmp_path: Path) -> None:
    need_redis_binaries()
    server = RedisProc(free_port(), tmp_path / "ro")
    server.start()
    try:
        saver = checkpoint_kv.from_url(f"{server.url}?prefix=ro&retries=2")
        graph = _chat_graph(saver)
        graph.invoke({"messages": ["hi"]}, _cfg("t"))
        server.cli("REPLICAOF", "127.0.0.1", str(free_port()))  # demoted, as in a failover
        with pytest.raises(BackendUnavailableError, match="read-only replica"):
            graph.invoke({"messages": ["lost?"]}, _cfg("t"))

        async def go() -> None:
            with pytest.raises(BackendUnavailableError, match="read-only replica"):
                await graph.ainvoke({"messages": ["lost?"]}, _cfg("t"))

        asyncio.run(go())
        server.cli("REPLICAOF", "NO", "ONE")  # promoted again: the same saver carries on
        graph.invoke({"messages": ["back"]}, _cfg("t"))
        assert graph.get_state(_cfg("t")).values["messages"][-3:] == ["back", "bot 4", "tool ok"]
        saver.close()
    finally:
        server.stop()


@pytest.mark.parametrize("kind", ["redis", "redis_cluster"])
def test_one_saver_many_event_loops(kind: str, request: pytest.FixtureRequest) -> None:
    """``asyncio.run`` per request with one long-lived saver (a CLI, a WSGI app calling async
    code): redis.asyncio connections are bound to their loop, so each loop gets its own."""
    saver = checkpoint_kv.from_url(request.getfixturevalue(f"url_{kind}"))
    graph = _chat_graph(saver)
    for i in range(3):
        asyncio.run(graph.ainvoke({"messages": [f"turn {i}"]}, _cfg("loops")))
    worker = threading.Thread(
        target=lambda: asyncio.run(graph.ainvoke({"messages": ["x"]}, _cfg("w")))
    )
    worker.start()
    worker.join()

    async def last() -> Any:
        state = await graph.aget_state(_cfg("loops"))
        await saver.aclose()
        return state

    assert len(asyncio.run(last()).values["messages"]) == 9
    assert len(graph.get_state(_cfg("w")).values["messages"]) == 3


# --- fakeredis: concurrency of the sync port ----------------------------------------------


def test_sync_store_is_thread_safe(url_fakeredis: str) -> None:
    store = checkpoint_kv.open_store(url_fakeredis)

    def work(n: int) -> None:
        for i in range(50):
            store.write(f"p{n}", [Put(f"k{i:03d}", b"v", if_absent=True)])

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for n in range(6):
        assert len(store.scan(f"p{n}", "", "~").items) == 50
    store.close()


# --- bounded waits (issue 11, items 8 and 16) -----------------------------------------------


def test_waits_are_bounded_by_default() -> None:
    """Without options every client gets finite socket and connect timeouts, and retries
    timeouts and lost connections (redis-py before 8 retries only what ``retry_on_error``
    names; redis-py before 8 has no read timeout by default)."""
    cfg = ckv_redis.parse_url("redis://127.0.0.1:1/0")
    assert cfg.client_kwargs["socket_timeout"] == ckv_redis.DEFAULT_TIMEOUT == 5.0
    assert cfg.client_kwargs["socket_connect_timeout"] == 5.0
    sync = ckv_redis.sync_client(cfg)
    for kwargs in (
        sync.connection_pool.connection_kwargs,
        ckv_redis.async_client(cfg).connection_pool.connection_kwargs,
    ):
        assert kwargs["socket_timeout"] == 5.0
        assert kwargs["socket_connect_timeout"] == 5.0
        assert {redis.exceptions.TimeoutError, redis.exceptions.ConnectionError} <= set(
            kwargs["retry_on_error"]
        )
    sync.close()
    acluster = ckv_redis.async_client(ckv_redis.parse_url("redis+cluster://127.0.0.1:1"))
    assert acluster.connection_kwargs["socket_timeout"] == 5.0  # built without connecting
    assert acluster.connection_kwargs["socket_connect_timeout"] == 5.0

    cfg = ckv_redis.parse_url("redis://h?socket_timeout=0.5&connect_timeout=2")
    assert cfg.client_kwargs == {"socket_timeout": 0.5, "socket_connect_timeout": 2.0}
    for bad in ["socket_timeout=0", "connect_timeout=0", "socket_timeout=-1", "socket_timeout=x"]:
        with pytest.raises(ConfigError):
            ckv_redis.parse_url(f"redis://h?{bad}")


def test_cluster_client_waits_are_bounded_by_default(redis_cluster: RedisClusterProcs) -> None:
    saver = checkpoint_kv.from_url(f"{redis_cluster.url}?prefix={_prefix()}")
    client: redis.cluster.RedisCluster = saver.store.client  # type: ignore[attr-defined]
    kwargs = client.nodes_manager.connection_kwargs
    assert kwargs["socket_timeout"] == 5.0 and kwargs["socket_connect_timeout"] == 5.0
    saver.close()


def test_peer_that_never_answers_times_out_and_is_retried(silent_peer: SilentPeer) -> None:
    """A server that accepts TCP and never replies: every call ends in a
    BackendUnavailableError naming host:port, after ``retries`` retries (3 connections)."""
    where = f"127.0.0.1:{silent_peer.port}"
    saver = checkpoint_kv.from_url(
        f"redis://:hunter2@{where}/0?socket_timeout=0.2&connect_timeout=0.2&retries=2"
    )
    with pytest.raises(BackendUnavailableError) as err:
        saver.get_tuple(_cfg("t"))
    assert where in str(err.value) and "did not answer in time" in str(err.value)
    assert "hunter2" not in str(err.value)
    assert silent_peer.accepted == 3  # the first try and 2 retries, each on a new connection

    async def go() -> None:
        with pytest.raises(BackendUnavailableError) as aerr:
            await saver.aget_tuple(_cfg("t"))
        assert where in str(aerr.value) and "did not answer in time" in str(aerr.value)

    asyncio.run(go())
    assert silent_peer.accepted == 6
    saver.close()


def test_peer_that_is_not_redis_is_a_clear_error() -> None:
    peer = SilentPeer(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    try:
        where = f"127.0.0.1:{peer.port}"
        saver = checkpoint_kv.from_url(f"redis://{where}/0?retries=0&socket_timeout=1")
        with pytest.raises(BackendUnavailableError) as err:
            saver.get_tuple(_cfg("t"))
        assert where in str(err.value) and "Redis protocol" in str(err.value)
        saver.close()
    finally:
        peer.close()


def test_cluster_peer_that_never_answers_times_out(silent_peer: SilentPeer) -> None:
    where = f"127.0.0.1:{silent_peer.port}"
    url = f"redis+cluster://{where}?socket_timeout=0.2&connect_timeout=0.2&retries=1"
    with pytest.raises(BackendUnavailableError) as err:
        checkpoint_kv.from_url(url)  # the sync cluster client reads the slot map at once
    assert where in str(err.value)

    async def go() -> None:
        astore = ckv_redis.AsyncRedisKV(
            lambda: ckv_redis.async_client(ckv_redis.parse_url(url)), where=where, cluster=True
        )
        with pytest.raises(BackendUnavailableError) as aerr:
            await astore.get("t", ["k"])
        assert where in str(aerr.value)

    asyncio.run(go())


def test_sigstopped_server_fails_then_the_same_saver_recovers(tmp_path: Path) -> None:
    """A frozen server (SIGSTOP: the kernel still accepts connections, nothing answers) fails
    each call with BackendUnavailableError; after SIGCONT the same saver carries on."""
    need_redis_binaries()
    server = RedisProc(free_port(), tmp_path / "stop")
    server.start()
    assert server.proc is not None
    pid = server.proc.pid
    try:
        url = f"{server.url}?prefix=stop&socket_timeout=0.3&connect_timeout=0.3&retries=1"
        saver = checkpoint_kv.from_url(url)
        graph = _chat_graph(saver)
        graph.invoke({"messages": ["hi"]}, _cfg("t"))
        os.kill(pid, signal.SIGSTOP)
        try:
            with pytest.raises(BackendUnavailableError) as err:
                saver.get_tuple(_cfg("t"))
            assert f"127.0.0.1:{server.port}" in str(err.value)
            with pytest.raises(BackendUnavailableError):
                graph.invoke({"messages": ["frozen"]}, _cfg("t2"))

            async def go() -> None:
                with pytest.raises(BackendUnavailableError) as aerr:
                    await saver.aget_tuple(_cfg("t"))
                assert f"127.0.0.1:{server.port}" in str(aerr.value)

            asyncio.run(go())
        finally:
            os.kill(pid, signal.SIGCONT)
        graph.invoke({"messages": ["back"]}, _cfg("t"))
        assert graph.get_state(_cfg("t")).values["messages"] == [
            "hi", "bot 1", "tool ok", "back", "bot 4", "tool ok"
        ]  # fmt: skip

        async def after() -> Any:
            state = await graph.aget_state(_cfg("t"))
            await saver.aclose()
            return state

        assert len(asyncio.run(after()).values["messages"]) == 6
        saver.close()
    finally:
        os.kill(pid, signal.SIGCONT)
        server.stop()


# --- a write refused for memory (issue 11, item 13) -----------------------------------------


def test_out_of_memory_is_a_backend_error_and_writes_nothing(tmp_path: Path) -> None:
    """``maxmemory`` reached with ``noeviction``: the write is refused whole, raised as
    BackendError naming host:port and what to do; the thread is exactly as before."""
    need_redis_binaries()
    server = RedisProc(free_port(), tmp_path / "oom", ["--maxmemory-policy", "noeviction"])
    server.start()
    try:
        saver = checkpoint_kv.from_url(f"{server.url}?prefix=oom")
        graph = _chat_graph(saver)
        graph.invoke({"messages": ["hi"]}, _cfg("t"))
        before = saver.get_tuple(_cfg("t"))
        assert before is not None
        admin = redis.Redis.from_url(server.url)
        z, h = "oom:{t}:z", "oom:{t}:h"
        sizes = (admin.zcard(z), admin.hlen(h))
        admin.config_set("maxmemory", 1)  # every write that may grow memory is refused now
        where = f"127.0.0.1:{server.port}"

        def refused(err: pytest.ExceptionInfo[BackendError]) -> None:
            text = str(err.value)
            assert where in text and "out of memory" in text and "maxmemory" in text, text
            assert "nothing of it was stored" in text

        with pytest.raises(BackendError) as err:
            graph.invoke({"messages": ["lost?"]}, _cfg("t"))
        refused(err)
        with pytest.raises(BackendError) as err:
            saver.put_writes(before.config, [("messages", ["w"])], "task-1")
        refused(err)

        async def go() -> None:
            with pytest.raises(BackendError) as aerr:
                await graph.ainvoke({"messages": ["lost?"]}, _cfg("t"))
            refused(aerr)

        asyncio.run(go())
        assert (admin.zcard(z), admin.hlen(h)) == sizes  # nothing of a refused write
        after = saver.get_tuple(_cfg("t"))  # reads still work at the limit
        assert after is not None and after.checkpoint["id"] == before.checkpoint["id"]
        assert after.pending_writes == before.pending_writes
        assert admin.keys("oom:*") and not admin.exists("oom:{t2}:z")

        admin.config_set("maxmemory", 0)  # memory freed: the same saver writes again
        graph.invoke({"messages": ["back"]}, _cfg("t"))
        assert graph.get_state(_cfg("t")).values["messages"][-3:] == ["back", "bot 4", "tool ok"]
        admin.close()
        saver.close()
    finally:
        server.stop()


# --- partial loss by the server (issue 11, item 15) -----------------------------------------


def _damaged_thread(url: str, damage: str) -> tuple[KVCheckpointSaver, Any, str, str, str]:
    """A thread of three turns, then one of its keys (or one entry) removed as an eviction
    or a hand-made DEL would: returns (saver, raw client, z key, h key, removed sort key)."""
    saver = checkpoint_kv.from_url(url)
    graph = _chat_graph(saver)
    for i in range(3):
        graph.invoke({"messages": [f"user {i}"]}, _cfg("victim"))
    graph.invoke({"messages": ["fine"]}, _cfg("bystander"))
    prefix = saver.store.layout.prefix  # type: ignore[attr-defined]
    client = saver.store.client  # type: ignore[attr-defined]
    z, h = f"{prefix}:{{victim}}:z", f"{prefix}:{{victim}}:h"
    members = [m.decode() for m in client.zrange(z, 0, -1)]
    # The oldest record: one the latest checkpoint does not read (damage anywhere counts)
    blob = min(m for m in members if m.endswith("!~") and m.startswith("c!"))
    if damage == "hash":
        client.delete(h)
    elif damage == "index":
        client.delete(z)
    elif damage == "field":
        client.hdel(h, blob)
    elif damage == "member":
        client.zrem(z, blob)
    else:  # pragma: no cover
        raise AssertionError(damage)
    return saver, client, z, h, blob


@pytest.mark.parametrize("kind", ["fakeredis", "redis"])
@pytest.mark.parametrize("damage", ["hash", "index", "field", "member"])
def test_partly_lost_thread_raises_never_reads_partial(
    kind: str, damage: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue(f"url_{kind}")
    saver, client, z, h, blob = _damaged_thread(url, damage)
    named = {"hash": [h, z], "index": [z, h], "field": [h, z, blob], "member": [z, h, blob]}

    def check(err: pytest.ExceptionInfo[CorruptRecordError]) -> None:
        text = str(err.value)
        assert all(name in text for name in named[damage]), text

    with pytest.raises(CorruptRecordError) as err:
        saver.get_tuple(_cfg("victim"))
    check(err)
    with pytest.raises(CorruptRecordError) as err:
        list(saver.list(_cfg("victim")))
    check(err)
    with pytest.raises(CorruptRecordError):
        _chat_graph(saver).get_state(_cfg("victim"))
    with pytest.raises(CorruptRecordError) as err:  # list(None) never skips it
        list(saver.list(None))
    check(err)
    store = saver.store
    with pytest.raises(CorruptRecordError):  # the port's point reads too
        store.get("victim", ["anything"])

    async def go() -> None:
        with pytest.raises(CorruptRecordError) as aerr:
            await saver.aget_tuple(_cfg("victim"))
        check(aerr)
        await saver.aclose()

    asyncio.run(go())
    assert saver.get_tuple(_cfg("bystander")) is not None  # other threads are unaffected
    saver.delete_thread("victim")  # the way out: the thread goes whole
    assert saver.get_tuple(_cfg("victim")) is None
    assert not client.exists(z) and not client.exists(h)
    assert [c.config["configurable"]["thread_id"] for c in saver.list(None)] == ["bystander"] * 4
    saver.close()


def test_volatile_lru_eviction_of_one_key_is_detected(tmp_path: Path) -> None:
    """The case the docs used to call safe: ``volatile-lru`` with a ttl evicts one key of an
    active thread under memory pressure (here made deterministic: only the hash is volatile).
    Reading the thread raises CorruptRecordError; it never reads as empty."""
    need_redis_binaries()
    server = RedisProc(free_port(), tmp_path / "lru", ["--maxmemory-policy", "volatile-lru"])
    server.start()
    try:
        saver = checkpoint_kv.from_url(f"{server.url}?prefix=lru&ttl=86400")
        graph = _chat_graph(saver)
        graph.invoke({"messages": ["x" * 1_000_000]}, _cfg("t"))  # a ~3 MB hash
        admin = redis.Redis.from_url(server.url)
        admin.persist("lru:{t}:z")  # the index may not be evicted, the hash may
        used = int(admin.info("memory")["used_memory"])
        admin.config_set("maxmemory", used - 1_000_000)
        admin.set("other-app", "v")  # a write under pressure: the server evicts a volatile key
        assert admin.exists("lru:{t}:z") and not admin.exists("lru:{t}:h")
        admin.config_set("maxmemory", 0)
        with pytest.raises(CorruptRecordError, match=r"lru:\{t\}:h is missing"):
            saver.get_tuple(_cfg("t"))
        admin.close()
        saver.close()
    finally:
        server.stop()


# --- tenant prefixes that extend one another (issue 11, item 4) ----------------------------


@pytest.mark.parametrize("kind", ["fakeredis", "redis"])
@pytest.mark.parametrize("suffix", ["1", ":b", "-1", "1:"])
def test_prefixes_extending_one_another_never_share_threads(
    kind: str, suffix: str, request: pytest.FixtureRequest
) -> None:
    """Prefix ``P`` and ``P<suffix>`` (``ckv``/``ckv1``, ``a``/``a:b``), with thread ids that
    would join into the same text (``1x`` under ``P``, ``x`` under ``P1``): neither tenant sees,
    lists or deletes the other's threads."""
    base = request.getfixturevalue(f"url_{kind}").split("?")[0]
    p1 = _prefix()
    a = checkpoint_kv.from_url(f"{base}?prefix={p1}")
    b = checkpoint_kv.from_url(f"{base}?prefix={p1}{suffix}")
    ga, gb = _chat_graph(a), _chat_graph(b)
    joined = suffix.strip(":") + "x"
    ga.invoke({"messages": ["for a"]}, _cfg(joined))  # P + ":{1x}"  vs  P1 + ":{x}"
    ga.invoke({"messages": ["for a"]}, _cfg("shared"))
    gb.invoke({"messages": ["for b"]}, _cfg("x"))
    gb.invoke({"messages": ["for b"]}, _cfg("shared"))

    def threads(saver: KVCheckpointSaver) -> set[str]:
        return {c.config["configurable"]["thread_id"] for c in saver.list(None)}

    assert threads(a) == {joined, "shared"} and threads(b) == {"x", "shared"}
    assert a.get_tuple(_cfg("x")) is None and b.get_tuple(_cfg(joined)) is None
    assert ga.get_state(_cfg("shared")).values["messages"][0] == "for a"
    assert gb.get_state(_cfg("shared")).values["messages"][0] == "for b"
    a.delete_thread("shared")
    b.delete_thread("x")
    assert a.get_tuple(_cfg("shared")) is None and b.get_tuple(_cfg("shared")) is not None
    assert a.get_tuple(_cfg(joined)) is not None
    assert threads(a) == {joined} and threads(b) == {"shared"}
    a.close()
    b.close()


@pytest.mark.parametrize("prefix", ["a{b", "a}b", "{", "}", "a:{b}"])
def test_prefix_with_the_separator_is_refused(prefix: str) -> None:
    """``{`` ends the prefix in every key (``<prefix>:{<thread>}:z``): a prefix holding it
    could collide with another prefix's thread, so it is refused, by URL and by constructor."""
    with pytest.raises(ConfigError):
        checkpoint_kv.from_url(f"redis://127.0.0.1:1/0?prefix={prefix}")
    with pytest.raises(ConfigError):
        ckv_redis.RedisKV(object(), prefix=prefix)


# --- TTL: an active thread lives whole (issue 11, items 2 and 5) ----------------------------


_DAY_MS = 86_400_000


def _age(client: Any, prefix: str, ms: int) -> None:
    """Jump the clock ``ms`` forward for this prefix's keys: what expires in that time goes,
    the rest has ``ms`` less to live (deterministic: no sleeping, no real clock)."""
    for key in _keys_with_prefix(client, prefix):
        left = client.pttl(key)
        assert left > 0, (key, left)  # with a ttl, every key of every thread expires
        if left <= ms:
            client.delete(key)
        else:
            client.pexpire(key, left - ms)


@pytest.mark.parametrize("kind", ["fakeredis", "redis"])
def test_ttl_every_write_refreshes_the_whole_thread(
    kind: str, request: pytest.FixtureRequest
) -> None:
    """``ttl=30d``, a DeltaChannel chat, one turn a day for 33 days: every write leaves both
    keys of the thread with the same, full expiry, so the delta chain never loses an ancestor
    and the state holds every message; 31 idle days later the thread is gone whole."""
    url = request.getfixturevalue(f"url_{kind}")
    ttl = 30 * 86_400
    saver = checkpoint_kv.from_url(f"{url}&ttl={ttl}")
    prefix = saver.store.layout.prefix  # type: ignore[attr-defined]
    client = saver.store.client  # type: ignore[attr-defined]
    z, h = f"{prefix}:{{chat}}:z", f"{prefix}:{{chat}}:h"
    store = saver.store
    real_write = store.write
    writes = [0]

    try:
        client.pexpiretime(f"{prefix}:none")
        exact = True
    except redis.ResponseError:  # Redis 6.2 (CKV_REDIS_SERVER=redis6): PEXPIRETIME is 7.0+
        exact = False

    def write_then_check(partition: str, ops: Any) -> None:
        real_write(partition, ops)
        writes[0] += 1
        pipe = client.pipeline(transaction=True)  # atomic: LangGraph writes from threads too
        if exact:
            at_z, at_h = pipe.pexpiretime(z).pexpiretime(h).execute()
            assert at_z == at_h > 0, (at_z, at_h)  # one expiry for both keys, to the millisecond
            now_ms = int(client.time()[0]) * 1000
            assert at_z >= now_ms + (ttl - 60) * 1000  # refreshed to the full ttl by this write
            return
        # Without PEXPIRETIME: h's PTTL read between two of z's, in one MULTI at server times
        # t1 <= t2 <= t3. This holds exactly when h expires at most t3 - t2 ms before and
        # t2 - t1 ms after z: to the millisecond, unless the clock ticked inside the MULTI.
        z1, h1, z2 = pipe.pttl(z).pttl(h).pttl(z).execute()
        assert z1 >= h1 >= z2 >= (ttl - 60) * 1000, (z1, h1, z2)

    store.write = write_then_check  # type: ignore[method-assign]
    b = StateGraph(_DeltaChat)
    b.add_node("bot", lambda s: {"messages": [f"bot {len(s['messages'])}"]})
    b.add_edge(START, "bot")
    b.add_edge("bot", END)
    graph = b.compile(checkpointer=saver)
    for day in range(33):  # past the ttl: what the first turns wrote is still read
        graph.invoke({"messages": [f"user {day}"]}, _cfg("chat"), durability="sync")
        assert len(graph.get_state(_cfg("chat")).values["messages"]) == 2 * (day + 1)
        _age(client, prefix, _DAY_MS)
    assert writes[0] >= 33 * 2
    _age(client, prefix, 29 * _DAY_MS)  # 30 days after the last write: both keys at once
    assert graph.get_state(_cfg("chat")).values == {}
    assert _keys_with_prefix(client, prefix) == []
    saver.close()


# --- the ACL in the docs is enough --------------------------------------------------------


def _documented_acl() -> list[str]:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "backends" / "redis.md").read_text()
    block = doc.split("## ACL", 1)[1].split("```", 2)[1]
    return block.split()


def test_documented_acl_is_enough(tmp_path: Path) -> None:
    """A user with exactly the ACL of docs/backends/redis.md runs a graph with a ttl, lists,
    deletes, and gets the typed errors (a damaged thread is CorruptRecordError, not NOPERM)."""
    need_redis_binaries()
    server = RedisProc(free_port(), tmp_path / "acl")
    server.start()
    try:
        acl = _documented_acl()
        assert acl[:3] == ["ACL", "SETUSER", "ckv"]
        server.cli(*[w.replace(">PASSWORD", ">pw") for w in acl])
        url = f"redis://ckv:pw@127.0.0.1:{server.port}/0?prefix=ckv&ttl=3600&ttl_on_read=true"
        saver = checkpoint_kv.from_url(url)
        saver.setup()
        graph = _chat_graph(saver)
        for t in ("a", "b"):
            graph.invoke({"messages": ["hi"]}, _cfg(t))
        assert len(graph.get_state(_cfg("a")).values["messages"]) == 3
        assert {c.config["configurable"]["thread_id"] for c in saver.list(None)} == {"a", "b"}

        async def go() -> None:
            await graph.ainvoke({"messages": ["again"]}, _cfg("a"))
            await saver.aclose()

        asyncio.run(go())
        server.cli("DEL", "ckv:{b}:z")  # damage: b's index is lost
        with pytest.raises(CorruptRecordError):
            saver.get_tuple(_cfg("b"))
        with pytest.raises(CorruptRecordError):
            list(saver.list(None))
        saver.delete_thread("b")
        assert {c.config["configurable"]["thread_id"] for c in saver.list(None)} == {"a"}
        saver.close()
    finally:
        server.stop()


async def test_cold_async_cluster_client_takes_concurrent_first_calls(
    url_redis_cluster: str,
) -> None:
    """``ainvoke`` of a graph with parallel tasks sends concurrent first commands through a
    fresh async cluster client: they must all succeed (redis-py fails some with
    ``'NoneType' object has no attribute 'writelines'`` while the client initializes)."""
    import asyncio

    from checkpoint_kv.aio import async_twin
    from checkpoint_kv.port import Put
    from checkpoint_kv.registry import open_store

    store = open_store(url_redis_cluster)
    astore = async_twin(store)
    try:
        await asyncio.gather(*(astore.write(f"p{i}", [Put("k", b"v")]) for i in range(20)))
        got = await asyncio.gather(*(astore.get(f"p{i}", ["k"]) for i in range(20)))
        assert got == [{"k": b"v"}] * 20
    finally:
        await astore.close()
        store.close()
