"""Quickstart: a small chat agent with a human-approval step, persisted by checkpoint-kv.

Run it twice:

    python examples/quickstart.py        # drafts a reply, then stops for approval
    python examples/quickstart.py        # a new process resumes at the approval and finishes

State lives in ``$CHECKPOINT_KV_URL`` (default ``sqlite:///checkpoints.db`` in the working
directory), so the second run picks up exactly where the first stopped. No LLM key needed: the
"model" is a tiny rule-based function. Pass ``--answer no`` to reject the draft, ``--thread T``
for another conversation, ``--reset`` to start over.
"""

from __future__ import annotations

import argparse
import operator
import os
from typing import Annotated, Any

from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt
from typing_extensions import TypedDict

import checkpoint_kv


class State(TypedDict, total=False):
    messages: Annotated[list[str], operator.add]
    draft: str
    sent: bool


def draft_reply(state: State) -> State:
    """The 'model': answers the last user message."""
    question = state["messages"][-1].removeprefix("user: ")
    return {"draft": f"Thanks for asking about {question!r}; here is what I found."}


def human_approval(state: State) -> State:
    """Pause the graph until a human approves the draft (the pause survives a restart)."""
    answer = interrupt({"draft": state["draft"], "question": "Send this reply? (yes/no)"})
    if str(answer).lower().startswith("y"):
        return {"messages": [f"assistant: {state['draft']}"], "sent": True}
    return {"messages": ["assistant: (draft discarded by the reviewer)"], "sent": False}


def build(checkpointer: Any) -> Any:
    builder = StateGraph(State)
    builder.add_node("draft_reply", draft_reply)
    builder.add_node("human_approval", human_approval)
    builder.add_edge(START, "draft_reply")
    builder.add_edge("draft_reply", "human_approval")
    builder.add_edge("human_approval", END)
    return builder.compile(checkpointer=checkpointer)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--thread", default="quickstart")
    parser.add_argument("--answer", default="yes", help="the reviewer's answer on resume")
    parser.add_argument("--question", default="checkpointers")
    parser.add_argument("--reset", action="store_true", help="delete the thread first")
    args = parser.parse_args(argv)

    url = os.environ.get("CHECKPOINT_KV_URL", checkpoint_kv.DEFAULT_URL)
    config = {"configurable": {"thread_id": args.thread}}
    with checkpoint_kv.from_url(url) as saver:
        saver.setup()
        if args.reset:
            saver.delete_thread(args.thread)
        graph = build(saver)
        state = graph.get_state(config)
        if state.interrupts:
            print(f"[resume] found a paused run in {checkpoint_kv.registry.redact_url(url)}")
            print(f"[resume] draft awaiting approval: {state.values['draft']!r}")
            print(f"[resume] reviewer answers: {args.answer!r}")
            result = graph.invoke(Command(resume=args.answer), config)
            for line in result["messages"]:
                print("  " + line)
            print(f"[done] sent={result['sent']}; {len(result['messages'])} messages in thread")
            return 0
        turns = len(state.values.get("messages", []))
        print(f"[start] thread {args.thread!r} has {turns} messages; asking a new question")
        result = graph.invoke({"messages": [f"user: {args.question}"]}, config)
        pending = result["__interrupt__"][0].value
        print(f"[paused] {pending['question']} draft: {pending['draft']!r}")
        print("[paused] state is saved; run this script again to resume")
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
