"""The three routes that change data: delete a thread, prune it to its latest checkpoint, copy
it to a new thread id. Only with ``--allow-writes``.

Why each is two requests: a GET shows what will happen (the thread, its checkpoint count, the
target) on a confirmation page with a button; only the POST that button sends acts. The POST
is refused (403) without ``--allow-writes``, without a CSRF field matching this browser's
cookie, or when the browser says another site sent it (``security.Security.csrf_ok``), so a
link or a cross-site form can never delete anything. The form body is parsed here (urlencoded,
64 KB at most) rather than by Starlette, whose form parser needs one more package.
The operations are the saver's own (``delete_thread``, ``prune``, ``copy_thread``), as the
``delete``, ``prune`` and ``copy`` commands run them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from checkpoint_kv import keys as K
from checkpoint_kv.errors import ConfigError, ThreadNotFoundError
from checkpoint_kv.ui.render import UI, link
from checkpoint_kv.ui.threads import latest, row_of

__all__ = ["ACTIONS", "routes"]

ACTIONS = {
    "delete": "Delete thread",
    "prune": "Prune thread to its latest checkpoint",
    "copy": "Copy thread",
}
MAX_BODY = 64 * 1024


class Refused(Exception):
    """A write the rules refuse: 403 with the reason."""


def routes() -> list[tuple[str, Callable[[UI, Request], Awaitable[Response]], list[str]]]:
    return [("/actions/{action}", action, ["GET", "POST"])]


def _count(ui: UI, thread: str) -> int:
    from checkpoint_kv.cli.common import summary

    return int(summary(ui.saver, K.partition(thread))["checkpoints"])


async def _form(request: Request) -> dict[str, str]:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise Refused("a write is a form post (application/x-www-form-urlencoded)")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise Refused("form too large")
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


async def action(ui: UI, request: Request) -> Response:
    name = request.path_params["action"]
    if name not in ACTIONS:
        raise ThreadNotFoundError(f"no action {name!r}")
    if not ui.security.allow_writes:
        return ui.render(
            request,
            "error.html",
            403,
            status=403,
            message="read-only: this page changes nothing. Restart with "
            "`checkpoint-kv ui URL --allow-writes` to delete, prune or copy threads.",
        )
    try:
        if request.method == "POST":
            return await _do(ui, request, name)
        return await _confirm(ui, request, name)
    except Refused as e:
        return ui.render(request, "error.html", 403, status=403, message=str(e))


async def _confirm(ui: UI, request: Request, name: str) -> Response:
    thread = request.query_params.get("thread", "")
    t = await run_in_threadpool(latest, ui.saver, thread)
    if t is None:
        raise ThreadNotFoundError(f"no thread {thread!r}")
    count = await run_in_threadpool(_count, ui, thread)
    return ui.render(
        request,
        "confirm.html",
        action=name,
        title=ACTIONS[name],
        row=row_of(thread, t),
        count=count,
        target=request.query_params.get("target", ""),
    )


async def _do(ui: UI, request: Request, name: str) -> Response:
    form = await _form(request)
    nonce = request.cookies.get(ui.security.csrf_cookie)
    headers = {k.lower(): v for k, v in request.headers.items()}
    if not ui.security.csrf_ok(nonce, form.get("csrf"), headers):
        raise Refused(
            "refused: this form did not come from this page (CSRF check failed). "
            "Reload the page and confirm again."
        )
    thread = form.get("thread", "")
    if await run_in_threadpool(latest, ui.saver, thread) is None:
        raise ThreadNotFoundError(f"no thread {thread!r}")
    if name == "delete":
        await run_in_threadpool(ui.saver.delete_thread, thread)
        return _back("/", done="deleted", thread=thread)
    if name == "prune":
        await run_in_threadpool(lambda: ui.saver.prune([thread], strategy="keep_latest"))
        return _back("/thread", thread=thread, done="pruned")
    target = form.get("target", "").strip()
    if not target:
        raise ConfigError("copy needs a target thread id")
    if await run_in_threadpool(latest, ui.saver, target) is not None:
        raise ConfigError(f"thread {target!r} already exists: pick a new id (nothing copied)")
    await run_in_threadpool(ui.saver.copy_thread, thread, target)
    return _back("/thread", thread=target, done="copied")


def _back(path: str, **params: Any) -> Response:
    return RedirectResponse(link(path, **params), status_code=303)
