"""Bring your own DynamoDB client or Session: the API of the S3 part
(tests/backends/test_byo_client.py).

"Every call": a botocore event hook on the caller's client (or on its Session) counts the API
calls a small graph makes, sync and async, and no other botocore client is created meanwhile
(so no call can go elsewhere). "Never closed": the caller's ``close`` is not called by
``saver.close()`` / ``aclose()``, and the client still works afterwards. A client the store
made itself (from the URL, or from a Session) is closed by it.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any
from urllib.parse import quote

import boto3
import pytest
from botocore.config import Config

import checkpoint_kv
from checkpoint_kv import ConfigError, StoreNotFoundError
from checkpoint_kv.backends import dynamodb as ckv_ddb
from tests.support.fixtures_aws import ApiCalls, no_new_boto_clients
from tests.support.graphs import aexercise, exercise

# --- helpers ----------------------------------------------------------------------------------


def count_closes(monkeypatch: pytest.MonkeyPatch, client: Any) -> list[int]:
    """``client.close()`` calls from now on (the real close still runs)."""
    closes: list[int] = []
    real = client.close

    def close() -> None:
        closes.append(1)
        real()

    monkeypatch.setattr(client, "close", close)
    return closes


def table_url() -> str:
    return f"dynamodb://ckv-byo-{uuid.uuid4().hex[:12]}"


def _client(endpoint: str, **config: Any) -> Any:
    return boto3.client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=endpoint,
        config=Config(**config) if config else None,
    )


# --- a caller's client ------------------------------------------------------------------------


def test_client_is_used_for_every_call_sync_and_async_and_never_closed(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _client(moto_endpoint)
    calls = ApiCalls()
    client.meta.events.register("before-call.dynamodb", calls)
    closes = count_closes(monkeypatch, client)
    made = no_new_boto_clients(monkeypatch)

    saver = checkpoint_kv.from_url(table_url(), client=client)
    assert saver.store.client is client  # type: ignore[attr-defined]
    with pytest.raises(StoreNotFoundError) as missing:  # the hint targets the client's endpoint
        saver.get_tuple({"configurable": {"thread_id": "t"}})
    assert f"endpoint_url={moto_endpoint}" in str(missing.value)
    saver.setup()
    exercise(saver)
    sync_calls = calls.n
    assert sync_calls > 0

    loop_thread: list[int] = []

    async def go() -> None:
        loop_thread.append(threading.get_ident())
        await aexercise(saver)  # the thread-pool twin: the same client, off the event loop
        await saver.aclose()

    calls.threads.clear()
    asyncio.run(go())
    assert calls.n > sync_calls and loop_thread[0] not in calls.threads
    saver.close()
    with saver:  # the context manager closes what it opened, never the caller's client
        pass

    assert made == [] and closes == []
    before = calls.n
    assert client.list_tables()["TableNames"]  # still works
    assert calls.n == before + 1


def test_callers_client_keeps_its_own_config(moto_endpoint: str) -> None:
    """Our retry/timeout Config applies only to clients we build; the own loops botocore
    cannot run (UnprocessedItems, cancelled transactions) follow the client's attempt count."""
    client = _client(
        moto_endpoint, read_timeout=3, retries={"mode": "adaptive", "total_max_attempts": 2}
    )
    store: Any = checkpoint_kv.from_url(table_url(), client=client).store
    assert store.client is client and store.owns_client is False
    assert client.meta.config.read_timeout == 3 and client.meta.config.connect_timeout == 60
    assert (store.max_attempts, store.retry_mode, store.read_timeout) == (2, "adaptive", 3)
    plain: Any = checkpoint_kv.from_url(table_url(), client=_client(moto_endpoint)).store
    assert plain.max_attempts == 3  # botocore's standard-mode default, as the client retries
    legacy = _client(moto_endpoint, retries={"mode": "legacy", "max_attempts": 6})
    assert ckv_ddb.DynamoDBKV("tbl", client=legacy).max_attempts == 7


# --- a caller's Session -----------------------------------------------------------------------


def test_session_makes_the_client_with_the_urls_options_and_closes_only_that(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    calls = ApiCalls()
    session.events.register("before-call.dynamodb", calls)
    url = f"{table_url()}?endpoint_url={quote(moto_endpoint, safe='')}&read_timeout=7"
    for how in ("session", "client"):  # a Session passed as client= is taken as session=
        saver = checkpoint_kv.from_url(url, **{how: session})
        store: Any = saver.store
        assert store.owns_client is True
        config = store.client.meta.config
        assert config.read_timeout == 7 and config.connect_timeout == 5  # ours apply
        assert config.retries == {"mode": "standard", "total_max_attempts": 5}
        assert store.client.meta.region_name == "us-east-1"  # the session's region
        saver.setup()
        before = calls.n
        exercise(saver)
        assert calls.n > before  # made from the Session: its event hooks (tracing) see it
        closes = count_closes(monkeypatch, store.client)
        saver.close()
        assert closes == [1]  # the store's own client; the session is the caller's
    assert session.client("dynamodb", endpoint_url=moto_endpoint).list_tables()["TableNames"]


def test_a_client_the_store_made_is_closed(
    url_dynamodb_inproc: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    saver = checkpoint_kv.from_url(url_dynamodb_inproc)
    store: Any = saver.store
    assert store.owns_client is True
    saver.setup()
    assert saver.get_tuple({"configurable": {"thread_id": "t"}}) is None
    closes = count_closes(monkeypatch, store.client)
    saver.close()
    assert closes == [1]


# --- refused configurations: said at once, never ignored -------------------------------------


def test_options_that_configure_the_client_are_refused_with_a_client(moto_endpoint: str) -> None:
    client = _client(moto_endpoint)
    base = table_url()
    for option in (
        "read_timeout=3",
        "connect_timeout=2",
        "max_attempts=9",
        "max_retries=0",
        "retry_mode=adaptive",
        "profile=x",
        "region=eu-west-1",
        "endpoint_url=http%3A%2F%2Fother%3A8000",
    ):
        name = option.split("=", 1)[0]
        with pytest.raises(ConfigError, match=f"{name}.*session=") as err:
            checkpoint_kv.from_url(f"{base}?{option}", client=client)
        assert "client= is used as it is" in str(err.value)
    with pytest.raises(ConfigError, match="region"):  # keyword options too
        checkpoint_kv.from_url(base, client=client, region="eu-west-1")
    with pytest.raises(ConfigError, match="endpoint_url"):  # and the store class
        ckv_ddb.DynamoDBKV("tbl", client=client, endpoint_url="http://other:8000")

    # the values the client has anyway are accepted (one URL shared with other code)
    same = (
        f"{base}?region=us-east-1&endpoint_url={quote(moto_endpoint, safe='')}"
        "&read_timeout=60&connect_timeout=60&max_attempts=3&retry_mode=standard"
        "&ttl=1d&prefix=acme&consistent_read=false"
    )
    store: Any = checkpoint_kv.from_url(same, client=client).store
    assert store.client is client and (store.ttl, store.prefix) == (86400, "acme")
    assert store.consistent_read is False

    with pytest.raises(ConfigError, match=r"'s3' client.*dynamodb"):
        checkpoint_kv.from_url(base, client=boto3.client("s3", region_name="us-east-1"))
    session = boto3.Session(region_name="us-east-1")
    with pytest.raises(ConfigError, match="profile"):
        checkpoint_kv.from_url(f"{base}?profile=x", session=session)
    with pytest.raises(ConfigError, match="not both"):
        checkpoint_kv.from_url(base, client=client, session=session)
    with pytest.raises(ConfigError, match="session="):
        ckv_ddb.DynamoDBKV("tbl", client=session, session=session)
    assert ckv_ddb.DynamoDBKV("tbl", client=client).owns_client is False
