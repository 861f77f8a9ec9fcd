"""Old names kept importable: a module's ``__getattr__`` (PEP 562) that answers a renamed name
with the new object and a :class:`DeprecationWarning` naming the new name.

The backend adapters were ``RedisStore``, ``S3Store``... like LangGraph's long-term memory
stores (``langgraph.store.redis.RedisStore`` is a ``BaseStore``); they are now ``RedisKV``,
``S3KV``... (key-value adapters of the ``KVStore`` port). Each module declares its old names
twice: this ``__getattr__`` at run time (the warning), and plain aliases under
``TYPE_CHECKING`` so type checkers still see the classes (and still flag a misspelt name).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["moved", "renamed"]


def _probed_by_import() -> bool:
    """Whether the caller of the ``__getattr__`` is the import system checking a package for
    a name (``from package import name`` asks twice: ``hasattr`` in ``_handle_fromlist``, then
    the real lookup); only the real lookup warns, so a user sees one warning, not two."""
    frame = sys._getframe(2)
    return frame.f_code.co_name == "_handle_fromlist"


def renamed(module: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``module``: ``names`` maps each old name to its new one."""

    def __getattr__(name: str) -> Any:
        new = names.get(name)
        if new is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        if _probed_by_import():
            return getattr(sys.modules[module], new)
        warnings.warn(
            f"{module}.{name} is deprecated, use {module}.{new} (renamed: the same class)",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(sys.modules[module], new)

    return __getattr__


def moved(
    module: str, new_module: str, names: Mapping[str, str] | None = None
) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``module``, a module that moved to ``new_module`` whole:
    every public name of ``new_module`` answers (an old name in ``names`` as its new one), with
    a warning naming its new home."""

    def __getattr__(name: str) -> Any:
        import importlib

        if name.startswith("__"):
            raise AttributeError(name)
        target = importlib.import_module(new_module)
        new = (names or {}).get(name, name)
        if not hasattr(target, new):
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        if _probed_by_import():
            return getattr(target, new)
        warnings.warn(
            f"{module}.{name} moved: import {new} from {new_module}",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(target, new)

    return __getattr__
