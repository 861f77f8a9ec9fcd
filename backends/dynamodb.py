"""``dynamodb://TABLE``: one DynamoDB table for every thread, built for Lambda agents.

Layout (single table, on-demand billing)::

    PK (S)  prefix + partition        one item collection per thread
    SK (S)  sort key                  ASCII 0x21..0x7E (see checkpoint_kv.keys)
    v  (B)  value                     absent on the head of a chunked value
    n  (N), h (S), z (N)              chunk count, chunk id, total length (chunked values only)
    ttl (N) epoch seconds             only with ``?ttl=``; DynamoDB's TTL deletes the item

API calls per port call, and why:

- ``write`` is ONE call. A batch that coalesces to a single item uses ``PutItem`` /
  ``DeleteItem`` (half the write units of a transaction); anything larger is one
  ``TransactWriteItems``, atomic, so a checkpoint and its blobs appear together. A transaction
  may not name one item twice, so ops on the same key are first coalesced to their net effect
  (``Delete`` then ``Put`` = ``Put``...). A batch over a transaction's limits (100 actions,
  4 MB: copies, prunes, values of megabytes) is split at its commit barriers like
  ``port.commit_groups``: groups strictly in order, a commit alone after everything before it,
  a chunked value's head after its chunks; inside a group the unconditional actions go through
  ``BatchWriteItem`` (``UnprocessedItems`` retried) and conditional ones through transactions.
- ``Put(if_absent=True)`` carries ``attribute_not_exists(PK)``. If a transaction is cancelled
  and the only failed actions are such conditions, the transaction is retried without those
  actions: the existing items are kept, which is exactly insert-if-absent.
- ``DeleteRange`` needs the keys first: one keys-only ``Query`` over the hull of the batch's
  ranges (only ``shallow`` saves and ``prune`` use ranges; their partitions are small).
- ``scan`` is one ``Query`` (``SK BETWEEN start AND end`` with the item equal to ``end`` dropped,
  so the exclusive bound is exact; ``Limit`` in the request, never a FilterExpression), always
  following ``LastEvaluatedKey`` until ``limit`` or the end. ``follow=N`` adds one
  ``BatchGetItem`` for the referenced keys (``UnprocessedKeys`` retried). Reads are strongly
  consistent unless ``?consistent_read=false``. So the saver's ``get_tuple`` is 2 calls.
- ``partitions`` is a paginated, projected ``Scan`` (admin path: ``list(None)``, CLI). Items of
  one partition are contiguous in a scan, so the cursor remembers the last partition it reported
  and a partition spanning two pages is reported once.

Values over the 400 KB item limit are split into chunks of the same partition under sort keys
``\\x7f<h>\\x7f<i>``, where ``h`` hashes the key and the value. ``\\x7f`` sorts above every real
sort key, so no scan ever sees a chunk; ``h`` changes with the content, so overwriting a large
value never mixes old and new chunks under a reader. Chunks are written before (or in the same
transaction as) their head item. Reading a chunked value costs one more ``BatchGetItem``.
A ``Delete`` of a single chunked key (the saver never issues one) leaves its chunks behind; they
are invisible, expire with ``ttl`` and go with the partition (``drop``).

TTL: with ``?ttl=30d`` every written item gets ``ttl = now + 30 days``. Items already expired but
not yet removed by DynamoDB are treated as absent. A blob of a channel that never changes is not
rewritten, so when a read meets an item of a partition within half its TTL of expiry, the next
checkpoint commit of that partition that references it refreshes its ``ttl`` (an ``Update`` in
the same transaction): an active thread never loses its state, an idle one expires whole.

Throttling (``ProvisionedThroughputExceededException``, ``ThrottlingException``,
``RequestLimitExceeded``, transactions cancelled for throttling or conflicts) is retried with
capped exponential backoff and jitter; other errors name the operation, table and region.
The boto3 client is thread-safe and created once, so a saver at module scope in a Lambda
handler is reused across warm invocations. Async uses the default thread-pool twin
(``checkpoint_kv.aio.ThreadedAsyncStore``): same calls, no blocking of the event loop.

URL: ``dynamodb://TABLE?region=&endpoint_url=&ttl=&consistent_read=&prefix=&profile=&max_retries=``
(plus the usual AWS environment, profile and role configuration for credentials and region).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoRegionError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from checkpoint_kv.errors import (
    BackendUnavailableError,
    CheckpointKVError,
    ConfigError,
    CorruptRecordError,
    StoreNotFoundError,
    redact_url,
)
from checkpoint_kv.port import (
    Delete,
    DeleteRange,
    Op,
    PartitionPage,
    Put,
    ScanResult,
    follow_refs,
    split_refs,
)
from checkpoint_kv.registry import split_options

__all__ = ["DynamoDBError", "DynamoDBStore", "from_url"]

CHUNK_MARK = "\x7f"  # sorts above every real sort key (ASCII 0x21..0x7E)
INLINE_MAX = 390_000  # a value this long still fits an item (400 KB) with its keys
CHUNK_SIZE = 390_000
TX_MAX_ACTIONS = 100
TX_MAX_BYTES = 4_000_000  # DynamoDB's aggregate limit is 4 MB; keep a margin for names
BATCH_GET_MAX = 100
BATCH_WRITE_MAX = 25
_ITEM_OVERHEAD = 64  # attribute names and type tags, per item (estimate)

_THROTTLE = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)
_TX_RETRYABLE = frozenset(
    {"ThrottlingError", "TransactionConflict", "ProvisionedThroughputExceeded"}
)

Item = dict[str, Any]  # a low-level DynamoDB item ({"PK": {"S": ...}, ...})


class DynamoDBError(CheckpointKVError, RuntimeError):
    """A DynamoDB request failed for a reason other than throttling or a missing table."""


@dataclass
class _Action:
    """One item-level action of a write, in the order it must take effect."""

    kind: str  # "put" | "delete" | "touch"
    key: str
    item: Item | None = None
    cond: str | None = None  # "absent" (put if absent) | "exists" (touch)
    owner: str = ""  # the logical key whose fate this action shares (chunks -> head)
    size: int = 0
    barrier: str = ""  # "commit": applied alone, in order; "head": after its chunks


def _chunk_key(h: str, i: int) -> str:
    return f"{CHUNK_MARK}{h}{CHUNK_MARK}{i:05d}"


def _chunk_keys(item: Item) -> list[str]:
    if "n" not in item:
        return []
    return [_chunk_key(item["h"]["S"], i) for i in range(int(item["n"]["N"]))]


def parse_duration(text: str) -> int:
    """``3600``, ``90s``, ``15m``, ``12h``, ``30d`` -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    t = text.strip().lower()
    try:
        seconds = int(float(t[:-1]) * units[t[-1]]) if t and t[-1] in units else int(float(t))
    except ValueError:
        raise ConfigError(f"dynamodb ttl={text!r}: use seconds or 15m / 12h / 30d") from None
    if seconds <= 0:
        raise ConfigError(f"dynamodb ttl={text!r} must be positive")
    return seconds


def _bool(name: str, text: str) -> bool:
    t = text.strip().lower()
    if t in ("1", "true", "yes", "on"):
        return True
    if t in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"dynamodb {name}={text!r}: use true or false")


class DynamoDBStore:
    """The port over one DynamoDB table (see the module docstring for the layout)."""

    def __init__(
        self,
        table: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        profile: str | None = None,
        ttl: int | None = None,
        consistent_read: bool = True,
        prefix: str = "",
        max_retries: int = 8,
        client: Any = None,
    ) -> None:
        self.table = table
        self.endpoint_url = endpoint_url
        self.ttl = ttl
        self.consistent_read = consistent_read
        self.prefix = prefix
        self.max_retries = max_retries
        self._sleep: Callable[[float], None] = time.sleep
        self._clock: Callable[[], float] = time.time
        if client is None:
            try:
                session = boto3.session.Session(profile_name=profile)
                client = session.client(
                    "dynamodb",
                    region_name=region,
                    endpoint_url=endpoint_url,
                    config=Config(
                        retries={"mode": "standard", "total_max_attempts": 3},
                        max_pool_connections=32,
                    ),
                )
            except NoRegionError:
                raise ConfigError(
                    f"dynamodb://{table}: no AWS region; add ?region=us-east-1 to the URL or set "
                    "AWS_REGION / AWS_DEFAULT_REGION"
                ) from None
            except BotoCoreError as e:
                raise ConfigError(f"dynamodb://{table}: {e}") from e
        self.client = client
        self.region: str = str(client.meta.region_name)
        self._stale: OrderedDict[str, dict[str, list[str]]] = OrderedDict()
        self._stale_lock = threading.Lock()

    def __repr__(self) -> str:
        where = f", endpoint_url={redact_url(self.endpoint_url)!r}" if self.endpoint_url else ""
        return f"DynamoDBStore(table={self.table!r}, region={self.region!r}{where})"

    # --- plumbing -----------------------------------------------------------------------------

    def _where(self) -> str:
        return f"table {self.table!r} in region {self.region!r}"

    def _backoff(self, attempt: int) -> None:
        self._sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random() / 2))

    def _call(self, operation: str, *, passthrough: Iterable[str] = (), **kwargs: Any) -> Any:
        """One API call: throttling retried with backoff, errors named, ``passthrough`` codes
        re-raised untouched for the caller to handle."""
        attempt = 0
        while True:
            try:
                return getattr(self.client, operation)(**kwargs)
            except ClientError as e:
                code = str(e.response.get("Error", {}).get("Code", ""))
                if code in passthrough:
                    raise
                if code in _THROTTLE and attempt < self.max_retries:
                    self._backoff(attempt)
                    attempt += 1
                    continue
                raise self._error(operation, e) from e
            except BotoConnectionError as e:
                raise BackendUnavailableError(
                    f"cannot reach DynamoDB at {self._endpoint()} ({self._where()}): {e}"
                ) from e

    def _endpoint(self) -> str:
        url = str(self.client.meta.endpoint_url)
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"{parts.hostname}:{port}"

    def _error(self, operation: str, e: ClientError) -> Exception:
        err = e.response.get("Error", {})
        code, msg = err.get("Code", "?"), err.get("Message", "")
        if code == "ResourceNotFoundException":
            return StoreNotFoundError(
                f"DynamoDB {self._where()} does not exist. Create it with saver.setup(), "
                f"`checkpoint-kv setup dynamodb://{self.table}?region={self.region}`, or deploy "
                "examples/lambda_agent/template.yaml (keys PK and SK, both strings)."
            )
        if code in ("AccessDeniedException", "UnrecognizedClientException"):
            return DynamoDBError(
                f"DynamoDB {operation} denied on {self._where()}: {code}: {msg} (the policy "
                "needs Query, BatchGetItem, PutItem, UpdateItem, DeleteItem, BatchWriteItem; "
                "see examples/lambda_agent/template.yaml)"
            )
        return DynamoDBError(f"DynamoDB {operation} failed on {self._where()}: {code}: {msg}")

    def _pk(self, partition: str) -> str:
        return self.prefix + partition

    def _key(self, pk: str, sk: str) -> Item:
        return {"PK": {"S": pk}, "SK": {"S": sk}}

    def _expired(self, item: Item, now: float) -> bool:
        t = item.get("ttl")
        return t is not None and int(t["N"]) <= now

    def _note_stale(self, pk: str, items: Iterable[Item], now: float) -> None:
        """Remember items that will expire within half the TTL (see the module docstring)."""
        if self.ttl is None:
            return
        soon = now + self.ttl / 2
        stale = {
            i["SK"]["S"]: _chunk_keys(i) for i in items if "ttl" in i and int(i["ttl"]["N"]) < soon
        }
        if not stale:
            return
        with self._stale_lock:
            self._stale.setdefault(pk, {}).update(stale)
            self._stale.move_to_end(pk)
            while len(self._stale) > 256:
                self._stale.popitem(last=False)

    # --- reads ----------------------------------------------------------------------------------

    def _batch_get(self, pk: str, sks: Sequence[str], consistent: bool = False) -> dict[str, Item]:
        """Items by sort key, ``BATCH_GET_MAX`` keys per call, ``UnprocessedKeys`` retried.
        Chunks are always read consistently: a head may be visible before its chunks are."""
        out: dict[str, Item] = {}
        todo = list(dict.fromkeys(sks))
        for i in range(0, len(todo), BATCH_GET_MAX):
            request: dict[str, Any] = {
                self.table: {
                    "Keys": [self._key(pk, sk) for sk in todo[i : i + BATCH_GET_MAX]],
                    "ConsistentRead": self.consistent_read or consistent,
                }
            }
            attempt = 0
            while request:
                resp = self._call("batch_get_item", RequestItems=request)
                for item in resp.get("Responses", {}).get(self.table, []):
                    out[item["SK"]["S"]] = item
                request = resp.get("UnprocessedKeys") or {}
                if request:
                    self._backoff(attempt)
                    attempt += 1
        return out

    def _live(self, pk: str, items: Iterable[Item]) -> list[Item]:
        """Items not past their TTL (DynamoDB removes expired items only eventually)."""
        now = self._clock()
        live = [i for i in items if not self._expired(i, now)]
        self._note_stale(pk, live, now)
        return live

    def _assemble(self, items: Sequence[Item], fetched: dict[str, Item]) -> list[tuple[str, bytes]]:
        """``(key, value)`` per item, chunked values joined from ``fetched`` chunk items."""
        out: list[tuple[str, bytes]] = []
        for item in items:
            sk = item["SK"]["S"]
            if "v" in item:
                out.append((sk, bytes(item["v"]["B"])))
                continue
            parts = []
            for ck in _chunk_keys(item):
                if ck not in fetched:
                    raise CorruptRecordError(
                        f"chunk {ck!r} of key {sk!r} is missing in DynamoDB {self._where()}"
                    )
                parts.append(bytes(fetched[ck]["v"]["B"]))
            value = b"".join(parts)
            if len(value) != int(item["z"]["N"]):
                raise CorruptRecordError(f"chunked value at key {sk!r} has the wrong length")
            out.append((sk, value))
        return out

    def _values(self, pk: str, items: Sequence[Item]) -> list[tuple[str, bytes]]:
        """Values of live items in order; chunked values cost one ``BatchGetItem``."""
        live = self._live(pk, items)
        needed = [k for i in live for k in _chunk_keys(i)]
        return self._assemble(live, self._batch_get(pk, needed, True) if needed else {})

    def get(self, partition: str, keys: Sequence[str]) -> dict[str, bytes]:
        if not keys:
            return {}
        pk = self._pk(partition)
        return dict(self._values(pk, list(self._batch_get(pk, keys).values())))

    def _query(
        self,
        pk: str,
        start: str,
        end: str,
        *,
        reverse: bool = False,
        limit: int | None = None,
        keys_only: bool = False,
        consistent: bool | None = None,
    ) -> list[Item]:
        """Items with ``start <= SK < end``, following ``LastEvaluatedKey`` to the end."""
        end = min(end, CHUNK_MARK)
        if end <= start or (limit is not None and limit <= 0):
            return []
        values: dict[str, Any] = {":p": {"S": pk}, ":e": {"S": end}}
        if start:
            cond = "PK = :p AND SK BETWEEN :s AND :e"
            values[":s"] = {"S": start}
        else:  # DynamoDB refuses an empty string as a key value
            cond = "PK = :p AND SK < :e"
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": cond,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": not reverse,
            "ConsistentRead": self.consistent_read if consistent is None else consistent,
        }
        if keys_only:
            kwargs["ProjectionExpression"] = "SK, #n, #h"
            kwargs["ExpressionAttributeNames"] = {"#n": "n", "#h": "h"}
        out: list[Item] = []
        while True:
            if limit is not None:
                kwargs["Limit"] = limit - len(out) + 1  # +1: the item equal to ``end``
            resp = self._call("query", **kwargs)
            out += [i for i in resp.get("Items", []) if i["SK"]["S"] != end]
            lek = resp.get("LastEvaluatedKey")
            if lek is None or (limit is not None and len(out) >= limit):
                break
            kwargs["ExclusiveStartKey"] = lek
        return out[:limit] if limit is not None else out

    def scan(
        self,
        partition: str,
        start: str,
        end: str,
        *,
        reverse: bool = False,
        limit: int | None = None,
        follow: int = 0,
    ) -> ScanResult:
        pk = self._pk(partition)
        raw = self._query(pk, start, end, reverse=reverse, limit=limit)
        if not follow:
            return ScanResult(self._values(pk, raw))
        live = self._live(pk, raw)
        # The refs usually come from small inline records: then the chunks of the items and
        # the referenced items are fetched together, in one BatchGetItem.
        refs: list[str] = []
        taken = 0
        for item in live:
            if taken >= follow:
                break
            if "v" not in item:  # a chunked value might carry refs: resolve it first
                items = self._values(pk, live)
                refs = follow_refs(items, follow)
                return ScanResult(items, self.get(partition, refs) if refs else {})
            found = follow_refs([(item["SK"]["S"], bytes(item["v"]["B"]))], 1)
            taken += bool(found)
            refs += [k for k in found if k not in refs]
        needed = [k for i in live for k in _chunk_keys(i)]
        fetched = self._batch_get(pk, needed + refs, bool(needed)) if needed or refs else {}
        heads = self._live(pk, [fetched[k] for k in refs if k in fetched])
        more = [k for i in heads for k in _chunk_keys(i) if k not in fetched]
        if more:
            fetched.update(self._batch_get(pk, more, True))
        return ScanResult(self._assemble(live, fetched), dict(self._assemble(heads, fetched)))

    # --- writes ---------------------------------------------------------------------------------

    def _expand(self, pk: str, ops: Sequence[Op]) -> list[tuple[Put | Delete, list[str]]]:
        """``DeleteRange`` -> ``Delete`` of each key found (one keys-only Query over the hull of
        the ranges); each op paired with the chunk keys to delete along with it."""
        ranges = [op for op in ops if isinstance(op, DeleteRange) and op.start < op.end]
        found: list[Item] = []
        if ranges:
            lo, hi = min(r.start for r in ranges), max(r.end for r in ranges)
            found = self._query(pk, lo, hi, keys_only=True, consistent=True)
        out: list[tuple[Put | Delete, list[str]]] = []
        for op in ops:
            if isinstance(op, DeleteRange):
                for item in found:
                    sk = item["SK"]["S"]
                    if op.start <= sk < op.end:
                        out.append((Delete(sk), _chunk_keys(item)))
            elif isinstance(op, (Put, Delete)):
                out.append((op, []))
            else:  # pragma: no cover - defensive
                raise TypeError(f"unknown op {op!r}")
        return out

    @staticmethod
    def _coalesce(
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

    def _actions(self, pk: str, ops: Sequence[Op]) -> list[_Action]:
        now = int(self._clock())
        expiry = {"ttl": {"N": str(now + self.ttl)}} if self.ttl is not None else {}
        base = len(pk) + _ITEM_OVERHEAD
        actions: list[_Action] = []
        written: set[str] = set()
        refs: list[str] = []
        for op, chunks in self._coalesce(self._expand(pk, ops)):
            written.add(op.key)
            if isinstance(op, Delete):
                for ck in chunks:
                    actions.append(_Action("delete", ck, owner=op.key, size=base + len(ck)))
                actions.append(_Action("delete", op.key, owner=op.key, size=base + len(op.key)))
                continue
            cond = "absent" if op.if_absent else None
            value = op.value
            n = (len(value) + CHUNK_SIZE - 1) // CHUNK_SIZE if len(value) > INLINE_MAX else 0
            h = hashlib.sha256(op.key.encode() + b"\0" + value).hexdigest()[:40] if n else ""
            new_chunks = {_chunk_key(h, i) for i in range(n)}
            for ck in chunks:  # chunks of a value this put replaces (found by a DeleteRange)
                if ck not in new_chunks:
                    actions.append(_Action("delete", ck, owner=op.key, size=base + len(ck)))
            if op.commit and self.ttl is not None:
                with contextlib.suppress(ValueError, UnicodeDecodeError):
                    refs += split_refs(value)[0]
            if len(value) <= INLINE_MAX:
                item = {**self._key(pk, op.key), "v": {"B": value}, **expiry}
                size = base + len(op.key) + len(value)
                barrier = "commit" if op.commit else ""
                actions.append(_Action("put", op.key, item, cond, op.key, size, barrier))
                continue
            for i in range(n):
                piece = value[i * CHUNK_SIZE : (i + 1) * CHUNK_SIZE]
                ck = _chunk_key(h, i)
                item = {**self._key(pk, ck), "v": {"B": piece}, **expiry}
                actions.append(_Action("put", ck, item, None, op.key, base + len(ck) + len(piece)))
            head = {
                **self._key(pk, op.key),
                "n": {"N": str(n)},
                "h": {"S": h},
                "z": {"N": str(len(value))},
                **expiry,
            }
            barrier = "commit" if op.commit else "head"
            size = base + len(op.key) + 80
            actions.append(_Action("put", op.key, head, cond, op.key, size, barrier))
        actions += self._touches(pk, refs, written, base)
        return actions

    def _touches(self, pk: str, refs: list[str], written: set[str], base: int) -> list[_Action]:
        """TTL refreshes for referenced items that are close to expiry and not rewritten."""
        if not refs:
            return []
        with self._stale_lock:
            stale = self._stale.get(pk, {})
            due = {k: stale.pop(k) for k in refs if k in stale and k not in written}
        out: list[_Action] = []
        for key, chunks in due.items():
            for k in [*chunks, key]:
                out.append(_Action("touch", k, None, "exists", key, base + len(k)))
        return out

    def _tx_item(self, pk: str, a: _Action) -> dict[str, Any]:
        if a.kind == "delete":
            return {"Delete": {"TableName": self.table, "Key": self._key(pk, a.key)}}
        if a.kind == "touch":
            assert self.ttl is not None
            return {
                "Update": {
                    "TableName": self.table,
                    "Key": self._key(pk, a.key),
                    "UpdateExpression": "SET #t = :t",
                    "ConditionExpression": "attribute_exists(PK)",
                    "ExpressionAttributeNames": {"#t": "ttl"},
                    "ExpressionAttributeValues": {":t": {"N": str(int(self._clock()) + self.ttl)}},
                }
            }
        put: dict[str, Any] = {"TableName": self.table, "Item": a.item}
        if a.cond == "absent":
            put["ConditionExpression"] = "attribute_not_exists(PK)"
        return {"Put": put}

    def _single(self, pk: str, a: _Action) -> None:
        """One item: the plain API (half the write units of a transaction), same call count."""
        req = self._tx_item(pk, a)
        kind, args = next(iter(req.items()))
        operation = {"Put": "put_item", "Delete": "delete_item", "Update": "update_item"}[kind]
        # A failed condition is a put-if-absent on an existing item or a refresh of a deleted
        # one: both are no-ops.
        with contextlib.suppress(ClientError):
            self._call(operation, passthrough={"ConditionalCheckFailedException"}, **args)

    def _transact(self, pk: str, actions: list[_Action]) -> None:
        """One transaction; cancelled condition checks drop their actions (and their chunks)."""
        attempt = 0
        while actions:
            try:
                self._call(
                    "transact_write_items",
                    passthrough={"TransactionCanceledException"},
                    TransactItems=[self._tx_item(pk, a) for a in actions],
                )
                return
            except ClientError as e:
                reasons = e.response.get("CancellationReasons") or []
                codes = [str(r.get("Code", "None")) for r in reasons]
                failed = {i for i, c in enumerate(codes) if c == "ConditionalCheckFailed"}
                others = {c for c in codes if c not in ("None", "ConditionalCheckFailed")}
                if others and others <= _TX_RETRYABLE and attempt < self.max_retries:
                    self._backoff(attempt)
                    attempt += 1
                    continue
                if others or not failed or any(actions[i].cond is None for i in failed):
                    raise self._error("TransactWriteItems", e) from e
                owners = {actions[i].owner for i in failed if actions[i].kind == "put"}
                actions = [
                    a
                    for i, a in enumerate(actions)
                    if i not in failed and not (a.kind == "put" and a.owner in owners)
                ]

    def _batch_write(self, pk: str, actions: Sequence[_Action]) -> None:
        """Unconditional puts and deletes, ``BATCH_WRITE_MAX`` per call, in any order."""
        for i in range(0, len(actions), BATCH_WRITE_MAX):
            request: dict[str, Any] = {
                self.table: [
                    {"PutRequest": {"Item": a.item}}
                    if a.kind == "put"
                    else {"DeleteRequest": {"Key": self._key(pk, a.key)}}
                    for a in actions[i : i + BATCH_WRITE_MAX]
                ]
            }
            attempt = 0
            while request:
                resp = self._call("batch_write_item", RequestItems=request)
                request = resp.get("UnprocessedItems") or {}
                if request:
                    self._backoff(attempt)
                    attempt += 1

    @staticmethod
    def _fits(actions: Sequence[_Action]) -> bool:
        return len(actions) <= TX_MAX_ACTIONS and sum(a.size for a in actions) <= TX_MAX_BYTES

    def write(self, partition: str, ops: Sequence[Op]) -> None:
        if not ops:
            return
        pk = self._pk(partition)
        actions = self._actions(pk, ops)
        if len(actions) == 1:
            self._single(pk, actions[0])
        elif actions and self._fits(actions):
            self._transact(pk, actions)
        elif actions:
            for group in self._groups(actions):
                self._write_group(pk, group)

    @staticmethod
    def _groups(actions: Sequence[_Action]) -> list[list[_Action]]:
        """Like ``port.commit_groups``: groups apply strictly in order, actions inside one group
        in any order. A commit stands alone; a chunked value's head starts a group after its
        chunks."""
        groups: list[list[_Action]] = [[]]
        for a in actions:
            if a.barrier and groups[-1]:
                groups.append([])
            groups[-1].append(a)
            if a.barrier == "commit":
                groups.append([])
        return [g for g in groups if g]

    def _write_group(self, pk: str, group: list[_Action]) -> None:
        """A group too large for one transaction: plain actions through ``BatchWriteItem``
        (half the write units), conditional ones through transactions of the largest size."""
        if len(group) == 1:
            self._single(pk, group[0])
            return
        if self._fits(group):
            self._transact(pk, group)
            return
        self._batch_write(pk, [a for a in group if a.cond is None])
        pack: list[_Action] = []
        for a in (a for a in group if a.cond is not None):
            if pack and not self._fits([*pack, a]):
                self._transact(pk, pack)
                pack = []
            pack.append(a)
        if pack:
            self._transact(pk, pack)

    def drop(self, partition: str) -> None:
        """Every item of the partition (chunks included): keys-only Query, batched deletes."""
        pk = self._pk(partition)
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "PK = :p",
            "ExpressionAttributeValues": {":p": {"S": pk}},
            "ProjectionExpression": "SK",
            "ConsistentRead": True,
        }
        keys: list[str] = []
        while True:
            resp = self._call("query", **kwargs)
            keys += [i["SK"]["S"] for i in resp.get("Items", [])]
            if resp.get("LastEvaluatedKey") is None:
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        self._batch_write(pk, [_Action("delete", k) for k in keys])

    # --- admin ----------------------------------------------------------------------------------

    def partitions(self, cursor: str | None = None) -> PartitionPage:
        """A page of partitions from a projected Scan; the cursor is the scan position plus the
        last partition reported (its items may continue on the next scan page)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "ProjectionExpression": "PK",
        }
        if self.prefix:
            kwargs["FilterExpression"] = "begins_with(PK, :x)"
            kwargs["ExpressionAttributeValues"] = {":x": {"S": self.prefix}}
        last: str | None = None
        if cursor:
            try:
                pk, sk, last = json.loads(cursor)
            except (ValueError, TypeError):
                raise ConfigError(f"not a dynamodb partitions cursor: {cursor!r}") from None
            kwargs["ExclusiveStartKey"] = self._key(pk, sk)
        parts: list[str] = []
        while True:
            resp = self._call("scan", **kwargs)
            for item in resp.get("Items", []):
                pk = item["PK"]["S"]
                if pk != last:
                    parts.append(pk[len(self.prefix) :])
                    last = pk
            lek = resp.get("LastEvaluatedKey")
            if lek is None:
                return PartitionPage(parts, None)
            if parts:
                return PartitionPage(parts, json.dumps([lek["PK"]["S"], lek["SK"]["S"], last]))
            kwargs["ExclusiveStartKey"] = lek

    def setup(self) -> None:
        """Create the table if missing (on-demand), wait until ACTIVE, enable TTL if configured."""
        try:
            desc = self.client.describe_table(TableName=self.table)["Table"]
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise self._error("DescribeTable", e) from e
            desc = self._create()
        keys = {k["AttributeName"]: k["KeyType"] for k in desc.get("KeySchema", [])}
        if keys != {"PK": "HASH", "SK": "RANGE"}:
            raise ConfigError(
                f"DynamoDB {self._where()} has key schema {keys}; checkpoint-kv needs "
                "PK (HASH, string) and SK (RANGE, string)"
            )
        if desc.get("TableStatus") != "ACTIVE":
            self._wait_active()
        if self.ttl is not None:
            status = self._call("describe_time_to_live", TableName=self.table)
            ttl_desc = status.get("TimeToLiveDescription", {})
            if ttl_desc.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
                self._call(
                    "update_time_to_live",
                    TableName=self.table,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"},
                )

    def _create(self) -> dict[str, Any]:
        try:
            resp = self.client.create_table(
                TableName=self.table,
                AttributeDefinitions=[
                    {"AttributeName": "PK", "AttributeType": "S"},
                    {"AttributeName": "SK", "AttributeType": "S"},
                ],
                KeySchema=[
                    {"AttributeName": "PK", "KeyType": "HASH"},
                    {"AttributeName": "SK", "KeyType": "RANGE"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )
            desc: dict[str, Any] = resp["TableDescription"]
            return desc
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") != "ResourceInUseException":
                raise self._error("CreateTable", e) from e
            # created concurrently by another process
            desc = self.client.describe_table(TableName=self.table)["Table"]
            return desc

    def _wait_active(self) -> None:
        waiter = self.client.get_waiter("table_exists")
        waiter.wait(TableName=self.table, WaiterConfig={"Delay": 1, "MaxAttempts": 300})

    def close(self) -> None:
        """Nothing to release: the client's pool closes with the process (Lambda reuses it)."""


def from_url(url: str, **options: Any) -> DynamoDBStore:
    """``dynamodb://TABLE?region=&endpoint_url=&ttl=&consistent_read=&prefix=&profile=``."""
    base, query = split_options(url)
    query.update({k: str(v) for k, v in options.items() if k != "client"})
    rest = base.split("://", 1)[1]
    if "@" in rest or "@" in urlsplit(query.get("endpoint_url") or "").netloc:
        raise ConfigError(
            "do not put credentials in a dynamodb:// URL or its endpoint_url: "
            "use the AWS environment, profile or role"
        )
    table = unquote(rest.strip("/"))
    if not table or "/" in table or not 3 <= len(table) <= 255:
        raise ConfigError(
            "dynamodb URL needs a table name (3-255 chars): dynamodb://TABLE, "
            f"got {redact_url(url)!r}"
        )
    allowed = {
        "region",
        "endpoint_url",
        "ttl",
        "consistent_read",
        "prefix",
        "profile",
        "max_retries",
    }
    unknown = set(query) - allowed
    if unknown:
        raise ConfigError(
            f"unknown dynamodb option(s): {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(allowed))}"
        )
    ttl = parse_duration(query["ttl"]) if query.get("ttl") else None
    try:
        retries = int(query.get("max_retries", 8))
    except ValueError:
        raise ConfigError(
            f"dynamodb max_retries={query['max_retries']!r}: use an integer"
        ) from None
    return DynamoDBStore(
        table,
        region=query.get("region") or None,
        endpoint_url=query.get("endpoint_url") or None,
        profile=query.get("profile") or None,
        ttl=ttl,
        consistent_read=_bool("consistent_read", query.get("consistent_read", "true")),
        prefix=query.get("prefix", ""),
        max_retries=retries,
        client=options.get("client"),
    )
