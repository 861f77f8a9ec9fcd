"""A small chat service on Redis: one LangGraph thread per conversation, replies streamed as
server-sent events, history from ``get_state_history``. All state lives in Redis through
checkpoint-kv, so the service can be restarted (or run as several replicas) at any time and
every conversation goes on where it was.

    pip install -e ".[redis]" langgraph starlette uvicorn   # from the repository root
    CHECKPOINT_KV_URL=redis://localhost:6379/0 uvicorn examples.redis_chat.app:app

    curl -X POST localhost:8000/conversations                      -> {"id": "..."}
    curl -N -X POST localhost:8000/conversations/ID/messages -d '{"content": "hello"}'
    curl localhost:8000/conversations/ID                           -> the messages
    curl localhost:8000/conversations/ID/history                   -> one entry per checkpoint

The "model" is a deterministic stand-in that streams its reply word by word (no API key
needed); swap ``reply`` for a chat model and stream its tokens the same way.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from typing_extensions import TypedDict

from checkpoint_kv.server import make_checkpointer

DEFAULT_URL = "redis://localhost:6379/0"


class Chat(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


async def reply(state: Chat) -> dict[str, Any]:
    """Stand-in model: answers from the conversation so far, one word at a time."""
    write = get_stream_writer()
    said = [m for m in state["messages"] if isinstance(m, HumanMessage)]
    text = f"you said {said[-1].content!r}; that is message {len(said)} of this conversation"
    words = text.split(" ")
    for i, word in enumerate(words):
        write({"token": word + (" " if i < len(words) - 1 else "")})
        await asyncio.sleep(0)
    return {"messages": [AIMessage(text)]}


def build_graph() -> StateGraph[Chat]:
    g: StateGraph[Chat] = StateGraph(Chat)
    g.add_node("reply", reply)
    g.add_edge(START, "reply")
    g.add_edge("reply", END)
    return g


def _config(conversation_id: str) -> Any:
    return {"configurable": {"thread_id": conversation_id}}


def _message(m: AnyMessage) -> dict[str, Any]:
    return {"role": "user" if isinstance(m, HumanMessage) else "assistant", "content": m.content}


def create_app(url: str | None = None) -> Starlette:
    """The service; ``url`` defaults to ``$CHECKPOINT_KV_URL``, else a local Redis."""
    url = url or os.environ.get("CHECKPOINT_KV_URL") or DEFAULT_URL

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with make_checkpointer(url) as saver:
            app.state.graph = build_graph().compile(checkpointer=saver)
            app.state.saver = saver
            # One turn at a time per conversation in this process (two concurrent turns on
            # one thread would fork it); use a Redis lock for several replicas.
            app.state.locks = {}
            yield

    async def create(request: Request) -> Response:
        return JSONResponse({"id": uuid.uuid4().hex}, status_code=201)

    async def send(request: Request) -> Response:
        cid = request.path_params["cid"]
        try:
            body = await request.json()
            content = str(body["content"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": 'send {"content": "..."}'}, status_code=400)
        graph = request.app.state.graph
        lock = request.app.state.locks.setdefault(cid, asyncio.Lock())

        async def events() -> AsyncIterator[str]:
            async with lock:
                stream = graph.astream(
                    {"messages": [HumanMessage(content)]}, _config(cid), stream_mode="custom"
                )
                async for chunk in stream:
                    yield f"data: {json.dumps(chunk)}\n\n"
                state = await graph.aget_state(_config(cid))
            last = state.values["messages"][-1]
            done = {"message": _message(last), "checkpoint_id": _checkpoint_id(state)}
            yield f"event: done\ndata: {json.dumps(done)}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def show(request: Request) -> Response:
        cid = request.path_params["cid"]
        state = await request.app.state.graph.aget_state(_config(cid))
        if not state.values:
            return JSONResponse({"error": f"no conversation {cid!r}"}, status_code=404)
        messages = [_message(m) for m in state.values["messages"]]
        return JSONResponse({"id": cid, "messages": messages})

    async def history(request: Request) -> Response:
        cid = request.path_params["cid"]
        limit = int(request.query_params.get("limit", "50"))
        entries = []
        async for snap in request.app.state.graph.aget_state_history(_config(cid), limit=limit):
            messages = snap.values.get("messages", [])
            entries.append(
                {
                    "checkpoint_id": _checkpoint_id(snap),
                    "step": snap.metadata.get("step") if snap.metadata else None,
                    "created_at": snap.created_at,
                    "messages": len(messages),
                    "last": _message(messages[-1]) if messages else None,
                }
            )
        if not entries:
            return JSONResponse({"error": f"no conversation {cid!r}"}, status_code=404)
        return JSONResponse({"id": cid, "history": entries})

    async def delete(request: Request) -> Response:
        await request.app.state.saver.adelete_thread(request.path_params["cid"])
        return Response(status_code=204)

    return Starlette(
        routes=[
            Route("/conversations", create, methods=["POST"]),
            Route("/conversations/{cid}", show, methods=["GET"]),
            Route("/conversations/{cid}", delete, methods=["DELETE"]),
            Route("/conversations/{cid}/messages", send, methods=["POST"]),
            Route("/conversations/{cid}/history", history, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def _checkpoint_id(snap: Any) -> str:
    return str(snap.config["configurable"]["checkpoint_id"])


app = create_app()
