"""The five workloads, as real LangGraph graphs with fixed seeds. Needs only ``langgraph``.

Each workload takes a saver (already wrapped by :mod:`benchmarks.counting`) and a recorder, and
records graph-level ops (``invoke``, ``get_state``, ``history page``...). Message text is
derived from a seed and the turn number, so every saver stores byte-identical states.
"""

from __future__ import annotations

import operator
import random
import string
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

from langgraph.channels.delta import DeltaChannel
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, Send, interrupt

from benchmarks.counting import Recorder

SEED = 20260601
_ALPHABET = string.ascii_letters + string.digits + "     .,"


@dataclass(frozen=True)
class Profile:
    chat_turns: int
    delta_turns: int
    fanout_rounds: int
    history_checkpoints: int
    concurrent_threads: int
    concurrent_turns: int
    # DeltaChannel chat: get_state is measured after these turns, ``probe_samples`` times
    # each, on every saver. DeltaChannel's default snapshot_frequency=100 counts updates, two
    # per turn (the user message, the reply), so turns 50, 100, 150, 200 land on a snapshot
    # (nothing to replay); turn 125 is mid-chain (50 writes to replay), turn 10 early enough
    # that the slowest savers reach it.
    delta_probes: tuple[int, ...] = ()
    probe_samples: int = 5
    message_bytes: int = 1024


PROFILES: dict[str, Profile] = {
    "smoke": Profile(4, 4, 1, 20, 4, 2, delta_probes=(3,), probe_samples=3),
    "quick": Profile(30, 30, 3, 100, 8, 3, delta_probes=(10, 25)),
    "full": Profile(200, 200, 16, 500, 32, 4, delta_probes=(10, 125)),
    # The DynamoDB comparison the DynamoDB issue asks for: a 100-turn chat, nothing else
    # (`--profile chat100 --workloads chat --only ckv-dynamodb,aws_dynamodb,skamalj_dynamodb`).
    "chat100": Profile(100, 100, 3, 100, 8, 3, delta_probes=(10, 75)),
}


def probe_op(turn: int) -> str:
    """The graph op name of the DeltaChannel get_state probe after ``turn`` turns."""
    return f"get_state @ turn {turn}"


def text(seed: str, n: int) -> str:
    rng = random.Random(f"{SEED}:{seed}")
    return "".join(rng.choices(_ALPHABET, k=n))


def extend(state: Sequence[Any] | None, writes: Sequence[Sequence[Any]]) -> list[Any]:
    """DeltaChannel reducer: append every write (each a list of messages). Batching-invariant."""
    out = list(state or [])
    for w in writes:
        out.extend(w)
    return out


class ChatState(TypedDict):
    messages: Annotated[list, operator.add]


class DeltaChatState(TypedDict):
    messages: Annotated[list, DeltaChannel(extend)]


def _chat_graph(saver: Any, state: type, size: int) -> Any:
    def reply(s: dict[str, Any]) -> dict[str, Any]:
        n = len(s["messages"])
        return {"messages": [{"role": "assistant", "content": text(f"a{n}", size)}]}

    g = StateGraph(state)
    g.add_node("reply", reply)
    g.add_edge(START, "reply")
    g.add_edge("reply", END)
    return g.compile(checkpointer=saver)


def _user(turn: int, size: int) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text(f"u{turn}", size)}]}


Deadline = Callable[..., bool]  # over(frac=1.0): past that fraction of the time budget


def chat(saver: Any, rec: Recorder, p: Profile, over: Deadline, delta: bool = False) -> dict:
    graph = _chat_graph(saver, DeltaChatState if delta else ChatState, p.message_bytes)
    cfg = {"configurable": {"thread_id": "chat-delta" if delta else "chat"}}
    turns = p.delta_turns if delta else p.chat_turns
    done = 0
    for turn in range(turns):
        if over():
            break
        with rec.graph_op("invoke"):
            graph.invoke(_user(turn, p.message_bytes), cfg)
        done += 1
        if delta and done in p.delta_probes:
            for _ in range(p.probe_samples):
                with rec.graph_op(probe_op(done)):
                    st = graph.get_state(cfg)
                if len(st.values.get("messages", [])) != 2 * done:
                    raise AssertionError(f"get_state after {done} turns is wrong")
    with rec.graph_op("get_state"):
        st = graph.get_state(cfg)
    n = len(st.values.get("messages", []))
    if n != 2 * done:
        raise AssertionError(f"state has {n} messages after {done} turns, expected {2 * done}")
    if delta and done >= 4:  # a history page: one get_delta_channel_history per checkpoint
        with rec.graph_op("history page (10)"):
            page = list(graph.get_state_history(cfg, limit=10))
        if len(page) != 10 or page[0].values != st.values:
            raise AssertionError("the DeltaChannel history page is wrong")
    return {"turns": done, "of": turns}


class FanState(TypedDict):
    results: Annotated[list, operator.add]
    approved: bool


def _fan_graph(saver: Any, width: int) -> Any:
    def work(arg: dict[str, Any]) -> dict[str, Any]:
        return {"results": [text(f"w{arg['i']}", 256)]}

    def review(s: dict[str, Any]) -> dict[str, Any]:
        answer = interrupt({"results": len(s["results"])})
        return {"approved": bool(answer)}

    def fan(s: dict[str, Any]) -> list[Send]:
        return [Send("work", {"i": i}) for i in range(width)]

    g = StateGraph(FanState)
    g.add_node("work", work)
    g.add_node("review", review)
    g.add_conditional_edges(START, fan, ["work"])
    g.add_edge("work", "review")
    g.add_edge("review", END)
    return g.compile(checkpointer=saver)


def fanout(saver: Any, rec: Recorder, p: Profile, over: Deadline, width: int = 8) -> dict:
    graph = _fan_graph(saver, width)
    done = 0
    for r in range(p.fanout_rounds):
        if over():
            break
        cfg = {"configurable": {"thread_id": f"fan-{r}"}}
        with rec.graph_op("invoke (8 Sends, interrupt)"):
            out = graph.invoke({"results": []}, cfg)
        if "__interrupt__" not in out:
            raise AssertionError("the review node did not interrupt")
        with rec.graph_op("resume"):
            out = graph.invoke(Command(resume=True), cfg)
        if len(out["results"]) != width or not out.get("approved"):
            raise AssertionError(f"resume returned {len(out['results'])} results")
        done += 1
    return {"rounds": done, "of": p.fanout_rounds}


class CountState(TypedDict):
    n: int


def history(saver: Any, rec: Recorder, p: Profile, over: Deadline, page: int = 10) -> dict:
    g = StateGraph(CountState)
    g.add_node("step", lambda s: {"n": s["n"] + 1})
    g.add_edge(START, "step")
    g.add_edge("step", END)
    graph = g.compile(checkpointer=saver)
    cfg = {"configurable": {"thread_id": "history"}}
    with rec.paused():
        graph.invoke({"n": 0}, cfg)
        per_invoke = sum(1 for _ in saver.list(cfg))
    made = per_invoke
    # Building may take at most 60% of the budget: a slow saver still gets its pages read.
    while made < p.history_checkpoints and not over(0.6):
        with rec.graph_op("build: invoke"):
            graph.invoke({"n": 0}, cfg)
        made += per_invoke
    pages = 0
    seen = 0
    before = None
    while not over():
        with rec.graph_op(f"history page ({page})"):
            items = list(graph.get_state_history(cfg, limit=page, before=before))
        if not items:
            break
        if len(items) < page and seen + len(items) < made:
            raise AssertionError(f"page of {len(items)} before the end ({seen} of {made})")
        pages += 1
        seen += len(items)
        before = items[-1].config
    if seen != made and not over():
        raise AssertionError(f"history returned {seen} checkpoints of {made}")
    return {"checkpoints": made, "pages": pages}


def concurrent(saver: Any, rec: Recorder, p: Profile, over: Deadline) -> dict:
    graph = _chat_graph(saver, ChatState, p.message_bytes)
    start = threading.Barrier(p.concurrent_threads)

    def one(t: int) -> int:
        cfg = {"configurable": {"thread_id": f"conc-{t}"}}
        start.wait()
        n = 0
        for turn in range(p.concurrent_turns):
            if over():
                break
            t0 = time.perf_counter()
            graph.invoke(_user(turn, p.message_bytes), cfg)
            rec.record("invoke (per thread)", time.perf_counter() - t0, float("nan"))
            n += 1
        return n

    h0 = rec.hits
    t0 = time.perf_counter()
    with ThreadPoolExecutor(p.concurrent_threads) as pool:
        counts = list(pool.map(one, range(p.concurrent_threads)))
    wall = time.perf_counter() - t0
    total = sum(counts)
    return {
        "threads": p.concurrent_threads,
        "invokes": total,
        "wall_s": wall,
        "invokes_per_s": total / wall if wall else None,
        "hits_per_invoke": (rec.hits - h0) / total if total else None,
    }


WORKLOADS: dict[str, Callable[..., dict]] = {
    "chat": chat,
    "chat-delta": lambda saver, rec, p, over: chat(saver, rec, p, over, delta=True),
    "fanout": fanout,
    "history": history,
    "concurrent": concurrent,
}
