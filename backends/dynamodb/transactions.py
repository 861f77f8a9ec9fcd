"""Writes: a batch of port ops as item actions, and the fewest calls that apply them in order.

``write`` is ONE call. A batch that coalesces to a single item uses ``PutItem`` /
``DeleteItem`` (half the write units of a transaction): the saver's ``put`` (one record
carrying the step's new values) and ``put_writes`` are one item each. Anything larger is one
``TransactWriteItems``, atomic (a subgraph's put, with its namespace index; a shallow put
with its deletes). A transaction may not name one item twice, so ops on the same key are first
coalesced to their net effect (``Delete`` then ``Put`` = ``Put``...). A batch over a
transaction's limits (100 actions, 4 MB: copies, prunes, values of megabytes) is split at its
commit barriers like ``port.commit_groups``: groups strictly in order, a commit alone after
everything before it, a chunked value's head after its chunks; inside a group the
unconditional actions go through ``BatchWriteItem`` (``UnprocessedItems`` retried) and
conditional ones through transactions.

``Put(if_absent=True)`` carries ``attribute_not_exists(PK)``. If a transaction is cancelled
and the only failed actions are such conditions, the transaction is retried without those
actions: the existing items are kept, which is exactly insert-if-absent.

``DeleteRange`` needs the keys first: one keys-only ``Query`` over the hull of the batch's
ranges (only ``shallow`` saves and ``prune`` use ranges; their partitions are small).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from checkpoint_kv.port import Delete, DeleteRange, Op, Put

from . import errors, reads
from .items import Action, Item, chunk_keys, key

if TYPE_CHECKING:
    from .kv import DynamoDBKV

TX_MAX_ACTIONS = 100
TX_MAX_BYTES = 4_000_000  # DynamoDB's aggregate limit is 4 MB; keep a margin for names
BATCH_WRITE_MAX = 25


# --- building -----------------------------------------------------------------------------------


def expand(kv: DynamoDBKV, pk: str, ops: Sequence[Op]) -> list[tuple[Put | Delete, list[str]]]:
    """``DeleteRange`` -> ``Delete`` of each key found (one keys-only Query over the hull of
    the ranges); each op paired with the chunk keys to delete along with it."""
    ranges = [op for op in ops if isinstance(op, DeleteRange) and op.start < op.end]
    found: list[Item] = []
    if ranges:
        lo, hi = min(r.start for r in ranges), max(r.end for r in ranges)
        found = reads.query(kv, pk, lo, hi, keys_only=True, consistent=True)
    out: list[tuple[Put | Delete, list[str]]] = []
    for op in ops:
        if isinstance(op, DeleteRange):
            for item in found:
                sk = item["SK"]["S"]
                if op.start <= sk < op.end:
                    out.append((Delete(sk), chunk_keys(item)))
        elif isinstance(op, (Put, Delete)):
            out.append((op, []))
        else:  # pragma: no cover - defensive
            raise TypeError(f"unknown op {op!r}")
    return out


def coalesce(
    ops: Sequence[tuple[Put | Delete, list[str]]],
) -> list[tuple[Put | Delete, list[str]]]:
    """The net effect per key, placed at the key's last effective op (a transaction may not
    name an item twice)."""
    net: dict[str, tuple[int, Put | Delete, list[str]]] = {}
    for pos, (op, chunks) in enumerate(ops):
        prev = net.get(op.key)
        if isinstance(op, Put) and op.if_absent and prev is not None:
            if isinstance(prev[1], Put):
                continue  # already written in this batch: keep it
            op = Put(op.key, op.value, commit=op.commit)  # deleted just before: absent
        old_chunks = prev[2] if prev is not None else []
        net[op.key] = (pos, op, old_chunks + chunks)
    return [(op, chunks) for _, op, chunks in sorted(net.values(), key=lambda t: t[0])]


def fits(actions: Sequence[Action]) -> bool:
    """Within one transaction's limits."""
    return len(actions) <= TX_MAX_ACTIONS and sum(a.size for a in actions) <= TX_MAX_BYTES


def groups(actions: Sequence[Action]) -> list[list[Action]]:
    """Like ``port.commit_groups``: groups apply strictly in order, actions inside one group
    in any order. A commit stands alone; a chunked value's head starts a group after its
    chunks."""
    out: list[list[Action]] = [[]]
    for a in actions:
        if a.barrier and out[-1]:
            out.append([])
        out[-1].append(a)
        if a.barrier == "commit":
            out.append([])
    return [g for g in out if g]


def tx_item(kv: DynamoDBKV, pk: str, a: Action) -> dict[str, Any]:
    """The action as a ``TransactItems`` entry (also the arguments of its plain call)."""
    if a.kind == "delete":
        return {"Delete": {"TableName": kv.table, "Key": key(pk, a.key)}}
    if a.kind == "touch":
        assert kv.ttl is not None
        now = int(kv._clock())
        return {
            "Update": {
                "TableName": kv.table,
                "Key": key(pk, a.key),
                # Only an item that still exists and has not expired: a refresh never
                # revives data that readers already treat as gone.
                "UpdateExpression": "SET #t = :t",
                "ConditionExpression": "attribute_exists(PK) AND #t > :now",
                "ExpressionAttributeNames": {"#t": "ttl"},
                "ExpressionAttributeValues": {
                    ":t": {"N": str(now + kv.ttl)},
                    ":now": {"N": str(now)},
                },
            }
        }
    put: dict[str, Any] = {"TableName": kv.table, "Item": a.item}
    if a.cond == "absent":
        put["ConditionExpression"] = "attribute_not_exists(PK)"
    return {"Put": put}


# --- sending ------------------------------------------------------------------------------------


def send(kv: DynamoDBKV, pk: str, actions: Sequence[Action]) -> None:
    """A batch's actions, in as few calls as its size allows (see the module docstring)."""
    if len(actions) == 1 or fits(actions):
        apply(kv, pk, actions)
        return
    for group in groups(actions):
        if len(group) == 1 or fits(group):
            apply(kv, pk, group)
            continue
        # A group too large for one transaction: plain actions through ``BatchWriteItem``
        # (half the write units), conditional ones through transactions of the largest size.
        batch_write(kv, pk, [a for a in group if a.cond is None])
        pack: list[Action] = []
        for a in (a for a in group if a.cond is not None):
            if pack and not fits([*pack, a]):
                transact(kv, pk, pack)
                pack = []
            pack.append(a)
        if pack:
            transact(kv, pk, pack)


def apply(kv: DynamoDBKV, pk: str, actions: Sequence[Action]) -> None:
    """Actions that fit one transaction: a single one with the plain API (half the write units
    of a transaction, same call count), more in one transaction."""
    if len(actions) == 1:
        single(kv, pk, actions[0])
    else:
        transact(kv, pk, list(actions))


def single(kv: DynamoDBKV, pk: str, a: Action) -> None:
    """One item: ``PutItem``, ``DeleteItem`` or ``UpdateItem``."""
    req = tx_item(kv, pk, a)
    kind, args = next(iter(req.items()))
    operation = {"Put": "put_item", "Delete": "delete_item", "Update": "update_item"}[kind]
    # A failed condition is a put-if-absent on an existing item or a refresh of a deleted
    # one: both are no-ops.
    with contextlib.suppress(ClientError):
        kv._call(operation, passthrough={"ConditionalCheckFailedException"}, **args)


def transact(kv: DynamoDBKV, pk: str, actions: list[Action]) -> None:
    """One transaction; cancelled condition checks drop their actions (and their chunks).
    Cancellations for throttling or a conflicting transaction are sent again, at most
    ``max_attempts`` times in all (botocore sees only the cancellation, not its reasons)."""
    attempt = 1
    while actions:
        try:
            kv._call(
                "transact_write_items",
                passthrough={"TransactionCanceledException"},
                TransactItems=[tx_item(kv, pk, a) for a in actions],
            )
            return
        except ClientError as e:
            reasons = e.response.get("CancellationReasons") or []
            codes = [str(r.get("Code", "None")) for r in reasons]
            failed = {i for i, c in enumerate(codes) if c == "ConditionalCheckFailed"}
            others = {c for c in codes if c not in ("None", "ConditionalCheckFailed")}
            if others and others <= errors.TX_RETRYABLE and attempt < kv.max_attempts:
                errors.backoff(kv, attempt - 1)
                attempt += 1
                continue
            if others or not failed or any(actions[i].cond is None for i in failed):
                raise errors.translate(kv, "TransactWriteItems", e) from None
            owners = {actions[i].owner for i in failed if actions[i].kind == "put"}
            actions = [
                a
                for i, a in enumerate(actions)
                if i not in failed and not (a.kind == "put" and a.owner in owners)
            ]


def batch_write(kv: DynamoDBKV, pk: str, actions: Sequence[Action]) -> None:
    """Unconditional puts and deletes, ``BATCH_WRITE_MAX`` per call, in any order;
    ``UnprocessedItems`` retried a bounded number of rounds. Calls are sequential, so the
    actions of an earlier call are all applied before any of a later one."""
    for i in range(0, len(actions), BATCH_WRITE_MAX):
        request: dict[str, Any] = {
            kv.table: [
                {"PutRequest": {"Item": a.item}}
                if a.kind == "put"
                else {"DeleteRequest": {"Key": key(pk, a.key)}}
                for a in actions[i : i + BATCH_WRITE_MAX]
            ]
        }
        rounds = 0
        while request:
            resp = kv._call("batch_write_item", RequestItems=request)
            rounds += 1
            request = resp.get("UnprocessedItems") or {}
            if request:
                errors.unprocessed(kv, "BatchWriteItem", rounds)
