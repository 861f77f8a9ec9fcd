"""Real OS processes on one store: chats beside a pruner and a ``delete_for_runs`` loop.

``tests/processes/test_interleavings.py`` proves at the port, schedule by schedule, that
maintenance from
another process never strands a thread or loses a value a kept checkpoint needs. This is the
same claim with nothing simulated: separate interpreters (their own caches, connections and
clocks), real LangGraph graphs with the default (``async``) durability, one SQLite file, one
redis-server, one DynamoDB table on moto's server. The scheduler is the operating system, so a
run is not reproducible; it is a smoke test of the real thing, sized to overlap many prune
passes with many supersteps.

- ``CHATTERS`` chat processes own ``THREADS_PER_CHATTER`` threads each and run ``TURNS`` turns
  per thread. Turn 0 sets ``doc``, larger than a record copies forward, so every later
  checkpoint reads it from turn 0's record (its home) until maintenance moves it. After each
  turn the process checks ``get_state`` against the model and reports its progress.
- One pruner loops ``prune(all threads, strategy="keep_latest")`` until the chats finish.
- One deleter loops ``delete_for_runs`` of the runs of turns that are no longer the latest
  (turn 0's run deletes the record holding ``doc``) and of a run id nobody used.
- Afterwards a fresh saver in the test process finds every thread equal to an in-memory replay
  of the same turns, a history of whole checkpoints, and no process reported an error.

Every process writes its figures and the traceback of any exception to a JSON file; the test
prints one summary line per backend (``-s`` shows it).
"""

from __future__ import annotations

import json
import operator
import os
import subprocess
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

import checkpoint_kv

ROOT = Path(__file__).resolve().parents[2]

CHATTERS = 3
THREADS_PER_CHATTER = 2
# Turns per thread: the fast backends run more, so the chats outlast many prune passes; moto's
# server serves one request at a time (each O(items in the table)), so it runs fewer.
TURNS = {"sqlite": 30, "redis": 30, "dynamodb": 12}
DOC = "".join(f"{i:04d} the document every turn reads; " for i in range(160))  # ~5.6 KB
assert len(DOC) > 4 * 1024, "doc must stay above the 2 KB carry limit (never copied forward)"
MAX_PASSES = 5000  # bounds on each maintenance loop, whatever happens to the chats
DEADLINE = 150.0  # seconds
PAUSE = 0.02  # between maintenance passes: leaves the 2 cores to the chats now and then
RUN_NS = uuid.UUID("7b0c4f60-4b8e-4c3a-9d55-0b7a3c1e2f10")

CHILD = (
    "import sys\nfrom tests.processes.test_processes import main\nsys.exit(main(sys.argv[1:]))\n"
)


class State(TypedDict, total=False):
    messages: Annotated[list[str], operator.add]
    doc: str


def _reply(state: State) -> dict[str, list[str]]:
    """A deterministic reply, so a replay in memory gives the same messages."""
    last = state["messages"][-1]
    return {"messages": [f"reply to {last!r} ({len(state['messages'])} so far)"]}


def build_graph(checkpointer: BaseCheckpointSaver[Any]) -> CompiledStateGraph[Any]:
    """One node that appends a reply: each turn is an input checkpoint and a loop one."""
    builder = StateGraph(State)
    builder.add_node("reply", _reply)
    builder.add_edge(START, "reply")
    builder.add_edge("reply", END)
    return builder.compile(checkpointer=checkpointer)


def thread_ids() -> list[str]:
    return [f"chat{w}-t{k}" for w in range(CHATTERS) for k in range(THREADS_PER_CHATTER)]


def run_id(thread: str, turn: int) -> str:
    """Deterministic, so the deleter names a turn's run without asking its process."""
    return str(uuid.uuid5(RUN_NS, f"{thread}/{turn}"))


def turn_input(thread: str, turn: int) -> dict[str, Any]:
    inp: dict[str, Any] = {"messages": [f"{thread} says {turn}"]}
    if turn == 0:
        inp["doc"] = DOC
    return inp


def turn_config(thread: str, turn: int) -> RunnableConfig:
    """The run id goes into every checkpoint's metadata, where ``delete_for_runs`` finds it."""
    return {"configurable": {"thread_id": thread}, "metadata": {"run_id": run_id(thread, turn)}}


def model(thread: str, turns: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(get_state values, latest channel values)`` of ``turns`` turns replayed in memory."""
    saver = InMemorySaver()
    graph = build_graph(saver)
    for turn in range(turns):
        graph.invoke(turn_input(thread, turn), turn_config(thread, turn))
    config: RunnableConfig = {"configurable": {"thread_id": thread}}
    tup = saver.get_tuple(config)
    assert tup is not None
    return dict(graph.get_state(config).values), dict(tup.checkpoint["channel_values"])


# --- the child processes ----------------------------------------------------------------------


def _save(out: Path, name: str, result: dict[str, Any]) -> None:
    """Atomically (a reader never sees half a file): write aside, then rename."""
    tmp = out / f".{name}.tmp"
    tmp.write_text(json.dumps(result))
    os.replace(tmp, out / name)


def chat(url: str, out: Path, worker: int, turns: int) -> dict[str, Any]:
    """Turns round-robin over this process's threads; each turn checked against the model."""
    mine = [f"chat{worker}-t{k}" for k in range(THREADS_PER_CHATTER)]
    result: dict[str, Any] = {"turns": 0, "errors": [], "start": time.time()}
    saver = checkpoint_kv.from_url(url)
    try:
        saver.setup()
        graph = build_graph(saver)
        expected: dict[str, list[str]] = {th: [] for th in mine}
        for turn in range(turns):
            for th in mine:
                graph.invoke(turn_input(th, turn), turn_config(th, turn))
                expected[th] += [turn_input(th, turn)["messages"][0]]
                expected[th] += [_reply({"messages": expected[th]})["messages"][0]]
                values = graph.get_state({"configurable": {"thread_id": th}}).values
                if values != {"messages": expected[th], "doc": DOC}:
                    raise AssertionError(f"{th} after turn {turn}: {values!r:.500}")
                result["turns"] += 1
                _save(out, f"progress-{th}", {"done": turn + 1})
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


def _maintain(
    url: str, out: Path, one_pass: Callable[[checkpoint_kv.KVCheckpointSaver], None]
) -> dict[str, Any]:
    """Run ``one_pass(saver)`` from the first finished turn until the chats are over, within
    ``MAX_PASSES`` and ``DEADLINE``, then once more; each pass timed, for the overlap."""
    result: dict[str, Any] = {"passes": [], "errors": []}
    deadline = time.monotonic() + DEADLINE
    saver = checkpoint_kv.from_url(url)
    try:
        saver.setup()
        while not any(out.glob("progress-*")) and not _over(out):
            if time.monotonic() > deadline:  # the chats never started: the test says why
                break
            time.sleep(PAUSE)  # the chats are still importing: passes now would prove nothing
        while len(result["passes"]) < MAX_PASSES and time.monotonic() < deadline:
            last = _over(out)
            start = time.time()
            one_pass(saver)
            result["passes"].append((start, time.time()))
            if last:
                break
            time.sleep(PAUSE)
    except Exception:
        result["errors"].append(traceback.format_exc())
    finally:
        saver.close()
    return result


def prune_pass(saver: checkpoint_kv.KVCheckpointSaver) -> None:
    saver.prune(thread_ids(), strategy="keep_latest")


def delete_pass(saver: checkpoint_kv.KVCheckpointSaver, out: Path) -> None:
    """The runs of every turn before a thread's latest finished one (never the run that made
    the latest checkpoint, nor the one in flight), and a run id nobody used."""
    runs = [str(uuid.uuid4())]
    for th in thread_ids():
        progress = out / f"progress-{th}"
        if progress.exists():
            done = int(json.loads(progress.read_text())["done"])
            runs += [run_id(th, turn) for turn in range(done - 1)]
    saver.delete_for_runs(runs)


def main(argv: list[str]) -> int:
    """``python -c CHILD ROLE URL OUTDIR [WORKER TURNS]``: run one role, write its JSON."""
    role, url, out = argv[0], argv[1], Path(argv[2])
    if role == "chat":
        result, name = chat(url, out, int(argv[3]), int(argv[4])), f"chat{argv[3]}.json"
    elif role == "prune":
        result, name = _maintain(url, out, prune_pass), "prune.json"
    else:
        result, name = _maintain(url, out, lambda s: delete_pass(s, out)), "delete.json"
    _save(out, name, result)
    return 0


# --- the test ---------------------------------------------------------------------------------


def spawn(out: Path, *args: str, child: str = CHILD) -> subprocess.Popen[bytes]:
    """One worker process running ``child`` (a script) with ``args``; its output to a log."""
    log = (out / f"{'-'.join(args[:1] + args[3:4])}.log").open("wb")  # never a full pipe
    try:
        return subprocess.Popen(
            [sys.executable, "-c", child, *args],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    finally:
        log.close()


def _overlapping(passes: list[list[float]], chats: list[dict[str, Any]]) -> int:
    """Passes that ran (at least partly) while some chat process was running turns."""
    first, last = min(c["start"] for c in chats), max(c["end"] for c in chats)
    return sum(1 for start, end in passes if start < last and end > first)


@pytest.mark.timeout(300)
def test_chats_beside_prune_and_delete_for_runs(
    process_url: tuple[str, str], tmp_path: Path
) -> None:
    backend, url = process_url
    began = time.monotonic()
    saver = checkpoint_kv.from_url(url)
    saver.setup()  # once before the children: they find the table / file / server ready
    saver.close()

    maintainers = [spawn(tmp_path, "prune", url, str(tmp_path))]
    maintainers.append(spawn(tmp_path, "delete", url, str(tmp_path)))
    args = ("chat", url, str(tmp_path))
    chatters = [spawn(tmp_path, *args, str(w), str(TURNS[backend])) for w in range(CHATTERS)]
    until = time.monotonic() + DEADLINE
    try:
        for p in chatters:
            p.wait(timeout=max(1.0, until - time.monotonic()))
    finally:
        (tmp_path / "stop").touch()
        for p in [*maintainers, *chatters]:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=30)
    logs = {f.name: f.read_text(errors="replace")[-3000:] for f in tmp_path.glob("*.log")}
    for p in [*maintainers, *chatters]:
        assert p.returncode == 0, f"a process exited {p.returncode}: {logs}"

    chats = [json.loads((tmp_path / f"chat{w}.json").read_text()) for w in range(CHATTERS)]
    pruner = json.loads((tmp_path / "prune.json").read_text())
    deleter = json.loads((tmp_path / "delete.json").read_text())
    errors = [e for r in (*chats, pruner, deleter) for e in r["errors"]]
    turns = sum(c["turns"] for c in chats)
    overlap = _overlapping(pruner["passes"], chats)
    summary = (
        f"processes[{backend}]: {CHATTERS} chat + 1 prune + 1 delete_for_runs processes, "
        f"{turns} turns on {len(thread_ids())} threads, {len(pruner['passes'])} prune passes "
        f"({overlap} during the chats), {len(deleter['passes'])} delete_for_runs passes "
        f"({_overlapping(deleter['passes'], chats)} during), {len(errors)} errors, "
        f"{time.monotonic() - began:.1f} s"
    )
    print(summary)
    assert not errors, "\n".join(errors)
    assert turns == CHATTERS * THREADS_PER_CHATTER * TURNS[backend]
    assert overlap > 2, summary

    fresh = checkpoint_kv.from_url(url)
    try:
        graph = build_graph(fresh)
        for th in thread_ids():
            config: RunnableConfig = {"configurable": {"thread_id": th}}
            want_values, want_channels = model(th, TURNS[backend])
            assert graph.get_state(config).values == want_values, th
            tup = fresh.get_tuple(config)
            assert tup is not None, th
            assert tup.checkpoint["channel_values"] == want_channels, th
            assert tup.pending_writes == [], th
            final = want_values["messages"]
            history = list(graph.get_state_history(config))  # raises on a partial checkpoint
            assert history, th
            for state in history:
                messages = state.values.get("messages", [])
                assert messages == final[: len(messages)], (th, state.config)
                assert state.values.get("doc", DOC) == DOC, (th, state.config)
                assert not messages or state.values.get("doc") == DOC, (th, state.config)
    finally:
        fresh.close()
