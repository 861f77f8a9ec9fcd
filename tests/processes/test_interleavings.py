"""The interleaving model test: a live graph run beside prune, delete_for_runs, copy_thread and
a second writer forking the thread, each a separate "process" (its own caches), their port
calls interleaved at every point on one real store (``tests/support/interleave.py``), and what the
store holds afterwards compared with a model: ``InMemorySaver`` plus the maintenance semantics,
applied in the order the port calls took effect.

- Two actors: every interleaving (exhaustive) on the fast backends; seeded random schedules on
  the servers (moto's, the cluster), where every port call is a request.
- Three actors, and crashes (an actor killed between two of its port calls): seeded random.
Maintenance takes effect in the model where it does in the store: it decides at its read of a
thread (the model computes what it must delete then) and acts at its write that deletes the
records (the test checks it deleted exactly that). So a crash between any two port calls needs
no special case: the model holds what the calls that ran did. ``CorruptRecordError`` anywhere
is a failure: no record is damaged here, so one would mean a checkpoint without its data.

``CKV_INTERLEAVINGS=long`` samples many more schedules.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Generator
from typing import Any, TypeVar

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import Checkpoint, CheckpointMetadata, empty_checkpoint
from langgraph.checkpoint.base.id import uuid6

import checkpoint_kv
from checkpoint_kv import KVCheckpointSaver
from checkpoint_kv import keys as K
from checkpoint_kv.drive import Drop, OnTarget, Write
from checkpoint_kv.port import Delete
from checkpoint_kv.saver.codec import Codec
from checkpoint_kv.saver.locator import Locator
from checkpoint_kv.saver.maintenance import plan_copy_thread, plan_delete_for_runs, plan_prune
from checkpoint_kv.saver.reads import plan_get_tuple
from checkpoint_kv.saver.writes import plan_put, plan_put_writes
from tests.contract.test_model import Model, _norm
from tests.support.interleave import Actor, Run, explore, run_schedule, sample

T = TypeVar("T")
LONG = os.environ.get("CKV_INTERLEAVINGS") == "long"
EXHAUSTIVE = {"memory", "sqlite", "fakeredis", "redis"}
SAMPLES = 400 if LONG else 12  # random schedules per scenario on the slow backends
SAMPLES_3 = 600 if LONG else 30  # three actors, with crashes, on the fast backends

pytestmark = pytest.mark.usefixtures("no_carry")  # unchanged values are read from their homes

DOC = "d" * 3000  # written once, never changed: every later record names its home


def _conf(thread: str, cid: str | None = None) -> RunnableConfig:
    conf: dict[str, Any] = {"thread_id": thread, "checkpoint_ns": ""}
    if cid is not None:
        conf["checkpoint_id"] = cid
    return {"configurable": conf}


class Writer:
    """Builds the checkpoints a graph run would put: ``doc`` set once, ``messages`` growing at
    every step, ``count`` changed every other step (so homes of all ages are named)."""

    counter = 0

    def __init__(self, saver: KVCheckpointSaver) -> None:
        self.saver = saver

    def next_id(self) -> str:
        """A real uuid6, as LangGraph makes: time-ordered, and recent (``_extendable``)."""
        Writer.counter += 1
        return str(uuid6())

    def child(
        self, parent: tuple[str, Checkpoint] | None, run_id: str, step: int, tag: str
    ) -> tuple[Checkpoint, CheckpointMetadata, dict[str, Any]]:
        versions = dict(parent[1]["channel_versions"]) if parent else {}
        values = dict(parent[1]["channel_values"]) if parent else {}
        # ~600 bytes a message: from the second step the list is stored as the bytes it grew by
        # (saver/growth.py), so every schedule below also runs over chains of grown values.
        changed = {"messages": [*values.get("messages", []), f"{tag}:{step}" * 150]}
        if parent is None:
            changed["doc"] = DOC
        if step % 2 == 0:
            changed["count"] = step
        new_versions = {}
        for ch, v in changed.items():
            versions[ch] = new_versions[ch] = self.saver.get_next_version(versions.get(ch))
            values[ch] = v
        cp = empty_checkpoint()
        cp["id"] = self.next_id()
        cp["channel_versions"] = versions
        cp["channel_values"] = values
        md: CheckpointMetadata = {"source": "loop", "step": step, "run_id": run_id}  # type: ignore[typeddict-item]
        return cp, md, new_versions


def writer_actor(
    run: Run, me: int, saver: KVCheckpointSaver, thread: str, run_id: str, steps: int, tag: str
) -> Actor:
    """A graph run in its own process: read the latest checkpoint, then ``steps`` supersteps,
    each a put and a put_writes (with a fresh Locator: this process's own cache)."""
    codec = Codec(saver.serde, Locator())
    w = Writer(saver)
    tup = yield from plan_get_tuple(codec, _conf(thread))
    parent = None if tup is None else (tup.config["configurable"]["checkpoint_id"], tup.checkpoint)
    for step in range(steps):
        cp, md, nv = w.child(parent, run_id, step, tag)
        config = _conf(thread, parent[0] if parent else None)
        out = yield from armed(
            run, me, plan_put(codec, False, config, cp, md, nv), "put", (config, cp, md, nv)
        )
        writes = [("messages", f"pending {tag}:{step}")]
        wargs = (out, writes, f"task-{tag}", "")
        yield from armed(run, me, plan_put_writes(codec, *wargs), "put_writes", wargs)
        parent = (cp["id"], cp)


def armed(
    run: Run, me: int, plan: Generator[Any, Any, T], kind: str, args: tuple[Any, ...]
) -> Generator[Any, Any, T]:
    """``plan``, with ``kind`` armed at its write (where a put takes effect)."""
    result: Any = None
    while True:
        try:
            req = plan.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        if isinstance(req, Write):
            run.arm(me, kind, *args)
        result = yield req


def watched(run: Run, me: int, plan: Actor, kind: str, args: tuple[Any, ...]) -> Actor:
    """A maintenance plan, reporting its read of each thread's records (what it decides on:
    the model computes then what it must delete) and its write that deletes records (where
    the deletion takes effect: the model checks it deleted exactly that, and applies it)."""
    result: Any = None
    while True:
        try:
            req = plan.send(result)
        except StopIteration:
            return
        if getattr(req, "start", None) == K.ALL_CHECKPOINTS[0] and not isinstance(req, OnTarget):
            run.arm(me, "read", kind, args, req.partition)  # type: ignore[union-attr]
        elif isinstance(req, OnTarget) and isinstance(req.request, Write):
            cids = [op.key.split(K.SEP)[2] for op in req.request.ops if K.is_record(op.key)]
            if cids:
                run.arm(me, "copied", cids)
        elif isinstance(req, Write):
            cids = [
                op.key.split(K.SEP)[2]
                for op in req.ops
                if isinstance(op, Delete) and K.is_record(op.key)
            ]
            if cids:
                run.arm(me, "delete", req.partition, cids)
        result = yield req


def _apply(model: Model, events: list[Any], roots: dict[str, str]) -> None:
    """Replay the events in the order their port calls ran.

    ``delete_thread`` semantics: a put belongs to the incarnation its first put without
    parent began (``roots``: checkpoint id -> that put's id); one whose incarnation began
    before the thread's last delete is dropped (a late write: never shown), and a prune
    deletes those it finds besides what it must."""
    due: dict[tuple[int, str], set[str]] = {}  # (actor, thread) -> what it must delete
    born: dict[str, int] = {r: -1 for r in roots.values()}  # root -> step it began
    deleted: dict[str, int] = {}  # thread -> step of its last delete
    ghosts: dict[str, dict[str, int]] = {}  # thread -> dropped put -> its step
    for e in sorted(events, key=lambda e: e.step):
        if e.kind == "put":
            config, cp = e.args[0], e.args[1]
            thread, parent = (
                config["configurable"]["thread_id"],
                config["configurable"].get("checkpoint_id"),
            )
            root = roots[cp["id"]] = roots.get(parent, cp["id"]) if parent else cp["id"]
            born.setdefault(root, e.step)
            if born[root] > deleted.get(thread, -2):
                model.put(*e.args)
            else:
                ghosts.setdefault(thread, {})[cp["id"]] = e.step
        elif e.kind == "put_writes":
            cid = e.args[0]["configurable"]["checkpoint_id"]
            if cid not in ghosts.get(e.args[0]["configurable"]["thread_id"], {}):
                model.put_writes(*e.args)
        elif e.kind == "drop":
            (thread,) = e.args
            model.delete_thread(thread)
            deleted[thread] = e.step
            ghosts.pop(thread, None)
        elif e.kind == "read":
            kind, args, thread = e.args  # the test's thread ids escape to themselves
            if kind == "copy":  # what it read is what it writes
                due[(e.actor, "copy")] = {"args": args, "snap": _snapshot(model, args[0])}
            else:
                due[(e.actor, thread)] = _due(model, kind, args, thread)
                if kind == "prune":
                    due[(e.actor, thread)] |= set(ghosts.get(thread, {}))
        elif e.kind == "copied":  # checkpoints land on the target as their records do
            job = due[(e.actor, "copy")]
            _copy_some(model, job["snap"], *job["args"], set(e.args[0]))
        elif e.kind == "delete":
            thread, cids = e.args
            want = due.pop((e.actor, thread), set())
            assert set(cids) == want, f"deleted {sorted(cids)}, the model says {sorted(want)}"
            for ns, cps in model.storage.get(thread, {}).items():
                for cid in want & set(cps):
                    model._drop(thread, ns, cid)
            for cid in want:
                ghosts.get(thread, {}).pop(cid, None)


def _snapshot(model: Model, thread: str) -> Model:
    snap = Model()
    for ns, cps in model.storage.get(thread, {}).items():
        snap.storage[thread][ns] = dict(cps)
    snap.writes.update({k: dict(v) for k, v in model.writes.items() if k[0] == thread})
    snap.blobs.update({k: v for k, v in model.blobs.items() if k[0] == thread})
    return snap


def _copy_some(model: Model, snap: Model, src: str, dst: str, cids: set[str]) -> None:
    """``copy_thread`` of the checkpoints ``cids`` as the copy read them."""
    part = Model()
    for ns, cps in snap.storage.get(src, {}).items():
        part.storage[src][ns] = {c: v for c, v in cps.items() if c in cids}
    part.writes.update({k: v for k, v in snap.writes.items() if k[2] in cids})
    part.blobs.update(snap.blobs)
    part.copy_thread(src, dst)
    for ns, cps in part.storage.get(dst, {}).items():
        model.storage[dst][ns].update(cps)
    model.writes.update({k: v for k, v in part.writes.items() if k[0] == dst})
    model.blobs.update({k: v for k, v in part.blobs.items() if k[0] == dst})


def _due(model: Model, kind: str, args: tuple[Any, ...], thread: str) -> set[str]:
    """The checkpoints ``kind`` must delete of ``thread`` as the model holds it now."""
    out: set[str] = set()
    for cps in model.storage.get(thread, {}).values():
        if kind == "prune":
            out |= set(cps) - {max(cps, default="")}
        else:
            wanted = set(args[0])
            out |= {
                c
                for c, (_, md, _) in cps.items()
                if model.serde.loads_typed(md).get("run_id") in wanted
            }
    return out


def _state(saver: Any, thread: str) -> dict[str, Any]:
    """Every checkpoint of ``thread`` as ``get_tuple`` by id returns it, and the latest."""
    out = {_norm(t)[0][2]: _norm(t) for t in saver.list(_conf(thread))}
    for cid in out:
        assert _norm(saver.get_tuple(_conf(thread, cid))) == out[cid]
    out["latest"] = _norm(saver.get_tuple(_conf(thread)))
    return out


def check(saver: KVCheckpointSaver, run: Run, threads: list[str], prelude: Model) -> None:
    """What the store holds equals the model, read by another process (no cache): every
    checkpoint by ``list``, by id, and the latest. A crashed actor's port calls that ran are
    in the events, the others are not: the model holds exactly what happened."""
    fresh = KVCheckpointSaver(saver.store, serde=saver.serde)
    model = _replay(prelude, run.events)
    for thread in threads:
        assert _state(fresh, thread) == _state(model, thread), _explain(run)


def _replay(prelude: Model, events: list[Any]) -> Model:
    roots: dict[str, str] = {}
    for _, by_ns in prelude.storage.items():
        for cps in by_ns.values():
            roots.update(dict.fromkeys(cps, min(cps)))  # the prelude is one incarnation
    model = Model()
    model.storage.update(
        {t: {ns: dict(c) for ns, c in v.items()} for t, v in prelude.storage.items()}
    )
    for k, v in prelude.writes.items():
        model.writes[k] = dict(v)
    model.blobs.update(prelude.blobs)
    _apply(model, events, roots)
    return model


def _explain(run: Run) -> str:
    calls = "\n".join(
        f"  {i:3} actor {a}: {type(r).__name__} {r!r:.160}" for i, (a, r) in enumerate(run.requests)
    )
    return f"schedule {run.choices} crashed {run.crashed}\n{calls}"


Scenario = Callable[[Run, KVCheckpointSaver, str], list[Actor]]


def _prune(run: Run, s: KVCheckpointSaver, t: str) -> list[Actor]:
    codec = Codec(s.serde, Locator())
    return [
        writer_actor(run, 0, s, t, "r1", 2, "a"),
        watched(run, 1, plan_prune(codec, [t], "keep_latest"), "prune", ([t],)),
    ]


def _delete_earlier_run(run: Run, s: KVCheckpointSaver, t: str) -> list[Actor]:
    codec = Codec(s.serde, Locator())
    return [
        writer_actor(run, 0, s, t, "r1", 2, "a"),
        watched(run, 1, plan_delete_for_runs(codec, ["r0"]), "delete_for_runs", (["r0"],)),
    ]


def _delete_live_run(run: Run, s: KVCheckpointSaver, t: str) -> list[Actor]:
    codec = Codec(s.serde, Locator())
    return [
        writer_actor(run, 0, s, t, "r1", 3, "a"),
        watched(run, 1, plan_delete_for_runs(codec, ["r1"]), "delete_for_runs", (["r1"],)),
    ]


def _copy(run: Run, s: KVCheckpointSaver, t: str) -> list[Actor]:
    return [
        writer_actor(run, 0, s, t, "r1", 2, "a"),
        watched(run, 1, plan_copy_thread(t, t + "-copy"), "copy", (t, t + "-copy")),
    ]


def _fork(run: Run, s: KVCheckpointSaver, t: str) -> list[Actor]:
    return [
        writer_actor(run, 0, s, t, "r1", 2, "a"),
        writer_actor(run, 1, s, t, "r2", 2, "b"),
    ]


def _fork_and_prune(run: Run, s: KVCheckpointSaver, t: str) -> list[Actor]:
    codec = Codec(s.serde, Locator())
    return [
        writer_actor(run, 0, s, t, "r1", 2, "a"),
        writer_actor(run, 1, s, t, "r2", 2, "b"),
        watched(run, 2, plan_prune(codec, [t], "keep_latest"), "prune", ([t],)),
    ]


def _prune_and_copy(run: Run, s: KVCheckpointSaver, t: str) -> list[Actor]:
    c1, c2 = Codec(s.serde, Locator()), Codec(s.serde, Locator())
    return [
        writer_actor(run, 0, s, t, "r1", 2, "a"),
        watched(run, 1, plan_prune(c1, [t], "keep_latest"), "prune", ([t],)),
        watched(run, 2, plan_copy_thread(t, t + "-copy"), "copy", (t, t + "-copy")),
        watched(run, 3, plan_delete_for_runs(c2, ["r0"]), "delete_for_runs", (["r0"],)),
    ]


def delete_then_run(run: Run, me: int, s: KVCheckpointSaver, t: str) -> Actor:
    """Another process deletes the thread, then starts a new run on it."""
    run.arm(me, "drop", t)
    yield Drop(K.partition(t))
    yield from writer_actor(run, me, s, t, "r2", 2, "b")


def _delete_thread(run: Run, s: KVCheckpointSaver, t: str) -> list[Actor]:
    return [writer_actor(run, 0, s, t, "r1", 2, "a"), delete_then_run(run, 1, s, t)]


def _delete_and_prune(run: Run, s: KVCheckpointSaver, t: str) -> list[Actor]:
    codec = Codec(s.serde, Locator())
    return [
        writer_actor(run, 0, s, t, "r1", 3, "a"),
        delete_then_run(run, 1, s, t),
        watched(run, 2, plan_prune(codec, [t], "keep_latest"), "prune", ([t],)),
    ]


TWO = {
    "prune": _prune,
    "delete_for_runs_earlier": _delete_earlier_run,
    "delete_for_runs_live": _delete_live_run,
    "copy": _copy,
    "fork": _fork,
    "delete_thread": _delete_thread,
}
MANY = {
    "fork_and_prune": _fork_and_prune,
    "prune_copy_delete": _prune_and_copy,
    "delete_thread_and_prune": _delete_and_prune,
}


def _prelude(saver: KVCheckpointSaver, thread: str) -> Model:
    """Three checkpoints of an earlier run ("r0"), in the store and in the model."""
    model = Model()
    w = Writer(saver)
    parent = None
    for step in range(3):
        cp, md, nv = w.child(parent, "r0", step, "p")
        config = _conf(thread, parent[0] if parent else None)
        for s in (saver, model):
            out = s.put(config, cp, md, nv)
            s.put_writes(out, [("messages", f"pending p:{step}")], "task-p", "")
        parent = (cp["id"], cp)
    return model


def _one(
    saver: KVCheckpointSaver,
    scenario: Scenario,
    choices: list[int],
    crash: dict[int, int] | None = None,
) -> Run:
    thread = f"il-{uuid.uuid4().hex[:10]}"
    prelude = _prelude(saver, thread)
    run = Run()
    actors = scenario(run, saver, thread)
    try:
        run_schedule(saver.store, actors, run, choices, crash)
        check(saver, run, [thread, thread + "-copy"], prelude)
    except Exception as e:
        e.add_note(_explain(run))
        raise
    finally:
        for t in (thread, thread + "-copy"):
            saver.store.drop(K.partition(t))
    return run


@pytest.mark.parametrize("name", sorted(TWO))
def test_every_interleaving_of_two(saver: KVCheckpointSaver, backend: str, name: str) -> None:
    scenario = TWO[name]
    if backend in EXHAUSTIVE:
        n = 0
        stack: list[list[int]] = [[]]
        while stack:
            prefix = stack.pop()
            run = _one(saver, scenario, prefix)
            n += 1
            for i in range(len(prefix), len(run.choices)):
                stack += [[*run.choices[:i], a] for a in run.enabled[i] if a != run.choices[i]]
        assert n > 10  # the schedules really interleave
        print(f"{name} on {backend}: {n} interleavings")
    else:
        for seed in range(SAMPLES):
            choices, _ = sample(seed, 2)
            _one(saver, scenario, choices)


@pytest.mark.parametrize("name", sorted(MANY))
def test_random_interleavings_with_crashes(
    saver: KVCheckpointSaver, backend: str, name: str
) -> None:
    scenario = MANY[name]
    n_actors = len(scenario(Run(), saver, "probe"))
    samples = SAMPLES_3 if backend in EXHAUSTIVE else SAMPLES
    for seed in range(samples):
        choices, crash = sample(seed, n_actors)
        _one(saver, scenario, choices, crash)


def test_explore_visits_every_schedule_once() -> None:
    """Two actors of 2 and 3 port calls: C(5, 2) = 10 schedules, each once."""
    store = checkpoint_kv.from_url("memory://").store
    seen: list[tuple[int, ...]] = []

    def actor(n: int) -> Actor:
        for _ in range(n):
            yield from ()
            yield checkpoint_kv.drive.Partitions(None)

    def make(run: Run) -> list[Actor]:
        return [actor(2), actor(3)]

    def execute(actors: list[Actor], run: Run, prefix: list[int]) -> None:
        run_schedule(store, actors, run, prefix)
        seen.append(tuple(run.choices))

    runs = list(explore(make, execute))
    assert len(runs) == 10 and len(set(seen)) == 10
