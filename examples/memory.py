"""Long-term memory across threads: what a user tells the agent in one conversation, it knows in
the next, on the same backend as the checkpoints.

    python examples/memory.py

Thread ``monday`` hears two facts and stores them under the user's namespace
``("memories", USER)``; thread ``tuesday`` (a new conversation, empty short-term state) recalls
them by semantic search. Checkpoints and memories share one URL: ``$CHECKPOINT_KV_URL``
(default ``sqlite:///checkpoints.db`` here; ``redis://...``, ``dynamodb://TABLE``,
``s3://BUCKET/PREFIX`` work the same). No LLM or embedding key needed: the "embedding" is a
tiny bag-of-words function, and the "model" repeats what it recalls.
"""

from __future__ import annotations

import argparse
import operator
import os
import uuid
from typing import Annotated, Any

from langgraph.graph import END, START, StateGraph
from langgraph.store.base import BaseStore
from typing_extensions import TypedDict

import checkpoint_kv

WORDS = ["tea", "coffee", "paris", "london", "cat", "dog", "likes", "lives"]


def embed(texts: list[str]) -> list[list[float]]:
    """A toy embedding: counts of a few words (use a real model in an application)."""
    return [[float(t.lower().count(w)) + 0.01 for w in WORDS] for t in texts]


class State(TypedDict, total=False):
    user: str
    messages: Annotated[list[str], operator.add]


def chat(state: State, *, store: BaseStore) -> State:
    said = state["messages"][-1].removeprefix("user: ")
    ns = ("memories", state["user"])
    if said.lower().startswith("remember "):
        fact = said[len("remember ") :]
        store.put(ns, fact.lower(), {"text": fact})  # the same fact twice: one memory
        return {"messages": [f"bot: noted, {fact}"]}
    found = store.search(ns, query=said, limit=2)
    recalled = "; ".join(item.value["text"] for item in found) or "nothing yet"
    return {"messages": [f"bot: I remember: {recalled}"]}


def build(checkpointer: Any, store: BaseStore) -> Any:
    builder = StateGraph(State)
    builder.add_node("chat", chat)
    builder.add_edge(START, "chat")
    builder.add_edge("chat", END)
    return builder.compile(checkpointer=checkpointer, store=store)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--user", default="ada")
    args = parser.parse_args(argv)
    url = os.environ.get("CHECKPOINT_KV_URL") or checkpoint_kv.DEFAULT_URL
    with (
        checkpoint_kv.from_url(url) as saver,
        checkpoint_kv.store_from_url(url, index={"dims": len(WORDS), "embed": embed}) as store,
    ):
        saver.setup()
        store.setup()
        graph = build(saver, store)
        monday = {"configurable": {"thread_id": f"{args.user}-monday"}}
        tuesday = {"configurable": {"thread_id": f"{args.user}-tuesday-{uuid.uuid4().hex[:6]}"}}
        for said in ["remember Ada likes tea", "remember Ada lives in Paris"]:
            out = graph.invoke({"user": args.user, "messages": [f"user: {said}"]}, monday)
            print(f"[monday]  {out['messages'][-1]}")
        out = graph.invoke(
            {"user": args.user, "messages": ["user: what does Ada drink, tea?"]}, tuesday
        )
        print(f"[tuesday] {out['messages'][-1]}")
        print(f"namespaces: {store.list_namespaces(prefix=('memories',))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
