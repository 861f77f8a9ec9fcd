"""An interrupted copy shows fewer checkpoints, never one without its data.

A packed record names as *home* of an unchanged value an older record of its namespace, so a
copy must write a record only after the records it names. The source thread here makes every
record name homes (``no_carry``): a large channel written once at the first step (every later
record names that first record), one that changes every step (in each record) and one that
changes every other step (a record names the one just before it, often in the same batch).
Three namespaces, small batches: the records span several write calls.

Then the copy is killed at each of its destination write calls. The failing call applies what a
non-atomic backend may have applied (S3's parallel PUTs, a split DynamoDB batch): every commit
group (``port.commit_groups``) before the last in full, and of the last group either half
(its requests run in parallel, so the later ones may land and the earlier not). Every checkpoint
the destination then shows must read whole and equal the source's; a re-run must finish the copy.
A reader during a live copy (after every write call) and ``copy_thread`` within one store are
held to the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

import pytest
from langgraph.checkpoint.base import CheckpointTuple, empty_checkpoint

import checkpoint_kv
from checkpoint_kv import KVCheckpointSaver
from checkpoint_kv import keys as K
from checkpoint_kv.port import KVStore, Op, commit_groups
from checkpoint_kv.port_wrappers import DelegatingKV, Intercept
from checkpoint_kv.registry import open_store
from checkpoint_kv.saver import copying
from checkpoint_kv.saver import records as R
from checkpoint_kv.saver.migrate import copy_threads
from tests.conftest import selected_backends
from tests.support.faults import FaultPlan, InjectedFault

THREAD = "user:7|copy"
NAMESPACES = ("", "sub:1", "sub:1|inner:2")
STEPS = 9
PAGE = 16  # source items per scan: several pages
BATCH = 6  # ops per destination write: the records alone take several calls
SLOW = {"redis_cluster", "dynamodb", "s3"}  # moto's server, the 3-node cluster: sample k
Landed = Literal["later", "first"]
View = tuple[Any, ...]


# --- the source thread ------------------------------------------------------------------------


def fill(saver: KVCheckpointSaver, thread_id: str) -> None:
    """``STEPS`` checkpoints in each namespace, most with a put_writes call."""
    for n, ns in enumerate(NAMESPACES):
        cfg: Any = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns}}
        values: dict[str, Any] = {}
        versions: dict[str, Any] = {}
        for step in range(STEPS):
            changed: dict[str, Any] = {"every": [f"{ns}/{step}"]}
            if step == 0:
                changed["once"] = ns + "x" * 20_000  # never changes again: a home for all
            if step % 2 == 1:
                changed["odd"] = step
            for ch, value in changed.items():
                values[ch] = value
                versions[ch] = saver.get_next_version(versions.get(ch))
            cp = {
                **empty_checkpoint(),
                "id": f"1f000000-0000-6000-8{n:03d}-{step:012d}",
                "channel_values": dict(values),
                "channel_versions": dict(versions),
            }
            meta = {"source": "loop", "step": step, "parents": {}}
            new = {ch: versions[ch] for ch in changed}
            cfg = saver.put(cfg, cp, meta, new)  # type: ignore[arg-type]
            if step % 3 != 2:
                writes = [("every", f"w{step}"), ("odd", -step)]
                saver.put_writes(cfg, writes, task_id=f"task{step}")


def _view(t: CheckpointTuple) -> View:
    parent = (t.parent_config or {}).get("configurable", {}).get("checkpoint_id")
    return (t.checkpoint, t.metadata, t.pending_writes, parent)


def snapshot(saver: KVCheckpointSaver, thread_id: str) -> dict[tuple[str, str], View]:
    """Every checkpoint ``list`` shows, by ``(ns, id)``: checkpoint, metadata, pending writes
    and parent (raises ``CorruptRecordError`` for one without its data)."""
    out: dict[tuple[str, str], View] = {}
    for t in saver.list({"configurable": {"thread_id": thread_id}}):
        c = t.config["configurable"]
        out[(c["checkpoint_ns"], c["checkpoint_id"])] = _view(t)
    return out


def assert_whole(store: KVStore, want: dict[tuple[str, str], View], thread_id: str) -> int:
    """Every checkpoint the destination shows (``list``, ``get_tuple`` by id, the latest of
    each namespace) reads whole and equals the source's; returns how many it shows."""
    saver = KVCheckpointSaver(store)  # a fresh reader: nothing remembered from the copy
    seen = snapshot(saver, thread_id)
    for key, view in seen.items():
        assert view == want[key], key
        cfg: Any = {"configurable": {"thread_id": thread_id, "checkpoint_ns": key[0]}}
        got = saver.get_tuple({"configurable": {**cfg["configurable"], "checkpoint_id": key[1]}})
        assert got is not None and _view(got) == view, key
    for ns in NAMESPACES:
        latest = saver.get_tuple({"configurable": {"thread_id": thread_id, "checkpoint_ns": ns}})
        newest = max((i for n, i in seen if n == ns), default=None)
        assert (latest is None) == (newest is None), ns
        if latest is not None and newest is not None:
            assert latest.config["configurable"]["checkpoint_id"] == newest
            assert _view(latest) == want[(ns, newest)]
    return len(seen)


# --- destinations that die or are read between writes ---------------------------------------


class KillAtWrite(DelegatingKV):
    """Fails its ``at``-th write (1-based) after applying what a backend that cannot apply a
    batch atomically may have applied: every commit group before the last in full, then the
    ``later`` or the ``first`` half of the last group (whose requests run in parallel)."""

    def __init__(self, inner: KVStore, at: int, landed: Landed) -> None:
        super().__init__(inner)
        self.at, self.landed, self.writes = at, landed, 0

    def before_call(self, method: str, args: tuple[Any, ...]) -> Intercept | None:
        if method != "write":
            return None
        self.writes += 1
        if self.writes != self.at:
            return None
        partition, ops = args
        if self.landed == "first":
            part = FaultPlan().partial_ops(ops)
        else:
            groups = commit_groups(ops)
            last = groups[-1] if groups else []
            part = [op for g in groups[:-1] for op in g] + last[len(last) // 2 :]
        error = InjectedFault(f"copy killed at write {self.at} ({self.landed} half landed)")
        return Intercept(error, apply=(partition, part) if part else None)


class AfterEachWrite(DelegatingKV):
    """Calls ``then`` after every write: a reader between the copy's write calls. Writes are
    noted as the number of record keys each carries."""

    def __init__(self, inner: KVStore, then: Callable[[], None] | None = None) -> None:
        super().__init__(inner)
        self.then = then
        self.records: list[int] = []

    def after_call(self, method: str, args: tuple[Any, ...], result: Any) -> None:
        if method == "write":
            ops: Sequence[Op] = args[1]
            self.records.append(sum(K.is_record(getattr(op, "key", "")) for op in ops))
            if self.then is not None:
                self.then()


def sample(records: list[int], slow: bool) -> list[int]:
    """Every write call, or on a slow backend the first, the first and second with records
    (the second is where a newest-first copy broke), the middle one and the last."""
    calls = len(records)
    if not slow:
        return list(range(1, calls + 1))
    with_records = [i + 1 for i, n in enumerate(records) if n]
    picks = {1, with_records[0], with_records[1], (with_records[0] + calls) // 2, calls}
    return sorted(picks)


# --- the tests --------------------------------------------------------------------------------


@pytest.fixture
def source(no_carry: None) -> Iterator[tuple[KVCheckpointSaver, dict[tuple[str, str], View]]]:
    src = checkpoint_kv.from_url("memory://")
    fill(src, THREAD)
    want = snapshot(src, THREAD)
    assert len(want) == STEPS * len(NAMESPACES)
    try:
        yield src, want
    finally:
        src.close()


def test_source_records_name_older_homes(
    source: tuple[KVCheckpointSaver, dict[tuple[str, str], View]],
) -> None:
    """The premise: later records read values from older records (not copies of their own)."""
    src, _ = source
    items = src.store.scan(K.partition(THREAD), *K.ALL_CHECKPOINTS).items
    named = [
        [r for r in R.decode_stored_checkpoint(k, v)[0] if K.is_record(r)]
        for k, v in items
        if K.is_record(k)
    ]
    assert sum(1 for refs in named if refs) >= (STEPS - 1) * len(NAMESPACES)
    first = [k for k, _ in items if K.is_record(k) and k.endswith(f"{0:012d}!~")]
    assert all(any(f in refs for f in first) for refs in named if refs)


def _copy(src: KVCheckpointSaver, dst: KVStore) -> Any:
    return copy_threads(src.store, dst, [THREAD], page_size=PAGE, batch_size=BATCH)


def test_copy_killed_at_every_write(
    backend: str,
    url: str,
    source: tuple[KVCheckpointSaver, dict[tuple[str, str], View]],
) -> None:
    src, want = source
    dst = open_store(url)
    dst.setup()
    try:
        clean = AfterEachWrite(dst)
        assert _copy(src, clean).ok and snapshot(KVCheckpointSaver(dst), THREAD) == want
        assert sum(1 for n in clean.records if n) >= 4  # the records span several calls
        slow = backend in SLOW
        modes: tuple[Landed, ...] = ("later",) if slow else ("later", "first")
        shown: list[int] = []
        for k in sample(clean.records, slow):
            for landed in modes:
                dst.drop(K.partition(THREAD))
                with pytest.raises(InjectedFault):
                    _copy(src, KillAtWrite(dst, k, landed))
                shown.append(assert_whole(dst, want, THREAD))
                report = _copy(src, dst)  # resumes: writes only what is missing
                assert report.ok and report.threads[0].copied + report.threads[0].skipped > 0
                assert snapshot(KVCheckpointSaver(dst), THREAD) == want
        assert any(0 < n < len(want) for n in shown)  # some kills left part of the records
    finally:
        dst.close()


def test_reader_during_live_copy(
    backend: str,
    url: str,
    source: tuple[KVCheckpointSaver, dict[tuple[str, str], View]],
) -> None:
    src, want = source
    dst = open_store(url)
    dst.setup()
    shown: list[int] = []
    try:
        live = AfterEachWrite(dst, lambda: shown.append(assert_whole(dst, want, THREAD)))
        report = _copy(src, live)
        assert report.ok and len(shown) == report.write_calls == len(live.records)
        assert shown == sorted(shown) and shown[0] == 0 and shown[-1] == len(want)
        assert len(set(shown)) > 3  # checkpoints appear batch by batch
    finally:
        dst.close()


@pytest.mark.parametrize(
    "store_backend", [b for b in ("memory", "sqlite", "fakeredis") if b in selected_backends()]
)
def test_copy_thread_killed_at_every_write(
    store_backend: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``saver.copy_thread`` (same store, new thread id, no ``keep_existing``): the same."""
    monkeypatch.setattr(copying, "BATCH", BATCH)
    monkeypatch.setattr(copying, "PAGE", PAGE)
    request.getfixturevalue("no_carry")
    saver = checkpoint_kv.from_url(str(request.getfixturevalue(f"url_{store_backend}")))
    saver.setup()
    try:
        fill(saver, "src")
        want = snapshot(saver, "src")
        clean = AfterEachWrite(saver.store)
        KVCheckpointSaver(clean).copy_thread("src", "clean")
        assert snapshot(saver, "clean") == want and sum(1 for n in clean.records if n) >= 4
        shown: list[int] = []
        for k in range(1, len(clean.records) + 1):
            for landed in ("later", "first"):
                target = f"copy-{k}-{landed}"
                killed = KVCheckpointSaver(KillAtWrite(saver.store, k, landed))
                with pytest.raises(InjectedFault):
                    killed.copy_thread("src", target)
                shown.append(assert_whole(saver.store, want, target))
                saver.copy_thread("src", target)  # run again: the copy completes
                assert snapshot(saver, target) == want
        assert any(0 < n < len(want) for n in shown)
        assert snapshot(saver, "src") == want
    finally:
        saver.close()
