"""The other side of an import or export: LangGraph's own savers, opened by URL.

``langgraph+sqlite:///file.db`` (``SqliteSaver``), ``langgraph+postgres://...``
(``PostgresSaver``), ``langgraph+redis://...`` (``langgraph-checkpoint-redis``'s
``RedisSaver``), ``langgraph+memory://`` (``InMemorySaver``): each opened only when its package
is installed (else ``MissingDependencyError`` with the ``pip install`` line), closed after the
copy; a source is read, never written. ``open_side`` turns either side of a copy (such a URL,
one of ours, a saver object, a store) into a saver; :mod:`.interop` copies between them.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from checkpoint_kv.errors import (
    BackendUnavailableError,
    CheckpointKVError,
    ConfigError,
    MissingDependencyError,
    StoreNotFoundError,
    redact,
    redact_url,
)
from checkpoint_kv.port import KVStore
from checkpoint_kv.saver.checkpointer import KVCheckpointSaver

__all__ = ["FOREIGN_SCHEMES", "is_foreign", "open_foreign", "open_side"]


@dataclass(frozen=True)
class _Scheme:
    module: str  # imported to tell whether the package is installed
    package: str  # what to pip install
    opener: str  # the function of this module that opens it


# URL scheme -> the official saver behind it. ``langgraph+memory://`` is a new InMemorySaver
# (useful in Python, where a saver object can be passed instead; on the command line it is
# empty).
FOREIGN_SCHEMES: dict[str, _Scheme] = {
    "langgraph+memory": _Scheme("langgraph.checkpoint.memory", "langgraph-checkpoint", "_memory"),
    "langgraph+sqlite": _Scheme(
        "langgraph.checkpoint.sqlite", "langgraph-checkpoint-sqlite", "_sqlite"
    ),
    "langgraph+postgres": _Scheme(
        "langgraph.checkpoint.postgres",
        'langgraph-checkpoint-postgres "psycopg[binary]"',
        "_postgres",
    ),
    "langgraph+postgresql": _Scheme(
        "langgraph.checkpoint.postgres",
        'langgraph-checkpoint-postgres "psycopg[binary]"',
        "_postgres",
    ),
    "langgraph+redis": _Scheme(
        "langgraph.checkpoint.redis", "langgraph-checkpoint-redis", "_redis"
    ),
    "langgraph+rediss": _Scheme(
        "langgraph.checkpoint.redis", "langgraph-checkpoint-redis", "_redis"
    ),
}


def _scheme(url: str) -> str:
    return url.partition("://")[0].lower() if "://" in url else ""


def is_foreign(target: Any) -> bool:
    """Whether ``target`` is another saver: a ``langgraph+...://`` URL or a
    ``BaseCheckpointSaver`` that is not ours."""
    if isinstance(target, str):
        return _scheme(target).startswith("langgraph+")
    return isinstance(target, BaseCheckpointSaver) and not isinstance(target, KVCheckpointSaver)


# --- opening the official savers by URL -----------------------------------------------------


@contextlib.contextmanager
def open_foreign(url: str, *, create: bool) -> Iterator[BaseCheckpointSaver[Any]]:
    """The official saver a ``langgraph+...://`` URL names, opened for the copy and closed
    after it. ``create``: the copy's destination (tables are created); a source must exist
    and is never written (a SQLite file that is not there is ``StoreNotFoundError``)."""
    scheme = _scheme(url)
    spec = FOREIGN_SCHEMES.get(scheme)
    if spec is None:
        known = ", ".join(s + "://" for s in FOREIGN_SCHEMES)
        raise ConfigError(f"unknown LangGraph saver scheme {scheme + '://'!r}: use one of {known}")
    try:
        importlib.import_module(spec.module)
    except ImportError as e:
        raise MissingDependencyError(
            f"{scheme}:// needs the {spec.package.split()[0]} package: pip install {spec.package}"
        ) from e
    rest = url.partition("://")[2]
    opener: Callable[[str, bool, ExitStack], BaseCheckpointSaver[Any]] = globals()[spec.opener]
    with ExitStack() as stack:
        try:
            saver = opener(rest, create, stack)
        except CheckpointKVError:
            raise
        except Exception as e:  # the driver's own (psycopg's OperationalError, redis-py's)
            raise BackendUnavailableError(
                f"cannot open {redact_url(url)}: {type(e).__name__}: {redact(str(e))}"
            ) from e
        yield saver


def _memory(rest: str, create: bool, stack: ExitStack) -> BaseCheckpointSaver[Any]:
    from langgraph.checkpoint.memory import InMemorySaver

    return InMemorySaver()


def _sqlite(rest: str, create: bool, stack: ExitStack) -> BaseCheckpointSaver[Any]:
    from urllib.parse import unquote

    from langgraph.checkpoint.sqlite import SqliteSaver

    from checkpoint_kv.backends.sqlite.config import sqlite_tables

    if not rest.startswith("/") or len(rest) < 2:
        raise ConfigError(
            "langgraph+sqlite URL needs a file: langgraph+sqlite:///relative.db or "
            "langgraph+sqlite:////abs/path.db"
        )
    path = unquote(rest[1:].partition("?")[0])
    exists = os.path.exists(path) and os.path.getsize(path) > 0
    if not create and not exists:
        raise StoreNotFoundError(f"no SQLite file at {path!r} (the copy's source must exist)")
    if exists:
        tables = sqlite_tables(path)
        if tables is None:
            raise ConfigError(f"{path!r} is not a SQLite database")
        if "kv" in tables and "checkpoints" not in tables:
            raise ConfigError(
                f"{path!r} is a checkpoint-kv file, not a LangGraph SqliteSaver file: "
                f"use sqlite:///{path}"
            )
        if not create and "checkpoints" not in tables:
            raise ConfigError(f"{path!r} has no SqliteSaver tables (checkpoints, writes)")
    if create:
        conn = sqlite3.connect(path, check_same_thread=False)
    else:  # a source is read, never written (SqliteSaver runs its setup on first use)
        from urllib.parse import quote

        target = f"file:{quote(os.path.abspath(path))}?mode=ro"
        conn = sqlite3.connect(target, uri=True, check_same_thread=False)
    stack.callback(conn.close)
    saver = SqliteSaver(conn)
    if create:
        saver.setup()
    return saver


def _postgres(rest: str, create: bool, stack: ExitStack) -> BaseCheckpointSaver[Any]:
    from langgraph.checkpoint.postgres import PostgresSaver

    saver: BaseCheckpointSaver[Any] = stack.enter_context(
        PostgresSaver.from_conn_string(f"postgresql://{rest}")
    )
    if create:
        saver.setup()  # type: ignore[attr-defined]
    return saver


def _redis(rest: str, create: bool, stack: ExitStack) -> BaseCheckpointSaver[Any]:
    from langgraph.checkpoint.redis import RedisSaver

    saver: BaseCheckpointSaver[Any] = stack.enter_context(
        RedisSaver.from_conn_string(f"redis://{rest}")
    )
    saver.setup()  # type: ignore[attr-defined]  # its search indexes: reads need them too
    return saver


def open_side(
    target: Any, stack: ExitStack, *, destination: bool, setup: bool = False
) -> tuple[BaseCheckpointSaver[Any], str]:
    """Either side of a copy as a saver: another saver (a ``langgraph+`` URL is opened and
    closed here), ours by URL (opened and closed here), by store or as it is."""
    if isinstance(target, str):
        if is_foreign(target):
            saver = stack.enter_context(open_foreign(target, create=destination))
            return saver, redact_url(target)
        from checkpoint_kv import from_url

        ours = from_url(target)
        stack.callback(ours.close)
        if setup and destination:
            ours.setup()
        return ours, redact_url(target)
    if isinstance(target, BaseCheckpointSaver):
        if setup and destination and isinstance(target, KVCheckpointSaver):
            target.setup()
        return target, type(target).__name__
    if isinstance(target, KVStore):
        if setup and destination:
            target.setup()
        return KVCheckpointSaver(target), repr(target)
    raise ConfigError(f"cannot copy to or from {type(target).__name__}: give a URL or a saver")
