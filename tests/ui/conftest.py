"""A real browser and a live server for the ``ui`` tests.

The browser is Debian's ``chromium`` (``apt-get install chromium``, which
``scripts/setup-test-env.sh test`` runs), launched by its path through Playwright for Python:
Playwright's own browser download needs the internet. Without the browser or Playwright the
tests skip locally and fail in CI (``CI`` set), as every server the suite needs does.

The app runs in this process on a free loopback port (uvicorn in a thread), over the test's own
saver: ``memory://`` lives in one process, so the server must share it with the test.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_ENV = "CKV_CHROMIUM"
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "ui"


def _missing(what: str) -> None:
    message = f"{what} (scripts/setup-test-env.sh test installs it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def chromium_path() -> str:
    path = os.environ.get(CHROMIUM_ENV) or "/usr/bin/chromium"
    if not os.path.exists(path):
        path = shutil.which("chromium") or path
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (the test extra)")
    path = chromium_path()
    if not os.path.exists(path):
        _missing(f"no chromium at {path} (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: _console(m, errors))
    pg.errors = errors  # the test asserts none: a CSP violation or a script error shows here
    try:
        yield pg
    finally:
        context.close()


def _console(message: Any, errors: list[str]) -> None:
    # An error page the test asked for (a 404, a refused write) logs "Failed to load
    # resource": that is the server answering, not the page failing.
    if message.type == "error" and not message.text.startswith("Failed to load resource"):
        errors.append(message.text)


@contextmanager
def live(app: Any, host: str = "127.0.0.1") -> Iterator[str]:
    """``app`` served by uvicorn on a free port of ``host`` (in a thread); yields its base URL."""
    import uvicorn

    from checkpoint_kv.ui.server import bind

    sock = bind(host, 0)
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the ui server did not start")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def shot(page: Any, name: str, tmp: Path) -> Path:
    """A screenshot of the page: into docs/ui/ when ``CKV_UI_SCREENSHOTS`` is set (to refresh
    the README's pictures), else into the test's temporary directory."""
    where = SHOTS if os.environ.get("CKV_UI_SCREENSHOTS") else tmp
    where.mkdir(parents=True, exist_ok=True)
    path = where / f"{name}.png"
    page.screenshot(path=str(path))
    return path
