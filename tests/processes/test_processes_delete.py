"""Real OS processes on one store: chats beside a process that deletes their threads.

``tests/processes/test_deleted_thread.py`` and the interleaving model test prove the "deleted
thread stays
deleted" semantics (docs/RELIABILITY.md, "Deleted threads") call by call. This is the same claim
with nothing simulated: separate interpreters (their own caches, connections and clocks), real
LangGraph graphs with the default (``async``) durability, one SQLite file, one redis-server, one
DynamoDB table on moto's server. The scheduler is the operating system, so a run is not
reproducible; the checks are therefore written so that they hold under *every* timing, using
only wall-clock intervals each process recorded around its own calls (``time.time()`` is one
clock for every process of this machine; ``time.monotonic()`` is not comparable across them).

- ``CHATTERS`` chat processes own ``THREADS_PER_CHATTER`` threads each and run ``TURNS`` turns
  per thread, each turn its own ``invoke``. A thread's *life* begins with a turn that finds the
  thread empty; that turn sets ``doc`` (``make_doc`` of the life's first message, above the
  2 KB a record copies forward, so every later checkpoint reads it from the life's first
  record). The worker passes ``doc`` in the input when its ``get_state`` found the thread
  empty, and the node sets it when the state has none (a delete between that ``get_state`` and
  the ``invoke``). Per turn the worker records when it started and ended, what ``get_state``
  showed before, and the values ``invoke`` returned.
- One deleter process loops ``delete_thread`` over random threads until the chats end (bounded
  passes and deadline), recording when each call started and returned; no final pass, so the
  threads end both absent and present.
- Afterwards the test checks each turn and each thread against what the semantics allow at the
  recorded times (``_check_turns``, ``_check_final``): a thread is absent only if a delete
  returned after its last turn began; present, it is exactly the last turn's result, one life
  with that life's doc, and its history is every checkpoint of that life and nothing else; a
  turn starts a new life only if a delete ran between its previous turn's start and its end,
  and continues one only if no delete ran wholly between that life's first turn and it. No
  process may see an exception.

DynamoDB deletes a partition item by item (records newest first, then the rest: a reader never
meets a record without its data), so a turn *overlapping* a delete there may read an older
checkpoint of the same life; such a turn is held to "one life, right doc" instead of "the
previous turn's state plus this turn". SQLite and Redis drop a thread in one call, so every
turn is held to the strict rule.

Every process writes its figures and the traceback of any exception to a JSON file; the test
prints one summary line per backend (``-s`` shows it).
"""

from __future__ import annotations

import json
import operator
import random
import re
import subprocess
import time
import traceback
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

import checkpoint_kv
from tests.processes.test_processes import (
    _save,
    spawn,
)

CHATTERS = 3
THREADS_PER_CHATTER = 2
# Turns per thread: moto's server serves one request at a time (each O(items in the table)),
# so DynamoDB runs fewer; the others are sized to stay under ~40 s on a shared 2-core machine.
TURNS = {"sqlite": 200, "redis": 200, "dynamodb": 20}
# Mean pause between two deletes (uniform in [0, 2 * PAUSE]): with 6 threads, about one delete
# of a given thread every few of its turns, so lives are short and long, and many deletes land
# inside a turn.
PAUSE = {"sqlite": 0.03, "redis": 0.03, "dynamodb": 0.25}
MAX_PASSES = 5000  # bounds on the delete loop, whatever happens to the chats
DEADLINE = 120.0  # seconds
DOC_REPEAT = 100  # make_doc is ~5 KB: never copied forward (2 KB carry limit)
ATOMIC_DROP = {"sqlite", "redis"}  # one DELETE statement / one DEL of every key

CHILD = (
    "import sys\n"
    "from tests.processes.test_processes_delete import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


class State(TypedDict, total=False):
    messages: Annotated[list[str], operator.add]
    doc: str


def say(thread: str, turn: int) -> str:
    """The user message of a turn: the turn index is readable back (``_user_turn``)."""
    return f"{thread} says {turn}"


def reply_to(messages: list[str]) -> str:
    """Deterministic, so a life's messages can be rebuilt from its turn indices."""
    return f"reply to {messages[-1]!r} ({len(messages)} so far)"


def make_doc(first: str) -> str:
    """The doc of the life that began with message ``first``: tells lives apart."""
    doc = f"doc of the life that began with {first!r}; " * DOC_REPEAT
    assert len(doc) > 4 * 1024, "doc must stay above the 2 KB carry limit"
    return doc


def _reply(state: State) -> dict[str, Any]:
    """Append a reply; set the life's doc if the state has none (its first turn)."""
    messages = state["messages"]
    update: dict[str, Any] = {"messages": [reply_to(messages)]}
    if "doc" not in state:
        update["doc"] = make_doc(messages[0])
    return update


def build_graph(checkpointer: BaseCheckpointSaver[Any]) -> CompiledStateGraph[Any]:
    """One node that appends a reply: each turn is an input checkpoint and a loop one."""
    builder = StateGraph(State)
    builder.add_node("reply", _reply)
    builder.add_edge(START, "reply")
    builder.add_edge("reply", END)
    return builder.compile(checkpointer=checkpointer)


def thread_ids() -> list[str]:
    return [f"del{w}-t{k}" for w in range(CHATTERS) for k in range(THREADS_PER_CHATTER)]


def config_of(thread: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread}}


def life_messages(thread: str, first: int, last: int) -> list[str]:
    """The messages of a life whose turns ``first..last`` all landed."""
    messages: list[str] = []
    for turn in range(first, last + 1):
        messages.append(say(thread, turn))
        messages.append(reply_to(messages))
    return messages


# --- the child processes ----------------------------------------------------------------------


def _doc_label(values: dict[str, Any]) -> str:
    """``same`` if the doc is the one of the life its first message began, else what it is."""
    doc, messages = values.get("doc"), values.get("messages") or []
    if doc is None:
        return "missing"
    if messages and doc == make_doc(messages[0]):
        return "same"
    return f"other: {str(doc)[:90]!r}"


def chat(url: str, out: Path, worker: int, turns: int) -> dict[str, Any]:
    """Turns round-robin over this process's threads, each recorded (no check here: the test
    process judges every turn against the deletes' times, which only it sees)."""
    mine = [f"del{worker}-t{k}" for k in range(THREADS_PER_CHATTER)]
    result: dict[str, Any] = {"turns": {th: [] for th in mine}, "errors": []}
    saver = checkpoint_kv.from_url(url)
    try:
        saver.setup()
        graph = build_graph(saver)
        previous: dict[str, dict[str, Any]] = {th: {} for th in mine}
        result["start"] = time.time()
        _save(out, f"started-{worker}", {})
        for turn in range(turns):
            for th in mine:
                start = time.time()
                before = dict(graph.get_state(config_of(th)).values)
                inp: dict[str, Any] = {"messages": [say(th, turn)]}
                if not before.get("messages"):
                    inp["doc"] = make_doc(say(th, turn))
                values = dict(graph.invoke(inp, config_of(th)))
                end = time.time()
                result["turns"][th].append(
                    {
                        "start": start,
                        "end": end,
                        "before": (
                            "empty"
                            if not before.get("messages")
                            else "previous"
                            if before == previous[th]
                            else before.get("messages")
                        ),
                        "before_doc": _doc_label(before),
                        "messages": values.get("messages"),
                        "doc": _doc_label(values),
                    }
                )
                previous[th] = values
    except Exception:
        result["errors"].append(traceback.format_exc())
    finally:
        result["end"] = time.time()
        saver.close()
    return result


def _over(out: Path) -> bool:
    """Every chat process wrote its result, or the test says stop (one of them died)."""
    done = all((out / f"chat{w}.json").exists() for w in range(CHATTERS))
    return done or (out / "stop").exists()


def deleter(url: str, out: Path, pause: float, seed: int) -> dict[str, Any]:
    """``delete_thread`` of a random thread, a random pause, again: from the moment every chat
    process is ready until they are all done, within ``MAX_PASSES`` and ``DEADLINE``. Each
    delete is recorded as ``[thread, started, returned]`` (wall clock)."""
    rng = random.Random(seed)
    result: dict[str, Any] = {"deletes": [], "errors": [], "seed": seed}
    deadline = time.monotonic() + DEADLINE
    saver = checkpoint_kv.from_url(url)
    try:
        saver.setup()
        ready = [out / f"started-{w}" for w in range(CHATTERS)]
        while not all(p.exists() for p in ready) and not _over(out):
            if time.monotonic() > deadline:  # the chats never started: the test says why
                break
            time.sleep(0.01)  # the chats are still importing: deletes now would prove nothing
        threads = thread_ids()
        while (
            not _over(out) and len(result["deletes"]) < MAX_PASSES and time.monotonic() < deadline
        ):
            th = rng.choice(threads)
            start = time.time()
            saver.delete_thread(th)
            result["deletes"].append([th, start, time.time()])
            time.sleep(rng.uniform(0, 2 * pause))
    except Exception:
        result["errors"].append(traceback.format_exc())
    finally:
        saver.close()
    return result


def main(argv: list[str]) -> int:
    """``python -c CHILD chat URL OUTDIR WORKER TURNS`` or ``... delete URL OUTDIR PAUSE
    SEED``: run one role, write its JSON."""
    role, url, out = argv[0], argv[1], Path(argv[2])
    if role == "chat":
        result, name = chat(url, out, int(argv[3]), int(argv[4])), f"chat{argv[3]}.json"
    else:
        result, name = deleter(url, out, float(argv[3]), int(argv[4])), "delete.json"
    _save(out, name, result)
    return 0


# --- the checks ---------------------------------------------------------------------------------

Turn = dict[str, Any]
Delete = tuple[float, float]  # (started, returned)


def _user_turn(thread: str, message: str) -> int | None:
    match = re.fullmatch(re.escape(thread) + r" says (\d+)", message)
    return int(match.group(1)) if match else None


def _life_start(thread: str, messages: list[str]) -> int | None:
    """The turn that began the life these messages belong to (their first message's turn)."""
    return _user_turn(thread, messages[0]) if messages else None


def _one_life(thread: str, turns: list[Turn], k: int) -> str | None:
    """Why turn ``k``'s result is not "one life read at some checkpoint, plus turn ``k``":
    what a turn overlapping a non-atomic delete may see. Its base must be a prefix of what an
    earlier turn of the same life returned (every checkpoint a turn writes is one)."""
    messages: list[str] = turns[k]["messages"]
    j = _life_start(thread, messages)
    base = messages[:-2]
    if j is None or messages[-2:] != [say(thread, k), reply_to(messages[:-1])]:
        return "does not end with this turn's message and its reply"
    if not base:
        return None if j == k else "a fresh life that does not begin at this turn"
    for i in range(j, k):
        earlier: list[str] = turns[i]["messages"]
        if _life_start(thread, earlier) == j and earlier[: len(base)] == base:
            return None
    return "its base is no checkpoint of that life (two lives mixed?)"


def _check_turns(
    thread: str, turns: list[Turn], deletes: list[Delete], atomic: bool
) -> tuple[list[str], int, int]:
    """Every turn against the rules (module docstring); returns the violations, the number of
    lives (turns that started one) and of turns that read an older checkpoint of their life
    beside a non-atomic delete (held to "one life" only)."""
    bad: list[str] = []
    lives = older = 0
    for k, t in enumerate(turns):
        messages: list[str] = t["messages"]
        where = f"{thread} turn {k} [{t['start']:.3f}, {t['end']:.3f}]"
        if t["doc"] != "same":
            bad.append(f"{where}: doc {t['doc']} (messages {messages!r:.300})")
        if t["before"] not in ("empty", "previous") and t["before_doc"] != "same":
            bad.append(f"{where}: get_state before showed doc {t['before_doc']}")
        j = _life_start(thread, messages)
        if j is None:
            bad.append(f"{where}: no life: {messages!r:.300}")
            continue
        overlap = any(s < t["end"] and e > t["start"] for s, e in deletes)
        fresh = life_messages(thread, k, k)
        previous: list[str] = turns[k - 1]["messages"] if k else []
        extended = [*previous, say(thread, k)]
        extended.append(reply_to(extended))
        if messages == fresh:
            lives += 1
            # the previous life (or its last turn) vanished: a delete ran in between
            if k and not any(e > turns[k - 1]["start"] and s < t["end"] for s, e in deletes):
                bad.append(f"{where}: started a new life, but no delete ran since turn {k - 1}")
        elif messages != extended:
            if atomic or not overlap:
                bad.append(f"{where}: neither a new life nor turn {k - 1}'s + this: {messages!r}")
            elif (why := _one_life(thread, turns, k)) is not None:
                bad.append(f"{where} (beside a delete): {why}: {messages!r}")
            else:
                older += 1
        elif t["before"] == "empty" and (atomic or not overlap):
            bad.append(f"{where}: get_state found it empty, the turn continued turn {k - 1}")
        if (atomic or not overlap) and t["before"] not in ("empty", "previous"):
            bad.append(f"{where}: get_state before showed {t['before']!r:.300}")
        if j < k:  # continued life j: no delete may have run wholly between its birth and now
            birth = turns[j]["end"]
            for s, e in deletes:
                if s > birth and e < t["start"]:
                    bad.append(f"{where}: continued the life of turn {j} across delete [{s}, {e}]")
    return bad, lives, older


def _check_final(
    graph: CompiledStateGraph[Any],
    saver: checkpoint_kv.KVCheckpointSaver,
    thread: str,
    turns: list[Turn],
    deletes: list[Delete],
) -> tuple[list[str], bool]:
    """The thread as a fresh reader finds it; returns the violations and whether it is present."""
    bad: list[str] = []
    config = config_of(thread)
    last = turns[-1]
    values = dict(graph.get_state(config).values)
    history = list(graph.get_state_history(config))  # raises on a partial checkpoint
    listed = list(saver.list(config))
    if not values:
        if not any(e > last["start"] for _, e in deletes):
            bad.append(f"{thread}: absent, but no delete returned after its last turn began")
        if history or listed or saver.get_tuple(config) is not None:
            bad.append(f"{thread}: no state, yet {len(history)} history, {len(listed)} listed")
        return bad, False
    messages: list[str] = values.get("messages") or []
    if messages != last["messages"] or _doc_label(values) != "same":
        bad.append(
            f"{thread}: present but not its last turn's result: doc {_doc_label(values)}, "
            f"messages {messages!r}, last turn returned {last['messages']!r}"
        )
        return bad, True
    j = _life_start(thread, messages)
    assert j is not None
    birth = turns[j]["end"]
    if any(s > birth for s, _ in deletes):
        bad.append(f"{thread}: life of turn {j} survived a delete that began after its birth")
    if messages != life_messages(thread, j, len(turns) - 1):
        bad.append(f"{thread}: not every turn of its life since turn {j}: {messages!r}")
    # every checkpoint of that life, newest first, and nothing else: 3 per turn (the input,
    # the input applied, the reply), the first turn's input an empty state
    sizes = [len(h.values.get("messages") or []) for h in history]
    want = [size for m in range(len(messages) // 2) for size in (2 * m, 2 * m + 1, 2 * m + 2)]
    if sizes != want[::-1] or len(listed) != len(history):
        bad.append(f"{thread}: history sizes {sizes}, {len(listed)} listed")
    for h in history:
        shown: list[str] = h.values.get("messages") or []
        if shown != messages[: len(shown)]:
            bad.append(f"{thread}: history {h.config} is no prefix: {shown!r}")
        doc = h.values.get("doc")
        if (doc is None and len(shown) > 1) or (doc is not None and doc != values["doc"]):
            bad.append(f"{thread}: history {h.config} doc {_doc_label(h.values)}")
    return bad, True


# --- the test ---------------------------------------------------------------------------------


@pytest.mark.timeout(300)
def test_chats_beside_delete_thread(process_url: tuple[str, str], tmp_path: Path) -> None:
    backend, url = process_url
    began = time.monotonic()
    seed = random.randrange(2**32)
    saver = checkpoint_kv.from_url(url)
    saver.setup()  # once before the children: they find the table / file / server ready
    saver.close()

    out = str(tmp_path)
    chatters = [
        spawn(tmp_path, "chat", url, out, str(w), str(TURNS[backend]), child=CHILD)
        for w in range(CHATTERS)
    ]
    deleting = spawn(tmp_path, "delete", url, out, str(PAUSE[backend]), str(seed), child=CHILD)
    until = time.monotonic() + DEADLINE
    try:
        for p in chatters:
            p.wait(timeout=max(1.0, until - time.monotonic()))
    finally:
        (tmp_path / "stop").touch()
        for p in [*chatters, deleting]:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=30)
    logs = {f.name: f.read_text(errors="replace")[-3000:] for f in tmp_path.glob("*.log")}
    for p in [*chatters, deleting]:
        assert p.returncode == 0, f"a process exited {p.returncode}: {logs}"

    chats = [json.loads((tmp_path / f"chat{w}.json").read_text()) for w in range(CHATTERS)]
    dele = json.loads((tmp_path / "delete.json").read_text())
    errors = [e for r in (*chats, dele) for e in r["errors"]]
    turns: dict[str, list[Turn]] = {th: ts for c in chats for th, ts in c["turns"].items()}
    deletes: dict[str, list[Delete]] = {th: [] for th in thread_ids()}
    for th, s, e in dele["deletes"]:
        deletes[th].append((s, e))
    first, last = min(c["start"] for c in chats), max(c["end"] for c in chats)
    during = sum(1 for _, s, e in dele["deletes"] if s < last and e > first)
    inside = sum(
        1
        for th, ds in deletes.items()
        for s, e in ds
        if any(s < t["end"] and e > t["start"] for t in turns[th])
    )

    bad: list[str] = []
    lives = older = present = 0
    fresh = checkpoint_kv.from_url(url)
    try:
        graph = build_graph(fresh)
        for th in thread_ids():
            if len(turns[th]) != TURNS[backend]:
                continue  # the errors say why
            found, n, m = _check_turns(th, turns[th], deletes[th], backend in ATOMIC_DROP)
            bad += found
            lives += n
            older += m
            try:  # a read that raises is a violation like any other: report them all
                found, shown = _check_final(graph, fresh, th, turns[th], deletes[th])
            except Exception:
                found, shown = [f"{th}: a final read raised {traceback.format_exc()}"], False
            bad += found
            present += shown
        try:
            listed = {t.config["configurable"]["thread_id"] for t in fresh.list(None)}
        except Exception:
            bad.append(f"list(None) raised {traceback.format_exc()}")
            listed = set()
    finally:
        fresh.close()
    n_turns = sum(len(ts) for ts in turns.values())
    summary = (
        f"processes-delete[{backend}]: {CHATTERS} chat + 1 delete_thread processes, {n_turns} "
        f"turns on {len(thread_ids())} threads, {len(dele['deletes'])} deletes ({during} during "
        f"the chats, {inside} inside a turn of their thread), {lives} lives, {older} turns read "
        f"an older checkpoint beside a delete, {len(errors)} "
        f"errors, {len(bad)} violations, final threads {len(thread_ids()) - present} absent / "
        f"{present} present, seed {seed}, {time.monotonic() - began:.1f} s"
    )
    print(summary)
    assert not errors, "\n".join(errors)
    assert n_turns == CHATTERS * THREADS_PER_CHATTER * TURNS[backend], summary
    assert not bad, "\n".join([summary, *bad[:40]])
    assert len(listed) == present and not bad, (listed, summary)
    assert during > 5, summary  # the deletes did run beside the chats
