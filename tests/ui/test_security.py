"""Who may open the page and who may change data.

- any bind but loopback needs the token (the real command, binding 0.0.0.0), in constant time;
  loopback refuses a ``Host`` that is not a loopback name (DNS rebinding);
- writes are refused without ``--allow-writes``, and with it a post without this page's CSRF
  field, or sent by another site, is refused; delete, prune and copy work through their
  confirmation pages in the browser and do what the saver's methods do;
- no credential of the URL ever reaches a page (a real Redis with a password in the URL);
- every answer carries the CSP and friends.
"""

from __future__ import annotations

import html
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import checkpoint_kv
from checkpoint_kv.cli.common import jsonable
from tests.support.graphs import cfg, message_chat
from tests.ui.conftest import live, shot

ROOT = Path(__file__).resolve().parents[2]


def _chat(saver: Any, thread: str, turns: int = 3) -> Any:
    from langchain_core.messages import HumanMessage

    chat = message_chat(saver)
    for i in range(turns):
        chat.invoke({"messages": [HumanMessage(f"hello {i}")]}, cfg(thread))
    return chat


@pytest.fixture
def saver() -> Iterator[Any]:
    s = checkpoint_kv.from_url("memory://")
    _chat(s, "t1")
    yield s
    s.close()


def _app(saver: Any, **security: Any) -> Any:
    from checkpoint_kv.ui import create_app
    from checkpoint_kv.ui.security import Security

    return create_app(saver, label="memory://", security=Security(**security))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ui.db'}"
    s = checkpoint_kv.from_url(url)
    s.setup()
    _chat(s, "t1", turns=1)
    s.close()
    return url


class Served:
    """``checkpoint-kv ui ...`` in a child process, and what its banner said."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        full_env = {k: v for k, v in os.environ.items() if k != "CHECKPOINT_KV_UI_TOKEN"}
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "checkpoint_kv", "ui", *args],
            cwd=ROOT,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.banner = ""
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.banner += line
            if "open http" in line:
                break
        found = re.search(r"open http://[^:/]+:(\d+)/(\?token=(\S+))?", self.banner)
        if found is None:
            self.proc.wait(30)
            raise AssertionError(self.banner + self.proc.stderr.read())
        self.port = int(found.group(1))
        self.token = found.group(3)
        self.base = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def test_a_non_loopback_bind_needs_the_token(sqlite_url: str) -> None:
    served = Served([sqlite_url, "--host", "0.0.0.0", "--port", "0"])
    try:
        token = served.token
        assert token and len(token) >= 32
        assert served.banner.count(token) == 1  # printed once
        with httpx.Client(base_url=served.base, follow_redirects=False) as c:
            assert c.get("/").status_code == 401
            assert c.get("/static/app.css").status_code == 401
            assert c.get("/", params={"token": "x" * len(token)}).status_code == 401
            assert c.get("/", headers={"authorization": "Bearer nope"}).status_code == 401
            ok = c.get("/", headers={"authorization": f"Bearer {token}"})
            assert ok.status_code == 200 and 'data-thread="t1"' in ok.text
            first = c.get("/thread", params={"thread": "t1", "token": token})
            assert first.status_code == 303  # the token becomes a cookie and leaves the URL
            assert first.headers["location"] == "/thread?thread=t1"
            assert "HttpOnly" in first.headers["set-cookie"]
            assert c.get(first.headers["location"]).status_code == 200  # the cookie now
    finally:
        served.stop()


def test_a_token_from_the_environment_is_never_printed(sqlite_url: str) -> None:
    token = "T" * 40
    served = Served(
        [sqlite_url, "--host", "0.0.0.0", "--port", "0"], env={"CHECKPOINT_KV_UI_TOKEN": token}
    )
    try:
        assert token not in served.banner and served.token is None
        r = httpx.get(served.base + "/", headers={"authorization": f"Bearer {token}"})
        assert r.status_code == 200
        assert httpx.get(served.base + "/").status_code == 401
    finally:
        served.stop()
    short = subprocess.run(
        [sys.executable, "-m", "checkpoint_kv", "ui", sqlite_url, "--host", "0.0.0.0"],
        env={**os.environ, "CHECKPOINT_KV_UI_TOKEN": "short"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert short.returncode == 2 and "at least 16" in short.stderr


def test_loopback_refuses_other_host_names(saver: Any) -> None:
    with live(_app(saver)) as base:
        assert httpx.get(base + "/").status_code == 200
        port = base.rsplit(":", 1)[1]
        for host in ("localhost", "127.0.0.1", "[::1]"):
            assert httpx.get(base + "/", headers={"host": f"{host}:{port}"}).status_code == 200
        r = httpx.get(base + "/", headers={"host": f"attacker.example:{port}"})
        assert r.status_code == 400


def test_every_answer_has_the_security_headers(saver: Any) -> None:
    with live(_app(saver)) as base:
        for path in ("/", "/thread?thread=t1", "/nope", "/static/app.js"):
            r = httpx.get(base + path)
            assert "script-src 'self'" in r.headers["content-security-policy"], path
            assert r.headers["x-frame-options"] == "DENY"
            assert r.headers["referrer-policy"] == "same-origin"
        assert httpx.get(base + "/").headers["cache-control"] == "no-store"


def test_writes_are_refused_without_allow_writes(saver: Any, page: Any) -> None:
    with live(_app(saver)) as base:
        page.goto(f"{base}/thread?thread=t1")
        assert page.locator("a.button").count() == 0  # no delete / prune / copy offered
        assert "read-only" in page.inner_text("header")
        for action in ("delete", "prune", "copy"):
            r = httpx.get(f"{base}/actions/{action}", params={"thread": "t1"})
            assert r.status_code == 403 and "--allow-writes" in r.text
            r = httpx.post(
                f"{base}/actions/{action}", data={"thread": "t1", "target": "t2", "csrf": "x"}
            )
            assert r.status_code == 403
    assert saver.get_tuple(cfg("t1")) is not None
    assert saver.get_tuple(cfg("t2")) is None


def test_a_write_without_this_pages_csrf_field_is_refused(saver: Any) -> None:
    with live(_app(saver, allow_writes=True)) as base, httpx.Client(base_url=base) as c:
        form = c.get("/actions/delete", params={"thread": "t1"})
        assert form.status_code == 200
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', form.text)
        assert csrf and c.cookies  # the nonce cookie this field signs
        refused = [
            ({"thread": "t1"}, {}),  # no field
            ({"thread": "t1", "csrf": "0" * 64}, {}),  # a forged one
            ({"thread": "t1", "csrf": csrf.group(1)}, {"origin": "http://attacker.example"}),
            ({"thread": "t1", "csrf": csrf.group(1)}, {"sec-fetch-site": "cross-site"}),
        ]
        for data, headers in refused:
            r = c.post("/actions/delete", data=data, headers=headers)
            assert r.status_code == 403, (data, headers)
        other = httpx.post(  # the right field, but not this browser's cookie
            base + "/actions/delete", data={"thread": "t1", "csrf": csrf.group(1)}
        )
        assert other.status_code == 403
        assert c.post("/actions/delete", json={"thread": "t1"}).status_code == 403
    assert saver.get_tuple(cfg("t1")) is not None


def test_delete_prune_and_copy_through_their_confirmation(
    saver: Any, page: Any, tmp_path: Path
) -> None:
    chat = message_chat(saver)
    _chat(saver, "keep-me")
    with live(_app(saver, allow_writes=True)) as base:
        # copy: a new thread holding the same state
        page.goto(f"{base}/thread?thread=t1")
        page.click("text=Copy…")
        page.fill("input[name=target]", "t1-copy")
        page.click("#confirm")
        assert "Copied into this thread" in page.inner_text("main")
        assert chat.get_state(cfg("t1-copy")).values == chat.get_state(cfg("t1")).values
        # copying onto an existing thread is refused
        page.goto(f"{base}/actions/copy?thread=t1&target=keep-me")
        page.click("#confirm")
        assert "already exists" in page.inner_text("#error")

        # prune: down to the latest checkpoint, the state unchanged
        before = chat.get_state(cfg("t1")).values
        page.goto(f"{base}/thread?thread=t1")
        page.click("text=Prune…")
        page.click("#confirm")
        assert "Pruned" in page.inner_text("main")
        assert len(list(saver.list(cfg("t1")))) == 1
        assert chat.get_state(cfg("t1")).values == before
        assert len(page.locator("tr.cp").all()) == 1

        # delete: the confirmation says what goes, then it is gone
        copied = len(list(saver.list(cfg("t1-copy"))))
        page.goto(f"{base}/thread?thread=t1-copy")
        page.click("text=Delete…")
        assert f"{copied} (every namespace)" in page.inner_text(".confirm")
        shot(page, "confirm", tmp_path)
        page.click("#confirm")
        assert "Deleted thread" in page.inner_text(".flash")
        assert saver.get_tuple(cfg("t1-copy")) is None
        assert saver.get_tuple(cfg("keep-me")) is not None
        assert page.errors == []


def test_no_credential_of_the_url_reaches_a_page(redis_server: Any) -> None:
    """The command on a real Redis with a password in its URL (the server accepts any
    password for its passwordless default user): the banner and every page hide it."""
    secret = "s3cr3t-PASS"
    url = f"redis://default:{secret}@127.0.0.1:{redis_server.port}/0?prefix=t{os.getpid()}ui"
    s = checkpoint_kv.from_url(url)
    _chat(s, "t1", turns=1)
    served = Served([url, "--port", "0"])
    try:
        assert secret not in served.banner and "default:***@" in served.banner
        pages = ["/", "/thread?thread=t1", "/checkpoint?thread=t1", "/store", "/nope", "/x?y"]
        for path in [*pages, "/checkpoint?thread=missing"]:
            r = httpx.get(served.base + path)
            assert secret not in r.text, path
            assert "default:***@127.0.0.1" in r.text, path
    finally:
        served.stop()
        s.delete_thread("t1")
        s.close()


def test_with_the_graph_the_values_are_get_states(saver: Any) -> None:
    """``--graph``: channels never written show at their empty value, as ``get_state``."""
    from checkpoint_kv.ui import create_app

    chat = message_chat(saver)
    app = create_app(saver, label="memory://", specs=chat.channels)
    state = chat.get_state(cfg("t1"))
    cid = state.config["configurable"]["checkpoint_id"]
    with live(app) as base:
        r = httpx.get(base + "/checkpoint", params={"thread": "t1", "id": cid, "view": "json"})
    shown = re.search(r'<pre id="state-json">(.*?)</pre>', r.text, re.S)
    assert shown
    assert json.loads(html.unescape(shown.group(1))) == jsonable(state.values)
    assert jsonable(state.values)["log"] == []
