"""The graphs the tests share, built in one place.

Most tests need one of a few shapes: a chat whose ``messages`` grow by ``operator.add`` (what
most apps write), the same chat on a ``DeltaChannel``, or a short pipeline whose nodes append
their names to a log. Tests that need a particular shape (an interrupt, a subgraph, a fan-out:
``tests/support/faults.py``, ``tests/contract/test_matrix.py``,
``tests/contract/test_scenarios.py``) build their own
next to the assertions that depend on it.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any

from langgraph.channels.delta import DeltaChannel
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

__all__ = [
    "DeltaChat",
    "DeltaChat5",
    "Log",
    "PlainChat",
    "aexercise",
    "cfg",
    "chat",
    "chat_builder",
    "exercise",
    "extend",
    "pipeline",
]


def extend(state: list[str] | None, batches: list[Any]) -> list[str]:
    """A DeltaChannel reducer for a list: each write is one item or a list of them."""
    out = list(state or [])
    for b in batches:
        out.extend(b if isinstance(b, list) else [b])
    return out


class PlainChat(TypedDict, total=False):
    messages: Annotated[list[str], operator.add]


class DeltaChat(TypedDict, total=False):
    messages: Annotated[list[str], DeltaChannel(extend)]  # LangGraph's default snapshots


class DeltaChat5(TypedDict, total=False):
    messages: Annotated[list[str], DeltaChannel(extend, snapshot_frequency=5)]


class Log(TypedDict, total=False):
    log: Annotated[list[str], operator.add]


def chat_builder(schema: Any = PlainChat, *, tool: bool = False, say: str = "bot:") -> Any:
    """A ``bot`` node replying ``f"{say}{len(messages)}"`` (then, with ``tool``, a ``tool``
    node adding ``"tool ok"``): one input and one loop checkpoint a turn (two with ``tool``)."""
    b: Any = StateGraph(schema)
    b.add_node("bot", lambda s: {"messages": [f"{say}{len(s['messages'])}"]})
    b.add_edge(START, "bot")
    last = "bot"
    if tool:
        b.add_node("tool", lambda s: {"messages": ["tool ok"]})
        b.add_edge("bot", "tool")
        last = "tool"
    b.add_edge(last, END)
    return b


def chat(saver: Any, schema: Any = PlainChat, *, tool: bool = False, say: str = "bot:") -> Any:
    """:func:`chat_builder`, compiled with ``saver``."""
    return chat_builder(schema, tool=tool, say=say).compile(checkpointer=saver)


def pipeline(*names: str) -> Any:
    """Nodes run in order, each appending its name to ``log`` (a builder over :class:`Log`)."""
    b: Any = StateGraph(Log)
    for name in names:
        b.add_node(name, lambda s, name=name: {"log": [name]})
    for x, y in zip([START, *names], [*names, END], strict=True):
        b.add_edge(x, y)
    return b


def cfg(thread: str, **extra: Any) -> Any:
    """A run config for ``thread`` (``extra`` goes to ``configurable``: ``checkpoint_ns``...)."""
    return {"configurable": {"thread_id": thread, **extra}}


# --- graphs of the ui tests (tests/ui/): LangChain messages, an interrupt beside a parallel
# branch, a subgraph. Appended here so other suites may reuse them.


def _add_messages() -> Any:
    from langgraph.graph.message import add_messages

    return add_messages


class ChatMessages(TypedDict, total=False):
    """A chat with LangChain messages (``add_messages``: ids, edits), and a log of nodes."""

    messages: Annotated[list[Any], _add_messages()]
    log: Annotated[list[str], operator.add]


def message_chat(saver: Any) -> Any:
    """A ``bot`` node answering each human message with an AI message ``reply <n>``: one input
    checkpoint and one loop checkpoint a turn."""
    from langchain_core.messages import AIMessage

    b: Any = StateGraph(ChatMessages)
    b.add_node("bot", lambda s: {"messages": [AIMessage(f"reply {len(s['messages'])}")]})
    b.add_edge(START, "bot")
    b.add_edge("bot", END)
    return b.compile(checkpointer=saver)


def approval(saver: Any, say: str = "drafted") -> Any:
    """``draft`` then two branches in parallel: ``approve`` asks ``interrupt({"question": ...})``
    while ``notify`` finishes (its writes wait as pending writes of the interrupted step)."""
    from langchain_core.messages import AIMessage
    from langgraph.types import interrupt

    def approve(s: Any) -> Any:
        answer = interrupt({"question": "send the <b>draft</b>?", "draft": say})
        return {"log": [f"approve:{answer}"]}

    b: Any = StateGraph(ChatMessages)
    b.add_node("draft", lambda s: {"log": ["draft"], "messages": [AIMessage(say)]})
    b.add_node("approve", approve)
    b.add_node("notify", lambda s: {"log": ["notify"]})
    b.add_edge(START, "draft")
    b.add_edge("draft", "approve")
    b.add_edge("draft", "notify")
    b.add_edge(["approve", "notify"], END)
    return b.compile(checkpointer=saver)


def with_subgraph(saver: Any) -> Any:
    """``plan`` then ``research``, a compiled subgraph (``search`` then ``summarize``) that
    stores its checkpoints under its own namespace (``research:<task id>``)."""
    inner: Any = StateGraph(Log)
    inner.add_node("search", lambda s: {"log": ["search"]})
    inner.add_node("summarize", lambda s: {"log": ["summarize"]})
    inner.add_edge(START, "search")
    inner.add_edge("search", "summarize")
    inner.add_edge("summarize", END)
    b: Any = StateGraph(Log)
    b.add_node("plan", lambda s: {"log": ["plan"]})
    b.add_node("research", inner.compile())
    b.add_edge(START, "plan")
    b.add_edge("plan", "research")
    b.add_edge("research", END)
    return b.compile(checkpointer=saver)


# --- the same short run, sync and async: every kind of port call --------------------------

_EXERCISED = ["hi", "draft", "send", "again", "draft", "send"]


def exercise(saver: Any) -> None:
    """Two turns of a draft -> send pipeline, its state and history, ``list`` across threads,
    ``delete_thread``: every kind of port call (the bring-your-own-client tests run it through
    each kind of client)."""
    import uuid

    thread = f"t-{uuid.uuid4().hex[:8]}"
    app = pipeline("draft", "send").compile(checkpointer=saver)
    config = cfg(thread)
    app.invoke({"log": ["hi"]}, config)
    app.invoke({"log": ["again"]}, config)
    assert app.get_state(config).values["log"] == _EXERCISED
    assert len(list(app.get_state_history(config))) == 8
    assert any(t.config["configurable"]["thread_id"] == thread for t in saver.list(None))
    saver.delete_thread(thread)
    assert saver.get_tuple(config) is None


async def aexercise(saver: Any) -> None:
    """:func:`exercise` through the async API."""
    import uuid

    thread = f"t-{uuid.uuid4().hex[:8]}"
    app = pipeline("draft", "send").compile(checkpointer=saver)
    config = cfg(thread)
    await app.ainvoke({"log": ["hi"]}, config)
    await app.ainvoke({"log": ["again"]}, config)
    assert (await app.aget_state(config)).values["log"] == _EXERCISED
    assert len([s async for s in app.aget_state_history(config)]) == 8
    threads = [t.config["configurable"]["thread_id"] async for t in saver.alist(None)]
    assert thread in threads
    await saver.adelete_thread(thread)
    assert await saver.aget_tuple(config) is None
