"""How a page is made: the Jinja2 templates (autoescaped), links, and errors as pages.

Why apart from the routes: every route renders the same way, with the same guarantees, and
they are easier to check in one place. Templates autoescape everything (``autoescape=True``,
never ``|safe`` on a value), so a message holding ``<script>`` is text. ``StrictUndefined``
makes a template that names a missing field fail in the tests instead of rendering blank.
Each page gets the CSRF field of this browser's nonce cookie when writes are allowed. An error
becomes a page with the redacted message and the status a user can act on (404 missing, 400
bad input, 503 unreachable), never a traceback (:func:`route` catches everything).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from checkpoint_kv.cli.common import (
    EXIT_CORRUPT,
    EXIT_ERROR,
    EXIT_NO_STORE,
    EXIT_NOT_FOUND,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    code_for,
)
from checkpoint_kv.errors import ConfigError, redact
from checkpoint_kv.saver import KVCheckpointSaver
from checkpoint_kv.ui.security import Security
from checkpoint_kv.ui.state import full_json

__all__ = ["UI", "Handler", "arg", "as_json", "integer", "link", "need", "route"]

HERE = Path(__file__).resolve().parent
_STATUS = {
    EXIT_NOT_FOUND: 404,
    EXIT_USAGE: 400,
    EXIT_UNAVAILABLE: 503,
    EXIT_NO_STORE: 503,
    EXIT_CORRUPT: 500,
}


class UI:
    """What every route needs: the saver, the memory store, the templates, the rules."""

    def __init__(
        self,
        saver: KVCheckpointSaver,
        *,
        store: Any,
        label: str,
        security: Security,
        specs: dict[str, Any] | None,
    ) -> None:
        self.saver = saver
        self.store = store
        self.label = label
        self.security = security
        self.specs = specs
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals.update(link=link, as_json=as_json, pretty=full_json)

    def render(self, request: Request, name: str, code: int = 200, /, **ctx: Any) -> HTMLResponse:
        sec = self.security
        nonce = request.cookies.get(sec.csrf_cookie)
        fresh = nonce is None
        if nonce is None:
            nonce = sec.new_nonce()
        body = self.env.get_template(name).render(
            label=self.label,
            writes=sec.allow_writes,
            csrf=sec.csrf_for(nonce) if sec.allow_writes else "",
            request_path=request.url.path,
            **ctx,
        )
        response = HTMLResponse(body, status_code=code)
        if fresh and sec.allow_writes:
            response.set_cookie(sec.csrf_cookie, nonce, httponly=True, samesite="strict")
        return response

    def error(self, request: Request, e: BaseException) -> HTMLResponse:
        code = code_for(e)
        status = _STATUS.get(code, 500)
        what = redact(str(e) or type(e).__name__)
        if code == EXIT_ERROR:
            what = f"unexpected {type(e).__name__}: {what}"
        return self.render(request, "error.html", status, status=status, message=what)


def link(path: str, /, **params: Any) -> str:
    """``path?query`` with the parameters that are set (``None`` and ``""`` left out)."""
    kept = [
        (k, v if isinstance(v, str) else str(v)) for k, v in params.items() if v not in (None, "")
    ]
    return path + ("?" + urlencode(kept) if kept else "")


def as_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def arg(request: Request, name: str, default: str = "") -> str:
    return request.query_params.get(name, default)


def integer(request: Request, name: str) -> int:
    raw = request.query_params.get(name) or "0"
    if not raw.isdigit():
        raise ConfigError(f"{name}={raw!r}: expected a number")
    return int(raw)


def need(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if value is None:
        raise ConfigError(f"missing ?{name}=")
    return value


Handler = Callable[[UI, Request], Awaitable[Response]]


def route(ui: UI, fn: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            return await fn(ui, request)
        except Exception as e:  # every failure is a page, redacted, never a traceback
            return ui.error(request, e)

    return endpoint
