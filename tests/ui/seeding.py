"""The threads the ui tests browse, written by real graphs (tests/support/graphs.py).

- ``chat-300``: 300 turns of a chat with LangChain messages (900 checkpoints: 18 timeline pages)
- ``approval``: an ``interrupt()`` beside a parallel branch that finished (pending writes)
- ``fork``: a chat forked twice: ``update_state`` on an old checkpoint, then a replay from an
  older one with new input (time travel)
- ``research``: a graph with a subgraph (its own checkpoint namespace)
- ``<script>...``: a thread id and a message that would run if a page did not escape them
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage

from tests.support.graphs import approval, cfg, message_chat, with_subgraph

XSS = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">'
XSS_THREAD = "<script>window.__xss = 3</script>"
TURNS = 300


@dataclass
class Seeded:
    saver: Any
    chat: Any
    approval: Any
    research: Any
    threads: list[str] = field(default_factory=list)


def seed(saver: Any, turns: int = TURNS) -> Seeded:
    chat = message_chat(saver)
    for i in range(turns):
        chat.invoke({"messages": [HumanMessage(f"question {i}")]}, cfg("chat-300"))

    ask = approval(saver)
    ask.invoke({"messages": [HumanMessage("write to the team")]}, cfg("approval"))

    for text in ("one", "two", "three"):
        chat.invoke({"messages": [HumanMessage(text)]}, cfg("fork"))
    history = list(chat.get_state_history(cfg("fork")))
    # update_state on the checkpoint after turn two's reply: a branch beside turn three
    after_two = next(s for s in history if len(s.values.get("messages", [])) == 4 and not s.next)
    forked = chat.update_state(after_two.config, {"messages": [AIMessage("edited reply")]})
    chat.invoke({"messages": [HumanMessage("after the edit")]}, forked)
    # time travel: new input from the checkpoint after turn one
    after_one = next(s for s in history if len(s.values.get("messages", [])) == 2 and not s.next)
    chat.invoke({"messages": [HumanMessage("replayed")]}, after_one.config)

    research = with_subgraph(saver)
    research.invoke({"log": ["start"]}, cfg("research"))

    chat.invoke({"messages": [HumanMessage(XSS)]}, cfg(XSS_THREAD))
    return Seeded(
        saver,
        chat,
        ask,
        research,
        ["chat-300", "approval", "fork", "research", XSS_THREAD],
    )


def seed_store(store: Any) -> None:
    """A few long-term memories: two namespaces, a filterable field, and a ``<script>``."""
    store.put(("users", "42"), "prefs", {"lang": "fr", "tone": "brief"})
    store.put(("users", "42", "memories"), "m1", {"kind": "fact", "text": "likes tea"})
    store.put(("users", "42", "memories"), "m2", {"kind": "event", "text": XSS})
    store.put(("users", "7", "memories"), "m1", {"kind": "fact", "text": "a" * 5000})
