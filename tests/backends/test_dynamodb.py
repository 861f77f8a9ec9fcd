"""DynamoDB backend: API calls per saver operation, large values, throttling, TTL, errors, and
the Lambda example, on moto's server (real HTTP) and, for fast unit tests, ``mock_aws``."""

from __future__ import annotations

import asyncio
import http.server
import importlib.util
import json
import operator
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
import yaml
from botocore.awsrequest import AWSResponse
from botocore.retries.standard import ExponentialBackoff
from langgraph.channels.delta import DeltaChannel
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.base.id import uuid6
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph

import checkpoint_kv
from checkpoint_kv import KVCheckpointSaver
from checkpoint_kv import keys as K
from checkpoint_kv.backends.dynamodb import (
    CHUNK_MARK,
    TOUCH_MAX_PER_COMMIT,
    DynamoDBError,
    DynamoDBKV,
    from_url,
)
from checkpoint_kv.errors import (
    BackendError,
    ConfigError,
    CorruptRecordError,
    StoreNotFoundError,
)
from checkpoint_kv.port import Delete, DeleteRange, Put, ScanResult, frame
from checkpoint_kv.registry import open_store
from checkpoint_kv.saver import records as R

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "lambda_agent"


# --- helpers ----------------------------------------------------------------------------------


class Calls:
    """Counts API calls with botocore's ``before-call`` event (one per request sent)."""

    def __init__(self, store: DynamoDBKV) -> None:
        self.names: list[str] = []
        store.client.meta.events.register("before-call.dynamodb", self._hook)

    def _hook(self, model: Any, **kwargs: Any) -> None:
        self.names.append(model.name)

    def take(self) -> list[str]:
        out, self.names = self.names, []
        return out


class FakeHTTP:
    status_code = 400
    headers: dict[str, str] = {}  # noqa: RUF012


def inject(store: DynamoDBKV, operation: str, errors: list[dict[str, Any]]) -> None:
    """Make the next ``len(errors)`` calls of ``operation`` fail with these error bodies,
    without sending them (a ``before-call`` handler returning a response short-circuits)."""
    queue = list(errors)

    def hook(**kwargs: Any) -> Any:
        # Registered for the operation, it runs before the counting hook (botocore calls the
        # most specific handlers first) and stops the event: an injected error is not counted.
        if queue:
            return FakeHTTP(), queue.pop(0)
        return None

    store.client.meta.events.register(f"before-call.dynamodb.{operation}", hook)


def throttle(code: str = "ThrottlingException") -> dict[str, Any]:
    return {"Error": {"Code": code, "Message": "Rate exceeded"}, "ResponseMetadata": {}}


JSON_TYPE = "application/x-amz-json-1.0"


class _Body:
    """The ``raw`` of a botocore AWSResponse: a body read in one piece."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        yield self.data


def aws_error(code: str, status: int = 400, **extra: Any) -> tuple[int, bytes]:
    body = {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": code, **extra}
    return status, json.dumps(body).encode()


def aws_ok(body: dict[str, Any]) -> tuple[int, bytes]:
    return 200, json.dumps(body).encode()


def inject_http(store: DynamoDBKV, operation: str, responses: list[tuple[int, bytes]]) -> None:
    """Answer the next ``len(responses)`` HTTP attempts of ``operation`` with these, without
    sending them (``before-send``): unlike ``inject``, botocore's retry logic sees them."""
    queue = list(responses)

    def hook(request: Any, **kwargs: Any) -> Any:
        if not queue:
            return None
        status, data = queue.pop(0)
        return AWSResponse(request.url, status, {"Content-Type": JSON_TYPE}, _Body(data))

    store.client.meta.events.register(f"before-send.dynamodb.{operation}", hook)


class Attempts:
    """HTTP attempts per operation (``before-send`` fires once per attempt, retries too)."""

    def __init__(self, store: DynamoDBKV) -> None:
        self.names: list[str] = []
        store.client.meta.events.register_first("before-send.dynamodb", self._hook)

    def _hook(self, request: Any, **kwargs: Any) -> None:
        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else str(target)
        self.names.append(target.rsplit(".", 1)[-1])

    def take(self) -> list[str]:
        out, self.names = self.names, []
        return out


@pytest.fixture
def zero_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's retry delays (standard mode) become 0: retries are counted, not waited."""
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ScriptedHTTP:
    """A tiny HTTP server on loopback answering each request with the next scripted
    ``(status, content type, body)``; counts requests."""

    def __init__(self, script: list[tuple[int, str, bytes]]) -> None:
        self.script = list(script)
        self.requests = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests += 1
                status, ctype, body = outer.script.pop(0)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedHTTP:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class SilentPeer:
    """Accepts TCP connections on loopback and never answers (a hung server or proxy)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def wait_for(self, n: int) -> int:
        """The number of connections accepted, once it reaches ``n`` (or after 10 s)."""
        deadline = time.monotonic() + 10
        while len(self.accepted) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return len(self.accepted)

    def __enter__(self) -> SilentPeer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


class ChatState(TypedDict, total=False):
    messages: Annotated[list[str], operator.add]
    notes: str
    turns: int


def chat_graph(saver: KVCheckpointSaver) -> Any:
    def think(state: ChatState) -> dict[str, Any]:
        return {"notes": f"thinking about {state['messages'][-1]}"}

    def answer(state: ChatState) -> dict[str, Any]:
        return {"messages": ["reply " + "x" * 500], "turns": state.get("turns", 0) + 1}

    g = StateGraph(ChatState)
    g.add_node("think", think)
    g.add_node("answer", answer)
    g.add_edge(START, "think")
    g.add_edge("think", "answer")
    g.add_edge("answer", END)
    return g.compile(checkpointer=saver)


@pytest.fixture
def saver(url_dynamodb: str) -> Iterator[KVCheckpointSaver]:
    s = checkpoint_kv.from_url(url_dynamodb)
    s.setup()
    yield s
    s.close()


def ddb_store(saver: KVCheckpointSaver) -> DynamoDBKV:
    assert isinstance(saver.store, DynamoDBKV)
    return saver.store


def table_items(store: DynamoDBKV) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": store.table}
    while True:
        resp = store.client.scan(**kwargs)
        items += resp["Items"]
        if "LastEvaluatedKey" not in resp:
            return items
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


# --- API calls per saver operation (moto server) ---------------------------------------------


def test_api_calls_per_operation(saver: KVCheckpointSaver) -> None:
    store = ddb_store(saver)
    graph = chat_graph(saver)
    config: Any = {"configurable": {"thread_id": "chat-1"}}
    for i in range(12):
        graph.invoke({"messages": [f"hello {i}"]}, config)
    calls = Calls(store)

    latest = saver.get_tuple(config)
    assert latest is not None and latest.checkpoint["channel_values"]["turns"] == 12
    got = calls.take()
    # One Query: the record, its writes, and the records its unchanged values live in (its
    # homes: the checkpoints just before it) come in the same page; the growing messages
    # channel is stored as the bytes it grew by (saver/growth.py), and the links of its chain
    # that lie past that page come in one BatchGetItem.
    assert got in (["Query"], ["Query", "BatchGetItem"]), got

    history = list(saver.list(config, limit=10))
    assert len(history) == 10
    got = calls.take()
    assert len(got) <= 3, got

    # put: one changed channel -> one item (the record carries the new value): PutItem
    cp = latest.checkpoint
    versions = {"notes": saver.get_next_version(cp["channel_versions"]["notes"])}
    new_cp: Any = {
        **cp,
        "id": str(uuid6(clock_seq=-2)),
        "channel_versions": {**cp["channel_versions"], **versions},
        "channel_values": {**cp["channel_values"], "notes": "changed"},
    }
    next_config = saver.put(latest.config, new_cp, {"source": "update", "step": 99}, versions)
    assert calls.take() == ["PutItem"]

    # put_writes: one call, whatever the number of writes (one packed item: PutItem)
    saver.put_writes(next_config, [("messages", ["a"]), ("notes", "b")], task_id="t1")
    got = calls.take()
    assert len(got) == 1 and got[0] in ("PutItem", "TransactWriteItems"), got
    saver.put_writes(next_config, [("messages", ["a"])], task_id="t2")
    assert calls.take() == ["PutItem"]

    again = saver.get_tuple({"configurable": {"thread_id": "chat-1"}})
    assert again is not None and again.checkpoint["channel_values"]["notes"] == "changed"
    assert [w[0] for w in again.pending_writes] == ["t1", "t1", "t2"]
    assert calls.take() in (["Query"], ["Query", "BatchGetItem"])


def test_graph_step_calls_and_async_parity(saver: KVCheckpointSaver) -> None:
    """A whole turn: 1 load (one Query) and 1 call per put / put_writes; the async twin makes
    exactly the same calls."""
    store = ddb_store(saver)
    graph = chat_graph(saver)
    # Two threads with the same history, one turn each: sync on one, async on the other (the
    # same chain depth, so the same reads).
    sync_config: Any = {"configurable": {"thread_id": "parity-sync"}}
    async_config: Any = {"configurable": {"thread_id": "parity-async"}}
    for config in (sync_config, async_config):
        graph.invoke({"messages": ["warm up"]}, config)
    calls = Calls(store)
    graph.invoke({"messages": ["a turn"]}, sync_config)
    sync_calls = calls.take()
    asyncio.run(graph.ainvoke({"messages": ["a turn"]}, async_config))
    async_calls = calls.take()
    assert sorted(sync_calls) == sorted(async_calls)
    assert sync_calls.count("Query") == 1 and sync_calls.count("BatchGetItem") <= 1
    # 4 checkpoints (input, start, think, answer) + 3 tasks' writes = 7 writes, one PutItem each
    assert sync_calls.count("PutItem") == 7, sync_calls

    async def aget() -> list[str]:
        await saver.aget_tuple(async_config)
        return calls.take()

    saver.get_tuple(sync_config)
    sync_get = calls.take()
    assert asyncio.run(aget()) == sync_get and sync_get[0] == "Query"


# --- large values -----------------------------------------------------------------------------


def test_five_megabyte_state_round_trips(saver: KVCheckpointSaver) -> None:
    store = ddb_store(saver)
    big = os.urandom(5 * 1024 * 1024)

    class BigState(TypedDict, total=False):
        blob: bytes
        n: int

    def node(state: BigState) -> dict[str, Any]:
        return {"blob": big, "n": state.get("n", 0) + 1}

    g = StateGraph(BigState)
    g.add_node("node", node)
    g.add_edge(START, "node")
    g.add_edge("node", END)
    graph = g.compile(checkpointer=saver)
    config: Any = {"configurable": {"thread_id": "big"}}
    graph.invoke({"n": 0}, config)
    calls = Calls(store)
    state = graph.get_state(config)
    assert state.values["blob"] == big and state.values["n"] == 1
    # + 1 call for the chunks of the record (it carries the 5 MB value) and of the parent
    # checkpoint's 5 MB pending write, which the saver's first page also reads
    assert calls.take() == ["Query", "BatchGetItem"]
    # writing it again: chunks (one BatchWriteItem), then the record's head
    latest = saver.get_tuple(config)
    assert latest is not None
    cp: Any = {**latest.checkpoint, "id": str(uuid6(clock_seq=-2))}
    versions = {"blob": saver.get_next_version(cp["channel_versions"]["blob"])}
    cp["channel_versions"] = {**cp["channel_versions"], **versions}
    cp["channel_values"] = {**cp["channel_values"], "blob": big[::-1]}
    calls.take()
    saver.put(latest.config, cp, {"source": "update", "step": 5}, versions)
    assert calls.take() == ["BatchWriteItem", "PutItem"]
    again = saver.get_tuple(config)
    assert again is not None and again.checkpoint["channel_values"]["blob"] == big[::-1]
    calls.take()
    state = graph.get_state(state.config)
    assert state.values["blob"] == big and state.values["n"] == 1
    # by id: the same (its small unchanged values are copied into its record), then its
    # incarnation's mark, which a read by id follows (test_deleted_thread.py)
    assert calls.take() == ["Query", "BatchGetItem", "BatchGetItem"]
    # no chunk is visible to a scan, however wide
    every = store.scan("big", "", "\U0010ffff").items
    assert every and all(not k.startswith(CHUNK_MARK) for k, _ in every)
    # and none is bigger than DynamoDB's item limit
    assert max(len(i.get("v", {}).get("B", b"")) for i in table_items(store)) < 400 * 1024


def test_chunked_values_port_semantics(url_dynamodb: str) -> None:
    store = open_store(url_dynamodb)
    store.setup()
    assert isinstance(store, DynamoDBKV)
    one, two = os.urandom(900_000), os.urandom(1_300_000)
    store.write("p", [Put("k", one), Put("small", b"s")])
    assert store.get("p", ["k", "small"]) == {"k": one, "small": b"s"}
    store.write("p", [Put("k", two, if_absent=True)])  # kept
    assert store.get("p", ["k"]) == {"k": one}
    store.write("p", [Put("k", two)])  # overwritten: new chunks, new head
    assert store.get("p", ["k"]) == {"k": two}
    assert [k for k, _ in store.scan("p", "", "~").items] == ["k", "small"]
    assert store.scan("p", "a", "z").items == [("k", two), ("small", b"s")]
    store.write("p", [Put("r", frame(["k"], b"rec"), commit=True)])
    assert store.scan("p", "r", "s", follow=1).refs == {"k": two}
    store.write("p", [DeleteRange("a", "l")])  # deletes the head and its current chunks
    assert store.get("p", ["k"]) == {}
    left = {i["SK"]["S"] for i in table_items(store)}
    assert sum(1 for k in left if k.startswith(CHUNK_MARK)) == 3  # the first value's orphans
    # a DeleteRange and a Put of the same key in one batch: the replaced value's chunks go too
    store.write("p", [Put("m", one)])
    store.write("p", [DeleteRange("m", "n"), Put("m", b"small now", commit=True)])
    assert store.get("p", ["m"]) == {"m": b"small now"}
    left = {i["SK"]["S"] for i in table_items(store)}
    assert sum(1 for k in left if k.startswith(CHUNK_MARK)) == 3  # still only the old orphans
    store.drop("p")
    assert table_items(store) == []


# --- writes: transactions, conditions, limits -------------------------------------------------


def test_if_absent_in_a_transaction_keeps_existing(url_dynamodb: str) -> None:
    store = from_url(url_dynamodb)
    store.setup()
    calls = Calls(store)
    store.write("p", [Put("w1", b"old")])
    assert calls.take() == ["PutItem"]
    store.write(
        "p",
        [Put("w1", b"new", if_absent=True), Put("w2", b"2", if_absent=True), Put("rec", b"r")],
    )
    assert calls.take() == ["TransactWriteItems", "TransactWriteItems"]  # cancelled, retried
    assert store.get("p", ["w1", "w2", "rec"]) == {"w1": b"old", "w2": b"2", "rec": b"r"}
    store.write("p", [Put("w1", b"x", if_absent=True), Put("w2", b"y", if_absent=True)])
    assert store.get("p", ["w1", "w2"]) == {"w1": b"old", "w2": b"2"}


def test_coalesced_ops_and_big_batches(url_dynamodb: str) -> None:
    store = from_url(url_dynamodb)
    store.setup()
    calls = Calls(store)
    store.write("p", [Put("a", b"1"), Delete("a"), Put("a", b"2", if_absent=True), Put("b", b"")])
    assert calls.take() == ["TransactWriteItems"]
    assert store.get("p", ["a", "b"]) == {"a": b"2", "b": b""}
    calls.take()
    # 250 ops + a commit: split at the barrier, the record written last and alone
    ops: list[Any] = [Put(f"x{i:04d}", b"v") for i in range(250)]
    ops.append(Put("z", b"commit", commit=True))
    store.write("p", ops)
    got = calls.take()
    assert got[-1] == "PutItem" and set(got[:-1]) == {"BatchWriteItem"}, got
    assert len(store.scan("p", "x", "y").items) == 250


def test_scan_bounds_and_pagination(url_dynamodb: str) -> None:
    store = from_url(url_dynamodb)
    store.setup()
    value = b"v" * 100_000  # 11 items per 1 MB query page
    store.write("p", [Put(f"k{i:02d}", value) for i in range(30)])
    calls = Calls(store)
    assert len(store.scan("p", "k", "l").items) == 30
    assert calls.take().count("Query") >= 3  # followed LastEvaluatedKey, nothing dropped
    got = store.scan("p", "k05", "k20", reverse=True, limit=12)
    assert [k for k, _ in got.items] == [f"k{i:02d}" for i in range(19, 7, -1)]
    assert [k for k, _ in store.scan("p", "k05", "k07").items] == ["k05", "k06"]
    assert store.scan("p", "k07", "k07").items == []
    assert [k for k, _ in store.scan("p", "", "k02").items] == ["k00", "k01"]


def test_scan_with_limit_reads_only_what_it_needs(url_dynamodb_inproc: str) -> None:
    """``Limit`` is the number of items still needed (it was one more), and
    ``LastEvaluatedKey`` is followed only while more are needed."""
    store = from_url(url_dynamodb_inproc)
    store.setup()
    store.write("p", [Put(f"k{i:02d}", b"v") for i in range(30)])
    read: list[tuple[int | None, int]] = []  # per Query: (Limit sent, items DynamoDB read)

    def sent(params: dict[str, Any], context: dict[str, Any], **kw: Any) -> None:
        context["ckv_limit"] = params.get("Limit")

    def done(parsed: dict[str, Any], context: dict[str, Any], **kw: Any) -> None:
        read.append((context["ckv_limit"], parsed["ScannedCount"]))

    store.client.meta.events.register("provide-client-params.dynamodb.Query", sent)
    store.client.meta.events.register("after-call.dynamodb.Query", done)
    assert [k for k, _ in store.scan("p", "k", "l", limit=3).items] == ["k00", "k01", "k02"]
    assert read == [(3, 3)]
    read.clear()
    got = store.scan("p", "k", "l", reverse=True, limit=1)
    assert [k for k, _ in got.items] == ["k29"] and read == [(1, 1)]
    read.clear()
    # an item equal to the exclusive end costs one more item (and, reversed, one more page)
    got = store.scan("p", "k05", "k10", reverse=True, limit=3)
    assert [k for k, _ in got.items] == ["k09", "k08", "k07"]
    assert read == [(3, 3), (1, 1)]
    read.clear()
    got = store.scan("p", "k05", "k10", limit=10)
    assert [k for k, _ in got.items] == ["k05", "k06", "k07", "k08", "k09"]
    assert read == [(10, 6)]  # stopped at the end item: no further page
    read.clear()
    assert len(store.scan("p", "k", "l").items) == 30 and read == [(None, 30)]


class Crash(Exception):
    """A process dying mid-drop."""


def test_drop_deletes_records_before_what_they_reference(url_dynamodb_inproc: str) -> None:
    """Issue 11 item 5: a crash (or a reader) mid-drop never meets a record whose writes or
    blobs are gone. Before, keys went in sort order: blobs (``b!``) first."""
    store = from_url(url_dynamodb_inproc)
    store.setup()
    saver = KVCheckpointSaver(store)
    for i in range(30):  # > 25 records: several BatchWriteItem calls per phase
        cid = f"{i:04d}"
        store.write(
            "t",
            [
                Put(f"b!!ch!s{cid}", b"blob"),
                Put(f"c!!{cid}!w!task!0", b"write"),
                Put(f"c!!{cid}!~", frame([f"b!!ch!s{cid}"], b"record"), commit=True),
            ],
        )
    store.write("t", [Put("b!!big!s1", os.urandom(500_000))])  # with chunks
    batches: list[list[str]] = []
    real_call = store._call

    def crash_at_first_non_record(operation: str, **kwargs: Any) -> Any:
        if operation == "batch_write_item":
            keys = [
                r["DeleteRequest"]["Key"]["SK"]["S"] for r in kwargs["RequestItems"][store.table]
            ]
            batches.append(keys)
            if not all(k.startswith("c!") and k.endswith("!~") for k in keys):
                raise Crash
        return real_call(operation, **kwargs)

    store._call = crash_at_first_non_record  # type: ignore[method-assign]
    with pytest.raises(Crash):
        store.drop("t")
    store._call = real_call  # type: ignore[method-assign]
    assert sum(len(b) for b in batches[:-1]) == 30  # every record went first ...
    assert [k for b in batches[:-1] for k in b] == [f"c!!{i:04d}!~" for i in range(29, -1, -1)]
    left = {i["SK"]["S"] for i in table_items(store)}
    assert not any(k.endswith("!~") for k in left)  # ... newest first
    assert len(left) == 30 + 30 + 3  # writes, blobs, the big blob and its 2 chunks: intact
    assert saver.get_tuple({"configurable": {"thread_id": "t"}}) is None  # no half checkpoint
    store.drop("t")  # the next drop finishes the job
    assert table_items(store) == []


# --- errors, throttling, setup ----------------------------------------------------------------


def test_throttling_is_retried_by_botocore_with_one_attempt_budget(
    url_dynamodb: str, zero_backoff: None
) -> None:
    """Throttling is botocore's (standard mode, ``max_attempts`` in all): no own loop stacked
    on top (it made up to 27 attempts), so attempts are exactly counted."""
    store = from_url(url_dynamodb)
    store.setup()
    assert store.client.meta.config.retries == {"mode": "standard", "total_max_attempts": 5}
    attempts = Attempts(store)
    inject_http(store, "TransactWriteItems", [aws_error("ThrottlingException")] * 2)
    store.write("p", [Put("a", b"1"), Put("b", b"2")])
    assert attempts.take() == ["TransactWriteItems"] * 3  # 2 throttled, then the real one
    assert store.get("p", ["a", "b"]) == {"a": b"1", "b": b"2"}
    attempts.take()
    # giving up after max_attempts (5) names the table and region
    codes = ["ProvisionedThroughputExceededException", "RequestLimitExceeded", "Throttling"]
    inject_http(store, "Query", [aws_error(codes[i % 3]) for i in range(6)])
    with pytest.raises(DynamoDBError, match=f"{store.table}.*us-east-1") as err:
        store.scan("p", "a", "z")
    assert isinstance(err.value, BackendError)
    assert attempts.take() == ["Query"] * 5
    # max_retries=N (the older option) is max_attempts = N + 1
    two = from_url(url_dynamodb + "&max_retries=1")
    assert two.client.meta.config.retries["total_max_attempts"] == 2


def test_cancelled_transactions_retried_a_bounded_number_of_times(
    url_dynamodb: str, zero_backoff: None
) -> None:
    """botocore cannot see inside a TransactionCanceledException: throttling and conflicts
    there are the store's own (bounded) loop, with injectable backoff."""
    store = from_url(url_dynamodb + "&max_attempts=3")
    store.setup()
    sleeps: list[float] = []
    store._sleep = sleeps.append
    attempts = Attempts(store)
    cancelled = aws_error(
        "TransactionCanceledException",
        CancellationReasons=[{"Code": "ThrottlingError"}, {"Code": "TransactionConflict"}],
    )
    inject_http(store, "TransactWriteItems", [cancelled] * 2)
    store.write("p", [Put("c", b"3"), Put("d", b"4")])
    assert attempts.take() == ["TransactWriteItems"] * 3 and len(sleeps) == 2
    assert store.get("p", ["c", "d"]) == {"c": b"3", "d": b"4"}
    attempts.take()
    inject_http(store, "TransactWriteItems", [cancelled] * 4)
    with pytest.raises(DynamoDBError, match=store.table):
        store.write("p", [Put("e", b"5"), Put("f", b"6")])
    assert attempts.take() == ["TransactWriteItems"] * 3


@pytest.mark.parametrize("operation", ["BatchGetItem", "BatchWriteItem"])
def test_unprocessed_items_are_retried_a_bounded_number_of_rounds(
    url_dynamodb_inproc: str, operation: str
) -> None:
    store = from_url(url_dynamodb_inproc + "&max_attempts=4")
    store.setup()
    sleeps: list[float] = []
    store._sleep = sleeps.append
    keys = {"PK": {"S": "p"}, "SK": {"S": "k"}}
    if operation == "BatchGetItem":
        body = {"Responses": {store.table: []}, "UnprocessedKeys": {store.table: {"Keys": [keys]}}}

        def run() -> None:
            store.get("p", ["k"])
    else:
        body = {"UnprocessedItems": {store.table: [{"DeleteRequest": {"Key": keys}}]}}

        def run() -> None:
            store.drop("p")

    store.write("p", [Put("k", b"v")])
    attempts = Attempts(store)
    # two rounds unprocessed, then the real call: done
    inject_http(store, operation, [aws_ok(body)] * 2)
    run()
    assert attempts.take().count(operation) == 3 and len(sleeps) == 2
    # unprocessed for good: a typed error naming the table after max_attempts rounds (the old
    # loop had no bound at all: it would have gone on through all 50 of these)
    store.write("p", [Put("k", b"v")])
    attempts.take()
    inject_http(store, operation, [aws_ok(body)] * 50)
    with pytest.raises(DynamoDBError, match=f"{store.table}.*unprocessed"):
        run()
    assert attempts.take().count(operation) == 4


@pytest.mark.parametrize("body", ["html", "aws"])
def test_http_500_is_retried_whatever_its_body(body: str, zero_backoff: None) -> None:
    """A 500 from a proxy or load balancer (an HTML page, no AWS error code) is retried like
    DynamoDB's own InternalServerError: the same attempts, then success."""
    page = b"<html><body><h1>500 Internal Server Error</h1></body></html>"
    aws = b'{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"oops"}'
    failure = (500, "text/html", page) if body == "html" else (500, JSON_TYPE, aws)
    ok = (200, JSON_TYPE, b'{"Items": [], "Count": 0, "ScannedCount": 0}')
    with ScriptedHTTP([failure] * 4 + [ok]) as server:
        store = from_url(f"dynamodb://tbl?region=us-east-1&endpoint_url={server.url}")
        assert store.scan("p", "a", "z").items == []
        assert server.requests == 5  # default max_attempts: 4 failures then the success
    with ScriptedHTTP([failure] * 5) as server:
        store = from_url(f"dynamodb://tbl?region=us-east-1&endpoint_url={server.url}")
        with pytest.raises(DynamoDBError, match="tbl"):
            store.scan("p", "a", "z")
        assert server.requests == 5


def test_other_errors_name_table_and_region(url_dynamodb: str) -> None:
    store = from_url(url_dynamodb)
    store.setup()
    inject(
        store,
        "BatchGetItem",
        [{"Error": {"Code": "ValidationException", "Message": "bad"}, "ResponseMetadata": {}}],
    )
    with pytest.raises(DynamoDBError) as err:
        store.get("p", ["a"])
    assert store.table in str(err.value) and "us-east-1" in str(err.value)
    assert "ValidationException" in str(err.value)


def test_missing_table_says_how_to_create_it(url_dynamodb: str) -> None:
    saver = checkpoint_kv.from_url(url_dynamodb)  # no setup()
    with pytest.raises(StoreNotFoundError, match=r"setup\(\).*checkpoint-kv setup"):
        saver.get_tuple({"configurable": {"thread_id": "t"}})
    with pytest.raises(FileNotFoundError):
        list(saver.list({"configurable": {"thread_id": "t"}}))
    saver.setup()
    saver.setup()  # idempotent
    assert saver.get_tuple({"configurable": {"thread_id": "t"}}) is None


def test_unreachable_endpoint_names_host_and_port() -> None:
    store = from_url(
        "dynamodb://tbl?region=us-east-1&endpoint_url=http://127.0.0.1:9&max_retries=0"
    )
    with pytest.raises(checkpoint_kv.BackendUnavailableError, match=r"127\.0\.0\.1:9"):
        store.get("p", ["a"])


def test_setup_against_a_dead_endpoint_is_backend_unavailable(zero_backoff: None) -> None:
    port = closed_port()
    store = from_url(f"dynamodb://tbl?region=us-east-1&endpoint_url=http://127.0.0.1:{port}")
    with pytest.raises(checkpoint_kv.BackendUnavailableError, match=f"127\\.0\\.0\\.1:{port}"):
        store.setup()


def test_missing_credentials_say_how_to_provide_them(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    store = from_url(
        f"dynamodb://tbl?region=us-east-1&endpoint_url=http://127.0.0.1:{closed_port()}"
    )
    with pytest.raises(ConfigError, match=r"credentials.*AWS_PROFILE.*IAM role"):
        store.get("p", ["a"])
    with pytest.raises(ConfigError, match="credentials"):
        store.setup()


def test_silent_peer_fails_within_the_timeouts(zero_backoff: None) -> None:
    """A peer that accepts TCP and never answers: every attempt ends at ``read_timeout``,
    then BackendUnavailableError naming host:port (before: 60 s x 3 attempts per call)."""
    with SilentPeer() as peer:
        store = from_url(
            f"dynamodb://tbl?region=us-east-1&endpoint_url=http://127.0.0.1:{peer.port}"
            "&connect_timeout=0.5&read_timeout=0.2&max_retries=1"
        )
        cfg = store.client.meta.config
        assert (cfg.connect_timeout, cfg.read_timeout) == (0.5, 0.2)
        with pytest.raises(checkpoint_kv.BackendUnavailableError, match=f"127.0.0.1:{peer.port}"):
            store.get("p", ["a"])
        assert peer.wait_for(2) == 2  # max_retries=1: two attempts, each a fresh connection
    default = from_url("dynamodb://tbl?region=us-east-1")
    cfg = default.client.meta.config
    assert (cfg.connect_timeout, cfg.read_timeout) == (5.0, 10.0)


def test_damaged_items_raise_corrupt_record_naming_the_key(url_dynamodb_inproc: str) -> None:
    store = from_url(url_dynamodb_inproc)
    store.setup()
    damaged: dict[str, dict[str, Any]] = {
        "no-value": {},
        "string-value": {"v": {"S": "text"}},
        "number-value": {"v": {"N": "1"}},
        "head-without-length": {"n": {"N": "2"}, "h": {"S": "abc"}},
        "head-bad-count": {"n": {"S": "two"}, "h": {"S": "abc"}, "z": {"N": "5"}},
    }
    for sk, attrs in damaged.items():
        item = {"PK": {"S": "p"}, "SK": {"S": sk}, **attrs}
        store.client.put_item(TableName=store.table, Item=item)
    for sk in damaged:
        with pytest.raises(CorruptRecordError, match=sk):
            store.get("p", [sk])
        with pytest.raises(CorruptRecordError, match=sk):
            store.scan("p", sk, sk + "~")
        with pytest.raises(CorruptRecordError, match=sk):
            store.scan("p", sk, sk + "~", follow=1)
    # a chunk whose value is damaged names the chunk
    store.write("q", [Put("big", os.urandom(500_000))])
    chunk = next(i for i in table_items(store) if i["SK"]["S"].startswith(CHUNK_MARK))
    store.client.put_item(TableName=store.table, Item={**chunk, "v": {"S": "x"}})
    with pytest.raises(CorruptRecordError, match=r"'big'.*chunk"):
        store.get("q", ["big"])


# --- TTL ------------------------------------------------------------------------------------


def test_ttl_attribute_expiry_and_refresh(url_dynamodb: str) -> None:
    store = from_url(url_dynamodb + "&ttl=1h")
    store.setup()
    ttl = store.client.describe_time_to_live(TableName=store.table)["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "ENABLED" and ttl["AttributeName"] == "ttl"
    now = [1_000_000.0]
    store._clock = lambda: now[0]
    store.write("p", [Put("blob", b"b"), Put("big", os.urandom(500_000)), Put("unread", b"u")])
    store.write("p", [Put("rec1", frame(["blob", "big"], b"r1"), commit=True)])
    expiry = {i["SK"]["S"]: int(i["ttl"]["N"]) for i in table_items(store)}
    assert set(expiry.values()) == {1_000_000 + 3600}
    # 40 minutes later: a read notices the record and its blobs expire within half the TTL ...
    now[0] += 2400
    res = store.scan("p", "rec", "rec~", reverse=True, limit=1, follow=1)
    assert set(res.refs) == {"blob", "big"}
    # ... and the next commit refreshes what was read (chunks too) in its own transaction
    calls = Calls(store)
    store.write("p", [Put("rec2", frame(["blob", "big"], b"r2"), commit=True)])
    assert calls.take() == ["TransactWriteItems"]
    expiry = {i["SK"]["S"]: int(i["ttl"]["N"]) for i in table_items(store)}
    assert expiry.pop("unread") == 1_003_600  # never read: not refreshed
    assert set(expiry.values()) == {1_002_400 + 3600}
    # expired items read as absent even before DynamoDB removes them
    now[0] += 1300
    assert store.get("p", ["unread"]) == {}
    assert store.scan("p", "u", "v").items == []
    assert set(store.get("p", ["rec1", "rec2", "blob", "big"])) == {"rec1", "rec2", "blob", "big"}


def ttl_store(url: str, ttl: str = "1h") -> tuple[DynamoDBKV, list[float]]:
    store = from_url(url + f"&ttl={ttl}")
    store.setup()
    now = [1_000_000.0]
    store._clock = lambda: now[0]
    return store, now


def expiries(store: DynamoDBKV, partition: str = "p") -> dict[str, int]:
    return {
        i["SK"]["S"]: int(i["ttl"]["N"])
        for i in table_items(store)
        if i["PK"]["S"] == partition and "ttl" in i
    }


def test_ttl_refresh_covers_every_family_a_read_met(url_dynamodb_inproc: str) -> None:
    """Records, writes, blobs and chunks a read met near expiry are refreshed by the next
    commit even when the new record references none of them (a DeltaChannel replays ancestor
    records and writes; before, only blobs the new record referenced were refreshed)."""
    store, now = ttl_store(url_dynamodb_inproc)
    big = os.urandom(500_000)
    store.write(
        "p",
        [
            Put("b!!seed!1", big),
            Put("b!!notes!1", b"n"),
            Put("c!!01!w!task!0", b"write"),
            Put("c!!01!~", frame(["b!!seed!1", "b!!notes!1"], b"rec1"), commit=True),
        ],
    )
    now[0] += 2400
    assert len(store.scan("p", "c!", 'c"', reverse=True).items) == 2  # record + its write
    assert set(store.get("p", ["b!!seed!1", "b!!notes!1"])) == {"b!!seed!1", "b!!notes!1"}
    calls = Calls(store)
    store.write("p", [Put("c!!02!~", frame([], b"rec2"), commit=True)])
    # A record refreshed brings its writes (a keys-only Query: its history entry stays whole).
    assert calls.take() == ["Query", "TransactWriteItems"]
    got = expiries(store)
    assert len(got) == 7  # 4 items, 2 chunks, the new record
    assert set(got.values()) == {1_002_400 + 3600}, got
    # non-commit writes refresh nothing, and noted items rewritten meanwhile are not touched
    now[0] += 2400
    store.scan("p", "c!", 'c"')
    calls.take()
    store.write("p", [Put("c!!01!w!task!0", b"again")])
    assert calls.take() == ["PutItem"]
    store.write("p", [Put("c!!03!~", frame([], b"rec3"), commit=True)])
    assert calls.take() == ["Query", "Query", "TransactWriteItems"]  # records 01 and 02
    got = expiries(store)
    assert got["c!!01!w!task!0"] == got["c!!01!~"] == got["c!!02!~"] == 1_004_800 + 3600


def test_ttl_refresh_never_fails_the_write_nor_revives(url_dynamodb_inproc: str) -> None:
    """A noted item deleted meanwhile, or already expired, is skipped: the user's commit
    succeeds, the other items are refreshed, nothing expired comes back."""
    store, now = ttl_store(url_dynamodb_inproc)
    store.write("p", [Put(f"b!!ch!{i:03d}", b"v") for i in range(150)])  # noted: > 1 tx
    store.write("p", [Put("old", b"o")])
    now[0] += 2400
    assert len(store.scan("p", "b!", 'b"').items) == 150
    assert store.get("p", ["old"]) == {"old": b"o"}
    gone = [f"b!!ch!{i:03d}" for i in range(0, 150, 7)] + ["old"]
    for sk in gone[:-1]:
        store.client.delete_item(TableName=store.table, Key={"PK": {"S": "p"}, "SK": {"S": sk}})
    # "old" expires (but DynamoDB has not removed it yet) before the commit
    store.client.update_item(
        TableName=store.table,
        Key={"PK": {"S": "p"}, "SK": {"S": "old"}},
        UpdateExpression="SET #t = :t",
        ExpressionAttributeNames={"#t": "ttl"},
        ExpressionAttributeValues={":t": {"N": str(int(now[0]) - 1)}},
    )
    store.write("p", [Put("c!!01!~", frame([], b"rec"), commit=True)])
    assert store.get("p", ["c!!01!~"]) == {"c!!01!~": frame([], b"rec")}
    got = expiries(store)
    assert got.pop("old") == int(now[0]) - 1  # not revived
    assert store.get("p", ["old"]) == {}
    assert not set(gone) & set(got)  # nothing recreated
    assert set(got.values()) == {int(now[0]) + 3600}
    assert len(got) == 150 - len(gone[:-1]) + 1


def test_ttl_refresh_is_bounded_per_commit(url_dynamodb_inproc: str) -> None:
    store, now = ttl_store(url_dynamodb_inproc)
    n = TOUCH_MAX_PER_COMMIT + 150
    for i in range(0, n, 25):
        store.write("p", [Put(f"b!!ch!{j:04d}", b"v") for j in range(i, min(n, i + 25))])
    now[0] += 2400
    assert len(store.scan("p", "b!", 'b"').items) == n
    calls = Calls(store)
    store.write("p", [Put("c!!01!~", frame([], b"rec"), commit=True)])
    # 99 refreshes ride with the commit; the other 201 follow in 100-action transactions
    assert calls.take() == ["TransactWriteItems"] * 3 + ["UpdateItem"]
    fresh = int(now[0]) + 3600
    assert sum(v == fresh for v in expiries(store).values()) == TOUCH_MAX_PER_COMMIT + 1
    store.write("p", [Put("c!!02!~", frame([], b"rec"), commit=True)])  # the rest
    assert set(expiries(store).values()) == {fresh}


def test_scan_skips_expired_items_and_still_fills_its_limit(url_dynamodb_inproc: str) -> None:
    """An expired item DynamoDB has not removed yet must not shorten a page: the saver reads
    ``len(items) < limit`` as "no more items"."""
    store, now = ttl_store(url_dynamodb_inproc)
    store.write("p", [Put(f"k{i:02d}", b"v") for i in range(10)])
    for i in (1, 2, 5):  # expired, not yet removed
        store.client.update_item(
            TableName=store.table,
            Key={"PK": {"S": "p"}, "SK": {"S": f"k{i:02d}"}},
            UpdateExpression="SET #t = :t",
            ExpressionAttributeNames={"#t": "ttl"},
            ExpressionAttributeValues={":t": {"N": str(int(now[0]) - 1)}},
        )
    got = store.scan("p", "k", "l", limit=4)
    assert [k for k, _ in got.items] == ["k00", "k03", "k04", "k06"]
    got = store.scan("p", "k", "l", reverse=True, limit=5)
    assert [k for k, _ in got.items] == ["k09", "k08", "k07", "k06", "k04"]


def test_idle_thread_expires_whole(url_dynamodb_inproc: str) -> None:
    store, now = ttl_store(url_dynamodb_inproc)
    store.write("p", [Put("b!!x!1", os.urandom(500_000)), Put("c!!01!w!t!0", b"w")])
    store.write("p", [Put("c!!01!~", frame(["b!!x!1"], b"r"), commit=True)])
    now[0] += 3000
    store.scan("p", "c!", 'c"', follow=1)
    store.write("p", [Put("c!!02!~", frame(["b!!x!1"], b"r2"), commit=True)])  # refreshes
    now[0] += 3600 + 1  # idle longer than the ttl since the last commit
    assert store.scan("p", "", "~", follow=5) == ScanResult([], {})
    assert store.get("p", ["b!!x!1", "c!!01!~", "c!!01!w!t!0", "c!!02!~"]) == {}
    saver = KVCheckpointSaver(store)
    assert saver.get_tuple({"configurable": {"thread_id": "p"}}) is None


def _extend(state: list[str], writes: Sequence[list[str]]) -> list[str]:
    return [*state, *(x for w in writes for x in w)]


class DeltaChat(TypedDict, total=False):
    messages: Annotated[list[str], DeltaChannel(_extend, snapshot_frequency=5)]
    # learned on the first turn, never updated again: no snapshot ever, so every read replays
    # it from the first checkpoint's writes, which therefore must outlive any ttl
    facts: Annotated[list[str], DeltaChannel(_extend, snapshot_frequency=5)]
    day: int


def delta_chat(checkpointer: Any) -> Any:
    def reply(state: DeltaChat) -> dict[str, Any]:
        out: dict[str, Any] = {
            "messages": [f"reply to {state['messages'][-1]}"],
            "day": state.get("day", 0) + 1,
        }
        if not state.get("facts"):
            out["facts"] = ["likes tea"]
        return out

    g = StateGraph(DeltaChat)
    g.add_node("reply", reply)
    g.add_edge(START, "reply")
    g.add_edge("reply", END)
    return g.compile(checkpointer=checkpointer)


def ttl_saver(url: str, ttl: str) -> tuple[KVCheckpointSaver, DynamoDBKV, list[float]]:
    """A saver with ``?ttl=`` whose store reads a fake clock (``now[0]``, epoch seconds)."""
    saver = checkpoint_kv.from_url(url + f"&ttl={ttl}")
    saver.setup()
    store = ddb_store(saver)
    now = [1_700_000_000.0]
    store._clock = lambda: now[0]
    return saver, store, now


def sweep_expired(store: DynamoDBKV, now: float) -> int:
    """What DynamoDB's TTL process does eventually: delete items past their ``ttl`` (a
    keys-only filtered Scan, then batched deletes)."""
    kwargs: dict[str, Any] = {
        "TableName": store.table,
        "ProjectionExpression": "PK, SK",
        "FilterExpression": "#t <= :now",
        "ExpressionAttributeNames": {"#t": "ttl"},
        "ExpressionAttributeValues": {":now": {"N": str(int(now))}},
    }
    dead: list[dict[str, Any]] = []
    while True:
        resp = store.client.scan(**kwargs)
        dead += resp["Items"]
        if "LastEvaluatedKey" not in resp:
            break
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
    for i in range(0, len(dead), 25):
        store.client.batch_write_item(
            RequestItems={store.table: [{"DeleteRequest": {"Key": k}} for k in dead[i : i + 25]]}
        )
    return len(dead)


@pytest.mark.parametrize(
    ("ttl_days", "days"),
    # 30 days / 70 days: 2-5 minutes on moto (CKV_PROFILE=full)
    [(8, 24), pytest.param(30, 70, marks=[pytest.mark.slow, pytest.mark.timeout(900)])],
)
def test_ttl_with_delta_channel_keeps_an_active_thread_whole(
    url_dynamodb: str, ttl_days: int, days: int
) -> None:
    """Issue 11 item 2: one turn a day for ``days`` days (over twice the ttl), DeltaChannels
    (``messages``: a snapshot every 5 updates; ``facts``: written on day 0 only, replayed from
    there on every read): after every turn the state equals InMemorySaver's. Before, only
    blobs the new record referenced were refreshed, so the ancestors a DeltaChannel replays
    expired after ``ttl`` (the state went short, or now: CorruptRecordError). DynamoDB's TTL
    sweep is simulated each day. Then the thread, idle for longer than the ttl, is gone whole."""
    saver, store, now = ttl_saver(url_dynamodb, f"{ttl_days}d")
    graph, model = delta_chat(saver), delta_chat(InMemorySaver())
    config: Any = {"configurable": {"thread_id": "daily"}}
    for day in range(days):
        for g in (graph, model):
            g.invoke({"messages": [f"day {day}"]}, config)
        got, want = graph.get_state(config).values, model.get_state(config).values
        assert got == want, f"day {day}: {len(got.get('messages', []))} messages"
        now[0] += 86400
        sweep_expired(store, now[0])
    assert len(want["messages"]) == 2 * days and want["facts"] == ["likes tea"]
    now[0] += ttl_days * 86400  # idle: the last commit was a day ago, now ttl + 1 day
    assert graph.get_state(config).values == {}
    assert saver.get_tuple(config) is None
    assert sweep_expired(store, now[0]) > 0 and table_items(store) == []


class GrowingChat(TypedDict, total=False):
    messages: Annotated[list[str], operator.add]


def growing_chat(checkpointer: Any) -> Any:
    def reply(state: GrowingChat) -> dict[str, Any]:
        return {"messages": [f"reply {len(state['messages'])} " + "x" * 300]}

    g = StateGraph(GrowingChat)
    g.add_node("reply", reply)
    g.add_edge(START, "reply")
    g.add_edge("reply", END)
    return g.compile(checkpointer=checkpointer)


def test_ttl_never_expires_a_base_before_the_value_that_extends_it(url_dynamodb: str) -> None:
    """Issue 23: a plain chat's list is stored as the bytes it grew by, on a chain of earlier
    records (the whole value written on day 0 or at the chain's last reset). One turn a day for
    24 days with ttl=8d: the records a read meets (the chain too, named in the reference
    header) are refreshed by the next commit, so the bases outlive the values built on them;
    every day's state equals InMemorySaver's, and the values really were stored grown."""
    saver, store, now = ttl_saver(url_dynamodb, "8d")
    graph, model = growing_chat(saver), growing_chat(InMemorySaver())
    config: Any = {"configurable": {"thread_id": "growing"}}
    for day in range(24):
        for g in (graph, model):
            g.invoke({"messages": [f"day {day} " + "y" * 300]}, config)
        # A new saver each day (a new Lambda): nothing remembered, everything read.
        fresh = growing_chat(checkpoint_kv.from_url(url_dynamodb + "&ttl=8d"))
        ddb_store(fresh.checkpointer)._clock = lambda: now[0]
        assert fresh.get_state(config).values == model.get_state(config).values, f"day {day}"
        now[0] += 86400
        sweep_expired(store, now[0])
    latest = saver.get_tuple(config)
    assert latest is not None
    raw = store.get(
        K.partition("growing"), [K.record_key("", latest.config["configurable"]["checkpoint_id"])]
    )
    assert R.decode_stored_checkpoint(*next(iter(raw.items())))[1].grown, "not stored grown"


# --- URL, repr, cold start, partitions (in-process moto) ------------------------------------


def test_url_options() -> None:
    store = from_url(
        "dynamodb://my-table?region=eu-west-1&ttl=30d&consistent_read=false&prefix=app1%3Ax"
        "&max_attempts=7&retry_mode=adaptive&connect_timeout=2&read_timeout=20"
    )
    assert (store.table, store.region, store.ttl) == ("my-table", "eu-west-1", 30 * 86400)
    assert store.consistent_read is False and store.prefix == "app1:x"
    assert "my-table" in repr(store) and "eu-west-1" in repr(store)
    cfg = store.client.meta.config
    assert cfg.retries == {"mode": "adaptive", "total_max_attempts": 7}
    assert (cfg.connect_timeout, cfg.read_timeout) == (2.0, 20.0)
    for bad in (
        "dynamodb://",
        "dynamodb://t?region=us-east-1",  # too short a name
        "dynamodb://table?regoin=us-east-1",
        "dynamodb://table?region=us-east-1&ttl=soon",
        "dynamodb://table?region=us-east-1&consistent_read=maybe",
        "dynamodb://table?region=us-east-1&prefix=app1%23",  # '#' ends a prefix
        "dynamodb://table?region=us-east-1&prefix=a%23b",
        "dynamodb://table?region=us-east-1&max_attempts=0",
        "dynamodb://table?region=us-east-1&max_attempts=3&max_retries=2",
        "dynamodb://table?region=us-east-1&max_retries=many",
        "dynamodb://table?region=us-east-1&retry_mode=legacy",
        "dynamodb://table?region=us-east-1&read_timeout=0",
        "dynamodb://table?region=us-east-1&connect_timeout=soon",
    ):
        with pytest.raises(ConfigError):
            from_url(bad)
    saver = checkpoint_kv.from_url("ddb://my-table?region=eu-west-1&history=latest")
    assert isinstance(saver.store, DynamoDBKV) and saver.shallow


def test_import_does_not_load_boto3() -> None:
    code = (
        "import sys, checkpoint_kv; assert 'boto3' not in sys.modules, 'boto3 imported'; "
        "checkpoint_kv.from_url('dynamodb://tbl?region=us-east-1'); assert 'boto3' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_partitions_page_once_each(url_dynamodb_inproc: str) -> None:
    store = from_url(url_dynamodb_inproc + "&prefix=a%3A")
    other = from_url(url_dynamodb_inproc + "&prefix=b%3A")
    store.setup()
    value = b"v" * 150_000  # several items per partition spill over 1 MB scan pages
    for p in ("t1", "t2", "t3", "t4"):
        store.write(p, [Put(f"k{i}", value) for i in range(5)])
    other.write("zz", [Put("k", b"v")])
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = store.partitions(cursor)
        pages += 1
        seen += page.partitions
        cursor = page.cursor
        if cursor is None:
            break
    assert sorted(seen) == ["t1", "t2", "t3", "t4"] and pages > 1
    saver = KVCheckpointSaver(store)
    assert list(saver.list(None)) == []  # partitions without records list nothing


def test_prefixes_that_extend_one_another_are_isolated(url_dynamodb_inproc: str) -> None:
    """Issue 11 item 3: ``acme`` + ``1x`` and ``acme1`` + ``x`` were one partition key; and
    the empty prefix listed every tenant's threads."""
    tenants = {p: from_url(url_dynamodb_inproc + (f"&prefix={p}" if p else "")) for p in PREFIXES}
    tenants[""].setup()
    threads = {"": "ax", "a": "x", "acme": "1x", "acme1": "x"}
    for p, store in tenants.items():
        store.write(threads[p], [Put("k", p.encode() or b"root")])
    for p, store in tenants.items():
        assert store.get(threads[p], ["k"]) == {"k": p.encode() or b"root"}, p
        assert all_partitions(store) == [threads[p]], p
    assert tenants["acme1"].get("x", ["k"]) == {"k": b"acme1"}
    assert tenants["acme"].get("x", ["k"]) == {}
    assert tenants[""].get("ax", ["k"]) == {"k": b"root"}
    with pytest.raises(ConfigError, match="#"):
        tenants[""].write("a#x", [Put("k", b"impostor")])
    # through the saver: list(None) shows each tenant only its own threads
    for p, store in tenants.items():
        saver = KVCheckpointSaver(store)
        config: Any = {"configurable": {"thread_id": threads[p] + "-t", "checkpoint_ns": ""}}
        saver.put(config, empty_checkpoint(), {"source": "input", "step": -1}, {})
    for p, store in tenants.items():
        seen = {t.config["configurable"]["thread_id"] for t in KVCheckpointSaver(store).list(None)}
        assert seen == {threads[p] + "-t"}, p


PREFIXES = ("", "a", "acme", "acme1")


def all_partitions(store: DynamoDBKV) -> list[str]:
    out: list[str] = []
    cursor = None
    while True:
        page = store.partitions(cursor)
        out += page.partitions
        cursor = page.cursor
        if cursor is None:
            return sorted(out)


def test_shallow_saver_on_dynamodb(url_dynamodb: str) -> None:
    # moto server: in-process moto is not thread-safe, and LangGraph writes from threads
    saver = checkpoint_kv.from_url(url_dynamodb + "&history=latest")
    saver.setup()
    graph = chat_graph(saver)
    config: Any = {"configurable": {"thread_id": "s"}}
    for i in range(3):
        graph.invoke({"messages": [f"m{i}"]}, config)
    assert len(list(saver.list(config))) == 1
    state = graph.get_state(config)
    assert state.values["turns"] == 3 and len(state.values["messages"]) == 6
    saver.delete_thread("s")
    assert saver.get_tuple(config) is None


# --- the Lambda example ------------------------------------------------------------------------


def _load_handler(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, EXAMPLE / "handler.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # as Lambda's import does: LangGraph resolves State's hints
    spec.loader.exec_module(module)
    return module


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (!Ref, !Sub, !GetAtt) as plain values."""


_CfnLoader.add_multi_constructor(
    "!",
    lambda loader, suffix, node: (
        loader.construct_scalar(node)
        if isinstance(node, yaml.ScalarNode)
        else loader.construct_sequence(node)
    ),
)

# Which IAM actions an API call needs (TransactWriteItems: one per action kind inside it).
_IAM: dict[str, Callable[[dict[str, Any]], set[str]]] = {
    "TransactWriteItems": lambda p: {
        {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem"}[k]
        for item in p["TransactItems"]
        for k in item
    },
}


def test_lambda_example_against_moto(
    url_dynamodb: str, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkpoint_kv.from_url(url_dynamodb + "&ttl=30d").setup()  # the template does it in AWS
    # As in Lambda: the URL carries only the store's options (the template's), the module-scope
    # client finds its region and endpoint in the environment.
    table = url_dynamodb.split("://", 1)[1].split("?", 1)[0]
    monkeypatch.setenv("CHECKPOINT_KV_URL", f"dynamodb://{table}?ttl=30d")
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    module = _load_handler("lambda_agent_handler")
    saver = module.SAVER
    store = ddb_store(saver)
    assert store.client is module.DYNAMODB and not store.owns_client  # the handler's own client
    assert store.endpoint_url == moto_endpoint  # hints name the emulator, not AWS
    closes: list[int] = []
    monkeypatch.setattr(module.DYNAMODB, "close", lambda: closes.append(1))
    needed: set[str] = set()

    def record(model: Any, params: dict[str, Any], **kw: Any) -> None:
        needed.update(_IAM.get(model.name, lambda p: {model.name})(params))

    store.client.meta.events.register("before-parameter-build.dynamodb", record)
    calls = Calls(store)

    out = module.handler({"thread_id": "user-1", "message": "hello"}, None)
    assert out["statusCode"] == 200 and out["turns"] == 1
    first = calls.take()
    out = module.handler({"thread_id": "user-1", "message": "how are you?"}, None)
    assert out["turns"] == 2 and out["reply"].startswith("You asked")
    warm = calls.take()
    body = '{"thread_id": "user-2", "message": "hi"}'
    assert module.handler({"body": body}, None)["turns"] == 1  # API Gateway event, new thread
    assert module.handler({"message": "no thread"}, None)["statusCode"] == 400
    assert module.SAVER is saver  # created once at module scope, reused

    # 1 load (one Query: the latest record, its writes and its homes) + 1 call per write
    assert first.count("Query") == 1 and "BatchGetItem" not in first
    assert warm.count("Query") == 1 and warm.count("BatchGetItem") == 0
    assert len(warm) == 1 + 7, warm  # 4 puts + 3 put_writes
    assert "DescribeTable" not in warm and "Scan" not in warm

    # least privilege: the template grants exactly what was used, plus what delete needs
    template = yaml.load((EXAMPLE / "template.yaml").read_text(), Loader=_CfnLoader)
    policies = template["Resources"]["AgentFunction"]["Properties"]["Policies"]
    granted = {
        action.split(":", 1)[1]
        for policy in policies
        for stmt in policy["Statement"]
        for action in stmt["Action"]
    }
    saver.delete_thread("user-1")
    assert module.handler({"thread_id": "user-1", "message": "again"}, None)["turns"] == 1
    assert needed <= granted, needed - granted
    assert "Scan" not in granted and "DescribeTable" not in granted
    saver.close()  # what a `with` around the saver would do: the handler's client stays open
    assert closes == [] and module.DYNAMODB.list_tables()["TableNames"]
    table = template["Resources"]["CheckpointTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
