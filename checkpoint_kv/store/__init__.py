"""Long-term memory: LangGraph's ``BaseStore`` over the same key-value port and URLs as the
checkpointer.

    with checkpoint_kv.store_from_url("redis://localhost:6379") as store:
        store.setup()
        graph = builder.compile(checkpointer=saver, store=store)

Modules: ``layout`` (partitions, keys, records), ``filters`` (search filters, namespace
conditions), ``vectors`` (texts to embed, client-side ranking), the operations as sans-IO plans
run by ``checkpoint_kv.drive`` (``plans``: a whole batch and its round-trip budget; ``batch``:
what they share; ``reads``; ``writes``, with the TTL sweep), ``ttl`` (the sweeper loops),
``inflight`` (how many batches run at once: a burst queues instead of timing out in a
connection pool), ``store`` (the ``BaseStore`` facade), ``server`` (``langgraph.json``'s store
factory). See docs/STORE.md.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from langgraph.store.base import IndexConfig, TTLConfig

from checkpoint_kv.errors import ConfigError
from checkpoint_kv.registry import DEFAULT_URL, open_store, split_options
from checkpoint_kv.store.layout import is_store_partition
from checkpoint_kv.store.store import KVBaseStore

__all__ = ["STORE_URL_ENV", "KVBaseStore", "is_store_partition", "store_from_url"]

STORE_URL_ENV = "CHECKPOINT_KV_STORE_URL"

# Backend options that act on whole partitions (a thread's keys expire together): on the store
# they would expire whole namespaces and the namespace index. Item TTL is ``ttl=`` (a TTLConfig).
_REFUSED = {
    "ttl": "item TTL is store_from_url(url, ttl={'default_ttl': MINUTES}), not a URL option",
    "ttl_on_read": "use ttl={'refresh_on_read': True}",
    "history": "history= is a checkpointer option",
    "compress": "compress= is a checkpointer option",
}


def store_from_url(
    url: str | None = None,
    *,
    index: IndexConfig | None = None,
    ttl: TTLConfig | None = None,
    clock: Callable[[], float] | None = None,
    max_in_flight: int | None = None,
    **options: Any,
) -> KVBaseStore:
    """A long-term memory store for ``url`` (``memory://``, ``sqlite:///path.db``,
    ``redis://...``, ``redis+cluster://...``, ``dynamodb://TABLE``, ``s3://BUCKET/PREFIX``).

    Without ``url``: ``$CHECKPOINT_KV_STORE_URL``, else ``$CHECKPOINT_KV_URL``, else the
    checkpointer's default (``sqlite:///checkpoints.db``): a store and a saver on one URL share
    the database/table/bucket, never a key. ``max_in_flight``: batches run against the backend
    at once, the rest queue (default: the backend's pool size, e.g. Redis ``max_connections``;
    else 64). Other options go to the backend, as with ``from_url`` (``client=``,
    ``session=``...). Nothing is created remotely until ``setup()``.
    """
    url = url or os.environ.get(STORE_URL_ENV) or os.environ.get("CHECKPOINT_KV_URL")
    url = url or DEFAULT_URL
    _, query = split_options(url)
    for name, why in _REFUSED.items():
        if name in query or name in options:
            raise ConfigError(f"store URL option {name}= is not supported: {why}")
    return KVBaseStore(
        open_store(url, **options), index=index, ttl=ttl, clock=clock, max_in_flight=max_in_flight
    )
