"""The official ``langgraph-checkpoint-conformance`` suite, on every backend, async and sync.

The suite calls only async methods, so the sync run wraps the saver in an adapter whose async
methods call the sync ones. Each mode also runs with a fresh saver per capability (the suite's
default) on a brand-new, empty store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.report import CapabilityReport

import checkpoint_kv
from checkpoint_kv import KVCheckpointSaver

EXPECTED_TESTS = 81


class SyncDriven(KVCheckpointSaver):
    """Async surface that runs the *sync* methods: puts the sync code paths under the suite."""

    async def aget_tuple(self, config: Any) -> Any:
        return self.get_tuple(config)

    async def alist(self, config: Any, **kw: Any) -> AsyncIterator[Any]:
        for item in self.list(config, **kw):
            yield item

    async def aput(self, *a: Any) -> Any:
        return self.put(*a)

    async def aput_writes(self, *a: Any, **kw: Any) -> None:
        self.put_writes(*a, **kw)

    async def adelete_thread(self, thread_id: str) -> None:
        self.delete_thread(thread_id)

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        self.delete_for_runs(run_ids)

    async def acopy_thread(self, s: str, t: str) -> None:
        self.copy_thread(s, t)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self.prune(thread_ids, strategy=strategy)


def _report(report: CapabilityReport) -> tuple[int, int, list[str]]:
    passed = sum(r.tests_passed for r in report.results.values())
    failed = sum(r.tests_failed for r in report.results.values())
    failures = [f for r in report.results.values() for f in r.failures]
    return passed, failed, failures


@pytest.mark.parametrize("mode", ["async", "sync"])
async def test_conformance(url: str, mode: str) -> None:
    def make() -> KVCheckpointSaver:
        store = checkpoint_kv.from_url(url).store
        cls = SyncDriven if mode == "sync" else KVCheckpointSaver
        return cls(store)

    @checkpointer_test(name=f"checkpoint-kv {url.split('://')[0]} {mode}")
    async def factory() -> AsyncIterator[KVCheckpointSaver]:
        saver = make()
        await saver.asetup()
        yield saver
        await saver.aclose()

    report = await validate(factory)
    passed, failed, failures = _report(report)
    assert failed == 0, "\n".join(failures)
    assert passed == EXPECTED_TESTS, f"{passed} passed, expected {EXPECTED_TESTS}"
    assert report.passed_all()
