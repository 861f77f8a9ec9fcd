"""The web app: Starlette routes that read through the saver and the memory store, and render
Jinja2 templates shipped in the package (``templates/``, ``static/``: no build step, no CDN;
rendering and error pages: :mod:`checkpoint_kv.ui.render`).

Why it is built this way: every page is a plain GET with its whole state in the query string
(thread ids may hold any character, so they never go in the path), so each view can be
bookmarked, reloaded and opened in a new tab, and works without JavaScript; the little script
in ``static/app.js`` only expands cut values in place. Reads run in Starlette's thread pool
(the saver is synchronous and thread-safe).

The routes that change data live in :mod:`checkpoint_kv.ui.actions`; who may reach any of them
is decided in :mod:`checkpoint_kv.ui.security`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from checkpoint_kv.errors import ConfigError, ThreadNotFoundError, redact
from checkpoint_kv.saver import KVCheckpointSaver
from checkpoint_kv.ui import checkpoint as C
from checkpoint_kv.ui import memory as M
from checkpoint_kv.ui import threads as T
from checkpoint_kv.ui import timeline as TL
from checkpoint_kv.ui.render import HERE, UI, Handler, arg, integer, link, need, route
from checkpoint_kv.ui.security import Guard, Security
from checkpoint_kv.ui.state import full_json, value_at

__all__ = ["UI", "create_app"]

VIEWS = ("state", "diff", "writes", "json")


async def threads_page(ui: UI, request: Request) -> Response:
    prefix = arg(request, "q").strip()
    meta_text = arg(request, "meta")
    meta = T.parse_meta(meta_text)
    cursor = T.Cursor.decode(arg(request, "cursor") or None)
    page = await run_in_threadpool(
        T.thread_page, ui.saver, cursor, prefix=prefix, meta=meta or None
    )
    return ui.render(
        request,
        "threads.html",
        page=page,
        q=prefix,
        meta=meta_text,
        cursor=arg(request, "cursor"),
        done=arg(request, "done"),
        done_thread=arg(request, "thread"),
    )


async def thread_page(ui: UI, request: Request) -> Response:
    thread = need(request, "thread")
    ns = arg(request, "ns")
    tl = await run_in_threadpool(TL.timeline, ui.saver, thread, ns, arg(request, "before") or None)
    if not tl.rows and not arg(request, "before"):  # no checkpoint: no such thread here
        where = f" namespace {ns!r} of" if ns and ns != TL.ALL_NS else ""
        raise ThreadNotFoundError(f"no checkpoint in{where} thread {thread!r}")
    return ui.render(
        request,
        "thread.html",
        tl=tl,
        all_ns=TL.ALL_NS,
        done=arg(request, "done"),
        first=not arg(request, "before"),
    )


async def checkpoint_page(ui: UI, request: Request) -> Response:
    thread = need(request, "thread")
    ns = arg(request, "ns")
    cid = arg(request, "id") or None
    view = arg(request, "view", "state")
    if view not in VIEWS:
        raise ConfigError(f"view={view!r}: one of {', '.join(VIEWS)}")
    page = await run_in_threadpool(
        lambda: C.checkpoint_page(
            ui.saver, thread, ns, cid, specs=ui.specs, with_diff=view == "diff"
        )
    )
    base = {"thread": thread, "ns": ns, "id": page.row.checkpoint_id}

    def more(path: tuple[Any, ...]) -> str:
        return link("/value", **base, path=json.dumps(list(path)))

    def more_parent(path: tuple[Any, ...]) -> str:  # the diff's "before" side: the parent's
        parent = {**base, "id": page.row.parent_id or ""}
        return link("/value", **parent, path=json.dumps(list(path)))

    return ui.render(
        request,
        "checkpoint.html",
        p=page,
        view=view,
        views=VIEWS,
        base=base,
        more=more,
        more_parent=more_parent,
    )


async def value_page(ui: UI, request: Request) -> Response:
    thread, ns, cid = need(request, "thread"), arg(request, "ns"), need(request, "id")
    path = _path(arg(request, "path", "[]"))
    values = await run_in_threadpool(C.raw_value, ui.saver, thread, ns, cid, ui.specs)
    where = {"thread": thread, "id": cid, "ns": ns, "key": ""}
    return _value_response(ui, request, _at(values, path), path, where)


def _at(values: Any, path: list[Any]) -> Any:
    try:
        return value_at(values, path)
    except (KeyError, IndexError, ValueError):
        raise ThreadNotFoundError(f"no value at path {json.dumps(path)}") from None


def _path(text: str) -> list[Any]:
    try:
        path = json.loads(text)
    except ValueError:
        path = None
    if not isinstance(path, list) or not all(isinstance(p, (str, int)) for p in path):
        raise ConfigError("path= must be a JSON list of keys and indexes")
    return path


def _value_response(
    ui: UI, request: Request, value: Any, path: list[Any], where: Mapping[str, str]
) -> Response:
    if arg(request, "format") == "json":
        return Response(
            full_json(value),
            media_type="application/json",
            headers={"content-disposition": 'attachment; filename="value.json"'},
        )
    text = full_json(value)
    if arg(request, "fragment"):
        return ui.render(request, "fragment.html", text=text)
    return ui.render(
        request,
        "value.html",
        text=text,
        path=path,
        where=where,
        download=link(request.url.path, **dict(request.query_params), format="json"),
    )


async def store_page(ui: UI, request: Request) -> Response:
    prefix, offset = arg(request, "prefix"), integer(request, "offset")
    found, more = await run_in_threadpool(M.namespaces, ui.store, prefix, offset)
    return ui.render(
        request, "store.html", spaces=found, more=more, prefix=prefix, offset=offset, size=M.PAGE
    )


async def store_items_page(ui: UI, request: Request) -> Response:
    ns, flt_text, offset = arg(request, "ns"), arg(request, "filter"), integer(request, "offset")
    flt = M.parse_filter(flt_text)
    rows, more = await run_in_threadpool(M.items, ui.store, ns, flt, offset)

    def more_link(row: M.ItemRow) -> Callable[[tuple[Any, ...]], str]:
        return lambda path: link(
            "/store/item", ns=row.namespace, key=row.key, path=json.dumps(list(path))
        )

    return ui.render(
        request,
        "store_items.html",
        rows=rows,
        more=more,
        ns=ns,
        filter=flt_text,
        offset=offset,
        size=M.PAGE,
        more_link=more_link,
    )


async def store_item_page(ui: UI, request: Request) -> Response:
    ns, key = arg(request, "ns"), need(request, "key")
    found = await run_in_threadpool(M.item, ui.store, ns, key)
    if found is None:
        raise ThreadNotFoundError(f"no item {key!r} in namespace {ns!r}")
    row, value = found
    if "path" in request.query_params:
        path = _path(arg(request, "path"))
        where = {"thread": "", "id": "", "ns": ns, "key": key}
        return _value_response(ui, request, _at({"": value}, ["", *path]), path, where)
    return ui.render(request, "store_item.html", row=row, text=full_json(value))


def create_app(
    saver: KVCheckpointSaver,
    *,
    store: Any = None,
    label: str = "",
    security: Security | None = None,
    specs: dict[str, Any] | None = None,
) -> Starlette:
    """The app over ``saver`` (and the memory store ``store``; default: one on the saver's
    port). ``label`` names the backend on every page: pass a redacted URL, never a secret."""
    from checkpoint_kv.ui.actions import routes as action_routes

    if store is None:
        from checkpoint_kv.store import KVBaseStore

        store = KVBaseStore(saver.store, owns_store=False)
    sec = security or Security()
    ui = UI(saver, store=store, label=redact(label) or repr(saver.store), security=sec, specs=specs)
    pages: list[tuple[str, Handler]] = [
        ("/", threads_page),
        ("/thread", thread_page),
        ("/checkpoint", checkpoint_page),
        ("/value", value_page),
        ("/store", store_page),
        ("/store/items", store_items_page),
        ("/store/item", store_item_page),
    ]
    routes: list[Any] = [Route(p, route(ui, fn), methods=["GET"]) for p, fn in pages]
    routes += [Route(p, route(ui, fn), methods=methods) for p, fn, methods in action_routes()]
    routes.append(Mount("/static", StaticFiles(directory=HERE / "static"), name="static"))

    async def http_error(request: Request, exc: Exception) -> Response:
        status = int(getattr(exc, "status_code", 500))
        message = {404: "no such page", 405: "method not allowed"}.get(status, str(exc))
        return ui.render(request, "error.html", status, status=status, message=message)

    app = Starlette(
        routes=routes,
        middleware=[Middleware(Guard, security=sec)],
        exception_handlers={404: http_error, 405: http_error},
    )
    app.state.ui = ui
    return app
