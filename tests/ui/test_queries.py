"""What the pages read, without a browser: the threads page reads one page through the port
whatever the store's size, its search pages and stops within its budget, and the timeline's
lanes draw forks."""

from __future__ import annotations

from typing import Any

import pytest

import checkpoint_kv
from checkpoint_kv.errors import ConfigError
from checkpoint_kv.port_wrappers import CountingKV
from checkpoint_kv.saver import KVCheckpointSaver
from checkpoint_kv.ui import threads as T
from checkpoint_kv.ui.timeline import lanes
from tests.support.graphs import cfg, pipeline


def _saver(url: str, threads: list[tuple[str, dict[str, Any]]]) -> KVCheckpointSaver:
    base = checkpoint_kv.from_url(url)
    base.setup()
    graph = pipeline("a").compile(checkpointer=base)
    for thread, metadata in threads:
        graph.invoke({"log": []}, {**cfg(thread), "metadata": metadata})
    return base


def _walk(saver: KVCheckpointSaver, **search: Any) -> list[str]:
    seen: list[str] = []
    cursor: T.Cursor | None = T.Cursor()
    while cursor is not None:
        page = T.thread_page(saver, cursor, size=10, **search)
        seen += ([page.exact.thread_id] if page.exact else []) + [r.thread_id for r in page.rows]
        cursor = page.next
    return seen


@pytest.mark.parametrize("count", [30, 90])
def test_the_first_page_reads_one_page_whatever_the_store_holds(count: int) -> None:
    saver = _saver("memory://", [(f"t{i:03d}", {}) for i in range(count)])
    counted = CountingKV(saver.store)
    view = KVCheckpointSaver(counted)
    page = T.thread_page(view, T.Cursor(), size=25)
    assert len(page.rows) == 25 and page.next is not None
    assert counted.calls["partitions"] == 1
    assert counted.total == 1 + 25  # one page of partitions, one read per thread shown
    updated = [r.updated for r in page.rows]
    assert updated == sorted(updated, reverse=True)  # newest first within the page
    assert sorted(_walk(view)) == [f"t{i:03d}" for i in range(count)]  # each once, all


def test_search_by_prefix_by_metadata_and_by_exact_id(tmp_path: Any) -> None:
    threads = [(f"user-{i}", {"team": "a" if i % 2 else "b"}) for i in range(25)]
    threads += [(f"bot-{i}", {"team": "a"}) for i in range(5)]
    saver = _saver(f"sqlite:///{tmp_path / 's.db'}", threads)
    assert sorted(_walk(saver, prefix="bot-")) == [f"bot-{i}" for i in range(5)]
    odd = sorted(f"user-{i}" for i in range(25) if i % 2)
    assert sorted(_walk(saver, prefix="user-", meta={"team": "a"})) == odd
    first = T.thread_page(saver, T.Cursor(), size=10, prefix="user-1")
    assert first.exact is not None and first.exact.thread_id == "user-1"
    found = _walk(saver, prefix="user-1")
    assert sorted(found) == sorted(["user-1", *(f"user-1{i}" for i in range(10))])
    assert T.parse_meta("team=a, step=1") == {"team": "a", "step": 1}
    with pytest.raises(ConfigError):
        T.parse_meta("nokey")


def test_a_search_stops_within_its_budget_and_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    saver = _saver("memory://", [(f"t{i:02d}", {"n": i}) for i in range(40)])
    monkeypatch.setattr(T, "READS", 8)
    page = T.thread_page(saver, T.Cursor(), size=10, meta={"n": 39})
    assert page.rows == [] and page.stopped_early and page.next is not None
    assert [r.thread_id for r in page.rows] + _walk(saver, meta={"n": 39}) == ["t39"]


def test_a_damaged_cursor_is_a_clear_error() -> None:
    assert T.Cursor.decode(T.Cursor("abc", 3).encode()) == T.Cursor("abc", 3)
    for bad in ("!!!", "e30", T.Cursor("x", 0).encode()[:-2] + "zz"):
        with pytest.raises(ConfigError, match="damaged"):
            T.Cursor.decode(bad)


def test_lanes_draw_a_fork() -> None:
    # a <- b <- c <- d, and e forked from b (newest first: e, d, c, b, a)
    cells = lanes([("e", "b"), ("d", "c"), ("c", "b"), ("b", "a"), ("a", None)])
    assert [c.lane for c in cells] == [0, 1, 1, 0, 0]
    assert [c.head for c in cells] == [True, True, False, False, False]
    assert [c.fork for c in cells] == [False, False, False, True, False]
    assert (1, 0, 0, 1) in cells[3].segments  # lane 1 joins lane 0 at the fork
    assert {c.width for c in cells} == {2}


def test_skimming_reads_what_list_reads_without_the_values() -> None:
    """The timeline and the threads page read through ``skim.SkimSaver``: the same tuples as
    the saver's, state values left undecoded. If the saver's codec changes under it, pages
    fall back to the plain read (slower, still right); this test says so."""
    from langchain_core.messages import HumanMessage

    from checkpoint_kv.ui.skim import SKIPPED, SkimSaver
    from tests.support.graphs import approval

    saver = checkpoint_kv.from_url("memory://")
    approval(saver).invoke({"messages": [HumanMessage("hi")]}, cfg("a"))
    full = list(saver.list(cfg("a")))
    skim = list(SkimSaver(saver).list(cfg("a")))
    assert [t.config for t in skim] == [t.config for t in full]
    assert [t.metadata for t in skim] == [t.metadata for t in full]
    assert [t.parent_config for t in skim] == [t.parent_config for t in full]
    assert [t.pending_writes for t in skim] == [t.pending_writes for t in full]
    for s, f in zip(skim, full, strict=True):
        assert s.checkpoint["channel_values"].keys() == f.checkpoint["channel_values"].keys()
        assert all(v is SKIPPED for v in s.checkpoint["channel_values"].values())
        assert {k: v for k, v in s.checkpoint.items() if k != "channel_values"} == {
            k: v for k, v in f.checkpoint.items() if k != "channel_values"
        }


def test_the_diff_of_two_states() -> None:
    from checkpoint_kv.ui.state import MAX_ITEMS, MAX_STR, diff, tree

    def msg(i: str, text: str) -> dict[str, Any]:
        return {"type": "human", "content": text, "id": i}

    parent = {
        "messages": [msg("a", "hi"), msg("b", "old"), msg("c", "bye")],
        "log": ["x"],
        "n": 1,
        "gone": True,
    }
    child = {
        "messages": [msg("a", "hi"), msg("b", "new"), msg("d", "added")],
        "log": ["x", "y"],
        "n": 2,
        "new": None,
    }
    got = {d.channel: d for d in diff(child, parent)}
    assert sorted(got) == ["gone", "log", "messages", "n", "new"]
    m = got["messages"]
    assert [x.id for x in m.added] == ["d"] and [x.id for x in m.removed] == ["c"]
    assert [x.text for x in m.edited] == ["new"]
    assert m.removed[0].path == ("messages", 2)  # a path into the parent: the before side
    assert got["log"].appended is not None
    assert [k for k, _ in got["log"].appended.children] == ["1"]  # index in the child
    assert got["n"].before is not None and got["n"].before.text == "1"
    assert (got["gone"].status, got["new"].status) == ("removed", "added")
    assert diff(child, child) == []
    big = tree({"s": "x" * (MAX_STR + 5), "l": list(range(MAX_ITEMS + 3))})
    (_, s), (_, lst) = big.children
    assert (len(s.text), s.cut, lst.cut, len(lst.children)) == (MAX_STR, 5, 3, MAX_ITEMS)
