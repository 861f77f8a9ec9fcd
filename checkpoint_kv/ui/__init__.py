"""``checkpoint-kv ui``: a local, read-only web page over any backend URL, to see what agents
saved: threads, a thread's checkpoints as a timeline (forks, subgraph namespaces), a
checkpoint's state, its diff from the parent, pending writes and interrupts, and the memory
store. ``--allow-writes`` adds delete, prune and copy, each confirmed and CSRF-protected.

Needs the ``ui`` extra (Starlette, Jinja2, uvicorn): ``pip install 'checkpoint-kv[ui]'``.
Importing ``checkpoint_kv`` never imports this package; the ``ui`` command imports it when it
runs. Inside a process that already holds a saver (an in-memory one, a notebook)::

    from checkpoint_kv.ui import serve
    serve(saver)                      # http://127.0.0.1:8765/, Ctrl-C stops it

Modules: ``app`` (routes), ``render`` (templates, links, error pages), ``actions`` (the write
routes), ``security`` (bind rules, token, CSRF, headers), ``server`` (socket, banner, uvicorn),
and what each page reads: ``threads``, ``timeline``, ``checkpoint``, ``memory`` (``skim``: the
saver's reads without decoding values no row shows); ``state`` turns values into trees,
conversations and diffs. ``templates/`` and ``static/`` ship in the package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from checkpoint_kv.errors import MissingDependencyError

__all__ = ["PIP_LINE", "create_app", "require", "serve"]

PIP_LINE = "pip install 'checkpoint-kv[ui]'"
NEEDS = ("starlette", "jinja2", "uvicorn")

if TYPE_CHECKING:
    from checkpoint_kv.ui.app import create_app
    from checkpoint_kv.ui.server import serve


def require() -> None:
    """``MissingDependencyError`` naming the pip line unless the ``ui`` extra is installed."""
    import importlib

    missing = []
    for name in NEEDS:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise MissingDependencyError(
            f"the ui needs {', '.join(missing)} (the 'ui' extra): {PIP_LINE}"
        )


def __getattr__(name: str) -> Any:
    if name == "create_app":
        require()
        from checkpoint_kv.ui.app import create_app

        return create_app
    if name == "serve":
        require()
        from checkpoint_kv.ui.server import serve

        return serve
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
