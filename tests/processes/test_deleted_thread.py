"""A deleted thread stays deleted, on every backend (the interleaving model test puts
``delete_thread`` at every point of a live run, tests/processes/test_interleavings.py).

Semantics (docs/RELIABILITY.md): after ``delete_thread(t)`` returns, a ``put`` or
``put_writes`` of a run that started before it is dropped: it leaves a record no read shows
(its incarnation's mark is gone), which the next prune removes. A new run on ``t`` starts
clean and never mixes with those late writes. Costs: ``delete_thread`` one call, a ``put``
one call (its first in a namespace writes the mark in that same call).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

import checkpoint_kv
from checkpoint_kv import KVCheckpointSaver
from checkpoint_kv import keys as K
from checkpoint_kv.port_wrappers import CountingKV
from tests.processes.test_maintenance import Run, conf, other_process, values
from tests.support.graphs import cfg, chat_builder

pytestmark = pytest.mark.usefixtures("no_carry")


def test_late_puts_after_delete_are_never_shown(saver: KVCheckpointSaver) -> None:
    run = Run(saver, "t", "r1")
    first = run.step("m0")
    run.step("m1")
    other_process(saver).delete_thread("t")
    late = run.step("m2")  # the run goes on: its process does not know
    saver.put_writes(conf("t", late), [("messages", "late")], "task")
    fresh = other_process(saver)
    assert fresh.get_tuple(conf("t")) is None
    assert fresh.get_tuple(conf("t", late)) is None
    assert fresh.get_tuple(conf("t", first)) is None
    assert list(fresh.list(conf("t"))) == []
    assert all(t.config["configurable"]["thread_id"] != "t" for t in fresh.list(None))
    assert saver.get_tuple(conf("t")) is None  # nor to the late writer itself


def test_a_new_run_after_delete_starts_clean_and_never_mixes(saver: KVCheckpointSaver) -> None:
    old = Run(saver, "t", "r1")
    old.step("old0")
    other_process(saver).delete_thread("t")
    new = Run(other_process(saver), "t", "r2")  # reads nothing: starts a new incarnation
    assert new.parent is None
    new.step("new0")
    old.step("old1")  # late, after the new run began
    new.step("new1")
    fresh = other_process(saver)
    assert values(fresh, "t") == {"doc": "d" * 3000, "messages": ["new0", "new1"]}
    assert [t.metadata["run_id"] for t in fresh.list(conf("t"))] == ["r2", "r2"]


def test_prune_removes_late_writes(saver: KVCheckpointSaver) -> None:
    run = Run(saver, "t", "r1")
    run.step("m0")
    other_process(saver).delete_thread("t")
    run.step("m1")
    run.step("m2")
    part = K.partition("t")
    assert any(K.is_record(k) for k, _ in saver.store.scan(part, *K.ALL_CHECKPOINTS).items)
    other_process(saver).prune(["t"])
    assert not any(K.is_record(k) for k, _ in saver.store.scan(part, *K.ALL_CHECKPOINTS).items)


def test_a_graph_resumed_after_delete_starts_a_new_thread(saver: KVCheckpointSaver) -> None:
    """With a real graph: chats, the thread deleted by another process, the chat goes on."""
    b = chat_builder()
    graph = b.compile(checkpointer=saver)
    graph.invoke({"messages": ["hi"]}, cfg("g"))
    other_process(saver).delete_thread("g")
    graph.invoke({"messages": ["again"]}, cfg("g"))
    assert graph.get_state(cfg("g")).values["messages"] == ["again", "bot:1"]
    fresh = b.compile(checkpointer=other_process(saver))
    assert fresh.get_state(cfg("g")).values["messages"] == ["again", "bot:1"]


def test_the_mechanism_costs_no_round_trip(saver: KVCheckpointSaver) -> None:
    """A put is one call (the first of a namespace writes its mark in that call), a latest
    read one call (the mark sorts above the records: it comes with the page), delete one."""
    counting = CountingKV(saver.store)
    s = KVCheckpointSaver(counting, serde=saver.serde)
    run = Run(s, "c", "r1")
    counting.reset()
    run.step("m0")
    assert counting.calls == {"write": 1}
    counting.reset()
    run.step("m1")
    assert counting.calls == {"write": 1}
    counting.reset()
    assert values(KVCheckpointSaver(counting, serde=saver.serde), "c")["messages"] == ["m0", "m1"]
    assert counting.total == 1
    counting.reset()
    s.delete_thread("c")
    assert counting.calls == {"drop": 1}


@pytest.mark.parametrize("backend_name", ["dynamodb_inproc", "s3"])
def test_delete_between_the_two_requests_of_one_read(
    backend_name: str, request: pytest.FixtureRequest
) -> None:
    """On DynamoDB (a Query, then a BatchGetItem for a home outside the page) and S3 (a LIST,
    then GETs) one read is two requests: a ``delete_thread`` from another process between
    them leaves the record read naming a home that is gone. The thread reads as deleted,
    never as damaged (found by tests/processes/test_processes_delete.py)."""
    url = str(request.getfixturevalue(f"url_{backend_name}"))
    writer = checkpoint_kv.from_url(url)
    writer.setup()
    run = Run(writer, "t", "r1")
    for i in range(12):
        run.step(f"m{i}")  # doc lives in the first record, outside the latest page
    reader, deleter = checkpoint_kv.from_url(url), checkpoint_kv.from_url(url)
    store: Any = reader.store
    # The second request: DynamoDB's BatchGetItem, S3's wave of GETs.
    if backend_name == "dynamodb_inproc":
        target, name, nth = store, "_call", 1
    else:
        target, name, nth = store._objects, "get_many", 2
    real = getattr(target, name)
    calls = []

    def second_request(*args: Any, **kwargs: Any) -> Any:
        if name != "_call" or args[0] == "batch_get_item":
            calls.append(args)
            if len(calls) == nth:
                deleter.delete_thread("t")
        return real(*args, **kwargs)

    setattr(target, name, second_request)
    assert reader.get_tuple(conf("t")) is None
    assert calls  # the read did take a second request, and the delete ran before it
    assert deleter.get_tuple(conf("t")) is None


def test_a_run_resumed_after_its_thread_expired_dynamodb(url_dynamodb_inproc: str) -> None:
    """TTL: every item of an idle thread expires; the run that wrote it goes on (its process
    kept its caches): its late checkpoint is never shown, and a new run starts clean."""
    saver = checkpoint_kv.from_url(url_dynamodb_inproc + "&ttl=1h")
    saver.setup()
    store: Any = saver.store
    now = [1_000_000.0]
    store._clock = lambda: now[0]
    run = Run(saver, "t", "r1")
    for i in range(3):
        run.step(f"m{i}")
    now[0] += 7200  # two hours idle: all of it expired (DynamoDB may not have removed it yet)
    run.step("late")
    assert other_process(saver).get_tuple(conf("t")) is None
    new = Run(other_process(saver), "t", "r2")
    new.step("fresh")
    assert values(other_process(saver), "t") == {"doc": "d" * 3000, "messages": ["fresh"]}


def test_a_run_resumed_after_its_thread_expired_redis(url_redis: str) -> None:
    """The same on a real Redis, whose keys of a thread share one expiry (1 s here)."""
    saver = checkpoint_kv.from_url(url_redis + "&ttl=1")
    saver.setup()
    run = Run(saver, "t", "r1")
    for i in range(3):
        run.step(f"m{i}")
    time.sleep(1.6)
    run.step("late")
    assert other_process(saver).get_tuple(conf("t")) is None
    Run(other_process(saver), "t", "r2").step("fresh")
    assert values(other_process(saver), "t")["messages"] == ["fresh"]
