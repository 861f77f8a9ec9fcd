"""``examples/redis_chat``: the chat service on a real redis-server, driven by an HTTP client;
in-process (Starlette's TestClient) and as a uvicorn process that is stopped, killed and
started again while conversations go on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fixtures_redis import free_port

ROOT = Path(__file__).resolve().parents[2]


def _need(module: str) -> None:
    """Skip locally, fail in CI, when the example's server libraries are missing."""
    try:
        __import__(module)
    except ImportError:
        msg = f"{module} not installed: pip install starlette uvicorn (the test extra)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)


def _sse(lines: Iterator[str]) -> tuple[list[str], dict[str, Any]]:
    """Tokens and the final ``done`` event of one streamed reply."""
    tokens: list[str] = []
    done: dict[str, Any] = {}
    event = "message"
    for line in lines:
        if line.startswith("event: "):
            event = line[len("event: ") :]
        elif line.startswith("data: "):
            data = json.loads(line[len("data: ") :])
            if event == "done":
                done = data
            else:
                tokens.append(data["token"])
        elif not line:
            event = "message"
    return tokens, done


def _send(client: Any, cid: str, text: str) -> tuple[list[str], dict[str, Any]]:
    with client.stream("POST", f"/conversations/{cid}/messages", json={"content": text}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        return _sse(r.iter_lines())


def test_chat_streams_and_resumes_after_restart(url_redis: str) -> None:
    _need("starlette")
    from starlette.testclient import TestClient

    from examples.redis_chat.app import create_app

    with TestClient(create_app(url_redis)) as client:
        cid = client.post("/conversations").json()["id"]
        other = client.post("/conversations").json()["id"]
        tokens, done = _send(client, cid, "hello")
        assert len(tokens) > 5  # streamed word by word
        assert "".join(tokens) == done["message"]["content"]
        assert "message 1 of" in done["message"]["content"]
        _send(client, cid, "again")
        _send(client, other, "unrelated")
    # The service restarts: a new app, new Redis connections, nothing kept in memory.
    with TestClient(create_app(url_redis)) as client:
        msgs = client.get(f"/conversations/{cid}").json()["messages"]
        assert [m["role"] for m in msgs] == ["user", "assistant"] * 2
        assert [m["content"] for m in msgs if m["role"] == "user"] == ["hello", "again"]
        _, done = _send(client, cid, "third")
        assert "message 3 of" in done["message"]["content"]
        hist = client.get(f"/conversations/{cid}/history").json()["history"]
        # per turn: the input (as before), the user message in, the reply out
        assert [h["messages"] for h in hist] == [6, 5, 4, 4, 3, 2, 2, 1, 0]
        assert hist[0]["checkpoint_id"] == done["checkpoint_id"]
        assert hist[0]["last"]["role"] == "assistant"
        assert len(client.get(f"/conversations/{cid}/history?limit=2").json()["history"]) == 2
        assert len(client.get(f"/conversations/{other}").json()["messages"]) == 2
        # errors and delete
        assert client.get("/conversations/nope").status_code == 404
        assert client.get("/conversations/nope/history").status_code == 404
        bad = client.post(f"/conversations/{cid}/messages", content=b"not json")
        assert bad.status_code == 400
        assert client.delete(f"/conversations/{other}").status_code == 204
        assert client.get(f"/conversations/{other}").status_code == 404


def _start(url: str, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "examples.redis_chat.app:app", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "CHECKPOINT_KV_URL": url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    for _ in range(300):
        if proc.poll() is not None:
            raise AssertionError(
                f"uvicorn exited: {proc.stderr.read().decode() if proc.stderr else ''}"
            )
        try:
            httpx.get(f"http://127.0.0.1:{port}/conversations/x", timeout=1)
            return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("uvicorn did not start")


def test_chat_service_process_restart_and_crash(url_redis: str) -> None:
    _need("starlette")
    _need("uvicorn")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start(url_redis, port)
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            cid = client.post("/conversations").json()["id"]
            _send(client, cid, "one")
        proc.send_signal(signal.SIGTERM)  # a deploy: graceful stop
        proc.wait(timeout=30)
        proc = _start(url_redis, port)
        with httpx.Client(base_url=base, timeout=30) as client:
            _, done = _send(client, cid, "two")
            assert "message 2 of" in done["message"]["content"]
        proc.kill()  # a crash: no shutdown at all
        proc.wait(timeout=30)
        proc = _start(url_redis, port)
        with httpx.Client(base_url=base, timeout=30) as client:
            _, done = _send(client, cid, "three")
            assert "message 3 of" in done["message"]["content"]
            users = [m["content"] for m in client.get(f"/conversations/{cid}").json()["messages"]]
            assert users[::2] == ["one", "two", "three"]
    finally:
        proc.kill()
        proc.wait(timeout=30)
