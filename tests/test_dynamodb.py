"""DynamoDB backend: API calls per saver operation, large values, throttling, TTL, errors, and
the Lambda example, on moto's server (real HTTP) and, for fast unit tests, ``mock_aws``."""

from __future__ import annotations

import asyncio
import importlib.util
import operator
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
import yaml
from checkpoint_kv.backends.dynamodb import (
    CHUNK_MARK,
    DynamoDBError,
    DynamoDBStore,
    from_url,
)
from langgraph.checkpoint.base.id import uuid6
from langgraph.graph import END, START, StateGraph

import checkpoint_kv
from checkpoint_kv import KVCheckpointSaver
from checkpoint_kv.errors import ConfigError, StoreNotFoundError
from checkpoint_kv.port import Delete, DeleteRange, Put, frame
from checkpoint_kv.registry import open_store

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "lambda_agent"


# --- helpers ----------------------------------------------------------------------------------


class Calls:
    """Counts API calls with botocore's ``before-call`` event (one per request sent)."""

    def __init__(self, store: DynamoDBStore) -> None:
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


def inject(store: DynamoDBStore, operation: str, errors: list[dict[str, Any]]) -> None:
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


def ddb_store(saver: KVCheckpointSaver) -> DynamoDBStore:
    assert isinstance(saver.store, DynamoDBStore)
    return saver.store


def table_items(store: DynamoDBStore) -> list[dict[str, Any]]:
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
    assert len(got) <= 2, got
    assert got == ["Query", "BatchGetItem"]

    history = list(saver.list(config, limit=10))
    assert len(history) == 10
    got = calls.take()
    assert len(got) <= 3, got

    # put: one changed channel -> its blob and the record in one TransactWriteItems
    cp = latest.checkpoint
    versions = {"notes": saver.get_next_version(cp["channel_versions"]["notes"])}
    new_cp: Any = {
        **cp,
        "id": str(uuid6(clock_seq=-2)),
        "channel_versions": {**cp["channel_versions"], **versions},
        "channel_values": {**cp["channel_values"], "notes": "changed"},
    }
    next_config = saver.put(latest.config, new_cp, {"source": "update", "step": 99}, versions)
    assert calls.take() == ["TransactWriteItems"]

    # put_writes: one call, whatever the number of writes
    saver.put_writes(next_config, [("messages", ["a"]), ("notes", "b")], task_id="t1")
    assert calls.take() == ["TransactWriteItems"]
    saver.put_writes(next_config, [("messages", ["a"])], task_id="t2")
    assert calls.take() == ["PutItem"]

    again = saver.get_tuple({"configurable": {"thread_id": "chat-1"}})
    assert again is not None and again.checkpoint["channel_values"]["notes"] == "changed"
    assert [w[0] for w in again.pending_writes] == ["t1", "t1", "t2"]
    assert calls.take() == ["Query", "BatchGetItem"]


def test_graph_step_calls_and_async_parity(saver: KVCheckpointSaver) -> None:
    """A whole turn: 1 load (Query + BatchGetItem) and 1 call per put / put_writes; the async
    twin makes exactly the same calls."""
    store = ddb_store(saver)
    graph = chat_graph(saver)
    config: Any = {"configurable": {"thread_id": "parity"}}
    graph.invoke({"messages": ["warm up"]}, config)
    calls = Calls(store)
    graph.invoke({"messages": ["sync turn"]}, config)
    sync_calls = calls.take()
    asyncio.run(graph.ainvoke({"messages": ["async turn"]}, config))
    async_calls = calls.take()
    assert sorted(sync_calls) == sorted(async_calls)
    assert sync_calls.count("Query") == 1 and sync_calls.count("BatchGetItem") == 1
    # 4 checkpoints (input, start, think, answer) + 3 tasks' writes = 7 writes, one call each
    writes = [c for c in sync_calls if c in ("TransactWriteItems", "PutItem")]
    assert len(writes) == len(sync_calls) - 2 == 7, sync_calls

    async def aget() -> list[str]:
        await saver.aget_tuple(config)
        return calls.take()

    assert asyncio.run(aget()) == ["Query", "BatchGetItem"]


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
    # + 1 call for the blob's chunks (the chunks of the parent checkpoint's 5 MB pending write,
    # which the saver's first page also reads, come in the same BatchGetItem as the blob heads)
    assert calls.take() == ["Query", "BatchGetItem", "BatchGetItem"]
    # writing it again: chunks (one BatchWriteItem), then the head, then the record
    latest = saver.get_tuple(config)
    assert latest is not None
    cp: Any = {**latest.checkpoint, "id": str(uuid6(clock_seq=-2))}
    versions = {"blob": saver.get_next_version(cp["channel_versions"]["blob"])}
    cp["channel_versions"] = {**cp["channel_versions"], **versions}
    cp["channel_values"] = {**cp["channel_values"], "blob": big[::-1]}
    calls.take()
    saver.put(latest.config, cp, {"source": "update", "step": 5}, versions)
    assert calls.take() == ["BatchWriteItem", "PutItem", "PutItem"]
    again = saver.get_tuple(config)
    assert again is not None and again.checkpoint["channel_values"]["blob"] == big[::-1]
    calls.take()
    state = graph.get_state(state.config)
    assert state.values["blob"] == big and state.values["n"] == 1
    assert calls.take() == ["Query", "BatchGetItem", "BatchGetItem"]  # by id: the same
    # no chunk is visible to a scan, however wide
    every = store.scan("big", "", "\U0010ffff").items
    assert every and all(not k.startswith(CHUNK_MARK) for k, _ in every)
    # and none is bigger than DynamoDB's item limit
    assert max(len(i.get("v", {}).get("B", b"")) for i in table_items(store)) < 400 * 1024


def test_chunked_values_port_semantics(url_dynamodb: str) -> None:
    store = open_store(url_dynamodb)
    store.setup()
    assert isinstance(store, DynamoDBStore)
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


# --- errors, throttling, setup ----------------------------------------------------------------


def test_throttling_is_retried_with_backoff(url_dynamodb: str) -> None:
    store = from_url(url_dynamodb)
    store.setup()
    sleeps: list[float] = []
    store._sleep = sleeps.append
    calls = Calls(store)
    inject(
        store,
        "TransactWriteItems",
        [throttle("ThrottlingException"), throttle("ProvisionedThroughputExceededException")],
    )
    store.write("p", [Put("a", b"1"), Put("b", b"2")])
    assert calls.take() == ["TransactWriteItems"]  # 2 injected throttles, then the real one
    assert len(sleeps) == 2 and sleeps[0] > 0 and sleeps[1] > 0
    assert store.get("p", ["a", "b"]) == {"a": b"1", "b": b"2"}
    # a transaction cancelled because of throttling is retried as well
    cancelled = {
        "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
        "CancellationReasons": [{"Code": "ThrottlingError"}, {"Code": "None"}],
        "ResponseMetadata": {},
    }
    inject(store, "TransactWriteItems", [cancelled])
    store.write("p", [Put("c", b"3"), Put("d", b"4")])
    assert store.get("p", ["c", "d"]) == {"c": b"3", "d": b"4"}
    # and reads
    inject(store, "Query", [throttle(), throttle()])
    assert len(store.scan("p", "a", "z").items) == 4
    # giving up names table and region
    store.max_retries = 2
    inject(store, "Query", [throttle()] * 3)
    with pytest.raises(DynamoDBError, match=f"{store.table}.*us-east-1"):
        store.scan("p", "a", "z")


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


# --- TTL ------------------------------------------------------------------------------------


def test_ttl_attribute_expiry_and_refresh(url_dynamodb: str) -> None:
    store = from_url(url_dynamodb + "&ttl=1h")
    store.setup()
    ttl = store.client.describe_time_to_live(TableName=store.table)["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "ENABLED" and ttl["AttributeName"] == "ttl"
    now = [1_000_000.0]
    store._clock = lambda: now[0]
    store.write("p", [Put("blob", b"b"), Put("big", os.urandom(500_000))])
    store.write("p", [Put("rec1", frame(["blob", "big"], b"r1"), commit=True)])
    expiry = {i["SK"]["S"]: int(i["ttl"]["N"]) for i in table_items(store)}
    assert set(expiry.values()) == {1_000_000 + 3600}
    # 40 minutes later: a read notices the blobs expire within half the TTL ...
    now[0] += 2400
    res = store.scan("p", "rec", "rec~", reverse=True, limit=1, follow=1)
    assert set(res.refs) == {"blob", "big"}
    # ... and the next commit that references them refreshes them (and their chunks)
    calls = Calls(store)
    store.write("p", [Put("rec2", frame(["blob", "big"], b"r2"), commit=True)])
    assert calls.take() == ["TransactWriteItems"]
    expiry = {i["SK"]["S"]: int(i["ttl"]["N"]) for i in table_items(store)}
    assert all(v == 1_002_400 + 3600 for k, v in expiry.items() if k != "rec1")
    # expired items read as absent even before DynamoDB removes them
    now[0] += 1300
    assert store.get("p", ["rec1"]) == {}
    assert store.get("p", ["rec2"]) != {}


# --- URL, repr, cold start, partitions (in-process moto) ------------------------------------


def test_url_options() -> None:
    store = from_url(
        "dynamodb://my-table?region=eu-west-1&ttl=30d&consistent_read=false&prefix=app1%23"
    )
    assert (store.table, store.region, store.ttl) == ("my-table", "eu-west-1", 30 * 86400)
    assert store.consistent_read is False and store.prefix == "app1#"
    assert "my-table" in repr(store) and "eu-west-1" in repr(store)
    for bad in (
        "dynamodb://",
        "dynamodb://t?region=us-east-1",  # too short a name
        "dynamodb://table?regoin=us-east-1",
        "dynamodb://table?region=us-east-1&ttl=soon",
        "dynamodb://table?region=us-east-1&consistent_read=maybe",
    ):
        with pytest.raises(ConfigError):
            from_url(bad)
    saver = checkpoint_kv.from_url("ddb://my-table?region=eu-west-1&history=latest")
    assert isinstance(saver.store, DynamoDBStore) and saver.shallow


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


def test_lambda_example_against_moto(url_dynamodb: str, monkeypatch: pytest.MonkeyPatch) -> None:
    url = url_dynamodb + "&ttl=30d"
    checkpoint_kv.from_url(url).setup()  # the template creates the table in AWS
    monkeypatch.setenv("CHECKPOINT_KV_URL", url)
    module = _load_handler("lambda_agent_handler")
    saver = module.SAVER
    store = ddb_store(saver)
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

    # 1 load (a new thread: Query only; then Query + BatchGetItem) + 1 call per write
    assert first.count("Query") == 1 and "BatchGetItem" not in first
    assert warm.count("Query") == 1 and warm.count("BatchGetItem") == 1
    assert len(warm) == 2 + 7, warm  # 4 puts + 3 put_writes
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
    table = template["Resources"]["CheckpointTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
