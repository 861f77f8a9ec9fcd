"""Crash consistency: SIGKILL a process in the middle of a long graph run; the next process
finds only whole checkpoints and resumes to the same final state as an uninterrupted run.

The child is this file run as a script. Backends whose data outlives a process join by adding
their name to ``CRASH_BACKENDS`` (their ``url_<name>`` fixture is used as is).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import selected_backends

CRASH_BACKENDS = [b for b in ("sqlite", "redis") if b in selected_backends()]

STEPS = 400
ROOT = Path(__file__).resolve().parents[2]


def child(url: str, thread_id: str, durability: str) -> None:
    """Run (or resume) the counter graph, printing each finished step."""
    import checkpoint_kv
    from tests.support.faults import build_counter_graph

    saver = checkpoint_kv.from_url(url)
    saver.setup()
    graph = build_counter_graph(saver, STEPS)
    config = {"configurable": {"thread_id": thread_id}, "recursion_limit": STEPS * 3}
    inp = None if saver.get_tuple(config) is not None else {"log": [], "count": 0}
    for chunk in graph.stream(inp, config, durability=durability, stream_mode="updates"):
        count = chunk.get("step", {}).get("count")
        if count is not None:
            print(f"step {count}", flush=True)
    print("finished", flush=True)


@pytest.fixture(params=CRASH_BACKENDS)
def crash_url(request: pytest.FixtureRequest) -> Iterator[str]:
    yield str(request.getfixturevalue(f"url_{request.param}"))


def _spawn(url: str, thread_id: str, durability: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), url, thread_id, durability],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # one pipe, always drained: no blocked child
        text=True,
    )


def _kill_after(proc: subprocess.Popen[str], steps: int) -> int:
    """SIGKILL ``proc`` once it has reported ``steps`` more steps; returns the last step seen."""
    assert proc.stdout is not None
    seen = 0
    last = -1
    for line in proc.stdout:
        if line.startswith("step "):
            seen += 1
            last = int(line.split()[1])
            if seen >= steps:
                break
        if line.startswith("finished"):
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    return last


def _verify_store(url: str, thread_id: str) -> int:
    """Every stored checkpoint is whole (its values satisfy the graph's invariant)."""
    import checkpoint_kv
    from tests.support.faults import counter_consistent

    saver = checkpoint_kv.from_url(url)
    saver.setup()
    try:
        tuples = list(saver.list({"configurable": {"thread_id": thread_id}}))
        for t in tuples:
            values = t.checkpoint["channel_values"]
            if "count" in values:  # the input checkpoint holds only __start__
                assert counter_consistent(values), (t.metadata, values.get("count"))
        return len(tuples)
    finally:
        saver.close()


@pytest.mark.timeout(600)
@pytest.mark.parametrize("durability", ["async", pytest.param("sync", marks=pytest.mark.slow)])
def test_sigkill_mid_run_then_resume(crash_url: str, durability: str) -> None:
    thread_id = f"crash-{durability}"
    kills = 0
    for after in (25, 60, 40):  # three kills at different depths, each resumed by a new process
        proc = _spawn(crash_url, thread_id, durability)
        last = _kill_after(proc, after)
        if proc.returncode == -signal.SIGKILL:
            kills += 1
        _verify_store(crash_url, thread_id)
        assert last >= 0 or proc.returncode == 0
    assert kills >= 1, "the run finished before any kill: raise STEPS"
    proc = _spawn(crash_url, thread_id, durability)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out[-3000:]
    assert "finished" in out
    assert _verify_store(crash_url, thread_id) > STEPS

    import checkpoint_kv
    from tests.support.faults import build_counter_graph

    saver = checkpoint_kv.from_url(crash_url)
    try:
        state = build_counter_graph(saver, STEPS).get_state(
            {"configurable": {"thread_id": thread_id}}
        )
        assert state.values == {"log": list(range(STEPS)), "count": STEPS}
        assert not state.next
    finally:
        saver.close()


if __name__ == "__main__":
    child(sys.argv[1], sys.argv[2], sys.argv[3])
