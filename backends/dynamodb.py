"""``dynamodb://TABLE``: one DynamoDB table for every thread, built for Lambda agents.

Layout (single table, on-demand billing)::

    PK (S)  [prefix#]partition        one item collection per thread
    SK (S)  sort key                  ASCII 0x21..0x7E (see checkpoint_kv.keys)
    v  (B)  value                     absent on the head of a chunked value
    n  (N), h (S), z (N)              chunk count, chunk id, total length (chunked values only)
    ttl (N) epoch seconds             only with ``?ttl=``; DynamoDB's TTL deletes the item

API calls per port call, and why:

- ``write`` is ONE call. A batch that coalesces to a single item uses ``PutItem`` /
  ``DeleteItem`` (half the write units of a transaction): the saver's ``put`` (one record
  carrying the step's new values) and ``put_writes`` are one item each. Anything larger is one
  ``TransactWriteItems``, atomic (a subgraph's put, with its namespace index; a shallow put
  with its deletes). A transaction
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
  so the exclusive bound is exact; ``Limit`` = the items still needed, never a
  FilterExpression), following ``LastEvaluatedKey`` only while more items are needed (an item
  equal to ``end`` or an expired one costs a further page). ``follow=N`` adds one
  ``BatchGetItem`` for the referenced keys not among the items (``UnprocessedKeys`` retried).
  Reads are strongly consistent unless ``?consistent_read=false``. So the saver's
  ``get_tuple`` is one call when the records its values live in come in the page (the
  usual case), else 2.
- ``partitions`` is a paginated, projected ``Scan`` (admin path: ``list(None)``, CLI). Items of
  one partition are contiguous in a scan, so the cursor remembers the last partition it reported
  and a partition spanning two pages is reported once.
- ``drop`` deletes in two phases, each complete before the next: the checkpoint records
  (``c!...!~``, newest first), then everything else. A crash or a concurrent reader mid-drop
  never sees a record whose writes or blobs are gone.

Values over the 400 KB item limit are split into chunks of the same partition under sort keys
``\\x7f<h>\\x7f<i>``, where ``h`` hashes the key and the value. ``\\x7f`` sorts above every real
sort key, so no scan ever sees a chunk; ``h`` changes with the content, so overwriting a large
value never mixes old and new chunks under a reader. Chunks are written before (or in the same
transaction as) their head item. Reading a chunked value costs one more ``BatchGetItem``.
A ``Delete`` of a single chunked key (the saver never issues one) leaves its chunks behind; they
are invisible, expire with ``ttl`` and go with the partition (``drop``).

Tenants: with ``?prefix=acme`` the partition key is ``acme#<partition>``. ``#`` is never
produced by an escaped id (``A-Za-z0-9._-%~``, see ``checkpoint_kv.keys``) and is refused
inside a prefix, so the prefix ends exactly at the first ``#``: ``acme`` + ``1x`` and ``acme1``
+ ``x`` are different keys, and ``partitions`` shows each prefix only its own partitions (the
empty prefix only keys without ``#``).

TTL: with ``?ttl=30d`` every written item gets ``ttl = now + 30 days``. Items already expired but
not yet removed by DynamoDB are treated as absent (a ``Query`` keeps paging past them, so a
``limit`` still returns that many live items). Channels that never change and the ancestors a
``DeltaChannel`` replays are not rewritten, so every item a read meets that expires within half
the TTL (records, writes, blobs; a chunked value's chunks with its head) is noted per
partition, and the next checkpoint commit of that partition refreshes them: in the commit's own
transaction while it fits, else in follow-up transactions after it (at most
``TOUCH_MAX_PER_COMMIT`` per commit, the rest at the next one). A refresh is conditional on the
item still existing and not yet being expired, so it never revives data and never fails the
user's write (a follow-up that fails is logged and retried at the next commit). So a thread
used at least once every ``ttl / 2`` never loses an item it reads, and one left idle longer
than ``ttl`` has expired whole (everything it wrote or refreshed was stamped at or before its
last commit).

Retries: botocore's retry modes (``retry_mode`` ``standard`` or ``adaptive``, one
``max_attempts``, default 5, counting the first attempt) cover throttling, 5xx (whatever the
body), timeouts and dropped connections. Own loops only where botocore cannot help, bounded by
the same ``max_attempts`` with capped, jittered backoff: ``UnprocessedKeys`` /
``UnprocessedItems`` (then :class:`DynamoDBError` naming the table) and transactions cancelled
for throttling or conflicts. ``connect_timeout`` (default 5 s) and ``read_timeout`` (default
10 s) bound every attempt, so a silent peer fails with ``BackendUnavailableError`` after at
most ``max_attempts`` x (timeouts + backoff). Errors name the operation, table and region; an
unreachable endpoint names host:port; missing credentials are a ``ConfigError`` saying how to
provide them. The boto3 client is thread-safe and created once, so a saver at module scope in
a Lambda handler is reused across warm invocations. Async uses the default thread-pool twin
(``checkpoint_kv.aio.ThreadedAsyncStore``): the same client, the same calls, no blocking of the
event loop.

URL: ``dynamodb://TABLE?region=&endpoint_url=&ttl=&consistent_read=&prefix=&profile=``
``&max_attempts=&retry_mode=&connect_timeout=&read_timeout=`` (``max_retries=N`` still works:
``max_attempts = N + 1``), plus the usual AWS environment, profile and role configuration for
credentials and region.

Bring your own (keyword only, as for S3): ``client=`` a boto3 DynamoDB client, used as it is for
every request (its credentials, retry config, X-Ray/OpenTelemetry hooks) and never closed by
the store; the options that configure a client (``region``, ``endpoint_url``, ``profile``,
``max_attempts``/``max_retries``, ``retry_mode``, ``connect_timeout``, ``read_timeout``) are
then refused unless equal to the client's, and the own loops above are bounded by the client's
attempt count. ``session=`` a ``boto3.Session`` (an assumed role, a profile): the store makes
its client from it with the options above (bounded timeouts included) and closes that client,
never the session. A Session passed as ``client=`` is taken as ``session=``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    WaiterError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from checkpoint_kv._renamed import renamed
from checkpoint_kv.backends import _aws as aws
from checkpoint_kv.errors import (
    BackendError,
    BackendUnavailableError,
    ConfigError,
    CorruptRecordError,
    StoreNotFoundError,
    redact,
    redact_url,
)
from checkpoint_kv.keys import is_checkpoint_record, is_record
from checkpoint_kv.options import Option, Schema, url_query
from checkpoint_kv.port import (
    Delete,
    DeleteRange,
    Op,
    PartitionPage,
    Put,
    ScanResult,
    follow_refs,
    header_refs,
)

__all__ = ["OPTIONS", "DynamoDBError", "DynamoDBKV", "from_url"]

log = logging.getLogger(__name__)

CHUNK_MARK = "\x7f"  # sorts above every real sort key (ASCII 0x21..0x7E)
PREFIX_SEP = "#"  # ends a tenant prefix; never in an escaped id (A-Za-z0-9._-%~)
INLINE_MAX = 390_000  # a value this long still fits an item (400 KB) with its keys
CHUNK_SIZE = 390_000
TX_MAX_ACTIONS = 100
TX_MAX_BYTES = 4_000_000  # DynamoDB's aggregate limit is 4 MB; keep a margin for names
BATCH_GET_MAX = 100
BATCH_WRITE_MAX = 25
_ITEM_OVERHEAD = 64  # attribute names and type tags, per item (estimate)
NOTED_MAX_PER_PARTITION = 1_000  # items remembered for a TTL refresh, per partition
NOTED_PARTITIONS = 256  # partitions remembered (least recently read dropped first)
TOUCH_MAX_PER_COMMIT = 300  # TTL refreshes per commit (the rest wait for the next commit)

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 10.0
RETRY_MODES = ("standard", "adaptive")

# Reasons of a cancelled transaction worth sending it again (botocore cannot see inside one).
_TX_RETRYABLE = frozenset(
    {"ThrottlingError", "TransactionConflict", "ProvisionedThroughputExceeded"}
)

Item = dict[str, Any]  # a low-level DynamoDB item ({"PK": {"S": ...}, ...})


class DynamoDBError(BackendError):
    """DynamoDB refused a request (after botocore's retries) for a reason other than a
    missing table: access denied, validation, throttling that outlasted every attempt."""


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
    """The chunk keys of a chunked value's head ([] for anything else, a malformed head
    included: ``_assemble`` reports that one, naming the key)."""
    try:
        return [_chunk_key(item["h"]["S"], i) for i in range(int(item["n"]["N"]))]
    except (KeyError, TypeError, ValueError):
        return []


class DynamoDBKV:
    """The port over one DynamoDB table (see the module docstring for the layout).

    ``client=`` (a boto3 DynamoDB client) is used as it is and never closed; ``session=`` (a
    ``boto3.Session``) makes the store's client, with this store's options, which ``close()``
    closes. The client options left as None take the library's defaults when the store makes
    the client, and the caller's client's own settings otherwise."""

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
        max_attempts: int | None = None,
        retry_mode: str | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        client: Any = None,
        session: Any = None,
    ) -> None:
        if PREFIX_SEP in prefix:
            raise ConfigError(
                f"dynamodb prefix={prefix!r} must not contain {PREFIX_SEP!r}: it separates the "
                "prefix from the thread, so that no prefix can read another's threads"
            )
        if max_attempts is not None and max_attempts < 1:
            raise ConfigError(f"dynamodb max_attempts={max_attempts}: at least 1")
        if retry_mode is not None and retry_mode not in RETRY_MODES:
            raise ConfigError(f"dynamodb retry_mode={retry_mode!r}: use standard or adaptive")
        if (connect_timeout is not None and connect_timeout <= 0) or (
            read_timeout is not None and read_timeout <= 0
        ):
            raise ConfigError("dynamodb connect_timeout and read_timeout must be positive")
        client, session = aws.client_or_session(client, session, profile)
        self.table = table
        self.ttl = ttl
        self.consistent_read = consistent_read
        self.prefix = prefix
        self._root = prefix + PREFIX_SEP if prefix else ""
        self._sleep: Callable[[float], None] = time.sleep
        self._clock: Callable[[], float] = time.time
        self.owns_client = client is None
        if client is not None:
            # The caller's client, as it is: its credentials, retries, timeouts and
            # instrumentation. An option that would configure it is refused, not ignored.
            aws.check_service(client, "dynamodb")
            given = {
                "region": region,
                "endpoint_url": endpoint_url,
                "profile": profile,
                "max_attempts": max_attempts,
                "retry_mode": retry_mode,
                "connect_timeout": connect_timeout,
                "read_timeout": read_timeout,
            }
            conflicting = aws.conflicting_options(client, given)
            if conflicting:
                raise aws.conflict_error("dynamodb", "DynamoDB", conflicting)
            # What the client does is what our own loops and messages follow.
            self.retry_mode, self.max_attempts = aws.client_retries(client)
            self.connect_timeout = float(client.meta.config.connect_timeout)
            self.read_timeout = float(client.meta.config.read_timeout)
        else:
            self.max_attempts = max_attempts or DEFAULT_MAX_ATTEMPTS
            self.retry_mode = retry_mode or "standard"
            self.connect_timeout = connect_timeout or DEFAULT_CONNECT_TIMEOUT
            self.read_timeout = read_timeout or DEFAULT_READ_TIMEOUT
            try:
                if session is None:
                    session = boto3.session.Session(profile_name=profile)
                # Every request has a bounded wait and one retry budget (module docstring);
                # only on a client we make: a caller's client keeps its own Config.
                client = session.client(
                    "dynamodb",
                    region_name=region,
                    endpoint_url=endpoint_url,
                    config=Config(
                        retries={"mode": self.retry_mode, "total_max_attempts": self.max_attempts},
                        connect_timeout=self.connect_timeout,
                        read_timeout=self.read_timeout,
                        max_pool_connections=32,
                    ),
                )
            except NoRegionError:
                raise ConfigError(
                    f"dynamodb://{table}: no AWS region; add ?region=us-east-1 to the URL or set "
                    "AWS_REGION / AWS_DEFAULT_REGION"
                ) from None
            except BotoCoreError as e:
                raise ConfigError(f"dynamodb://{table}: {redact(str(e))}") from None
        self.client = client
        # Hints and the CLI name a custom endpoint even when it came with the client (or from
        # AWS_ENDPOINT_URL_DYNAMODB): without it, pasting them would target real AWS.
        self.endpoint_url = endpoint_url or aws.custom_endpoint(client)
        self.region: str = str(client.meta.region_name)
        # partition key -> {sort key: its chunk keys}: items a read found close to expiry
        self._stale: OrderedDict[str, OrderedDict[str, list[str]]] = OrderedDict()
        self._stale_lock = threading.Lock()

    def __repr__(self) -> str:
        where = f", endpoint_url={redact_url(self.endpoint_url)!r}" if self.endpoint_url else ""
        return f"DynamoDBKV(table={self.table!r}, region={self.region!r}{where})"

    # --- plumbing -----------------------------------------------------------------------------

    def _where(self) -> str:
        return f"table {self.table!r} in region {self.region!r}"

    def _backoff(self, attempt: int) -> None:
        """Capped exponential backoff with jitter, for the loops botocore cannot run."""
        self._sleep(min(5.0, 0.1 * 2**attempt) * (0.5 + random.random() / 2))

    @contextlib.contextmanager
    def _mapped(self, operation: str, passthrough: Iterable[str] = ()) -> Iterator[None]:
        """botocore's errors (raised after its retries) as this library's typed errors;
        ``passthrough`` error codes re-raised untouched for the caller to handle."""
        try:
            yield
        except ClientError as e:
            if str(e.response.get("Error", {}).get("Code", "")) in passthrough:
                raise
            raise self._error(operation, e) from None
        except (BotoConnectionError, HTTPClientError) as e:
            raise BackendUnavailableError(
                f"cannot reach DynamoDB at {self._endpoint()} ({self._where()}): {redact(str(e))}"
            ) from None
        except NoCredentialsError:
            raise ConfigError(aws.NO_CREDENTIALS) from None
        except WaiterError as e:
            raise DynamoDBError(f"DynamoDB {self._where()} did not become ACTIVE: {e}") from None

    def _call(self, operation: str, *, passthrough: Iterable[str] = (), **kwargs: Any) -> Any:
        """One API call; botocore retries it (``retry_mode``, ``max_attempts``)."""
        with self._mapped(operation, passthrough):
            return getattr(self.client, operation)(**kwargs)

    def _setup_url(self) -> str:
        """The URL ``checkpoint-kv setup`` needs to create our table where this store looks
        for it: the region and a custom endpoint (without it, the command would create the
        table on AWS), and ``ttl`` (setup enables TTL only with it)."""
        url = f"dynamodb://{self.table}?region={self.region}"
        if self.endpoint_url:
            url += f"&endpoint_url={redact_url(self.endpoint_url)}"
        if self.ttl is not None:
            url += f"&ttl={self.ttl}"
        return url

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
                f"`checkpoint-kv setup '{self._setup_url()}'`, or deploy "
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
        if PREFIX_SEP in partition:  # the saver's partitions are escaped ids: never
            raise ConfigError(f"dynamodb partition {partition!r} must not contain {PREFIX_SEP!r}")
        return self._root + partition

    def _key(self, pk: str, sk: str) -> Item:
        return {"PK": {"S": pk}, "SK": {"S": sk}}

    @staticmethod
    def _expiry(item: Item) -> int | None:
        """The item's ``ttl`` in epoch seconds; None without one, or with one of another type
        (DynamoDB's TTL ignores those too)."""
        t = item.get("ttl")
        try:
            return int(t["N"]) if isinstance(t, dict) else None
        except (KeyError, TypeError, ValueError):
            return None

    def _expired(self, item: Item, now: float) -> bool:
        t = self._expiry(item)
        return t is not None and t <= now

    def _note_stale(self, pk: str, items: Iterable[Item], now: float) -> None:
        """Remember items (any family) that expire within half the TTL: the partition's next
        commit refreshes them (see the module docstring)."""
        if self.ttl is None:
            return
        soon = now + self.ttl / 2
        stale: list[tuple[str, list[str]]] = []
        for i in items:
            t = self._expiry(i)
            if t is not None and t < soon:
                sk = i["SK"]["S"]
                stale.append((sk, _chunk_keys(i)))
                if is_record(sk) and "v" in i:
                    # A record outliving its blobs would read as damaged (get_state_history
                    # of an active thread): its references are refreshed with it.
                    stale += [(ref, []) for ref in follow_refs([(sk, i["v"]["B"])], 1)]
        if not stale:
            return
        with self._stale_lock:
            noted = self._stale.setdefault(pk, OrderedDict())
            for sk, chunks in stale:
                noted[sk] = chunks
                noted.move_to_end(sk)
            while len(noted) > NOTED_MAX_PER_PARTITION:
                noted.popitem(last=False)
            self._stale.move_to_end(pk)
            while len(self._stale) > NOTED_PARTITIONS:
                self._stale.popitem(last=False)

    # --- reads ----------------------------------------------------------------------------------

    def _unprocessed(self, operation: str, rounds: int) -> None:
        """Backoff before the next round of a batch's unprocessed part; give up (naming the
        table) after ``max_attempts`` rounds: DynamoDB throttles the batch for longer than the
        caller can wait."""
        if rounds >= self.max_attempts:
            raise DynamoDBError(
                f"DynamoDB {operation} on {self._where()}: items still unprocessed after "
                f"{rounds} rounds (throttled); raise the table's capacity or max_attempts"
            )
        self._backoff(rounds - 1)

    def _batch_get(self, pk: str, sks: Sequence[str], consistent: bool = False) -> dict[str, Item]:
        """Items by sort key, ``BATCH_GET_MAX`` keys per call, ``UnprocessedKeys`` retried (a
        bounded number of rounds). Chunks are always read consistently: a head may be visible
        before its chunks are."""
        out: dict[str, Item] = {}
        todo = list(dict.fromkeys(sks))
        for i in range(0, len(todo), BATCH_GET_MAX):
            request: dict[str, Any] = {
                self.table: {
                    "Keys": [self._key(pk, sk) for sk in todo[i : i + BATCH_GET_MAX]],
                    "ConsistentRead": self.consistent_read or consistent,
                }
            }
            rounds = 0
            while request:
                resp = self._call("batch_get_item", RequestItems=request)
                rounds += 1
                for item in resp.get("Responses", {}).get(self.table, []):
                    out[item["SK"]["S"]] = item
                request = resp.get("UnprocessedKeys") or {}
                if request:
                    self._unprocessed("BatchGetItem", rounds)
        return out

    def _live(self, pk: str, items: Iterable[Item]) -> list[Item]:
        """Items not past their TTL (DynamoDB removes expired items only eventually)."""
        now = self._clock()
        live = [i for i in items if not self._expired(i, now)]
        self._note_stale(pk, live, now)
        return live

    def _corrupt(self, pk: str, sk: str, what: str) -> CorruptRecordError:
        return CorruptRecordError(
            f"DynamoDB item {sk!r} of partition {pk!r} in {self._where()}: {what}"
        )

    def _binary(self, pk: str, sk: str, item: Item) -> bytes:
        """The ``v`` attribute, which must be binary."""
        v = item.get("v")
        if not isinstance(v, dict) or not isinstance(v.get("B"), (bytes, bytearray)):
            kind = (
                "missing" if v is None else f"of type {'/'.join(v) if isinstance(v, dict) else '?'}"
            )
            raise self._corrupt(pk, sk, f"value attribute 'v' is {kind}, expected binary (B)")
        return bytes(v["B"])

    def _assemble(
        self, pk: str, items: Sequence[Item], fetched: dict[str, Item]
    ) -> list[tuple[str, bytes]]:
        """``(key, value)`` per item, chunked values joined from ``fetched`` chunk items.
        A damaged item is a ``CorruptRecordError`` naming its key, never a guess."""
        out: list[tuple[str, bytes]] = []
        for item in items:
            sk = item["SK"]["S"]
            if "v" in item or "n" not in item:
                out.append((sk, self._binary(pk, sk, item)))
                continue
            chunks = _chunk_keys(item)
            try:
                total = int(item["z"]["N"])
            except (KeyError, TypeError, ValueError):
                total = -1
            if not chunks or total < 0:
                raise self._corrupt(pk, sk, "chunked value head without valid n / h / z")
            parts = []
            for ck in chunks:
                v = fetched[ck].get("v") if ck in fetched else None
                if not isinstance(v, dict) or not isinstance(v.get("B"), (bytes, bytearray)):
                    state = "missing" if ck not in fetched else "damaged (no binary 'v')"
                    raise self._corrupt(pk, sk, f"chunk {ck!r} of the value is {state}")
                parts.append(bytes(v["B"]))
            value = b"".join(parts)
            if len(value) != total:
                raise self._corrupt(pk, sk, "chunked value has the wrong length")
            out.append((sk, value))
        return out

    def _values(self, pk: str, items: Sequence[Item]) -> list[tuple[str, bytes]]:
        """Values of live items in order; chunked values cost one ``BatchGetItem``."""
        live = self._live(pk, items)
        needed = [k for i in live for k in _chunk_keys(i)]
        return self._assemble(pk, live, self._batch_get(pk, needed, True) if needed else {})

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
        """Items with ``start <= SK < end``; ``Limit`` is what is still needed, and
        ``LastEvaluatedKey`` is followed only while more is needed. Expired items are skipped
        (not counted) unless ``keys_only`` (deletes want them too)."""
        end = min(end, CHUNK_MARK)
        if end <= start or (limit is not None and limit <= 0):
            return []
        values: dict[str, Any] = {":p": {"S": pk}, ":e": {"S": end}}
        if start:  # BETWEEN is inclusive: an item equal to ``end`` is dropped below
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
        now = self._clock()
        out: list[Item] = []
        while True:
            if limit is not None:
                kwargs["Limit"] = limit - len(out)
            resp = self._call("query", **kwargs)
            at_end = False
            for item in resp.get("Items", []):
                if item["SK"]["S"] == end:
                    at_end = True
                elif keys_only or not self._expired(item, now):
                    out.append(item)
            lek = resp.get("LastEvaluatedKey")
            done = limit is not None and len(out) >= limit
            if lek is None or done or (at_end and not reverse):  # forward: ``end`` is the last
                break
            kwargs["ExclusiveStartKey"] = lek
        return out

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
        have = {i["SK"]["S"] for i in live}
        for item in live:
            if taken >= follow:
                break
            if "v" not in item:  # a chunked value might carry refs: resolve it first
                items = self._values(pk, live)
                refs = follow_refs(items, follow)
                return ScanResult(items, self.get(partition, refs) if refs else {})
            found = header_refs(self._binary(pk, item["SK"]["S"], item))
            if found is None:
                continue  # a write
            taken += 1
            refs += [k for k in found if k not in refs and k not in have]
        needed = [k for i in live for k in _chunk_keys(i)]
        fetched = self._batch_get(pk, needed + refs, bool(needed)) if needed or refs else {}
        heads = self._live(pk, [fetched[k] for k in refs if k in fetched])
        more = [k for i in heads for k in _chunk_keys(i) if k not in fetched]
        if more:
            fetched.update(self._batch_get(pk, more, True))
        return ScanResult(
            self._assemble(pk, live, fetched), dict(self._assemble(pk, heads, fetched))
        )

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

    def _actions(self, pk: str, ops: Sequence[Op]) -> tuple[list[_Action], set[str], bool]:
        """The item actions of a batch, the keys it writes or deletes, and whether it commits."""
        now = int(self._clock())
        expiry = {"ttl": {"N": str(now + self.ttl)}} if self.ttl is not None else {}
        base = len(pk) + _ITEM_OVERHEAD
        actions: list[_Action] = []
        written: set[str] = set()
        commit = False
        for op, chunks in self._coalesce(self._expand(pk, ops)):
            written.add(op.key)
            written.update(chunks)
            if isinstance(op, Delete):
                for ck in chunks:
                    actions.append(_Action("delete", ck, owner=op.key, size=base + len(ck)))
                actions.append(_Action("delete", op.key, owner=op.key, size=base + len(op.key)))
                continue
            commit = commit or op.commit
            cond = "absent" if op.if_absent else None
            value = op.value
            n = (len(value) + CHUNK_SIZE - 1) // CHUNK_SIZE if len(value) > INLINE_MAX else 0
            h = hashlib.sha256(op.key.encode() + b"\0" + value).hexdigest()[:40] if n else ""
            new_chunks = {_chunk_key(h, i) for i in range(n)}
            written.update(new_chunks)
            for ck in chunks:  # chunks of a value this put replaces (found by a DeleteRange)
                if ck not in new_chunks:
                    actions.append(_Action("delete", ck, owner=op.key, size=base + len(ck)))
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
        return actions, written, commit

    def _take_touches(self, pk: str, written: set[str], commit: bool) -> list[_Action]:
        """TTL refreshes due with this write: every noted item of the partition that it does
        not rewrite, if it commits (most recently read first, at most TOUCH_MAX_PER_COMMIT)."""
        if self.ttl is None:
            return []
        base = len(pk) + _ITEM_OVERHEAD
        out: list[_Action] = []
        with self._stale_lock:
            noted = self._stale.get(pk)
            if noted is None:
                return []
            for k in written:  # rewritten (fresh ttl) or deleted: nothing to refresh
                noted.pop(k, None)
            while commit and noted and len(out) < TOUCH_MAX_PER_COMMIT:
                key, chunks = noted.popitem(last=True)
                out += [_Action("touch", k, None, "exists", key, base + len(k)) for k in chunks]
                out.append(_Action("touch", key, None, "exists", key, base + len(key)))
            if not noted:
                del self._stale[pk]
        return out

    def _requeue(self, pk: str, touches: Sequence[_Action]) -> None:
        """Refreshes that could not be sent: due again at the partition's next commit."""
        with self._stale_lock:
            noted = self._stale.setdefault(pk, OrderedDict())
            for a in touches:
                if a.key == a.owner:
                    noted[a.key] = [t.key for t in touches if t.owner == a.key and t is not a]

    def _refresh(self, pk: str, touches: list[_Action]) -> None:
        """Refreshes that did not fit the commit's transaction, after it, in transactions of
        ``TX_MAX_ACTIONS``. The user's write has succeeded: a failure here is logged and the
        rest waits for the next commit (touches of deleted items simply drop out)."""
        for i in range(0, len(touches), TX_MAX_ACTIONS):
            pack = touches[i : i + TX_MAX_ACTIONS]
            try:
                if len(pack) == 1:
                    self._single(pk, pack[0])
                else:
                    self._transact(pk, pack)
            except (BackendError, BackendUnavailableError) as e:
                log.warning("DynamoDB TTL refresh deferred to the next commit: %s", e)
                self._requeue(pk, touches[i:])
                return

    def _tx_item(self, pk: str, a: _Action) -> dict[str, Any]:
        if a.kind == "delete":
            return {"Delete": {"TableName": self.table, "Key": self._key(pk, a.key)}}
        if a.kind == "touch":
            assert self.ttl is not None
            now = int(self._clock())
            return {
                "Update": {
                    "TableName": self.table,
                    "Key": self._key(pk, a.key),
                    # Only an item that still exists and has not expired: a refresh never
                    # revives data that readers already treat as gone.
                    "UpdateExpression": "SET #t = :t",
                    "ConditionExpression": "attribute_exists(PK) AND #t > :now",
                    "ExpressionAttributeNames": {"#t": "ttl"},
                    "ExpressionAttributeValues": {
                        ":t": {"N": str(now + self.ttl)},
                        ":now": {"N": str(now)},
                    },
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
        """One transaction; cancelled condition checks drop their actions (and their chunks).
        Cancellations for throttling or a conflicting transaction are sent again, at most
        ``max_attempts`` times in all (botocore sees only the cancellation, not its reasons)."""
        attempt = 1
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
                if others and others <= _TX_RETRYABLE and attempt < self.max_attempts:
                    self._backoff(attempt - 1)
                    attempt += 1
                    continue
                if others or not failed or any(actions[i].cond is None for i in failed):
                    raise self._error("TransactWriteItems", e) from None
                owners = {actions[i].owner for i in failed if actions[i].kind == "put"}
                actions = [
                    a
                    for i, a in enumerate(actions)
                    if i not in failed and not (a.kind == "put" and a.owner in owners)
                ]

    def _batch_write(self, pk: str, actions: Sequence[_Action]) -> None:
        """Unconditional puts and deletes, ``BATCH_WRITE_MAX`` per call, in any order;
        ``UnprocessedItems`` retried a bounded number of rounds. Calls are sequential, so the
        actions of an earlier call are all applied before any of a later one."""
        for i in range(0, len(actions), BATCH_WRITE_MAX):
            request: dict[str, Any] = {
                self.table: [
                    {"PutRequest": {"Item": a.item}}
                    if a.kind == "put"
                    else {"DeleteRequest": {"Key": self._key(pk, a.key)}}
                    for a in actions[i : i + BATCH_WRITE_MAX]
                ]
            }
            rounds = 0
            while request:
                resp = self._call("batch_write_item", RequestItems=request)
                rounds += 1
                request = resp.get("UnprocessedItems") or {}
                if request:
                    self._unprocessed("BatchWriteItem", rounds)

    @staticmethod
    def _fits(actions: Sequence[_Action]) -> bool:
        return len(actions) <= TX_MAX_ACTIONS and sum(a.size for a in actions) <= TX_MAX_BYTES

    def write(self, partition: str, ops: Sequence[Op]) -> None:
        if not ops:
            return
        pk = self._pk(partition)
        actions, written, commit = self._actions(pk, ops)
        touches = self._take_touches(pk, written, commit)
        # TTL refreshes ride in the commit's own transaction while it fits; the rest follow it.
        if touches and self._fits(actions):
            room = TX_MAX_ACTIONS - len(actions)
            size = sum(a.size for a in actions)
            n = 0
            while n < min(room, len(touches)) and size + touches[n].size <= TX_MAX_BYTES:
                size += touches[n].size
                n += 1
            actions, touches = actions + touches[:n], touches[n:]
        if len(actions) == 1:
            self._single(pk, actions[0])
        elif self._fits(actions):
            self._transact(pk, actions)
        else:
            for group in self._groups(actions):
                self._write_group(pk, group)
        if touches:
            self._refresh(pk, touches)

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
        """Every item of the partition (chunks included), in reverse of how they were written:
        first the checkpoint records (newest first), then - once every record is gone - their
        writes, blobs and chunks. A crash or a concurrent reader mid-drop never meets a record
        whose data is gone; a crashed drop is finished by the next one."""
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
        records = sorted((k for k in keys if is_checkpoint_record(k)), reverse=True)
        rest = [k for k in keys if not is_checkpoint_record(k)]
        for phase in (records, rest):
            self._batch_write(pk, [_Action("delete", k) for k in phase])
        with self._stale_lock:
            self._stale.pop(pk, None)

    # --- admin ----------------------------------------------------------------------------------

    def partitions(self, cursor: str | None = None) -> PartitionPage:
        """A page of this prefix's partitions from a projected Scan; the cursor is the scan
        position plus the last partition reported (its items may continue on the next page).
        A prefix sees only keys ``prefix#...``; the empty prefix only keys without ``#``."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "ProjectionExpression": "PK",
        }
        if self.prefix:
            kwargs["FilterExpression"] = "begins_with(PK, :x)"
        else:
            kwargs["FilterExpression"] = "NOT contains(PK, :x)"
        kwargs["ExpressionAttributeValues"] = {":x": {"S": self._root or PREFIX_SEP}}
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
                    parts.append(pk[len(self._root) :])
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
            resp = self._call(
                "describe_table", passthrough={"ResourceNotFoundException"}, TableName=self.table
            )
            desc: dict[str, Any] = resp["Table"]
        except ClientError:
            desc = self._create()
        keys = {k["AttributeName"]: k["KeyType"] for k in desc.get("KeySchema", [])}
        if keys != {"PK": "HASH", "SK": "RANGE"}:
            raise ConfigError(
                f"DynamoDB {self._where()} has key schema {keys}; checkpoint-kv needs "
                "PK (HASH, string) and SK (RANGE, string)"
            )
        if desc.get("TableStatus") != "ACTIVE":
            with self._mapped("DescribeTable"):
                waiter = self.client.get_waiter("table_exists")
                waiter.wait(TableName=self.table, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
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
            resp = self._call(
                "create_table",
                passthrough={"ResourceInUseException"},
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
        except ClientError:  # created concurrently by another process
            desc = self._call("describe_table", TableName=self.table)["Table"]
        return desc

    def info(self) -> dict[str, Any]:
        """The port's optional ``info()`` (what ``checkpoint-kv doctor`` reports): region and
        endpoint, the table's status, billing mode and size, its TTL setting, and a ``ttl``
        problem when items carry an expiry the table does not act on."""
        table = self._call("describe_table", TableName=self.table)["Table"]
        ttl_desc = self._call("describe_time_to_live", TableName=self.table)
        status = ttl_desc.get("TimeToLiveDescription", {}).get("TimeToLiveStatus", "DISABLED")
        billing = table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
        where = f" at {redact_url(self.endpoint_url)}" if self.endpoint_url else ""
        problems = []
        if self.ttl and status not in ("ENABLED", "ENABLING"):
            problems.append(
                {
                    "check": "ttl",
                    "detail": f"items carry a ttl but the table's TTL is {status}: nothing expires",
                    "fix": f"aws dynamodb update-time-to-live --table-name {self.table} "
                    "--time-to-live-specification Enabled=true,AttributeName=ttl"
                    + aws.cli_target(self.region, self.endpoint_url),
                }
            )
        return {
            "server_version": f"DynamoDB, region {self.region}{where}",
            "ttl": f"table TTL {status}; items "
            + (f"expire {self.ttl} s after their last write" if self.ttl else "carry no ttl"),
            "table": f"{self.table}: {table.get('TableStatus')}, {billing}, "
            f"{table.get('ItemCount', '?')} items",
            "problems": problems,
        }

    def close(self) -> None:
        """Close the DynamoDB client if this store made it (from the URL's options or
        ``session=``); a caller's ``client=`` stays open, whoever else uses it. A saver kept
        at module scope (Lambda) is never closed: its client lives as long as the container."""
        if self.owns_client:
            self.client.close()


OPTIONS = Schema(
    "dynamodb",
    [
        Option("region", "str", None, "AWS region (default: the AWS configuration's)"),
        Option("endpoint_url", "str", None, "a DynamoDB-compatible endpoint (moto, LocalStack)"),
        Option("profile", "str", None, "AWS profile for the credentials"),
        Option("ttl", "duration", None, "items expire this long after their last write", min=1),
        Option("consistent_read", "bool", True, "strongly consistent reads"),
        Option("prefix", "str", "", "tenant prefix of every partition key"),
        Option("max_attempts", "int", None, "attempts per request, the first included", min=1),
        Option("max_retries", "int", None, "older spelling of max_attempts - 1", min=0),
        Option("retry_mode", "enum", None, "botocore's retry mode", choices=RETRY_MODES),
        Option("connect_timeout", "float", None, "seconds per connect (default 5)", above=0),
        Option("read_timeout", "float", None, "seconds per reply (default 10)", above=0),
    ],
)


def from_url(url: str, **options: Any) -> DynamoDBKV:
    """``dynamodb://TABLE?region=&endpoint_url=&ttl=&consistent_read=&prefix=&profile=``
    ``&max_attempts=&retry_mode=&connect_timeout=&read_timeout=`` (see the module docstring;
    ``max_retries=N`` is the older spelling of ``max_attempts=N+1``).

    ``client=`` (a boto3 DynamoDB client) is used as it is and never closed; ``session=`` (a
    ``boto3.Session``: its credentials, profile, region) makes the store's client, with this
    URL's options."""
    client = options.pop("client", None)
    session = options.pop("session", None)
    base, query = url_query(url, options)
    aws.refuse_credentials("dynamodb", base, query, OPTIONS.names)
    rest = base.split("://", 1)[1]
    table = unquote(rest.strip("/"))
    if not table or "/" in table or not 3 <= len(table) <= 255:
        raise ConfigError(
            "dynamodb URL needs a table name (3-255 chars): dynamodb://TABLE, "
            f"got {redact_url(url)!r}"
        )
    opts = OPTIONS.parse(query)
    if opts["max_attempts"] is not None and opts["max_retries"] is not None:
        raise ConfigError("dynamodb: give max_attempts or max_retries (= max_attempts - 1)")
    attempts: int | None = opts["max_attempts"]  # None: the store's default, or the client's
    if opts["max_retries"] is not None:
        attempts = opts["max_retries"] + 1
    timeouts = {
        name: opts[name] for name in ("connect_timeout", "read_timeout") if opts[name] is not None
    }
    settings: dict[str, Any] = {
        "region": opts["region"] or None,
        "endpoint_url": opts["endpoint_url"] or None,
        "profile": opts["profile"] or None,
        "max_attempts": attempts,
        "retry_mode": opts["retry_mode"],
        **timeouts,
    }
    if client is not None and not aws.is_session(client):
        # Refused here too, to name the options as the URL spells them (max_retries).
        aws.check_service(client, "dynamodb")
        conflicting = aws.conflicting_options(client, settings)
        if conflicting:
            if "max_retries" in query:
                conflicting = sorted(
                    "max_retries" if n == "max_attempts" else n for n in conflicting
                )
            raise aws.conflict_error("dynamodb", "DynamoDB", conflicting)
    return DynamoDBKV(
        table,
        ttl=opts["ttl"],
        consistent_read=opts["consistent_read"],
        prefix=opts["prefix"],
        client=client,
        session=session,
        **settings,
    )


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
