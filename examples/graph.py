"""A tiny graph for ``examples/langgraph.json``: it asks for approval with ``interrupt()``, so
a run stops, survives a server restart in the checkpointer, and resumes."""

from __future__ import annotations

import operator
from typing import Annotated, Any

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from typing_extensions import TypedDict


class State(TypedDict):
    log: Annotated[list[str], operator.add]


def draft(state: State) -> dict[str, Any]:
    return {"log": [f"draft #{len(state['log'])}"]}


def approve(state: State) -> dict[str, Any]:
    answer = interrupt({"question": "publish this draft?", "draft": state["log"][-1]})
    return {"log": [f"approved: {answer}"]}


builder = StateGraph(State)
builder.add_node("draft", draft)
builder.add_node("approve", approve)
builder.add_edge(START, "draft")
builder.add_edge("draft", "approve")
builder.add_edge("approve", END)

# No checkpointer here: the LangGraph server injects the one named in langgraph.json.
graph = builder.compile()
