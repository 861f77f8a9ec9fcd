"""Bring your own client: a Redis / Valkey / cluster client or a boto3 client or Session the
application already has (its credentials, retries, tracing) is used for every call, and the
saver never closes a client it did not make.

"Every call": the server counts the connections it received during a test, and each must be
one of the caller's client (they carry its ``client_name``); a counting subclass shows the
calls went through its methods. "Never closed": after ``saver.close()`` the caller's
connections are still open on the server, its ``close`` was not called, and it still works.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import boto3
import pytest
import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from redis.backoff import NoBackoff
from redis.retry import Retry

import checkpoint_kv
from checkpoint_kv import (
    BackendUnavailableError,
    ConfigError,
    KVCheckpointSaver,
    StoreNotFoundError,
)
from checkpoint_kv.backends import redis as ckv_redis
from checkpoint_kv.backends import s3 as ckv_s3
from tests.support.fixtures_aws import ApiCalls, no_new_boto_clients
from tests.support.fixtures_redis import RedisClusterProcs, RedisProc, free_port
from tests.support.graphs import aexercise, exercise

# --- Redis: the caller's clients, counted ----------------------------------------------------


class CountingRedis(redis.Redis):
    """A caller's client that counts the commands sent through it and its ``close`` calls."""

    calls = 0
    closed = 0

    def execute_command(self, *args: Any, **options: Any) -> Any:
        self.calls += 1
        return super().execute_command(*args, **options)

    def close(self) -> None:
        self.closed += 1
        super().close()


class CountingAsyncRedis(redis.asyncio.Redis):
    calls = 0
    closed = 0

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        self.calls += 1
        return await super().execute_command(*args, **options)

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        self.closed += 1
        await super().aclose(close_connection_pool)


class CountingCluster(redis.cluster.RedisCluster):
    calls = 0
    closed = 0

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return super().execute_command(*args, **kwargs)

    def close(self) -> None:
        self.closed += 1
        super().close()


class CountingAsyncCluster(redis.asyncio.cluster.RedisCluster):
    calls = 0
    closed = 0

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return await super().execute_command(*args, **kwargs)

    async def aclose(self) -> None:
        self.closed += 1
        await super().aclose()


class ServerWatch:
    """Connections a set of servers received since this watch started, and those of them
    still open under a client name. Its own admin connections are opened before the start."""

    def __init__(self, ports: list[int]) -> None:
        self.admins = [redis.Redis(host="127.0.0.1", port=p) for p in ports]
        self.start = self._received()

    def _received(self) -> int:
        return sum(int(a.info("stats")["total_connections_received"]) for a in self.admins)

    def new_connections(self) -> int:
        return self._received() - self.start

    def open_named(self, name: str) -> int:
        return sum(1 for a in self.admins for c in a.client_list() if c.get("name") == name)

    def close(self) -> None:
        for a in self.admins:
            a.close()


@pytest.fixture
def watch(redis_server: RedisProc) -> Iterator[ServerWatch]:
    w = ServerWatch([redis_server.port])
    yield w
    w.close()


def _name() -> str:
    return f"byo-{uuid.uuid4().hex[:8]}"


def _prefix() -> str:
    return f"b{uuid.uuid4().hex[:10]}"


def _assert_only_the_callers_connections(watch: ServerWatch, *names: str) -> None:
    """Every connection the server received is one of the caller's clients' and still open."""
    opened = sum(watch.open_named(n) for n in names)
    assert opened > 0
    assert watch.new_connections() == opened


@pytest.mark.parametrize("how", ["from_url", "constructor"])
def test_sync_redis_client_is_used_for_every_call_and_never_closed(
    redis_server: RedisProc, watch: ServerWatch, how: str
) -> None:
    name = _name()
    client = CountingRedis(host="127.0.0.1", port=redis_server.port, client_name=name)
    prefix = _prefix()
    if how == "from_url":
        saver = checkpoint_kv.from_url(f"redis://?prefix={prefix}", client=client)
    else:  # PostgresSaver(conn)'s analogue
        saver = KVCheckpointSaver(ckv_redis.RedisKV(client, prefix=prefix))
    saver.setup()
    exercise(saver)
    assert client.calls > 0
    saver.close()
    assert client.closed == 0
    _assert_only_the_callers_connections(watch, name)  # still open after saver.close()
    assert client.ping()
    client.close()


def test_async_methods_with_only_a_sync_client_run_it_in_threads(
    redis_server: RedisProc, watch: ServerWatch
) -> None:
    name = _name()
    client = CountingRedis(host="127.0.0.1", port=redis_server.port, client_name=name)
    saver = checkpoint_kv.from_url(f"redis://?prefix={_prefix()}", client=client)
    assert isinstance(saver.astore, ckv_redis.ThreadedRedisKV)

    async def go() -> None:
        await saver.asetup()
        await aexercise(saver)
        await saver.aclose()

    asyncio.run(go())
    assert client.calls > 0 and client.closed == 0
    _assert_only_the_callers_connections(watch, name)
    assert client.ping()
    client.close()


def test_async_redis_client_is_used_for_every_call_and_never_closed(
    redis_server: RedisProc, watch: ServerWatch
) -> None:
    name = _name()

    async def go() -> None:
        client = CountingAsyncRedis(host="127.0.0.1", port=redis_server.port, client_name=name)
        saver = checkpoint_kv.from_url(f"redis://?prefix={_prefix()}", client=client)
        await saver.asetup()
        await aexercise(saver)
        assert client.calls > 0
        with pytest.raises(ConfigError, match="async API"):  # no sync client was given
            saver.get_tuple({"configurable": {"thread_id": "x"}})
        await saver.aclose()
        assert client.closed == 0
        _assert_only_the_callers_connections(watch, name)
        assert await client.ping()
        await client.aclose()

    asyncio.run(go())


def test_sync_and_async_clients_together(redis_server: RedisProc, watch: ServerWatch) -> None:
    sync_name, async_name = _name(), _name()
    client = CountingRedis(host="127.0.0.1", port=redis_server.port, client_name=sync_name)

    async def go() -> None:
        aclient = CountingAsyncRedis(
            host="127.0.0.1", port=redis_server.port, client_name=async_name
        )
        saver = checkpoint_kv.from_url(
            f"redis://?prefix={_prefix()}&ttl=3600", client=client, async_client=aclient
        )
        assert isinstance(saver.astore, ckv_redis.AsyncRedisKV)
        saver.setup()
        exercise(saver)
        await aexercise(saver)
        await saver.aclose()
        assert aclient.calls > 0 and aclient.closed == 0
        assert watch.open_named(async_name) > 0
        await aclient.aclose()

    asyncio.run(go())
    assert client.calls > 0 and client.closed == 0
    assert watch.open_named(sync_name) > 0
    client.close()


def test_cluster_clients_sync_and_async(redis_cluster: RedisClusterProcs) -> None:
    port = redis_cluster.nodes[0].port
    name = _name()
    client = CountingCluster(host="127.0.0.1", port=port, client_name=name)
    watch = ServerWatch([n.port for n in redis_cluster.nodes])
    try:
        saver = checkpoint_kv.from_url(f"redis+cluster://?prefix={_prefix()}", client=client)
        assert saver.store.cluster  # type: ignore[attr-defined]
        saver.setup()
        exercise(saver)
        saver.close()
        assert client.calls > 0 and client.closed == 0
        _assert_only_the_callers_connections(watch, name)
        assert client.ping()

        async def go() -> None:
            aclient = CountingAsyncCluster(host="127.0.0.1", port=port)
            asaver = checkpoint_kv.from_url(f"redis://?prefix={_prefix()}", client=aclient)
            await asaver.asetup()
            await aexercise(asaver)
            await asaver.aclose()
            assert aclient.calls > 0 and aclient.closed == 0
            assert await aclient.ping()
            await aclient.aclose()

        asyncio.run(go())
    finally:
        client.close()
        watch.close()


# --- a valkey-package client: redis-py's API, exceptions of its own --------------------------


def _valkey_exceptions() -> dict[str, type[Exception]]:
    """Classes named as the ``valkey`` package's (a fork of redis-py), defined here: the
    store must recognise them by name, as valkey is not installed."""
    base = type("ValkeyError", (Exception,), {})
    conn = type("ConnectionError", (base,), {})
    resp = type("ResponseError", (base,), {})
    return {
        "RedisError": base,
        "ConnectionError": conn,
        "TimeoutError": type("TimeoutError", (base,), {}),
        "AuthenticationError": type("AuthenticationError", (conn,), {}),
        "ResponseError": resp,
        "NoScriptError": type("NoScriptError", (resp,), {}),
    }


VALKEY_ERRORS = _valkey_exceptions()


class FakeValkey:
    """What ``valkey.Valkey`` looks like to the store: the same methods, other exceptions."""

    def __init__(self, inner: redis.Redis) -> None:
        self._inner = inner
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            try:
                return attr(*args, **kwargs)
            except redis.exceptions.RedisError as e:
                for cls in type(e).__mro__:
                    if cls.__name__ in VALKEY_ERRORS:
                        raise VALKEY_ERRORS[cls.__name__](str(e)) from None
                raise

        return call


def test_valkey_client_noscript_is_recovered_and_errors_are_typed(
    redis_server: RedisProc, watch: ServerWatch
) -> None:
    name = _name()
    client = FakeValkey(redis.Redis(host="127.0.0.1", port=redis_server.port, client_name=name))
    saver = checkpoint_kv.from_url(f"valkey://?prefix={_prefix()}", client=client)
    saver.setup()  # SCRIPT LOAD: later calls are EVALSHA
    exercise(saver)
    watch.admins[0].script_flush()  # as a restart or failover would: NOSCRIPT once, then EVAL
    exercise(saver)
    saver.close()
    assert client.calls > 0
    _assert_only_the_callers_connections(watch, name)

    closed = free_port()
    dead = FakeValkey(redis.Redis(host="127.0.0.1", port=closed, retry=Retry(NoBackoff(), 0)))
    with pytest.raises(BackendUnavailableError, match=f"127.0.0.1:{closed}"):
        checkpoint_kv.from_url("redis://", client=dead).get_tuple(
            {"configurable": {"thread_id": "t"}}
        )


# --- refused configurations: said at once, never ignored -------------------------------------


def test_redis_client_configurations_that_cannot_work_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CHECKPOINT_KV_URL", raising=False)
    with pytest.raises(ConfigError, match="decode_responses"):
        checkpoint_kv.from_url("redis://", client=redis.Redis(decode_responses=True))
    with pytest.raises(ConfigError, match="socket_timeout"):
        checkpoint_kv.from_url("redis://?socket_timeout=1", client=redis.Redis())
    with pytest.raises(ConfigError, match="max_connections"):
        checkpoint_kv.from_url("redis://", client=redis.Redis(), max_connections=3)
    with pytest.raises(ConfigError, match="cluster"):
        checkpoint_kv.from_url("redis+cluster://", client=redis.Redis())
    with pytest.raises(ConfigError, match="async_client"):
        checkpoint_kv.from_url("redis://", client=redis.Redis(), async_client=redis.Redis())
    # a client with no URL (the SQLite default) or a backend without clients: said plainly
    for url in (None, "memory://"):
        with pytest.raises(ConfigError, match="URL of that client's backend"):
            checkpoint_kv.from_url(url, client=redis.Redis())
    # a host in the URL is not used (the client decides): an app may pass its one URL
    store = checkpoint_kv.from_url("redis://elsewhere:1/0?prefix=p", client=redis.Redis(port=7))
    assert store.store.where == "localhost:7"  # type: ignore[attr-defined]


# --- S3: the caller's boto3 client or Session ------------------------------------------------


@pytest.fixture
def s3_url(moto_endpoint: str) -> str:
    return f"s3://ckv-{uuid.uuid4().hex[:16]}/byo"


def test_s3_client_is_used_for_every_call_and_never_closed(
    s3_url: str, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = boto3.client("s3", region_name="us-east-1", endpoint_url=moto_endpoint)
    calls = ApiCalls()
    client.meta.events.register("before-call.s3", calls)
    closes: list[int] = []
    monkeypatch.setattr(client, "close", lambda: closes.append(1))
    made = no_new_boto_clients(monkeypatch)

    saver = checkpoint_kv.from_url(s3_url, client=client)
    with pytest.raises(StoreNotFoundError) as missing:  # the hint targets the client's endpoint
        saver.get_tuple({"configurable": {"thread_id": "t"}})
    assert f"--endpoint-url {moto_endpoint}" in str(missing.value)
    saver.setup()
    exercise(saver)

    async def go() -> None:
        await aexercise(saver)  # the thread-pool twin: the same client
        await saver.aclose()

    asyncio.run(go())
    assert calls.n > 0 and made == [] and closes == []
    before = calls.n
    assert client.list_buckets()["Buckets"]  # still works
    assert calls.n == before + 1


def test_s3_session_makes_the_client_with_the_urls_options(s3_url: str, moto_endpoint: str) -> None:
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    calls = ApiCalls()
    session.events.register("before-call.s3", calls)
    url = f"{s3_url}?endpoint_url={quote(moto_endpoint, safe='')}&read_timeout=7"
    for how in ("session", "client"):  # a Session passed as client= is taken as session=
        saver = checkpoint_kv.from_url(url, **{how: session})
        store: Any = saver.store
        assert store.client.meta.config.read_timeout == 7  # the URL's options apply
        saver.setup()
        exercise(saver)
        saver.close()
    assert calls.n > 0  # made from the Session: its event hooks (tracing) see every call


def test_s3_client_configurations_that_cannot_work_are_refused(
    s3_url: str, moto_endpoint: str
) -> None:
    client = boto3.client("s3", region_name="us-east-1", endpoint_url=moto_endpoint)
    with pytest.raises(ConfigError, match="read_timeout"):
        checkpoint_kv.from_url(f"{s3_url}?read_timeout=3", client=client)
    with pytest.raises(ConfigError, match="endpoint_url"):
        checkpoint_kv.from_url(f"{s3_url}?endpoint_url=http%3A%2F%2Fother%3A9000", client=client)
    # the values the client has anyway are accepted (one URL shared with other code)
    same = f"{s3_url}?region=us-east-1&endpoint_url={quote(moto_endpoint, safe='')}"
    assert checkpoint_kv.from_url(same, client=client).store.client is client  # type: ignore[attr-defined]
    dynamodb = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=moto_endpoint)
    with pytest.raises(ConfigError, match="dynamodb"):
        checkpoint_kv.from_url(s3_url, client=dynamodb)
    with pytest.raises(ConfigError, match="profile"):
        checkpoint_kv.from_url(f"{s3_url}?profile=x", session=boto3.Session())
    assert ckv_s3.S3KV("b", client=client).owns_client is False
