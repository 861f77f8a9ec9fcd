"""Redis-specific promises, on a real ``redis-server``, a real 3-node Cluster and fakeredis.

The port contract and the conformance suite run on all three through ``tests/test_port.py``
and ``tests/test_conformance.py``; this module covers what only Redis has: round trips counted
by the server itself (MONITOR), TTL, Cluster slots, prefixes, script reloading, crash recovery
with AOF, and errors that never leak a password.
"""

from __future__ import annotations

import asyncio
import operator
import queue
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
from checkpoint_kv.backends import redis as ckv_redis
from langgraph.channels.delta import DeltaChannel
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

import checkpoint_kv
from checkpoint_kv import BackendUnavailableError, ConfigError, KVCheckpointSaver
from checkpoint_kv import keys as K
from checkpoint_kv.port import Put
from tests.fixtures_redis import RedisClusterProcs, RedisProc, free_port, need_redis_binaries


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
        assert 990 <= client.ttl(z) <= 1000 and 990 <= client.ttl(h) <= 1000
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
        z, h = ckv_redis._Layout("ckv").keys(K.partition(thread))
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
        z, _ = ckv_redis._Layout(prefix).keys(K.partition(thread))
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
