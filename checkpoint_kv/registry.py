"""Backends by URL scheme: a lazy ``"module:function"`` table plus entry points.

Built-ins are strings, so importing ``checkpoint_kv`` imports no client library (boto3 costs
~0.4 s of a Lambda cold start). Third parties register a scheme through the entry-point group
``checkpoint_kv.backends`` (name = scheme, value = ``"package.module:from_url"``). A backend's
``from_url(url, **options)`` returns a :class:`~checkpoint_kv.port.KVStore`.
"""

from __future__ import annotations

import difflib
import importlib
import os
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any
from urllib.parse import parse_qsl

from checkpoint_kv.errors import ConfigError, MissingDependencyError, UnknownSchemeError
from checkpoint_kv.errors import redact_url as redact_url
from checkpoint_kv.port import KVStore

__all__ = ["BUILTIN", "DEFAULT_URL", "known_schemes", "open_store", "register", "split_options"]

DEFAULT_URL = "sqlite:///checkpoints.db"

# scheme -> ("module:function", extra that provides its client library or None)
BUILTIN: dict[str, tuple[str, str | None]] = {
    "memory": ("checkpoint_kv.backends.memory:from_url", None),
    "sqlite": ("checkpoint_kv.backends.sqlite:from_url", None),
    "redis": ("checkpoint_kv.backends.redis:from_url", "redis"),
    "rediss": ("checkpoint_kv.backends.redis:from_url", "redis"),
    "redis+cluster": ("checkpoint_kv.backends.redis:from_url", "redis"),
    "rediss+cluster": ("checkpoint_kv.backends.redis:from_url", "redis"),
    "unix": ("checkpoint_kv.backends.redis:from_url", "redis"),
    "dynamodb": ("checkpoint_kv.backends.dynamodb:from_url", "dynamodb"),
    "s3": ("checkpoint_kv.backends.s3:from_url", "s3"),
}
_ALIASES = {"mem": "memory", "sqlite3": "sqlite", "ddb": "dynamodb", "valkey": "redis"}
_REGISTERED: dict[str, str | Callable[..., KVStore]] = {}


def register(scheme: str, target: str | Callable[..., KVStore]) -> None:
    """Register a backend at run time (``"module:function"`` or the function itself)."""
    _REGISTERED[scheme.lower()] = target


def _entry_points() -> dict[str, str]:
    try:
        return {ep.name.lower(): ep.value for ep in entry_points(group="checkpoint_kv.backends")}
    except Exception:  # a broken third-party distribution must not break ours
        return {}


def known_schemes() -> list[str]:
    return sorted(set(BUILTIN) | set(_REGISTERED) | set(_entry_points()))


def _resolve(target: str | Callable[..., KVStore], scheme: str) -> Callable[..., KVStore]:
    if callable(target):
        return target
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        extra = BUILTIN.get(scheme, ("", None))[1]
        if extra and e.name and not e.name.startswith("checkpoint_kv"):
            raise MissingDependencyError(
                f'the {scheme}:// backend needs {e.name!r}: pip install "checkpoint-kv[{extra}]"'
            ) from e
        raise
    fn: Callable[..., KVStore] = getattr(module, attr or "from_url")
    return fn


def split_options(url: str) -> tuple[str, dict[str, str]]:
    """``url`` without its query string, and the query as a dict (last value wins)."""
    base, _, query = url.partition("?")
    return base, dict(parse_qsl(query, keep_blank_values=True))


def open_store(url: str | None = None, **options: Any) -> KVStore:
    """The store for ``url`` (default: ``$CHECKPOINT_KV_URL``, else a SQLite file here)."""
    url = url or os.environ.get("CHECKPOINT_KV_URL") or DEFAULT_URL
    if "://" not in url:
        raise ConfigError(
            f"not a backend URL: {redact_url(url)!r}; expected scheme://..., "
            f"one of: {', '.join(s + '://' for s in known_schemes())}"
        )
    scheme = url.split("://", 1)[0].lower()
    scheme = _ALIASES.get(scheme, scheme)
    target = (
        _REGISTERED.get(scheme) or _entry_points().get(scheme) or BUILTIN.get(scheme, (None,))[0]
    )
    if target is None:
        known = known_schemes()
        close = difflib.get_close_matches(scheme, known + list(_ALIASES), n=1)
        hint = f" Did you mean {_ALIASES.get(close[0], close[0])}://?" if close else ""
        raise UnknownSchemeError(
            f"unknown checkpoint-kv backend scheme {scheme + '://'!r}.{hint} "
            f"Known schemes: {', '.join(s + '://' for s in known)}"
        )
    return _resolve(target, scheme)(url, **options)
