"""Backends by URL scheme: a lazy ``"module:function"`` table plus entry points.

Built-ins are strings, so importing ``checkpoint_kv`` imports no client library (boto3 costs
~0.4 s of a Lambda cold start). Third parties register a scheme through the entry-point group
``checkpoint_kv.backends`` (name = scheme, value = ``"package.module:from_url"``). A backend's
``from_url(url, **options)`` returns a :class:`~checkpoint_kv.port.KVStore`.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any
from urllib.parse import parse_qsl

from checkpoint_kv.errors import (
    ConfigError,
    MissingDependencyError,
    UnknownSchemeError,
    check_userinfo,
    redact,
)
from checkpoint_kv.errors import redact_url as redact_url
from checkpoint_kv.port import KVStore

__all__ = [
    "BUILTIN",
    "DEFAULT_URL",
    "SERDE_ENV",
    "known_schemes",
    "load_object",
    "load_serde",
    "open_store",
    "register",
    "split_options",
    "suggest_url",
    "url_like",
]

DEFAULT_URL = "sqlite:///checkpoints.db"
SERDE_ENV = "CHECKPOINT_KV_SERDE"

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


_EP_CACHE: tuple[object, dict[str, str]] | None = None


def _entry_points() -> dict[str, str]:
    """Schemes third-party distributions register, read once per process: the scan of every
    installed distribution costs 15-40 ms, and ``from_url`` consults it at every call. (Keyed
    on the ``entry_points`` function, so a test that patches it is seen.)"""
    global _EP_CACHE
    if _EP_CACHE is not None and _EP_CACHE[0] is entry_points:
        return _EP_CACHE[1]
    try:
        found = {ep.name.lower(): ep.value for ep in entry_points(group="checkpoint_kv.backends")}
    except Exception:  # a broken third-party distribution must not break ours
        found = {}
    _EP_CACHE = (entry_points, found)
    return found


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
                f" (or, as checkpoint-kv is not on PyPI yet, pip install {_requirements(extra)}"
                f', or from a clone: pip install -e ".[{extra}]")'
            ) from e
        raise
    fn: Callable[..., KVStore] = getattr(module, attr or "from_url")
    return fn


def _requirements(extra: str) -> str:
    """The pip arguments for an extra's requirements (``"redis>=5.0.1"``), read from the
    installed distribution so they never drift from pyproject.toml."""
    from importlib.metadata import PackageNotFoundError, requires

    try:
        reqs = requires("checkpoint-kv") or []
    except PackageNotFoundError:  # running from a source tree that is not installed
        reqs = []
    marker = f'extra == "{extra}"'
    found = [r.split(";")[0].strip() for r in reqs if marker in r]
    return " ".join(f'"{r}"' for r in found) or extra


def split_options(url: str) -> tuple[str, dict[str, str]]:
    """``url`` without its query string, and the query as a dict (last value wins).

    A ConfigError (naming the URL without its credentials) when the userinfo holds an
    unencoded ``/``, ``?``, ``#`` or ``@`` past the host: the query would start inside the
    password (``redis://:pa?ss@host``), and an option error would print the rest of it. Every
    backend, ``from_url`` and the command line split here first, so they all refuse it."""
    check_userinfo(url)
    base, _, query = url.partition("?")
    return base, dict(parse_qsl(query, keep_blank_values=True))


_FILE_SUFFIXES = (".db", ".sqlite", ".sqlite3", ".db3")


def suggest_url(text: str) -> str | None:
    """What a string without ``://`` most likely meant, or None: ``redis:/host`` and
    ``redis:host`` -> ``redis://host``; a file name or path -> its ``sqlite:`` URL."""
    scheme, colon, rest = text.partition(":")
    name = _ALIASES.get(scheme.lower(), scheme.lower())
    if colon and name in known_schemes():
        if name == "sqlite":  # the path as written: `sqlite:/abs.db` -> `sqlite:////abs.db`
            return f"{scheme}:///{rest}"
        return f"{scheme}://{rest.lstrip('/')}"
    if text.lower().endswith(_FILE_SUFFIXES) or "/" in text or os.sep in text:
        return f"sqlite:///{text}"  # an absolute path gets its fourth slash from itself
    return None


def url_like(text: str) -> str | None:
    """The backend URL ``text`` is or most likely means, or None when it does not look like
    one: ``redis://h`` itself, ``redis:/h`` -> ``redis://h``, ``app.db`` -> ``sqlite:///app.db``.
    Narrower than :func:`suggest_url` (a thread id such as ``user/42`` is not a URL): the
    command line uses it to tell a URL given where a thread id belongs."""
    if "://" in text:
        return text
    scheme, colon, _ = text.partition(":")
    if colon and _ALIASES.get(scheme.lower(), scheme.lower()) in known_schemes():
        return suggest_url(text)
    if text.lower().endswith(_FILE_SUFFIXES):
        return suggest_url(text)
    return None


def open_store(url: str | None = None, **options: Any) -> KVStore:
    """The store for ``url`` (default: ``$CHECKPOINT_KV_URL``, else a SQLite file here)."""
    url = url or os.environ.get("CHECKPOINT_KV_URL") or DEFAULT_URL
    if "://" not in url:
        hint = suggest_url(url)
        # redact() knows URLs by their "://": without it, hide everything up to the last "@".
        shown = url if "@" not in url else "***@" + url.rpartition("@")[2]
        raise ConfigError(
            f"not a backend URL: {shown!r}; expected scheme://..."
            + (f" Did you mean {redact_url(hint)}?" if hint else "")
            + f" Known schemes: {', '.join(s + '://' for s in known_schemes())}"
        )
    check_userinfo(url)  # before a backend's parser quotes a piece of the password
    scheme = url.split("://", 1)[0].lower()
    scheme = _ALIASES.get(scheme, scheme)
    target = (
        _REGISTERED.get(scheme) or _entry_points().get(scheme) or BUILTIN.get(scheme, (None,))[0]
    )
    if target is None:
        known = known_schemes()
        import difflib  # only to suggest a scheme in this error

        close = difflib.get_close_matches(scheme, known + list(_ALIASES), n=1)
        hint = f" Did you mean {_ALIASES.get(close[0], close[0])}://?" if close else ""
        raise UnknownSchemeError(
            f"unknown checkpoint-kv backend scheme {scheme + '://'!r}.{hint} "
            f"Known schemes: {', '.join(s + '://' for s in known)}"
        )
    given = [k + "=" for k in ("client", "async_client", "session") if k in options]
    if given and scheme in _NO_CLIENT:
        raise ConfigError(
            f"{' and '.join(given)}: give the URL of that client's backend "
            f"(redis://?prefix=..., s3://BUCKET/PREFIX, dynamodb://TABLE), not {scheme}:// "
            "(without a URL, from_url() opens the SQLite default)"
        )
    return _resolve(target, scheme)(url, **options)


_NO_CLIENT = {"memory", "sqlite"}  # built-in backends without a client to bring


def load_object(spec: str, what: str) -> Any:
    """The object an import path names: ``package.module:attr.attr`` or ``path/file.py:attr``
    (``langgraph.json``'s form). ``what`` names it in the ConfigError a bad path raises."""
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise ConfigError(f"{what} {spec!r}: expected module:attribute")
    try:
        if target.endswith(".py"):
            name = "_ckv_" + os.path.splitext(os.path.basename(target))[0]
            mspec = importlib.util.spec_from_file_location(name, target)
            if mspec is None or mspec.loader is None or not os.path.exists(target):
                raise ImportError(f"no file {target!r}")
            module = importlib.util.module_from_spec(mspec)
            sys.modules[name] = module  # type hints of a graph's state resolve through it
            mspec.loader.exec_module(module)
        else:
            module = importlib.import_module(target)
    except ImportError as e:
        raise ConfigError(f"{what} {spec!r}: cannot import {target!r}: {e}") from e
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(f"{what} {spec!r}: {target!r} has no {attr!r}") from None
    return obj


def load_serde(spec: str) -> Any:
    """The serializer ``module:factory`` makes (``--serde`` / ``$CHECKPOINT_KV_SERDE``): the
    factory is called with no arguments, so its settings come from the environment (e.g.
    ``langgraph.checkpoint.serde.encrypted:EncryptedSerializer.from_pycryptodome_aes`` reads
    ``LANGGRAPH_AES_KEY``). A serializer instance is taken as it is."""
    obj = load_object(spec, "serializer")
    if not _is_serde(obj):
        if not callable(obj):
            raise ConfigError(f"serializer {spec!r} is neither a serializer nor a factory")
        try:
            obj = obj()
        except Exception as e:  # e.g. LANGGRAPH_AES_KEY not set
            raise ConfigError(
                f"serializer {spec!r} failed: {type(e).__name__}: {redact(str(e))}"
            ) from e
        if not _is_serde(obj):
            raise ConfigError(
                f"serializer {spec!r} returned {type(obj).__name__}, "
                "which has no dumps_typed/loads_typed"
            )
    return obj


def _is_serde(obj: Any) -> bool:
    return not isinstance(obj, type) and all(
        callable(getattr(obj, m, None)) for m in ("dumps_typed", "loads_typed")
    )
