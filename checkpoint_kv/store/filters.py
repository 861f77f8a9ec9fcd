"""Pure matching rules: search filters and namespace conditions, as LangGraph's stores apply them.

The semantics follow ``langgraph.store.memory.InMemoryStore`` (which follows PostgreSQL's JSONB):

- ``{"field": value}`` is equality; a dict value without ``$`` keys matches a nested dict field
  by field (``{"a": {"b": 1}}`` matches ``{"a": {"b": 1, "c": 2}}``); a list matches a list of
  the same length element by element.
- ``{"field": {"$eq"|"$ne"|"$gt"|"$gte"|"$lt"|"$lte": x}}``: the comparisons compare numbers.
  Where InMemoryStore raises on a value that is not a number (or a missing field), this store
  says "no match", as PostgresStore does (a JSONB comparison with null is not true).
- Namespace conditions: ``prefix`` / ``suffix`` paths where ``"*"`` matches any one label.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from langgraph.store.base import MatchCondition

from checkpoint_kv.store.layout import Namespace

__all__ = ["matches_filter", "matches_namespace", "literal_prefix"]

_OPERATORS = frozenset({"$eq", "$ne", "$gt", "$gte", "$lt", "$lte"})


def matches_filter(value: Mapping[str, Any], flt: Mapping[str, Any] | None) -> bool:
    if not flt:
        return True
    return all(_compare(value.get(k), v) for k, v in flt.items())


def _compare(item_value: Any, filter_value: Any) -> bool:
    if isinstance(filter_value, dict):
        if any(k.startswith("$") for k in filter_value):
            return all(_apply(item_value, op, arg) for op, arg in filter_value.items())
        if not isinstance(item_value, dict):
            return False
        return all(_compare(item_value.get(k), v) for k, v in filter_value.items())
    if isinstance(filter_value, (list, tuple)):
        return (
            isinstance(item_value, (list, tuple))
            and len(item_value) == len(filter_value)
            and all(_compare(i, f) for i, f in zip(item_value, filter_value, strict=False))
        )
    return bool(item_value == filter_value)


def _apply(value: Any, operator: str, arg: Any) -> bool:
    if operator not in _OPERATORS:
        raise ValueError(f"Unsupported operator: {operator}")
    if operator == "$eq":
        return bool(value == arg)
    if operator == "$ne":
        return bool(value != arg)
    try:
        a, b = float(value), float(arg)
    except (TypeError, ValueError):
        return False
    if operator == "$gt":
        return a > b
    if operator == "$gte":
        return a >= b
    if operator == "$lt":
        return a < b
    return a <= b


def check_filter(flt: Mapping[str, Any] | None) -> None:
    """Refuse an unknown ``$operator`` before any I/O, even when nothing would be compared."""
    for v in (flt or {}).values():
        if isinstance(v, dict):
            bad = [k for k in v if k.startswith("$") and k not in _OPERATORS]
            if bad:
                raise ValueError(f"Unsupported operator: {bad[0]}")
            check_filter({k: x for k, x in v.items() if not k.startswith("$")})


def matches_namespace(conditions: Iterable[MatchCondition], ns: Namespace) -> bool:
    for cond in conditions:
        path = tuple(cond.path)
        if len(ns) < len(path):
            return False
        if cond.match_type == "prefix":
            pairs = zip(ns, path, strict=False)
        elif cond.match_type == "suffix":
            pairs = zip(reversed(ns), reversed(path), strict=False)
        else:
            raise ValueError(f"Unsupported match type: {cond.match_type}")
        if any(p != "*" and k != p for k, p in pairs):
            return False
    return True


def literal_prefix(conditions: Iterable[MatchCondition]) -> Namespace:
    """The longest namespace prefix every match must start with (labels before the first
    wildcard of the prefix condition): the index range to read."""
    for cond in conditions:
        if cond.match_type == "prefix":
            out: list[str] = []
            for label in cond.path:
                if label == "*":
                    break
                out.append(label)
            return tuple(out)
    return ()
