"""The memory store pages: namespaces, a namespace's items with a filter, one item.

Why it reads this way: everything goes through LangGraph's ``BaseStore`` API on
:class:`~checkpoint_kv.store.KVBaseStore` (``list_namespaces``, ``search``, ``get``), the calls
a graph's ``store`` makes, so the page shows what a graph would read. Reads never refresh an
item's TTL (``refresh_ttl=False``): looking must not keep an item alive. Paging is
``limit``/``offset``, as the API has it. A namespace is written with ``.`` between its labels,
as the ``store`` command writes it (LangGraph forbids ``.`` in a label). Semantic search needs
the application's embedding function, which a viewer does not have: search here is by
namespace prefix and ``filter`` (LangGraph's operators: ``{"n": {"$gt": 2}}``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from checkpoint_kv.cli.common import jsonable
from checkpoint_kv.errors import ConfigError
from checkpoint_kv.ui.state import Node, tree

__all__ = ["ItemRow", "item", "items", "namespaces", "parse_filter", "split_ns"]

PAGE = 50


@dataclass
class ItemRow:
    namespace: str
    key: str
    created: str
    updated: str
    value: Node


def split_ns(text: str | None) -> tuple[str, ...]:
    return tuple(p for p in (text or "").split(".") if p) if text else ()


def parse_filter(text: str | None) -> dict[str, Any] | None:
    if not text or not text.strip():
        return None
    try:
        flt = json.loads(text)
    except ValueError as e:
        raise ConfigError(f'filter is not JSON: {e} (e.g. {{"kind": "fact"}})') from None
    if not isinstance(flt, dict):
        raise ConfigError('the filter must be a JSON object, e.g. {"kind": "fact"}')
    return flt


def namespaces(store: Any, prefix: str, offset: int, size: int = PAGE) -> tuple[list[str], bool]:
    """One page of namespaces under ``prefix``, and whether there are more."""
    found = store.list_namespaces(prefix=split_ns(prefix) or None, limit=size + 1, offset=offset)
    return [".".join(ns) for ns in found[:size]], len(found) > size


def _row(i: Any) -> ItemRow:
    return ItemRow(
        namespace=".".join(i.namespace),
        key=i.key,
        created=i.created_at.isoformat(timespec="seconds"),
        updated=i.updated_at.isoformat(timespec="seconds"),
        value=tree(jsonable(i.value), ()),
    )


def items(
    store: Any, prefix: str, flt: dict[str, Any] | None, offset: int, size: int = PAGE
) -> tuple[list[ItemRow], bool]:
    found = store.search(
        split_ns(prefix), filter=flt, limit=size + 1, offset=offset, refresh_ttl=False
    )
    return [_row(i) for i in found[:size]], len(found) > size


def item(store: Any, ns: str, key: str) -> tuple[ItemRow, Any] | None:
    """One item, and its value as JSON (for the full view)."""
    found = store.get(split_ns(ns), key, refresh_ttl=False)
    if found is None:
        return None
    return _row(found), jsonable(found.value)
