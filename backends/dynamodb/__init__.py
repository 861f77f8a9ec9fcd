"""``dynamodb://TABLE``: one DynamoDB table for every thread, built for Lambda agents.

The public surface: :func:`from_url` (what the registry opens), :class:`DynamoDBKV` (the
store, for a caller's own client), :class:`DynamoDBError`, ``OPTIONS`` (the URL's options) and
the deprecated old name ``DynamoDBStore``. Each concern has its own module, whose docstring
says how and why:

- ``config``: the URL, its options, the boto3 client (bring your own, timeouts, Lambda).
- ``items``: the item layout (keys, chunks of values over 400 KB, ``ttl``, tenants' prefix).
- ``errors``: botocore's errors as typed ones, and the retry loops botocore cannot run.
- ``reads``: ``get`` and ``scan`` (``Query``, ``BatchGetItem``; expired items left out).
- ``transactions``: ``write``, as one call when it can be, in order when it cannot.
- ``refresh``: the TTL refresh queue (what a read found close to expiry, renewed by a commit).
- ``table``: ``setup()`` and ``info()``.
- ``kv``: :class:`DynamoDBKV`, the port's methods delegating to the above.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from checkpoint_kv._renamed import renamed

from .config import OPTIONS, parse_url
from .errors import DynamoDBError
from .items import CHUNK_MARK as CHUNK_MARK
from .kv import DynamoDBKV
from .refresh import TOUCH_MAX_PER_COMMIT as TOUCH_MAX_PER_COMMIT

__all__ = ["OPTIONS", "DynamoDBError", "DynamoDBKV", "from_url"]

# This package is the classes' public home (as when they were one module): in reprs, tracebacks,
# pickles and the deprecation warnings of the old names.
DynamoDBKV.__module__ = DynamoDBError.__module__ = __name__


def from_url(url: str, **options: Any) -> DynamoDBKV:
    """``dynamodb://TABLE?region=&endpoint_url=&ttl=&consistent_read=&prefix=&profile=``
    ``&max_attempts=&retry_mode=&connect_timeout=&read_timeout=`` (see ``config``;
    ``max_retries=N`` is the older spelling of ``max_attempts=N+1``).

    ``client=`` (a boto3 DynamoDB client) is used as it is and never closed; ``session=`` (a
    ``boto3.Session``: its credentials, profile, region) makes the store's client, with this
    URL's options."""
    table, settings = parse_url(url, options)
    return DynamoDBKV(table, **settings)


# --- old names ------------------------------------------------------------------------------
# Deprecated aliases: the adapters were named like LangGraph's memory stores (BaseStore).
if TYPE_CHECKING:
    DynamoDBStore = DynamoDBKV
else:
    __getattr__ = renamed(
        __name__,
        {
            "DynamoDBStore": "DynamoDBKV",
        },
    )
