"""A deterministic scheduler at the port, for the interleaving model test.

Every saver operation is a sans-IO plan: a generator that yields port requests (``drive``). So
several "processes" (actors, each with its own ``Codec`` and ``Locator``, as separate OS
processes have) can be run one port call at a time, in any order we choose, against one real
store. ``explore`` enumerates every order of the actors' port calls (stateless depth-first
search: each schedule is replayed from scratch on a fresh thread id), ``sample`` draws seeded
random ones, optionally killing an actor between two of its calls (a crash).

Actors report what they did as ``Event``s stamped with the step of the port call that made it
take effect (a put's write, a prune's read of the thread); the test replays those events in
step order on a model (``InMemorySaver`` plus the maintenance semantics) and compares.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

from checkpoint_kv.drive import Request, _sync_call
from checkpoint_kv.port import KVStore

Actor = Generator[Request, Any, None]


@dataclass
class Event:
    step: int  # the global step of the port call that made it take effect
    actor: int
    kind: str  # "put", "put_writes", "prune", "delete_for_runs", "copy"
    args: tuple[Any, ...]


@dataclass
class Run:
    """One schedule's run: which actor made each port call, and what the actors reported."""

    choices: list[int] = field(default_factory=list)
    enabled: list[list[int]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    last: dict[int, int] = field(default_factory=dict)  # actor -> step of its latest call
    crashed: set[int] = field(default_factory=set)
    requests: list[tuple[int, Request]] = field(default_factory=list)
    armed: dict[int, tuple[str, tuple[Any, ...]]] = field(default_factory=dict)

    def arm(self, actor: int, kind: str, *args: Any) -> None:
        """Called by an actor right before it yields the port call that makes ``kind`` take
        effect: the scheduler records the event when that call runs (so a crash right after
        it still counts it, and one before it does not)."""
        self.armed[actor] = (kind, args)


def run_schedule(
    store: KVStore,
    actors: list[Actor],
    run: Run,
    choices: list[int],
    crash: dict[int, int] | None = None,
) -> Run:
    """Run ``actors`` interleaved: step ``i`` runs the next port call of actor ``choices[i]``
    while given, afterwards of the lowest-numbered actor still running. ``crash`` maps an
    actor to the number of its port calls after which it is killed."""
    crash = crash or {}
    calls: dict[int, int] = {}
    pending: dict[int, Request] = {}
    for i, a in enumerate(actors):
        with contextlib.suppress(StopIteration):
            pending[i] = next(a)
    step = 0
    while pending:
        enabled = sorted(pending)
        pick = choices[step] if step < len(choices) and choices[step] in pending else enabled[0]
        req = pending.pop(pick)
        result = _sync_call(store, req)
        if pick in run.armed:
            kind, args = run.armed.pop(pick)
            run.events.append(Event(step, pick, kind, args))
        run.last[pick] = step
        run.choices.append(pick)
        run.enabled.append(enabled)
        run.requests.append((pick, req))
        calls[pick] = calls.get(pick, 0) + 1
        step += 1
        if calls[pick] == crash.get(pick):
            run.crashed.add(pick)
            actors[pick].close()
            continue
        with contextlib.suppress(StopIteration):
            pending[pick] = actors[pick].send(result)
    return run


def explore(
    make: Callable[[Run], list[Actor]], execute: Callable[[list[Actor], Run, list[int]], None]
) -> Iterator[Run]:
    """Every interleaving of the actors' port calls, each exactly once (the actors' calls may
    depend on what they read, so the tree is discovered while it is walked)."""
    stack: list[list[int]] = [[]]
    while stack:
        prefix = stack.pop()
        run = Run()
        execute(make(run), run, prefix)
        yield run
        for i in range(len(prefix), len(run.choices)):
            for alt in run.enabled[i]:
                if alt != run.choices[i]:
                    stack.append([*run.choices[:i], alt])


def sample(seed: int, n_actors: int, length: int = 64) -> tuple[list[int], dict[int, int]]:
    """A random schedule prefix, and maybe a crash of one actor (never actor 0, the run)."""
    rng = random.Random(seed)
    choices = [rng.randrange(n_actors) for _ in range(length)]
    crash: dict[int, int] = {}
    if n_actors > 1 and rng.random() < 0.3:
        crash[rng.randrange(1, n_actors)] = rng.randrange(1, 6)
    return choices, crash
