"""Browse real threads in a real browser, on memory, SQLite and a real Redis, and check that
what each page shows is what LangGraph's own ``get_state`` / ``get_state_history`` return.

One test per backend clicks through the threads list, a 300-turn thread's whole timeline
(18 pages), a checkpoint (its state as a conversation and as JSON), its diff, an interrupt with
a parallel branch, a fork and a subgraph's namespace, and the memory store; on the way it checks
that a ``<script>`` in a message or a thread id stays text and that no script error (nor a CSP
violation) happened. The memory run also takes the screenshots (``conftest.shot``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import checkpoint_kv
from checkpoint_kv.cli.common import jsonable
from checkpoint_kv.errors import redact_url
from checkpoint_kv.store import KVBaseStore
from tests.conftest import selected_backends
from tests.support.graphs import cfg
from tests.ui.conftest import live, shot
from tests.ui.seeding import XSS, XSS_THREAD, Seeded, seed, seed_store

UI_BACKENDS = [b for b in ("memory", "sqlite", "redis") if b in selected_backends()]


@pytest.fixture(params=UI_BACKENDS)
def site(request: pytest.FixtureRequest) -> Iterator[tuple[str, Seeded, str]]:
    """``(backend, seeded threads, base URL of the page over them)``."""
    from checkpoint_kv.ui import create_app

    url = str(request.getfixturevalue(f"url_{request.param}"))
    saver = checkpoint_kv.from_url(url)
    saver.setup()
    seeded = seed(saver)
    store = KVBaseStore(saver.store, owns_store=False)
    seed_store(store)
    app = create_app(saver, store=store, label=redact_url(url))
    try:
        with live(app) as base:
            yield request.param, seeded, base
    finally:
        saver.close()


def ids_on(page: Any) -> list[str]:
    return list(page.eval_on_selector_all("tr.cp", "rows => rows.map(r => r.dataset.id)"))


def rows_on(page: Any) -> list[dict[str, str]]:
    return list(page.eval_on_selector_all("tr.cp", "rows => rows.map(r => ({...r.dataset}))"))


def snapshot_row(s: Any) -> dict[str, str]:
    """A ``get_state_history`` entry as the timeline row's data attributes say it."""
    parent = (s.parent_config or {}).get("configurable", {}).get("checkpoint_id") or ""
    return {
        "id": s.config["configurable"]["checkpoint_id"],
        "parent": parent,
        "step": str(s.metadata["step"]),
        "source": str(s.metadata["source"]),
        "next": ",".join(s.next),
    }


def whole_timeline(page: Any) -> list[dict[str, str]]:
    """Every row of the timeline, clicking "Older" to the end."""
    rows = rows_on(page)
    while page.locator("a.older").count():
        page.click("a.older")
        rows += rows_on(page)
    return rows


def test_click_through(site: tuple[str, Seeded, str], page: Any, tmp_path: Path) -> None:
    backend, seeded, base = site
    saver = seeded.saver

    # Threads: every seeded thread, newest first; the <script> id is text.
    page.goto(base + "/")
    shown = page.eval_on_selector_all("tr.thread", "rows => rows.map(r => r.dataset.thread)")
    assert sorted(shown) == sorted(seeded.threads)
    assert page.locator(f'tr[data-thread="{XSS_THREAD}"] a.thread-link').inner_text() == XSS_THREAD
    if backend == "memory":
        shot(page, "threads", tmp_path)

    # A 300-turn thread: its whole timeline equals get_state_history, page by page.
    page.click('tr[data-thread="chat-300"] a.thread-link')
    history = list(seeded.chat.get_state_history(cfg("chat-300")))
    assert len(history) == 3 * 300  # input, start, reply: a turn
    first = rows_on(page)
    assert len(first) == 50
    assert [{k: r[k] for k in ("id", "parent", "step", "source", "next")} for r in first] == [
        snapshot_row(s) for s in history[:50]
    ]
    everything = whole_timeline(page)
    assert [r["id"] for r in everything] == [snapshot_row(s)["id"] for s in history]
    page.click("text=« Newest")

    # Its latest checkpoint: the conversation, the JSON, the diff, as get_state has them.
    page.click("tr.cp >> nth=0 >> a.cp-link")
    latest = history[0]
    conf = latest.config
    assert page.inner_text("#checkpoint-id") == conf["configurable"]["checkpoint_id"]
    assert page.inner_text("#step") == str(latest.metadata["step"])
    messages = latest.values["messages"]
    assert len(messages) == 600
    texts = page.eval_on_selector_all(
        ".channel[data-channel=messages] .msg .content", "els => els.map(e => e.textContent)"
    )
    assert texts == [m.content for m in messages[-200:]]  # the newest 200, earlier behind a link
    assert "400 earlier messages not shown" in page.inner_text(".channel[data-channel=messages]")
    if backend == "memory":
        shot(page, "checkpoint", tmp_path)
    page.click("#tab-json")
    # get_state also lists channels never written, at their empty value (a list channel with a
    # reducer: []): their reducer is code, so without --graph (test_security checks it with)
    # the page shows what the checkpoint stores.
    state = jsonable(seeded.chat.get_state(conf).values)
    assert state.pop("log") == []
    assert json.loads(page.inner_text("#state-json")) == state
    page.click("#tab-diff")
    parent_values = seeded.chat.get_state(latest.parent_config).values
    added = messages[len(parent_values["messages"]) :]
    assert [m.content for m in added] == ["reply 599"]
    assert page.eval_on_selector_all(
        ".change[data-channel=messages] .added-messages .msg .content",
        "els => els.map(e => e.textContent)",
    ) == [m.content for m in added]
    if backend == "memory":
        shot(page, "diff", tmp_path)

    # An interrupt beside a finished parallel branch: payload, next, the tasks' writes by name.
    page.goto(base + "/")
    page.click('tr[data-thread="approval"] a.thread-link')
    snap = list(seeded.approval.get_state_history(cfg("approval")))
    assert [r["id"] for r in rows_on(page)] == [snapshot_row(s)["id"] for s in snap]
    assert page.locator("tr.cp >> nth=0 >> .badge.interrupt").count() == 1
    page.click("tr.cp >> nth=0 >> a.cp-link")
    top = snap[0]
    assert page.inner_text("#next") == ", ".join(top.next)
    payload = page.inner_text(".interrupt-payload")
    assert "send the <b>draft</b>?" in payload  # escaped: shown as text, not bold
    page.click("#tab-writes")
    tasks = page.eval_on_selector_all("div.task", "els => els.map(e => e.dataset.task)")
    stored = saver.get_tuple(top.config)
    assert sorted(tasks) == sorted({w[0] for w in stored.pending_writes})
    names = {t.id: t.name for t in top.tasks}
    for task_id in tasks:
        badge = page.locator(f'div.task[data-task="{task_id}"] h3 .badge').first.inner_text()
        assert badge == names[task_id]
    if backend == "memory":
        shot(page, "writes", tmp_path)

    # A fork: the timeline equals get_state_history and draws the branches.
    page.goto(base + "/")
    page.click('tr[data-thread="fork"] a.thread-link')
    fork_history = list(seeded.chat.get_state_history(cfg("fork")))
    rows = rows_on(page)
    assert [{k: r[k] for k in ("id", "parent", "step", "source", "next")} for r in rows] == [
        snapshot_row(s) for s in fork_history
    ]
    assert page.locator("tr.cp.fork").count() >= 1
    assert len({r["lane"] for r in rows}) >= 2
    if backend == "memory":
        shot(page, "timeline", tmp_path)

    # A subgraph: its namespace has its own timeline, equal to the saver's list of it.
    page.goto(base + "/")
    page.click('tr[data-thread="research"] a.thread-link')
    page.click("a.ns:has-text('research')")
    (ns,) = {r["ns"] for r in rows_on(page)}
    assert ns.startswith("research:")
    listed = list(saver.list({"configurable": {"thread_id": "research", "checkpoint_ns": ns}}))
    assert ids_on(page) == [t.config["configurable"]["checkpoint_id"] for t in listed]
    page.click("tr.cp >> nth=0 >> a.cp-link")
    assert "summarize" in page.inner_text(".channel[data-channel=log]")

    # The <script> probe: in a thread id and a message, shown as text, never run.
    page.goto(base + "/")
    page.click(f'tr[data-thread="{XSS_THREAD}"] a.thread-link')
    page.click("tr.cp >> nth=0 >> a.cp-link")
    assert XSS in page.eval_on_selector_all(".msg .content", "els => els.map(e => e.textContent)")
    assert page.evaluate("window.__xss") is None

    # The memory store: namespaces, items with a filter, an item, a cut value shown whole.
    page.click("header nav >> text=Memory store")
    spaces = page.eval_on_selector_all("a.ns-link", "els => els.map(e => e.textContent)")
    assert spaces == ["users.42", "users.42.memories", "users.7.memories"]
    page.click("a.ns-link:text-is('users.42.memories')")
    assert page.locator("tr.item").count() == 2
    page.fill("input[name=filter]", '{"kind": "fact"}')
    page.click("form.search button")
    assert page.eval_on_selector_all("tr.item", "els => els.map(e => e.dataset.key)") == ["m1"]
    page.fill("input[name=ns]", "users.7")
    page.click("form.search button")
    page.click("tr.item .cut a.more")  # 5,000 characters cut at 2,000: the script fetches all
    page.wait_for_selector("tr.item pre.full")
    assert json.loads(page.inner_text("tr.item pre.full")) == "a" * 5000
    if backend == "memory":
        page.click("header nav >> text=Memory store")
        shot(page, "store", tmp_path)
    assert page.evaluate("window.__xss") is None
    assert page.errors == []
