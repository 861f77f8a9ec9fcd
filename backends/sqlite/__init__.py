"""``sqlite:///path.db``: the embedded, persistent default (stdlib ``sqlite3``, no server).

The parts, one idea each: :mod:`.config` (the URL, its options, opening a connection),
:mod:`.pool` (the connections, and ``:memory:``'s one), :mod:`.sql` (the table and the
statements), :mod:`.kv` (:class:`SQLiteKV`, the port). This module is the public surface.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from checkpoint_kv._renamed import renamed
from checkpoint_kv.backends.sqlite.config import MEMORY, OPTIONS, parse_path
from checkpoint_kv.backends.sqlite.kv import SQLiteKV
from checkpoint_kv.options import url_query

__all__ = ["MEMORY", "OPTIONS", "SQLiteKV", "from_url", "parse_path"]


def from_url(url: str, **options: Any) -> SQLiteKV:
    _, query = url_query(url, options)
    path = parse_path(url)
    opts = OPTIONS.parse(query)
    return SQLiteKV(path, timeout=opts["timeout"], synchronous=opts["synchronous"])


# --- old names ------------------------------------------------------------------------------
# Deprecated aliases: the adapters were named like LangGraph's memory stores (BaseStore).
if TYPE_CHECKING:
    SQLiteStore = SQLiteKV
else:
    __getattr__ = renamed(
        __name__,
        {
            "SQLiteStore": "SQLiteKV",
        },
    )
