"""Reads: ``get`` and ``scan`` as ``Query`` and ``BatchGetItem`` calls, expired items left out.

``scan`` is one ``Query`` (``SK BETWEEN start AND end`` with the item equal to ``end`` dropped,
so the exclusive bound is exact; ``Limit`` = the items still needed, never a
FilterExpression), following ``LastEvaluatedKey`` only while more items are needed (an item
equal to ``end`` or an expired one costs a further page). ``follow=N`` adds one
``BatchGetItem`` for the referenced keys not among the items (``UnprocessedKeys`` retried).
Reads are strongly consistent unless ``?consistent_read=false``. So the saver's
``get_tuple`` is one call when the records its values live in come in the page (the
usual case), else 2.

Items already expired but not yet removed by DynamoDB are treated as absent (a ``Query`` keeps
paging past them, so a ``limit`` still returns that many live items). Every live item a read
meets goes past the refresh queue (``refresh.RefreshQueue.note``), which keeps those close to
expiry for the partition's next commit to refresh.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from checkpoint_kv.port import ScanResult, follow_refs, header_refs

from . import errors
from .items import (
    CHUNK_MARK,
    Item,
    assemble,
    binary,
    chunk_keys,
    expired,
    key,
)

if TYPE_CHECKING:
    from .kv import DynamoDBKV

BATCH_GET_MAX = 100


def batch_get(
    kv: DynamoDBKV, pk: str, sks: Sequence[str], consistent: bool = False
) -> dict[str, Item]:
    """Items by sort key, ``BATCH_GET_MAX`` keys per call, ``UnprocessedKeys`` retried (a
    bounded number of rounds). Chunks are always read consistently: a head may be visible
    before its chunks are."""
    out: dict[str, Item] = {}
    todo = list(dict.fromkeys(sks))
    for i in range(0, len(todo), BATCH_GET_MAX):
        request: dict[str, Any] = {
            kv.table: {
                "Keys": [key(pk, sk) for sk in todo[i : i + BATCH_GET_MAX]],
                "ConsistentRead": kv.consistent_read or consistent,
            }
        }
        rounds = 0
        while request:
            resp = kv._call("batch_get_item", RequestItems=request)
            rounds += 1
            for item in resp.get("Responses", {}).get(kv.table, []):
                out[item["SK"]["S"]] = item
            request = resp.get("UnprocessedKeys") or {}
            if request:
                errors.unprocessed(kv, "BatchGetItem", rounds)
    return out


def live(kv: DynamoDBKV, pk: str, items: Iterable[Item]) -> list[Item]:
    """Items not past their TTL (DynamoDB removes expired items only eventually)."""
    now = kv._clock()
    out = [i for i in items if not expired(i, now)]
    kv._stale.note(pk, out, now)
    return out


def values(kv: DynamoDBKV, pk: str, items: Sequence[Item]) -> list[tuple[str, bytes]]:
    """Values of live items in order; chunked values cost one ``BatchGetItem``."""
    found = live(kv, pk, items)
    needed = [k for i in found for k in chunk_keys(i)]
    fetched = batch_get(kv, pk, needed, True) if needed else {}
    return assemble(errors.where(kv), pk, found, fetched)


def get(kv: DynamoDBKV, pk: str, keys: Sequence[str]) -> dict[str, bytes]:
    if not keys:
        return {}
    return dict(values(kv, pk, list(batch_get(kv, pk, keys).values())))


def query(
    kv: DynamoDBKV,
    pk: str,
    start: str,
    end: str,
    *,
    reverse: bool = False,
    limit: int | None = None,
    keys_only: bool = False,
    consistent: bool | None = None,
) -> list[Item]:
    """Items with ``start <= SK < end``; ``Limit`` is what is still needed, and
    ``LastEvaluatedKey`` is followed only while more is needed. Expired items are skipped
    (not counted) unless ``keys_only`` (deletes want them too)."""
    end = min(end, CHUNK_MARK)
    if end <= start or (limit is not None and limit <= 0):
        return []
    exprs: dict[str, Any] = {":p": {"S": pk}, ":e": {"S": end}}
    if start:  # BETWEEN is inclusive: an item equal to ``end`` is dropped below
        cond = "PK = :p AND SK BETWEEN :s AND :e"
        exprs[":s"] = {"S": start}
    else:  # DynamoDB refuses an empty string as a key value
        cond = "PK = :p AND SK < :e"
    kwargs: dict[str, Any] = {
        "TableName": kv.table,
        "KeyConditionExpression": cond,
        "ExpressionAttributeValues": exprs,
        "ScanIndexForward": not reverse,
        "ConsistentRead": kv.consistent_read if consistent is None else consistent,
    }
    if keys_only:
        kwargs["ProjectionExpression"] = "SK, #n, #h"
        kwargs["ExpressionAttributeNames"] = {"#n": "n", "#h": "h"}
    now = kv._clock()
    out: list[Item] = []
    while True:
        if limit is not None:
            kwargs["Limit"] = limit - len(out)
        resp = kv._call("query", **kwargs)
        at_end = False
        for item in resp.get("Items", []):
            if item["SK"]["S"] == end:
                at_end = True
            elif keys_only or not expired(item, now):
                out.append(item)
        lek = resp.get("LastEvaluatedKey")
        done = limit is not None and len(out) >= limit
        if lek is None or done or (at_end and not reverse):  # forward: ``end`` is the last
            break
        kwargs["ExclusiveStartKey"] = lek
    return out


def scan(
    kv: DynamoDBKV,
    pk: str,
    start: str,
    end: str,
    *,
    reverse: bool = False,
    limit: int | None = None,
    follow: int = 0,
) -> ScanResult:
    raw = query(kv, pk, start, end, reverse=reverse, limit=limit)
    if not follow:
        return ScanResult(values(kv, pk, raw))
    found = live(kv, pk, raw)
    where = errors.where(kv)
    # The refs usually come from small inline records: then the chunks of the items and
    # the referenced items are fetched together, in one BatchGetItem.
    refs: list[str] = []
    taken = 0
    have = {i["SK"]["S"] for i in found}
    for item in found:
        if taken >= follow:
            break
        if "v" not in item:  # a chunked value might carry refs: resolve it first
            items = values(kv, pk, found)
            refs = follow_refs(items, follow)
            return ScanResult(items, get(kv, pk, refs) if refs else {})
        header = header_refs(binary(where, pk, item["SK"]["S"], item))
        if header is None:
            continue  # a write
        taken += 1
        refs += [k for k in header if k not in refs and k not in have]
    needed = [k for i in found for k in chunk_keys(i)]
    fetched = batch_get(kv, pk, needed + refs, bool(needed)) if needed or refs else {}
    heads = live(kv, pk, [fetched[k] for k in refs if k in fetched])
    more = [k for i in heads for k in chunk_keys(i) if k not in fetched]
    if more:
        fetched.update(batch_get(kv, pk, more, True))
    return ScanResult(
        assemble(where, pk, found, fetched), dict(assemble(where, pk, heads, fetched))
    )
