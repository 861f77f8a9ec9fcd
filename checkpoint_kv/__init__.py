"""checkpoint-kv: a durable LangGraph checkpointer over a small key-value port.

    saver = checkpoint_kv.from_url(os.environ.get("CHECKPOINT_KV_URL"))
    graph = builder.compile(checkpointer=saver)

Importing this package imports no backend client (redis, boto3): backends load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from checkpoint_kv.errors import (
    BackendUnavailableError,
    CheckpointKVError,
    ConfigError,
    CorruptRecordError,
    MissingDependencyError,
    SerializationError,
    StoreNotFoundError,
    ThreadNotFoundError,
    UnknownSchemeError,
    UnsupportedFormatError,
)
from checkpoint_kv.port import AsyncKVStore, KVStore
from checkpoint_kv.registry import DEFAULT_URL, known_schemes, open_store, register, split_options
from checkpoint_kv.saver import KVCheckpointSaver

if TYPE_CHECKING:
    from checkpoint_kv.saver.migrate import copy_threads

__all__ = [
    "DEFAULT_URL",
    "AsyncKVStore",
    "BackendUnavailableError",
    "CheckpointKVError",
    "ConfigError",
    "CorruptRecordError",
    "KVCheckpointSaver",
    "KVStore",
    "MissingDependencyError",
    "SerializationError",
    "StoreNotFoundError",
    "ThreadNotFoundError",
    "UnknownSchemeError",
    "UnsupportedFormatError",
    "copy_threads",
    "from_url",
    "known_schemes",
    "register",
    "store_from_url",
]

__version__ = "0.1.0"

# Imported on first use (PEP 562): a graph that never migrates does not pay for the migration
# module at import time.
_LAZY = {"copy_threads": "checkpoint_kv.saver.migrate"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'checkpoint_kv' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


_HISTORY = {"all": False, "full": False, "latest": True, "shallow": True}


def from_url(
    url: str | None = None, *, serde: Any = None, shallow: bool | None = None, **options: Any
) -> KVCheckpointSaver:
    """A saver for ``url``: ``memory://``, ``sqlite:///path.db``, ``redis://...``,
    ``dynamodb://table``, ``s3://bucket/prefix``.

    Without ``url``: ``$CHECKPOINT_KV_URL``, else ``sqlite:///checkpoints.db`` in the working
    directory. ``?history=latest`` (or ``shallow=True``) keeps only the latest checkpoint per
    namespace; ``?compress=zstd`` stores values zstd-compressed. Other options go to the
    backend. Nothing is created remotely until ``setup()``.

    Bring your own client: ``from_url("redis://?prefix=chat", client=redis_client)`` (also
    ``async_client=``), ``from_url("s3://bucket/prefix", client=s3_client)`` or
    ``session=boto3_session``; the URL then carries only the store's options, every call goes
    through that client, and the saver never closes it. ``KVCheckpointSaver(store)`` takes a
    store built the same way (``RedisKV(redis_client)``), like ``PostgresSaver(conn)``.
    """
    import os

    url = url or os.environ.get("CHECKPOINT_KV_URL") or DEFAULT_URL
    base, query = split_options(url)
    history = query.pop("history", None)
    if history is not None:
        if history.lower() not in _HISTORY:
            raise ConfigError(f"history={history!r}: use history=all or history=latest")
        shallow = _HISTORY[history.lower()] if shallow is None else shallow
    compress = query.pop("compress", None)
    if query:
        from urllib.parse import urlencode

        base = f"{base}?{urlencode(query)}"
    store = open_store(base, **options)
    return KVCheckpointSaver(store, serde=serde, shallow=bool(shallow), compress=compress)


if TYPE_CHECKING:
    from checkpoint_kv.store import KVBaseStore


def store_from_url(url: str | None = None, **options: Any) -> KVBaseStore:
    """Long-term memory (LangGraph ``BaseStore``) on the same backends and URLs: see
    :func:`checkpoint_kv.store.store_from_url`. Imported on first call, so importing
    ``checkpoint_kv`` stays as cheap as it was."""
    from checkpoint_kv.store import store_from_url as _store_from_url

    return _store_from_url(url, **options)
