"""LangGraph server integration: ``langgraph.json``'s ``store`` entry, beside the checkpointer::

    {
      "graphs": {"agent": "./graph.py:graph"},
      "checkpointer": {"path": "checkpoint_kv.server:checkpointer"},
      "store": {"path": "checkpoint_kv.kvstore.server:store"}
    }

The server enters the async context manager at start-up and leaves it at shut-down. Settings
come from the environment, so one image runs on any backend:

- ``CHECKPOINT_KV_STORE_URL``, else ``CHECKPOINT_KV_URL`` (default ``sqlite:///checkpoints.db``):
  memories and checkpoints may share one URL; they never share a key;
- ``CHECKPOINT_KV_SETUP``: ``1`` (default) creates the table/bucket at start-up if missing;
- ``CHECKPOINT_KV_STORE_TTL``: minutes an item lives after its last write or read (default:
  forever); when set, expired items are swept every ``CHECKPOINT_KV_STORE_SWEEP`` minutes
  (default 5).

Semantic search needs your embedding function: write a three-line factory of your own around
:func:`make_store` (``make_store(index={"dims": 1536, "embed": my_embed})``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from checkpoint_kv.errors import ConfigError, redact_url
from checkpoint_kv.kvstore import STORE_URL_ENV, KVBaseStore, store_from_url
from checkpoint_kv.registry import DEFAULT_URL

__all__ = ["make_store", "store"]

log = logging.getLogger("checkpoint_kv.server")


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
    """``langgraph.json``'s ``"store": {"path": "checkpoint_kv.kvstore.server:store"}``."""
    from checkpoint_kv.server import ENVIRONMENT  # the checkpointer's parsing of the flag

    env = ENVIRONMENT.parse({k: os.environ[k] for k in ENVIRONMENT.names if k in os.environ})
    setup = bool(env["CHECKPOINT_KV_SETUP"])
    minutes = _minutes("CHECKPOINT_KV_STORE_TTL", None)
    ttl: Any = None
    if minutes is not None:
        sweep = _minutes("CHECKPOINT_KV_STORE_SWEEP", 5.0)
        ttl = {"default_ttl": minutes, "refresh_on_read": True, "sweep_interval_minutes": sweep}
    async with make_store(setup=setup, ttl=ttl) as s:
        yield s
