"""The option matrix: real LangGraph graphs on our saver and, in lockstep, on LangGraph's
``InMemorySaver`` (the model), compared after every step, on every backend, over a covering
set of option combinations. Features that work alone can lose data together; this is the net.

Dimensions
  backend   every backend of tests/conftest.py, none skipped (moto-server ones and Redis
            Cluster run fewer examples).
  history   ``all``, or ``latest`` (``?history=latest``).
  ttl       off, or 30 days where the backend expires data and the test owns its clock:
            DynamoDB (``?ttl=30d``; the store's ``_clock`` is a fake clock) and fakeredis
            (``ttl=2592000``; fakeredis' clock, ``TIME`` included, is shifted by whole days).
            Days jump; nothing sleeps. A real redis-server's clock cannot be moved, so Redis'
            TTL runs here on fakeredis: the same Lua scripts.
  prefix    one tenant, or two tenants whose prefixes extend one another: prefix ``<p>acme``
            with thread ``1x`` and prefix ``<p>acme1`` with thread ``x`` (the same string once
            concatenated). Redis, S3 and DynamoDB take the prefix from the URL; memory and
            SQLite tenants are separate stores.
  channel   ``messages`` as a plain reducer (``Annotated[list, operator.add]``) or
            ``DeltaChannel(operator.add, snapshot_frequency=3)``.
  serde     the default serializer or ``EncryptedSerializer`` (AES).
  compress  values stored as they are, or zstd-compressed (``?compress=zstd``).
  faults    in EVERY example (so every fault meets every option value on every backend):
            ``cut_writes``: a ``put_writes`` cut short, the process dies, the task re-runs
            with OTHER values; ``crash_put``: the process dies between the commit groups of a
            ``put``; ``crash_delete``: the process dies inside ``delete_thread`` (the backend's
            own requests, a batch half applied), then the thread is deleted again;
            ``prune``: another saver runs ``prune(keep_latest)`` between turns or inside a node.

Operations (hypothesis draws a program per example): chat turns on one of two threads (one
stream per tenant with two tenants), turns that end in an ``interrupt()`` inside a subgraph,
resumes, ``update_state(as_node="bot")`` forks (of older checkpoints with history=all),
history comparisons, deletes, clock jumps, and each fault at least once.

The model. After every operation, for every thread: ``get_state(subgraphs=True)`` (values,
next, tasks with their saved writes, interrupts, step, source) equals the model's. Beyond that:
  - history=all: ``get_state_history`` equals the model's, entry by entry (ids aside: the
    two runs make their own). Where data may legitimately be gone - checkpoints older than
    the latest at a ``prune``, and with DynamoDB's per-item TTL checkpoints written 30 days
    ago or more - ours is the model's history with some of exactly those entries missing;
    every entry shown is whole, and listing never raises.
  - history=latest: get_state as above (values equal the model's latest state), and the
    thread keeps ONE checkpoint per namespace (as many namespaces as the model has; with a
    TTL, no more). Right after a crash between the commit groups of a shallow ``put`` the
    root namespace may hold two until its next put. Refusing ``latest`` + ``DeltaChannel``
    with ``ConfigError`` on the first write is accepted as the other correct answer.
  - ttl: a thread written less than 30 days ago reads as the model says (an active thread
    never loses state); one idle for 30 days or more reads as absent, whole: no state, no
    history, not in ``list(None)``. The model forgets it at that moment.
  - prefix: each tenant's ``list(None)`` shows exactly its own live threads.
  - faults: after a crash the test recovers as an application would (resume pending tasks,
    else re-send a message that left no trace); the result must equal a clean run with the
    first attempt's values or one with the re-run's, never a mix. After a crash inside
    ``delete_thread`` the thread reads as absent or as some whole state of the model's (never a
    record without its data, no error), and a second delete leaves it absent.

Coverage. Multiplying every dimension would be 7 x 2 x 2 x 2 x 2 x 2 x 5 runs. Instead each
backend gets a deterministic greedy pairwise covering array over its own option values (ttl has
one value where unsupported; 5-6 combinations): every pair of values of any two options meets
in some combination on every backend (asserted by ``test_every_pair_meets_on_every_backend``),
and every fault runs in every example, so each fault meets every option value too. Each
combination runs one or two hypothesis examples (derandomized: CI is deterministic); every
program starts with a fixed skeleton (chat on both threads, interrupt, resume, fork), and the
fault variants (which write is cut, which commit crashes, how far a delete gets, where the
prune runs) rotate with the combination's index, so the simplest examples of a backend's
combinations still meet every variant. ``test_ttl_active_thread`` runs the literal TTL case:
a turn every day for 62 days with ttl=30d (every 3 days on DynamoDB in the default profile;
see TTL_CASES).

Profiles. The default fits CI (the whole file in under 3 minutes on 2 cores).
``CKV_MATRIX_PROFILE=long`` runs about ten times the examples, longer programs, random seeds.
Graphs run with ``max_concurrency=1``: LangGraph's background saves then land in submission
order, so a crash at "the Nth write" is the same crash on every run.
"""

from __future__ import annotations

import copy
import itertools
import operator
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from langchain_core.runnables import RunnableConfig
from langgraph.channels.delta import DeltaChannel
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, StateSnapshot, interrupt
from typing_extensions import TypedDict

import checkpoint_kv
from checkpoint_kv import BackendUnavailableError, ConfigError, KVCheckpointSaver
from checkpoint_kv.registry import split_options
from tests.conftest import selected_backends
from tests.support.faults import Crash, crashing_saver, delete_with_crash

LONG = os.environ.get("CKV_MATRIX_PROFILE") == "long"
TTL_DAYS = 30
DAY = 86_400
TTL_BACKENDS = {"dynamodb", "fakeredis"}
# Backends whose data is on this side of a real network hop (moto, a 3-node cluster): fewer
# examples, no shrinking in the default profile (a replay costs seconds there).
SLOW = {"s3", "dynamodb", "redis_cluster"}
EXAMPLES = {
    "memory": 2,
    "sqlite": 1,
    "fakeredis": 1,
    "redis": 1,
    "redis_cluster": 1,
    "s3": 1,
    "dynamodb": 1,
}
FAULTS = ("cut_writes", "crash_put", "crash_delete", "prune")


# --- the combinations -------------------------------------------------------------------------


@dataclass(frozen=True)
class Combo:
    history: str
    ttl: bool
    tenants: int
    channel: str
    serde: str
    compress: str = "none"

    @property
    def label(self) -> str:
        return "-".join(
            [
                self.history,
                "ttl" if self.ttl else "nottl",
                "2tenants" if self.tenants == 2 else "1tenant",
                self.channel,
                self.serde,
                self.compress,
            ]
        )


def factors(backend: str) -> dict[str, tuple[Any, ...]]:
    """Each option's values on ``backend``."""
    return {
        "history": ("all", "latest"),
        "ttl": (False, True) if backend in TTL_BACKENDS else (False,),
        "tenants": (1, 2),
        "channel": ("plain", "delta"),
        "serde": ("default", "encrypted"),
        "compress": ("none", "zstd"),
    }


def _pairs(row: dict[str, Any]) -> set[tuple[str, Any, str, Any]]:
    names = list(row)
    return {(a, row[a], b, row[b]) for a, b in itertools.combinations(names, 2)}


def covering(fs: dict[str, tuple[Any, ...]]) -> list[dict[str, Any]]:
    """A pairwise covering array, greedy and deterministic: add the full combination that
    covers most still-uncovered pairs (the first in product order on ties) until none is
    left."""
    names = list(fs)
    candidates = [dict(zip(names, r, strict=True)) for r in itertools.product(*fs.values())]
    uncovered = set().union(*(_pairs(row) for row in candidates))
    rows: list[dict[str, Any]] = []
    while uncovered:
        best = max(candidates, key=lambda row: len(_pairs(row) & uncovered))
        rows.append(best)
        uncovered -= _pairs(best)
    return rows


def combos(backend: str) -> list[Combo]:
    return [Combo(**row) for row in covering(factors(backend))]


CASES = [(b, i, c) for b in selected_backends() for i, c in enumerate(combos(b))]


# --- the graph ----------------------------------------------------------------------------------


class PlainChat(TypedDict, total=False):
    messages: Annotated[list[Any], operator.add]
    turns: int
    by: str


class DeltaChat(TypedDict, total=False):
    messages: Annotated[list[Any], DeltaChannel(operator.add, snapshot_frequency=3)]
    turns: int
    by: str


class LongDeltaChat(TypedDict, total=False):
    """LangGraph's default snapshot frequency: a 62-turn chain has no snapshot after turn 0."""

    messages: Annotated[list[Any], DeltaChannel(operator.add, snapshot_frequency=100)]
    turns: int
    by: str


SCHEMAS: dict[str, Any] = {"plain": PlainChat, "delta": DeltaChat, "delta100": LongDeltaChat}


@dataclass
class Ctx:
    """What nodes read besides the state: the salt of this attempt (a re-run of a task writes
    other values) and a hook the bot node runs once (a prune from "another process")."""

    salt: str = ""
    hook: Callable[[], None] | None = None


# A reply's padding: the plain ``messages`` list passes growth.MIN_BASE (512 bytes) within a
# few turns, so from then on every option meets values stored as the bytes they grew by
# (issue 23), not only whole ones.
PAD = "." * 160


def build_graph(saver: Any, channel: str, ctx: Ctx) -> Any:
    """``bot`` answers every message: three channels in one task's writes, two of them carrying
    the attempt's salt, so a reader mixing two attempts' writes shows. A message starting with
    ``ask:`` then goes to ``ask``, a subgraph (its own namespace) that drafts and waits for a
    human in ``interrupt()``."""
    schema = SCHEMAS[channel]

    def bot(s: dict[str, Any]) -> dict[str, Any]:
        if ctx.hook is not None:
            hook, ctx.hook = ctx.hook, None
            hook()
        n = len(s.get("messages", []))
        turns = s.get("turns", 0) + 1
        reply = f"bot:{n}{ctx.salt} {PAD}"
        return {"messages": [reply], "turns": turns, "by": f"bot{ctx.salt}"}

    def draft(s: dict[str, Any]) -> dict[str, Any]:
        return {"messages": [f"draft:{len(s['messages'])}{ctx.salt}"]}

    def confirm(s: dict[str, Any]) -> dict[str, Any]:
        answer = interrupt({"send": len(s["messages"])})
        return {"messages": [f"human:{answer}"]}

    sub: Any = StateGraph(schema)
    sub.add_node("draft", draft)
    sub.add_node("confirm", confirm)
    sub.add_edge(START, "draft")
    sub.add_edge("draft", "confirm")
    sub.add_edge("confirm", END)

    def route(s: dict[str, Any]) -> str:
        msgs = s.get("messages", [])
        return "ask" if len(msgs) >= 2 and "ask:" in str(msgs[-2]) else END

    g: Any = StateGraph(schema)
    g.add_node("bot", bot)
    g.add_node("ask", sub.compile())
    g.add_edge(START, "bot")
    g.add_conditional_edges("bot", route, ["ask", END])
    g.add_edge("ask", END)
    return g.compile(checkpointer=saver)


def cfg(thread: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread}, "max_concurrency": 1}


def snap(s: StateSnapshot) -> Any:
    """What must agree between the two savers (checkpoint and task ids differ by design)."""
    tasks = [
        (
            t.name,
            [i.value for i in t.interrupts],
            snap(t.state) if isinstance(t.state, StateSnapshot) else None,
            t.result,  # a finished task's saved writes (in history: the pending writes)
        )
        for t in s.tasks
    ]
    md = s.metadata or {}
    return {
        "values": s.values,
        "next": s.next,
        "step": md.get("step"),
        "source": md.get("source"),
        "tasks": tasks,
        "interrupts": [i.value for i in s.interrupts],
        "has_parent": s.parent_config is not None,
    }


def short(x: Any, width: int = 300) -> str:
    text = repr(x)
    return text if len(text) <= width else text[: width - 3] + "..."


def diff(got: Any, want: Any) -> str:
    """The first difference of two snaps, short enough for a report."""
    if isinstance(got, dict) and isinstance(want, dict):
        for k in want:
            if got.get(k) != want.get(k):
                g, w = got.get(k), want.get(k)
                if k == "values" and isinstance(g, dict) and isinstance(w, dict):
                    for ch in sorted(set(g) | set(w)):
                        if g.get(ch) != w.get(ch):
                            gl, wl = g.get(ch), w.get(ch)
                            size = (
                                f" (len {len(gl)} vs {len(wl)})"
                                if isinstance(gl, list) and isinstance(wl, list)
                                else ""
                            )
                            return f"values[{ch!r}]{size}: ours {short(gl)} != model {short(wl)}"
                return f"{k}: ours {short(g)} != model {short(w)}"
    return f"ours {short(got)} != model {short(want)}"


# --- the program ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    kind: str
    stream: int
    arg: int

    def __repr__(self) -> str:
        return f"{self.kind}(s{self.stream},{self.arg})"


WAITS = (1, 10, 29, 31, 45)


def op_kinds(combo: Combo) -> list[str]:
    kinds = ["turn", "turn", "turn", "ask", "resume", "update", "delete", *FAULTS]
    if combo.history == "all":
        kinds.append("history")
    if combo.ttl:
        kinds += ["wait", "wait"]
    return kinds


# Every program starts with this, so that even hypothesis' simplest example chats on both
# threads, interrupts, resumes and forks before the faults come.
SKELETON = (
    Op("turn", 0, 0),
    Op("ask", 0, 0),
    Op("turn", 1, 0),
    Op("resume", 0, 0),
    Op("update", 0, 1),
)
# The faults in the order the simplest example runs them (delete last), and how many variants
# each has (see World.step): which write is cut, which commit crashes, how many requests of
# the delete get through, prune between turns or inside a node.
FAULT_ORDER = ("prune", "cut_writes", "crash_put", "crash_delete")
VARIANTS = {"prune": 2, "cut_writes": 2, "crash_put": 3, "crash_delete": 4}


def program(combo: Combo, variant: int, long: bool, slow: bool) -> st.SearchStrategy[list[Op]]:
    """The skeleton, random operations, then every fault once (so every example exercises
    each) and, with a TTL, a 65-day span of an active thread. Drawn zeros put the faults at the
    end, on thread 0, in the variant ``variant`` (the combination's index) picks: the one or
    two examples of a slow backend still meet every variant across its combinations."""
    one = st.builds(Op, st.sampled_from(op_kinds(combo)), st.integers(0, 1), st.integers(0, 4))
    body = st.lists(one, max_size=18 if long else (2 if slow else 6))

    @st.composite
    def build(draw: st.DrawFn) -> list[Op]:
        ops = [*SKELETON, *draw(body)]
        must = [
            Op(f, draw(st.integers(0, 1)), (variant + draw(st.integers(0, 3))) % VARIANTS[f])
            for f in FAULT_ORDER
        ]
        if combo.ttl:
            must.append(Op("span", draw(st.integers(0, 1)), (variant + draw(st.integers(0, 1)))))
        for m in must:
            ops.insert(len(ops) - draw(st.integers(0, len(ops))), m)
        return ops

    return build()


# --- clocks -----------------------------------------------------------------------------------


class FakeClock:
    """Days since the start of the example; DynamoDB's ``_clock`` and fakeredis read it."""

    BASE = 1_900_000_000.0

    def __init__(self) -> None:
        self.day = 0

    def epoch(self) -> float:
        return self.BASE + self.day * DAY


class ShiftedTime:
    """Stands in for the ``time`` module inside fakeredis: real time plus the clock's days
    (fakeredis stamps each command with ``time.time()`` and expiry compares with that; its
    ``TIME`` command, which scripts use for ``PEXPIREAT``, reads it too)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    def time(self) -> float:
        return time.time() + self.clock.day * DAY


# --- the world of one example ---------------------------------------------------------------


@dataclass
class Tenant:
    name: str
    ours: KVCheckpointSaver
    model: InMemorySaver
    channel: str
    ctx_ours: Ctx = field(default_factory=Ctx)
    ctx_model: Ctx = field(default_factory=Ctx)
    g_ours: Any = None
    g_model: Any = None

    def __post_init__(self) -> None:
        self.g_ours = build_graph(self.ours, self.channel, self.ctx_ours)
        self.rebuild_model()

    def rebuild_model(self) -> None:
        self.g_model = build_graph(self.model, self.channel, self.ctx_model)

    def sibling(self) -> KVCheckpointSaver:
        """Another saver over the same store: another process."""
        ours = self.ours
        compress = ours.compress.name if ours.compress else None
        return KVCheckpointSaver(
            ours.store, serde=ours.serde, shallow=ours.shallow, compress=compress
        )


@dataclass
class Stream:
    """One thread of one tenant, and what the model knows of its history."""

    tenant: Tenant
    thread: str
    born: list[int] = field(default_factory=list)  # day each model root checkpoint was made
    floor: int = 0  # model root checkpoints (oldest first) below this index may be gone
    last_write: int | None = None  # day of the last write (TTL)
    dirty: bool = False  # a shallow put crashed in the root namespace; cleaned by the next put

    @property
    def label(self) -> str:
        return f"{self.tenant.name}/{self.thread}"


class Refused(Exception):
    """``latest`` + ``DeltaChannel`` refused with ConfigError on the first write: accepted."""


def clone(model: InMemorySaver) -> InMemorySaver:
    twin = InMemorySaver()
    twin.storage = copy.deepcopy(model.storage)
    twin.writes = copy.deepcopy(model.writes)
    twin.blobs = copy.deepcopy(model.blobs)
    return twin


def model_alive(st_: Stream) -> bool:
    return any(st_.tenant.model.storage.get(st_.thread, {}).values())


class World:
    """Runs a program on both savers and checks after every step."""

    def __init__(
        self, backend: str, combo: Combo, tenants: list[Tenant], streams: list[Stream]
    ) -> None:
        self.backend = backend
        self.combo = combo
        self.tenants = tenants
        self.streams = streams
        self.slow = backend in SLOW
        self.log: list[str] = []
        self.wrote = False

    # --- helpers ------------------------------------------------------------------------------

    def where(self) -> str:
        steps = " ".join(self.log[-12:])
        more = f"({len(self.log) - 12} more before) " if len(self.log) > 12 else ""
        return f"[{self.backend} {self.combo.label}] after {more}{steps}"

    def fail(self, st_: Stream, msg: str) -> None:
        pytest.fail(f"{self.where()}: {st_.label}: {msg}", pytrace=False)

    def ours_call(self, fn: Callable[[], Any]) -> Any:
        """A call on our saver; ConfigError on the very first write of latest+delta is the
        documented refusal."""
        try:
            result = fn()
        except ConfigError:
            if not self.wrote and self.combo.history == "latest" and self.combo.channel == "delta":
                raise Refused() from None
            raise
        self.wrote = True
        return result

    def root_count(self, st_: Stream) -> int:
        conf: RunnableConfig = {"configurable": {"thread_id": st_.thread, "checkpoint_ns": ""}}
        return sum(1 for _ in st_.tenant.model.list(conf))

    def after_write(self, st_: Stream, day: int) -> None:
        st_.last_write = day
        grown = self.root_count(st_) - len(st_.born)
        st_.born += [day] * max(grown, 0)

    def forget(self, st_: Stream) -> None:
        st_.tenant.model.delete_thread(st_.thread)
        st_.born, st_.floor, st_.last_write, st_.dirty = [], 0, None, False

    # --- checks -------------------------------------------------------------------------------

    def check_state(self, st_: Stream) -> None:
        t = st_.tenant
        want = snap(t.g_model.get_state(cfg(st_.thread), subgraphs=True))
        try:
            got = snap(t.g_ours.get_state(cfg(st_.thread), subgraphs=True))
        except Exception as e:
            self.fail(st_, f"get_state raised {e!r}")
        if got != want:
            self.fail(st_, f"get_state differs: {diff(got, want)}")
        if self.combo.history == "latest":
            self.check_one_per_namespace(st_)

    def check_one_per_namespace(self, st_: Stream) -> None:
        t = st_.tenant
        per_ns = Counter(
            c.config["configurable"].get("checkpoint_ns", "")
            for c in t.ours.list({"configurable": {"thread_id": st_.thread}})
        )
        model_ns = {ns: cps for ns, cps in t.model.storage.get(st_.thread, {}).items() if cps}
        too_many = {ns: n for ns, n in per_ns.items() if n > (2 if ns == "" and st_.dirty else 1)}
        if too_many:
            self.fail(st_, f"history=latest keeps more than one checkpoint: {too_many}")
        if self.combo.ttl:
            ok = len(per_ns) <= len(model_ns) and ("" in per_ns) == ("" in model_ns)
        else:
            ok = len(per_ns) == len(model_ns)
        if not ok:
            self.fail(
                st_,
                f"history=latest: {len(per_ns)} namespaces, the model has {len(model_ns)}",
            )

    def required(self, st_: Stream, day: int) -> list[bool]:
        """Per model root checkpoint (oldest first): must ours still have it?"""
        out = []
        for i, born in enumerate(st_.born):
            keep = i >= st_.floor
            if self.combo.ttl and self.backend == "dynamodb" and day - born >= TTL_DAYS:
                keep = False
            out.append(keep)
        return out

    def check_history(self, st_: Stream, day: int) -> None:
        if self.combo.history != "all":
            return
        t = st_.tenant
        want = [snap(s) for s in t.g_model.get_state_history(cfg(st_.thread))]
        try:
            got = [snap(s) for s in t.g_ours.get_state_history(cfg(st_.thread))]
        except Exception as e:
            self.fail(st_, f"get_state_history raised {e!r}")
        need = list(reversed(self.required(st_, day)))  # newest first, as the histories
        need += [True] * (len(want) - len(need))
        if all(need) and got == want:
            return
        p = 0
        for j, w in enumerate(want):
            if p < len(got) and got[p] == w:
                p += 1
            elif need[j]:
                shown = got[p] if p < len(got) else None
                self.fail(
                    st_,
                    f"get_state_history entry {j} of {len(want)} (newest first) "
                    f"{'missing' if shown is None else 'differs: ' + diff(shown, w)}; "
                    f"ours has {len(got)} entries",
                )
        if p != len(got):
            self.fail(
                st_,
                f"get_state_history: {len(got) - p} entries the model does not have "
                f"(ours {len(got)}, model {len(want)}): {short(got[p])}",
            )

    def check_isolation(self) -> None:
        for t in self.tenants:
            try:
                got = {c.config["configurable"]["thread_id"] for c in t.ours.list(None)}
            except Exception as e:
                pytest.fail(f"{self.where()}: {t.name}: list(None) raised {e!r}", pytrace=False)
            want = {s.thread for s in self.streams if s.tenant is t and model_alive(s)}
            if got != want:
                pytest.fail(
                    f"{self.where()}: tenant {t.name}: list(None) shows threads {sorted(got)}, "
                    f"its own live threads are {sorted(want)}",
                    pytrace=False,
                )

    def check_all(self) -> None:
        for s in self.streams:
            self.check_state(s)

    # --- operations ---------------------------------------------------------------------------

    def turn(self, st_: Stream, text: str, day: int, *, sync: bool = False) -> None:
        t = st_.tenant
        kw: dict[str, Any] = {"durability": "sync"} if sync else {}
        t.ctx_model.salt = t.ctx_ours.salt = ""
        t.g_model.invoke({"messages": [text]}, cfg(st_.thread), **kw)
        self.ours_call(lambda: t.g_ours.invoke({"messages": [text]}, cfg(st_.thread), **kw))
        st_.dirty = False
        self.after_write(st_, day)

    def crash_turn(self, st_: Stream, text: str, crash: Crash, day: int) -> None:
        """Attempt 1 (salt ``:a``) dies at the crash; the application recovers (salt ``:b``);
        the state must be a clean run of one attempt or the other."""
        t = st_.tenant
        inp = {"messages": [text]}
        pre = snap(t.g_ours.get_state(cfg(st_.thread), subgraphs=True))
        t.ctx_ours.salt = ":a"
        crashed = False
        try:
            self.ours_call(
                lambda: build_graph(crashing_saver(t.ours, crash), t.channel, t.ctx_ours).invoke(
                    inp, cfg(st_.thread)
                )
            )
        except Exception:
            if not crash.dead:
                raise
            crashed = True  # (LangGraph may chain the crash into another error)
        t.ctx_ours.salt = ":b"
        if crashed:
            st = t.g_ours.get_state(cfg(st_.thread))
            if st.tasks:
                self.ours_call(lambda: t.g_ours.invoke(None, cfg(st_.thread)))
            elif snap(t.g_ours.get_state(cfg(st_.thread), subgraphs=True)) == pre:
                self.ours_call(lambda: t.g_ours.invoke(inp, cfg(st_.thread)))
        t.ctx_ours.salt = ""
        got = snap(t.g_ours.get_state(cfg(st_.thread), subgraphs=True))
        runs = {}
        for salt in (":a", ":b"):
            m = clone(t.model)
            ctx = Ctx(salt=salt)
            g = build_graph(m, t.channel, ctx)
            g.invoke(inp, cfg(st_.thread))
            runs[salt] = (m, snap(g.get_state(cfg(st_.thread), subgraphs=True)))
        match = [salt for salt, (_, s) in runs.items() if s == got]
        if not match:
            self.fail(
                st_,
                f"after a crash ({crash.label} #{crash.nth}) and recovery the state is neither "
                f"a clean run of attempt 1 nor of the re-run: {diff(got, runs[':b'][1])}",
            )
        t.model = runs[match[0]][0]
        t.rebuild_model()
        st_.dirty = crashed and self.combo.history == "latest" and crash.label == "write:commit"
        self.after_write(st_, day)

    def crash_delete(self, st_: Stream, allowed: int, day: int) -> None:
        t = st_.tenant
        states = [snap(s)["values"] for s in t.g_model.get_state_history(cfg(st_.thread))]
        # (InjectedFault, or the backend's BackendUnavailableError wrapping it)
        with pytest.raises(BackendUnavailableError):
            delete_with_crash(t.ours, st_.thread, allowed)
        try:
            mid = snap(t.g_ours.get_state(cfg(st_.thread), subgraphs=True))
        except Exception as e:
            self.fail(st_, f"get_state after a crash inside delete_thread raised {e!r}")
        if mid["values"] and mid["values"] not in states:
            self.fail(
                st_,
                f"after a crash inside delete_thread ({allowed} requests done, the next cut: "
                f"half of a batch applied) the state is not one the thread ever had: "
                f"{short(mid['values'])}",
            )
        t.ours.delete_thread(st_.thread)
        self.forget(st_)

    def prune(self, st_: Stream, in_node: bool, day: int) -> None:
        t = st_.tenant
        other = t.sibling()

        def run() -> None:
            other.prune([st_.thread], strategy="keep_latest")

        if in_node:
            before = len(st_.born)
            t.ctx_ours.hook = run
            self.turn(st_, f"user:{len(self.log)}", day, sync=True)
            t.ctx_ours.hook = None
            # bot ran on the turn's second checkpoint (input, then loop), the latest then
            st_.floor = max(st_.floor, before + 1)
        else:
            run()
            st_.floor = max(st_.floor, len(st_.born) - 1)

    def expire(self, day: int) -> None:
        """The TTL model: a thread idle for TTL_DAYS or more is gone, whole."""
        if not self.combo.ttl:
            return
        for s in self.streams:
            if s.last_write is not None and day - s.last_write >= TTL_DAYS:
                self.forget(s)

    def run(self, ops: Sequence[Op], clock: FakeClock) -> None:
        """Each op, then the check of every thread (on the slow backends: of the thread it
        touched; every thread is checked at the end anyway), then history and isolation."""
        try:
            for op in ops:
                self.log.append(repr(op))
                self.step(op, clock)
                if self.slow and op.kind not in ("wait", "span"):
                    self.check_state(self.streams[op.stream % len(self.streams)])
                else:
                    self.check_all()
            self.check_all()
            for s in self.streams:
                self.check_history(s, clock.day)
            self.check_isolation()
        except Refused:
            return

    def step(self, op: Op, clock: FakeClock) -> None:
        st_ = self.streams[op.stream % len(self.streams)]
        t = st_.tenant
        day = clock.day
        n = len(self.log)
        interrupted = bool(t.g_model.get_state(cfg(st_.thread)).next)
        if op.kind == "turn":
            self.turn(st_, f"user:{n}", day)
        elif op.kind == "ask":
            self.turn(st_, f"ask:{n}", day)
        elif op.kind == "resume":
            if not interrupted:
                return
            answer = ("yes", "no")[op.arg % 2]
            t.g_model.invoke(Command(resume=answer), cfg(st_.thread))
            self.ours_call(lambda: t.g_ours.invoke(Command(resume=answer), cfg(st_.thread)))
            self.after_write(st_, day)
        elif op.kind == "update":
            self.update(st_, op.arg, n, day)
        elif op.kind == "history":
            if not self.slow:  # (at the end anyway)
                self.check_history(st_, day)
        elif op.kind == "delete":
            t.model.delete_thread(st_.thread)
            t.ours.delete_thread(st_.thread)
            self.forget(st_)
            if not self.slow:
                self.check_isolation()
        elif op.kind == "wait":
            clock.day += WAITS[op.arg % len(WAITS)]
            self.expire(clock.day)
        elif op.kind == "span":
            self.span(st_, (15, 29)[op.arg % 2], clock)
        elif op.kind in ("cut_writes", "crash_put"):
            if interrupted:  # the recovery rule needs a thread at rest
                self.turn(st_, f"user:{n}", day)
                return
            label = "write" if op.kind == "cut_writes" else "write:commit"
            nth = 1 + op.arg % (2 if label == "write" else 3)
            self.crash_turn(st_, f"user:{n}", Crash(label=label, nth=nth), day)
        elif op.kind == "crash_delete":
            self.crash_delete(st_, op.arg % 4, day)
            if not self.slow:
                self.check_isolation()
        elif op.kind == "prune":
            self.prune(st_, op.arg % 2 == 1, day)
        else:  # pragma: no cover
            raise AssertionError(op)

    def update(self, st_: Stream, back: int, n: int, day: int) -> None:
        """``update_state(as_node="bot")`` on the latest checkpoint, or with history=all on an
        older one (a fork), picked at the same place in both histories."""
        t = st_.tenant
        target_m: RunnableConfig = cfg(st_.thread)
        target_o: RunnableConfig = cfg(st_.thread)
        if back and self.combo.history == "all" and st_.floor == 0 and not self.combo.ttl:
            hist_m = list(t.g_model.get_state_history(cfg(st_.thread)))
            hist_o = list(t.g_ours.get_state_history(cfg(st_.thread)))
            if hist_m and len(hist_m) == len(hist_o):
                k = back % len(hist_m)
                target_m, target_o = hist_m[k].config, hist_o[k].config
        values = {"messages": [f"edit:{n}"]}
        t.g_model.update_state(target_m, values, as_node="bot")
        self.ours_call(lambda: t.g_ours.update_state(target_o, values, as_node="bot"))
        st_.dirty = False
        self.after_write(st_, day)

    def span(self, st_: Stream, gap: int, clock: FakeClock) -> None:
        """An active thread: a turn every ``gap`` days for 65 days, checked after each."""
        start = clock.day
        while clock.day - start < 65:
            clock.day += gap
            self.expire(clock.day)
            self.log.append(f"day{clock.day}")
            self.turn(st_, f"user:{len(self.log)}", clock.day)
            self.check_all()


# --- building a world per example -----------------------------------------------------------


def tenant_url(backend: str, fixture_url: str, tmp: Path, tag: str, combo: Combo) -> str:
    """The URL of one tenant of one example: its own prefix (or file), the combination's
    options."""
    base, query = split_options(fixture_url)
    if backend == "sqlite":
        base = base[: -len(".db")] + f"-{tag}.db"
    elif backend in ("fakeredis", "redis", "redis_cluster"):
        query["prefix"] = query["prefix"] + tag
        if combo.ttl:
            query["ttl"] = str(TTL_DAYS * DAY)
    elif backend == "s3":
        bucket = base[len("s3://") :].split("/", 1)[0]
        base = f"s3://{bucket}/{tag}"
    elif backend == "dynamodb":
        query["prefix"] = tag
        if combo.ttl:
            query["ttl"] = f"{TTL_DAYS}d"
    if combo.history == "latest":
        query["history"] = "latest"
    if combo.compress != "none":
        query["compress"] = combo.compress
    return f"{base}?{urlencode(query)}" if query else base


def serde_for(combo: Combo) -> Any:
    if combo.serde == "encrypted":
        from langgraph.checkpoint.serde.encrypted import EncryptedSerializer

        return EncryptedSerializer.from_pycryptodome_aes(key=b"x" * 16)
    return None


@dataclass
class Site:
    """Where one test's examples live: the fixture URL and a counter for fresh prefixes."""

    backend: str
    fixture_url: str
    tmp: Path
    clock: FakeClock
    counter: Iterator[int] = field(default_factory=itertools.count)

    def open(self, combo: Combo, stream_threads: Sequence[tuple[int, str]]) -> World:
        n = next(self.counter)
        self.clock.day = 0
        names = ["acme", "acme1"][: combo.tenants]
        tenants = []
        for name in names:
            url = tenant_url(self.backend, self.fixture_url, self.tmp, f"e{n}z{name}", combo)
            saver = checkpoint_kv.from_url(url, serde=serde_for(combo))
            saver.setup()
            if combo.ttl and self.backend == "dynamodb":
                saver.store._clock = self.clock.epoch  # type: ignore[attr-defined]
            tenants.append(Tenant(name, saver, InMemorySaver(), combo.channel))
        streams = [Stream(tenants[i % len(tenants)], th) for i, th in stream_threads]
        return World(self.backend, combo, tenants, streams)


def two_streams(combo: Combo) -> list[tuple[int, str]]:
    """Threads whose ids collide with the other tenant's once the prefix is glued on."""
    return [(0, "1x"), (1, "x")] if combo.tenants == 2 else [(0, "1x"), (0, "x")]


def profile(backend: str) -> settings:
    n = EXAMPLES[backend] * (10 if LONG else 1)
    phases = [Phase.explicit, Phase.reuse, Phase.generate]
    if LONG or backend not in SLOW:
        phases.append(Phase.shrink)
    return settings(
        max_examples=n,
        deadline=None,
        derandomize=not LONG,
        database=None,
        phases=phases,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )


@pytest.fixture
def site(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Site:
    backend = request.node.callspec.params["backend"]
    clock = FakeClock()
    if backend == "fakeredis":
        import sys

        import fakeredis  # noqa: F401  (loads the modules patched below)

        shifted = ShiftedTime(clock)
        for name, module in list(sys.modules.items()):
            if name.startswith("fakeredis") and getattr(module, "time", None) is time:
                monkeypatch.setattr(module, "time", shifted)
    return Site(backend, str(request.getfixturevalue(f"url_{backend}")), tmp_path, clock)


def _close(world: World) -> None:
    for t in world.tenants:
        t.ours.close()


@pytest.mark.timeout(0 if LONG else 300)
@pytest.mark.parametrize(
    ("backend", "variant", "combo"), CASES, ids=[f"{b}-{i}-{c.label}" for b, i, c in CASES]
)
def test_matrix(backend: str, variant: int, combo: Combo, site: Site) -> None:
    @profile(backend)
    @given(ops=program(combo, variant, LONG, backend in SLOW))
    def run(ops: list[Op]) -> None:
        world = site.open(combo, two_streams(combo))
        try:
            world.run(ops, site.clock)
        finally:
            _close(world)

    run()


# --- the literal TTL case ---------------------------------------------------------------------

# DynamoDB on moto costs O(items of the table) per Query and per transaction, and the chain
# of a DeltaChannel that never snapshots is read whole at every turn: 62 daily turns there take
# minutes. The default profile therefore gives DynamoDB a turn every 3 days (21 turns, the same
# 63 days, gaps still far inside the half-TTL refresh window) with the long chain; the daily run
# with both channels is in the long profile. fakeredis runs the literal daily case always.
TTL_CASES = [
    (b, ch, 1 if LONG or b != "dynamodb" else 3)
    for b in selected_backends()
    if b in TTL_BACKENDS
    for ch in ("plain", "delta100")
    if LONG or b != "dynamodb" or ch == "delta100"
]


@pytest.mark.timeout(0 if LONG else 300)
@pytest.mark.parametrize(("backend", "channel", "every"), TTL_CASES)
def test_ttl_active_thread(backend: str, channel: str, every: int, site: Site) -> None:
    """ttl=30d, a turn every day (``every`` days) for 63 days on one thread: it never loses
    state (checked after every turn). The other thread, idle since day 0, reads as absent,
    whole, from day 30 on (checked around the boundary and at the end). The DeltaChannel here
    snapshots every 100 updates, so from day 30 on the state depends on writes older than the
    TTL: a refresh that misses the ancestors of the chain loses messages (issue 11, item 2)."""
    combo = Combo("all", True, 1, channel, "default")
    world = site.open(combo, two_streams(combo))
    try:
        active, idle = world.streams
        world.log.append("day0")
        world.turn(idle, "user:idle", 0)
        for day in range(0, 63, every):
            site.clock.day = day
            world.expire(day)
            world.log.append(f"day{day}")
            world.turn(active, f"user:{day}", day)
            world.check_state(active)
            if TTL_DAYS - every <= day <= TTL_DAYS:
                world.check_state(idle)
        world.check_all()
        for s in world.streams:
            world.check_history(s, site.clock.day)
        world.check_isolation()
    finally:
        _close(world)


# --- the coverage promise ---------------------------------------------------------------------


@pytest.mark.parametrize("backend", sorted({b for b, _, _ in CASES}))
def test_every_pair_meets_on_every_backend(backend: str) -> None:
    rows = [vars(c) for c in combos(backend)]
    fs = factors(backend)
    for (a, va_s), (b, vb_s) in itertools.combinations(fs.items(), 2):
        for va, vb in itertools.product(va_s, vb_s):
            assert any(r[a] == va and r[b] == vb for r in rows), (backend, a, va, b, vb)


def test_site_urls_extend_one_another() -> None:
    """The two tenants' prefixes, glued to their threads, are the same string: the case a
    weak separator would mix up."""
    combo = Combo("all", False, 2, "plain", "default")
    url = "dynamodb://t?region=us-east-1"
    a = tenant_url("dynamodb", url, Path("/tmp"), "e0zacme", combo)
    b = tenant_url("dynamodb", url, Path("/tmp"), "e0zacme1", combo)
    assert split_options(a)[1]["prefix"] + "1x" == split_options(b)[1]["prefix"] + "x"
