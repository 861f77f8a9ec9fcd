"""Fault injection for the key-value port, and the small deterministic graphs the reliability
tests run through it.

``FaultPlan`` counts port calls (sync and async twins share one counter) and makes the Nth one
fail in one of three ways, the ones a real backend shows:

- ``error``: the call fails before the server saw it (connection refused); nothing applied.
- ``timeout``: the server applied the call but the reply was lost; the client sees an error.
- ``partial``: a non-atomic batch (DynamoDB ``UnprocessedItems``, parallel S3 PUTs) stopped part
  way. The store applies what such a backend could have applied: every commit group
  (:func:`checkpoint_kv.port.commit_groups`) before the last one in full, plus the first half of
  the last group, then raises. The commit barrier is honoured as a non-atomic backend honours it.
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal

from typing_extensions import TypedDict

from checkpoint_kv.errors import BackendUnavailableError
from checkpoint_kv.port import AsyncKVStore, KVStore, Op, Put, commit_groups
from checkpoint_kv.port_wrappers import DelegatingKV, Intercept
from checkpoint_kv.saver import KVCheckpointSaver

Kind = Literal["error", "timeout", "partial"]
KINDS: tuple[Kind, ...] = ("error", "timeout", "partial")


class InjectedFault(BackendUnavailableError):
    """The failure a :class:`FaultPlan` raises (a ``ConnectionError``, as a real one would be)."""


class InjectedTimeout(InjectedFault, TimeoutError):
    """The call was applied but its reply was lost."""


@dataclass
class FaultPlan:
    """Fail call number ``fail_at`` (1-based; 0 never fails) with ``kind``."""

    fail_at: int = 0
    kind: Kind = "error"
    calls: int = 0
    fired: bool = False
    log: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def tick(self, what: str) -> bool:
        """Count a call; True when this call is the one to fail."""
        with self._lock:
            self.calls += 1
            self.log.append(what)
            if self.calls == self.fail_at and not self.fired:
                self.fired = True
                return True
            return False

    def partial_ops(self, ops: Sequence[Op]) -> list[Op]:
        """What a non-atomic backend may have applied of ``ops`` when it failed."""
        groups = commit_groups(ops)
        done = [op for g in groups[:-1] for op in g]
        last = groups[-1] if groups else []
        return done + list(last[: len(last) // 2])


class FaultyStore(DelegatingKV):
    """A :class:`KVStore` that forwards to ``inner`` and fails where its plan says; its async
    twin (over the backend's own async store, or ``astore``) shares the plan.

    ``scan_many`` is not forwarded: the saver makes one scan per spec through this store, so
    each scan is a call of its own that the plan can fail (the call numbering the fault tests
    sweep)."""

    optional: ClassVar[tuple[str, ...]] = ()

    def __init__(self, inner: KVStore, plan: FaultPlan, *, astore: AsyncKVStore | None = None):
        super().__init__(inner, astore=astore)
        self.plan = plan

    def before_call(self, method: str, args: tuple[Any, ...]) -> Intercept | None:
        ops: Sequence[Op] = args[1] if method == "write" else ()
        if not self.plan.tick(_write_label(ops) if method == "write" else method):
            return None
        error = InjectedFault(f"injected {self.plan.kind} on call {self.plan.calls} ({method})")
        if method not in ("write", "drop"):
            return Intercept(error)  # a read: nothing to apply
        if self.plan.kind == "timeout":
            if method == "write":
                error = InjectedTimeout(f"injected timeout after applying call {self.plan.calls}")
            return Intercept(error, apply=args)
        if self.plan.kind == "partial" and method == "write":
            part = self.plan.partial_ops(ops)
            return Intercept(error, apply=(args[0], part) if part else None)
        return Intercept(error)


def _write_label(ops: Sequence[Op]) -> str:
    """``write:commit`` for a batch with a commit barrier (a ``put``), else ``write``."""
    return "write:commit" if any(isinstance(op, Put) and op.commit for op in ops) else "write"


def faulty_saver(saver: KVCheckpointSaver, plan: FaultPlan) -> KVCheckpointSaver:
    """A saver over the same data as ``saver`` whose port calls go through ``plan``."""
    store = FaultyStore(saver.store, plan, astore=saver.astore)
    return KVCheckpointSaver(
        store,
        serde=saver.serde,
        shallow=saver.shallow,
        astore=store.async_twin(),
    )


# --- crashes: a fault, then a dead process ----------------------------------------------------


@dataclass
class Crash:
    """A process crash at the ``nth`` port write labelled ``label`` (see :func:`_write_label`;
    ``"any"`` counts every write and drop).

    That write applies what a non-atomic backend may have applied when the process died
    (:meth:`FaultPlan.partial_ops`: every commit group before the last, half of the last), then
    the process is dead: that call and every later call through the same :class:`CrashingStore`
    raise :class:`InjectedFault`, so nothing a background thread still had queued lands. A test
    "restarts" by going on with a saver over the inner store. ``nth=0`` never fires.
    """

    label: str = "write"
    nth: int = 0
    seen: int = 0
    dead: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def on_write(self, ops: Sequence[Op]) -> list[Op] | None:
        """None: apply ``ops`` normally. A list: apply it, then die."""
        with self._lock:
            if self.dead:
                raise InjectedFault("the process crashed earlier")
            if self.label not in ("any", _write_label(ops)):
                return None
            self.seen += 1
            if self.seen != self.nth:
                return None
            self.dead = True
            return FaultPlan().partial_ops(ops)

    def on_drop(self) -> bool:
        """True: this drop dies before it is applied (a drop is one request)."""
        with self._lock:
            if self.dead:
                raise InjectedFault("the process crashed earlier")
            if self.label != "any":
                return False
            self.seen += 1
            self.dead = self.seen == self.nth
            return self.dead

    def check(self, what: str) -> None:
        if self.dead:
            raise InjectedFault(f"the process crashed earlier ({what})")


class CrashingStore:
    """A :class:`KVStore` over ``inner`` that crashes as ``crash`` says. Every other attribute
    (``scan_many``, ...) is the inner store's, so the saver takes the same paths as on the real
    backend; calls made after the crash raise."""

    def __init__(self, inner: KVStore, crash: Crash) -> None:
        self.inner = inner
        self.crash = crash

    def __repr__(self) -> str:
        return f"CrashingStore({self.inner!r})"

    def write(self, partition: str, ops: Sequence[Op]) -> None:
        part = self.crash.on_write(ops)
        if part is None:
            return self.inner.write(partition, ops)
        if part:
            self.inner.write(partition, part)
        raise InjectedFault(f"injected crash in a {_write_label(ops)} of {len(ops)} ops")

    def drop(self, partition: str) -> None:
        if self.crash.on_drop():
            raise InjectedFault("injected crash before drop")
        self.inner.drop(partition)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name == "async_twin" or not callable(attr):
            return attr

        def guarded(*args: Any, **kwargs: Any) -> Any:
            self.crash.check(name)
            return attr(*args, **kwargs)

        return guarded


def crashing_saver(saver: KVCheckpointSaver, crash: Crash) -> KVCheckpointSaver:
    """A saver over the same data as ``saver`` whose writes crash as ``crash`` says."""
    from checkpoint_kv.aio import ThreadedAsyncStore

    store = CrashingStore(saver.store, crash)
    return KVCheckpointSaver(
        store,  # type: ignore[arg-type]
        serde=saver.serde,
        shallow=saver.shallow,
        astore=ThreadedAsyncStore(store),  # type: ignore[arg-type]
    )


class _CrashingClient:
    """A boto3 client whose mutating calls stop after ``allowed`` of them: the next one applies
    the first half of a batch (a batch is not atomic) or nothing (a transaction or single item
    is), then raises; later calls raise too. Everything else is the real client's."""

    def __init__(self, real: Any, allowed: int) -> None:
        self._real = real
        self._allowed = allowed
        self._calls = 0
        self._dead = False
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._real, name)
        if name not in _MUTATING:
            return attr

        def call(**kwargs: Any) -> Any:
            with self._lock:
                if self._dead:
                    raise InjectedFault(f"the process crashed earlier ({name})")
                self._calls += 1
                if self._calls <= self._allowed:
                    return attr(**kwargs)
                self._dead = True
                half = _first_half(name, kwargs)
                if half is not None:
                    attr(**half)
            raise InjectedFault(f"injected crash in {name} (mutating call {self._calls})")

        return call


_MUTATING = {
    "batch_write_item",
    "transact_write_items",
    "delete_item",
    "put_item",
    "update_item",
    "delete_objects",
    "delete_object",
    "put_object",
}


def _first_half(name: str, kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """The first half of a non-atomic batch call, or None (atomic: nothing applied)."""
    if name == "batch_write_item":
        ((table, reqs),) = kwargs["RequestItems"].items()
        if len(reqs) < 2:
            return None
        return {**kwargs, "RequestItems": {table: reqs[: len(reqs) // 2]}}
    if name == "delete_objects":
        objs = kwargs["Delete"]["Objects"]
        if len(objs) < 2:
            return None
        return {**kwargs, "Delete": {**kwargs["Delete"], "Objects": objs[: len(objs) // 2]}}
    return None


def delete_with_crash(saver: KVCheckpointSaver, thread_id: str, allowed: int) -> None:
    """``saver.delete_thread(thread_id)`` in a process that dies after ``allowed`` mutating
    requests, then raise :class:`InjectedFault` (also when the delete got through: the reply
    was lost).

    Where the backend deletes with several requests of its own (DynamoDB batches, S3
    DeleteObjects: a store with a boto3 ``client``), the crash is inside them: ``allowed``
    requests complete, the next applies the first half of its items if it is a batch (batches
    are not atomic), and every later request fails. Elsewhere the crash is at the port: the
    ``allowed + 1``-th write or drop dies (a write applying what a non-atomic backend could
    have, see :class:`Crash`; a drop nothing).
    """
    client = getattr(saver.store, "client", None)
    if client is not None and hasattr(client, "meta"):
        crashing = _CrashingClient(client, allowed)
        saver.store.client = crashing  # type: ignore[attr-defined]
        try:
            saver.delete_thread(thread_id)
        finally:
            saver.store.client = client  # type: ignore[attr-defined]
        dead = crashing._dead
    else:
        crash = Crash(label="any", nth=allowed + 1)
        crashing_saver(saver, crash).delete_thread(thread_id)
        dead = crash.dead
    if not dead:
        raise InjectedFault("injected crash after delete_thread completed (reply lost)")


# --- deterministic graphs ---------------------------------------------------------------------


class State(TypedDict):
    log: Annotated[list[str], operator.add]
    count: int
    sub: Annotated[list[str], operator.add]


class SubState(TypedDict):
    sub: Annotated[list[str], operator.add]


# Padding on each ``log`` entry: the list passes growth.MIN_BASE (512 bytes) after the first
# round, so every fault also meets values stored as the bytes they grew by (issue 23).
PAD = "." * 120


def build_graph(checkpointer: Any, rounds: int = 2) -> Any:
    """A small graph with what a real one has: a loop, a fan-out of two parallel tasks that
    both write a reducer channel, a node writing two channels, and a subgraph (its own
    checkpoint namespace). Pure functions of the state, so every run ends in the same state."""
    from langgraph.graph import END, START, StateGraph

    sb: Any = StateGraph(SubState)
    sb.add_node("inner1", lambda s: {"sub": [f"i1.{len(s['sub'])}"]})
    sb.add_node("inner2", lambda s: {"sub": [f"i2.{len(s['sub'])}"]})
    sb.add_edge(START, "inner1")
    sb.add_edge("inner1", "inner2")
    sb.add_edge("inner2", END)
    subgraph = sb.compile()

    def head(s: State) -> dict[str, Any]:
        return {"log": [f"head{s['count']} {PAD}"], "count": s["count"] + 1}

    def left(s: State) -> dict[str, Any]:
        return {"log": [f"left{s['count']} {PAD}"]}

    def right(s: State) -> dict[str, Any]:
        return {"log": [f"right{s['count']} {PAD}"]}

    def route(s: State) -> str:
        return "head" if s["count"] < rounds else "sub"

    g: Any = StateGraph(State)
    g.add_node("head", head)
    g.add_node("left", left)
    g.add_node("right", right)
    g.add_node("join", lambda s: {"log": [f"join{len(s['log'])} {PAD}"]})
    g.add_node("sub", subgraph)
    g.add_edge(START, "head")
    g.add_edge("head", "left")
    g.add_edge("head", "right")
    g.add_edge(["left", "right"], "join")
    g.add_conditional_edges("join", route, ["head", "sub"])
    g.add_edge("sub", END)
    return g.compile(checkpointer=checkpointer)


GRAPH_INPUT: dict[str, Any] = {"log": [], "count": 0, "sub": []}


class CounterState(TypedDict):
    log: Annotated[list[int], operator.add]
    count: int


def build_counter_graph(checkpointer: Any, steps: int) -> Any:
    """A long loop: step i appends i. Any lost, repeated or torn step shows in the final log."""
    from langgraph.graph import END, START, StateGraph

    def step(s: CounterState) -> dict[str, Any]:
        return {"log": [s["count"]], "count": s["count"] + 1}

    g: Any = StateGraph(CounterState)
    g.add_node("step", step)
    g.add_edge(START, "step")
    g.add_conditional_edges("step", lambda s: "step" if s["count"] < steps else END)
    return g.compile(checkpointer=checkpointer)


def counter_consistent(values: dict[str, Any]) -> bool:
    """The invariant of every checkpoint of the counter graph."""
    count = values.get("count", 0)
    return bool(values.get("log", []) == list(range(count)))
