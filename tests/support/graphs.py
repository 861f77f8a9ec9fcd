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
    "cfg",
    "chat",
    "chat_builder",
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
