"""``checkpoint-kv store ...``: see the long-term memory store (``checkpoint_kv.store``) on any
backend URL, read-only.

    checkpoint-kv store namespaces URL [--prefix users] [--suffix memories] [--max-depth 2]
    checkpoint-kv store get URL users.42 prefs
    checkpoint-kv store search URL users.42 [--filter '{"kind": "fact"}'] [--limit 10]

A namespace is written with ``.`` between its labels (LangGraph forbids ``.`` in a label, so
this is unambiguous), or as one operand per label, as Python's tuple reads:
``store search URL memories u1`` is ``("memories", "u1")``, the same as ``memories.u1``;
``*`` in ``--prefix``/``--suffix`` matches any one label. Registered by
``add_commands(subparsers)`` like the other command modules of ``checkpoint_kv.cli``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from checkpoint_kv.cli.common import (
    EXIT_NOT_FOUND,
    EXIT_OK,
    Abort,
    add_command,
    add_url,
    dump,
    open_url,
    table,
)
from checkpoint_kv.errors import ConfigError, redact_url

__all__ = ["add_commands"]


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    store = subparsers.add_parser(
        "store",
        help="long-term memory (LangGraph BaseStore): namespaces, get, search",
        description="Read the long-term memory store kept on the same backend URL.",
    )
    sub = store.add_subparsers(dest="store_command", metavar="STORE_COMMAND", required=True)

    p = add_command(sub, "namespaces", "namespaces holding items", cmd_namespaces)
    add_url(p)
    p.add_argument("--prefix", help="labels the namespace starts with, e.g. users.*")
    p.add_argument("--suffix", help="labels the namespace ends with, e.g. memories")
    p.add_argument("--max-depth", type=int, help="truncate namespaces to N labels")
    p.add_argument("--limit", type=int, default=100, help="at most N (default 100)")
    p.add_argument("--offset", type=int, default=0)

    p = add_command(sub, "get", "one item", cmd_get)
    add_url(p)
    p.add_argument(
        "namespace",
        nargs="+",
        metavar="NAMESPACE",
        help="labels joined by '.' (users.42) or one operand each (users 42)",
    )
    p.add_argument("key", metavar="KEY")

    p = add_command(sub, "search", "items under a namespace prefix", cmd_search)
    add_url(p)
    p.add_argument(
        "namespace",
        nargs="*",
        metavar="NAMESPACE_PREFIX",
        help="labels joined by '.' (users.42) or one operand each (users 42); none: all",
    )
    p.add_argument("--filter", help='JSON, as search(filter=...): \'{"n": {"$gt": 2}}\'')
    p.add_argument("--limit", type=int, default=10, help="at most N (default 10)")
    p.add_argument("--offset", type=int, default=0)


def _ns(text: str | list[str] | None) -> tuple[str, ...]:
    """A namespace from ``users.42``, or from the operands ``users 42`` (or both mixed)."""
    parts = [text] if isinstance(text, str) else list(text or [])
    return tuple(label for part in parts if part for label in part.split("."))


def _shown(labels: list[str]) -> str:
    return ".".join(_ns(labels))


def _open(args: argparse.Namespace) -> Any:
    from checkpoint_kv.store import KVBaseStore

    return KVBaseStore(open_url(args.url))


def _item_doc(item: Any) -> dict[str, Any]:
    doc: dict[str, Any] = item.dict()
    if doc.get("score", 0) is None:
        del doc["score"]
    return doc


def cmd_namespaces(args: argparse.Namespace, out: TextIO) -> int:
    with _open(args) as store:
        found = store.list_namespaces(
            prefix=_ns(args.prefix) or None,
            suffix=_ns(args.suffix) or None,
            max_depth=args.max_depth,
            limit=args.limit,
            offset=args.offset,
        )
    if args.json:
        dump({"url": redact_url(args.url), "namespaces": [list(ns) for ns in found]}, out)
    else:
        table([(".".join(ns),) for ns in found], ("NAMESPACE",), out)
    return EXIT_OK


def cmd_get(args: argparse.Namespace, out: TextIO) -> int:
    with _open(args) as store:
        item = store.get(_ns(args.namespace), args.key, refresh_ttl=False)
    if item is None:
        raise Abort(EXIT_NOT_FOUND, f"no item {args.key!r} in namespace {_shown(args.namespace)!r}")
    dump(_item_doc(item), out)  # one item: JSON is the readable form too
    return EXIT_OK


def cmd_search(args: argparse.Namespace, out: TextIO) -> int:
    try:
        flt = json.loads(args.filter) if args.filter else None
    except json.JSONDecodeError as e:
        raise ConfigError(f"--filter is not JSON: {e}") from None
    if flt is not None and not isinstance(flt, dict):
        raise ConfigError('--filter must be a JSON object, e.g. \'{"kind": "fact"}\'')
    with _open(args) as store:
        found = store.search(
            _ns(args.namespace), filter=flt, limit=args.limit, offset=args.offset, refresh_ttl=False
        )
    if args.json:
        dump({"url": redact_url(args.url), "items": [_item_doc(i) for i in found]}, out)
    else:
        rows = []
        for i in found:
            text = json.dumps(i.value, ensure_ascii=False, default=repr)
            rows.append(
                (".".join(i.namespace), i.key, i.updated_at.isoformat(timespec="seconds"), text)
            )
        table(
            [(*r[:3], r[3][:60] + ("..." if len(r[3]) > 60 else "")) for r in rows],
            ("NAMESPACE", "KEY", "UPDATED", "VALUE"),
            out,
        )
    return EXIT_OK
