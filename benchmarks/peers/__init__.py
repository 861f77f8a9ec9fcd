"""Adapters: one module per saver, each run in its own virtualenv by ``benchmarks.driver``.

An adapter module defines ``LABEL`` (the table name), ``UNIT`` (what its round-trip count
counts), ``IMPORT`` (the statement whose import time is the cold-start cost), ``SERVICE``
(``None``, ``"postgres"``, ``"redis"``, ``"redis-modules"`` or ``"moto"``), ``VENV`` (the
``requirements-peers-<VENV>.txt`` it needs, ``None`` for the main environment), and
``open(ctx, workload, rec) -> Handle`` that returns a saver on *fresh, empty* storage.
Adapters import their client libraries inside ``open`` so ``run.py`` can read the constants.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Handle:
    saver: Any
    held: Callable[[], dict[str, int]]  # bytes held after the run: {"bytes": n, ...details}
    close: Callable[[], None] = lambda: None
    notes: list[str] = field(default_factory=list)


def redis_held(client: Any) -> dict[str, int]:
    """Sum of ``MEMORY USAGE`` over every key (the server is flushed per workload)."""
    total = keys = 0
    for key in client.scan_iter(count=1000):
        total += int(client.memory_usage(key, samples=0) or 0)
        keys += 1
    used = int(client.info("memory")["used_memory"])
    return {"bytes": total, "keys": keys, "used_memory": used}


def ddb_item_size(item: dict[str, Any]) -> int:
    """DynamoDB's item-size rule, approximately: attribute names plus value sizes."""

    def val(v: dict[str, Any]) -> int:
        ((t, x),) = v.items()
        if t == "S":
            return len(x.encode())
        if t == "B":
            return len(x)
        if t == "N":
            return (len(str(x)) + 1) // 2 + 1
        if t in ("BOOL", "NULL"):
            return 1
        if t == "M":
            return 3 + sum(len(k.encode()) + val(w) + 1 for k, w in x.items())
        if t == "L":
            return 3 + sum(val(w) + 1 for w in x)
        if t in ("SS", "NS", "BS"):
            return sum(len(e) for e in x)
        return 0

    return sum(len(k.encode()) + val(v) for k, v in item.items())


def ddb_held(client: Any, table: str) -> dict[str, int]:
    total = items = 0
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        page = client.scan(**kwargs)
        for it in page.get("Items", []):
            total += ddb_item_size(it)
            items += 1
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return {"bytes": total, "items": items}


def s3_held(client: Any, bucket: str, prefix: str = "") -> dict[str, int]:
    total = objects = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            total += int(obj["Size"])
            objects += 1
    return {"bytes": total, "objects": objects}


def safe_name(*parts: str) -> str:
    return "-".join(p.lower().replace("_", "-").replace(" ", "-") for p in parts)[:60]
