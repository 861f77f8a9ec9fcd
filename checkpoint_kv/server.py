"""LangGraph server (``langgraph dev`` / ``langgraph up`` / LangSmith deployments) integration.

``langgraph.json`` takes a checkpointer as the import path of an async context manager that
yields a ``BaseCheckpointSaver``; the server enters it at start-up and leaves it at shut-down::

    {
      "dependencies": ["."],
      "graphs": {"agent": "./graph.py:graph"},
      "checkpointer": {"path": "checkpoint_kv.server:checkpointer"},
      "store": {"path": "checkpoint_kv.server:store"}
    }

The backend comes from the environment, so one image runs on any of them:

- ``CHECKPOINT_KV_URL``: the backend URL (default ``sqlite:///checkpoints.db``);
- ``CHECKPOINT_KV_SETUP``: ``1`` (default) creates the table/bucket at start-up if missing
  (idempotent); ``0`` when the service's credentials may not create it (run
  ``checkpoint-kv setup URL`` once with an admin role instead);
- ``CHECKPOINT_KV_SERDE``: the serializer, as ``module:factory`` called with no arguments,
  e.g. ``langgraph.checkpoint.serde.encrypted:EncryptedSerializer.from_pycryptodome_aes``
  (encryption at rest; the key comes from ``LANGGRAPH_AES_KEY``). Default: LangGraph's.

The store (LangGraph's long-term memory, :mod:`checkpoint_kv.store`) reads:

- ``CHECKPOINT_KV_STORE_URL``, else ``CHECKPOINT_KV_URL``: memories and checkpoints may share
  one URL; they never share a key;
- ``CHECKPOINT_KV_STORE_TTL``: minutes an item lives after its last write or read (default:
  forever); when set, expired items are swept every ``CHECKPOINT_KV_STORE_SWEEP`` minutes
  (default 5). Semantic search needs your embedding function: write a three-line factory of
  your own around :func:`make_store` (``make_store(index={"dims": 1536, "embed": my_embed})``).

``make_checkpointer(url, ...)`` and ``make_store(url, ...)`` are the same with explicit
arguments, for an application that owns its lifespan (FastAPI/Starlette, see
``examples/redis_chat``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from checkpoint_kv import from_url
from checkpoint_kv.errors import ConfigError, redact_url
from checkpoint_kv.options import Option, Schema
from checkpoint_kv.registry import DEFAULT_URL, SERDE_ENV, load_serde
from checkpoint_kv.saver import KVCheckpointSaver
from checkpoint_kv.store import STORE_URL_ENV, KVBaseStore, store_from_url

__all__ = ["checkpointer", "make_checkpointer", "make_store", "store"]

log = logging.getLogger("checkpoint_kv.server")

ENVIRONMENT = Schema(
    "",
    [
        Option(
            "CHECKPOINT_KV_SETUP",
            "bool",
            True,
            "create the table/bucket at start-up if missing",
            empty=False,  # set but empty: off, as it always was
        ),
    ],
)


def _environment() -> dict[str, Any]:
    """The server's settings from the environment, typed (ConfigError for a bad value)."""
    return ENVIRONMENT.parse({k: os.environ[k] for k in ENVIRONMENT.names if k in os.environ})


@asynccontextmanager
async def make_checkpointer(
    url: str | None = None, *, setup: bool = True, serde: Any = None, **options: Any
) -> AsyncIterator[KVCheckpointSaver]:
    """A saver for ``url`` (default ``$CHECKPOINT_KV_URL``) with ``serde`` (default
    ``$CHECKPOINT_KV_SERDE``, else LangGraph's), set up, closed on exit."""
    url = url or os.environ.get("CHECKPOINT_KV_URL") or DEFAULT_URL
    if serde is None and os.environ.get(SERDE_ENV):
        serde = load_serde(os.environ[SERDE_ENV])
    saver = from_url(url, serde=serde, **options)
    try:
        if setup:
            await saver.asetup()
        log.info(
            "checkpoint-kv checkpointer on %s%s",
            redact_url(url),
            f" with serializer {type(saver.serde).__name__}" if serde is not None else "",
        )
        yield saver
    finally:
        await saver.aclose()


@asynccontextmanager
async def checkpointer() -> AsyncIterator[KVCheckpointSaver]:
    """The ``langgraph.json`` entry point: ``"checkpoint_kv.server:checkpointer"``."""
    async with make_checkpointer(setup=_environment()["CHECKPOINT_KV_SETUP"]) as saver:
        yield saver


def _minutes(name: str, default: float | None) -> float | None:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a number of minutes") from None
    if value <= 0:
        raise ConfigError(f"{name}={raw!r}: expected a positive number of minutes")
    return value


@asynccontextmanager
async def make_store(
    url: str | None = None,
    *,
    setup: bool = True,
    index: Any = None,
    ttl: Any = None,
    **options: Any,
) -> AsyncIterator[KVBaseStore]:
    """A store for ``url`` (default ``$CHECKPOINT_KV_STORE_URL``, ``$CHECKPOINT_KV_URL``),
    set up, its TTL sweeper running when ``ttl`` has ``sweep_interval_minutes``, closed on
    exit."""
    url = url or os.environ.get(STORE_URL_ENV) or os.environ.get("CHECKPOINT_KV_URL")
    url = url or DEFAULT_URL
    store = store_from_url(url, index=index, ttl=ttl, **options)
    async with store:
        if setup:
            await store.asetup()
        log.info("checkpoint-kv store on %s", redact_url(url))
        yield store


@asynccontextmanager
async def store() -> AsyncIterator[KVBaseStore]:
    """``langgraph.json``'s ``"store": {"path": "checkpoint_kv.server:store"}``."""
    setup = bool(_environment()["CHECKPOINT_KV_SETUP"])
    minutes = _minutes("CHECKPOINT_KV_STORE_TTL", None)
    ttl: Any = None
    if minutes is not None:
        sweep = _minutes("CHECKPOINT_KV_STORE_SWEEP", 5.0)
        ttl = {"default_ttl": minutes, "refresh_on_read": True, "sweep_interval_minutes": sweep}
    async with make_store(setup=setup, ttl=ttl) as s:
        yield s
