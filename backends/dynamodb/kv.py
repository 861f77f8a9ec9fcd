"""``DynamoDBKV``: the port's methods over one table, each delegating to the module of its
concern (``reads``, ``transactions``, ``refresh``, ``table``; ``config`` makes the client),
plus the two that need the whole partition.

- ``partitions`` is a paginated, projected ``Scan`` (admin path: ``list(None)``, CLI). Items of
  one partition are contiguous in a scan, so the cursor remembers the last partition it reported
  and a partition spanning two pages is reported once.
- ``drop`` deletes in two phases, each complete before the next: the checkpoint records
  (``c!...!~``, newest first), then everything else. A crash or a concurrent reader mid-drop
  never sees a record whose writes or blobs are gone.

Every request goes through ``_call`` (botocore's errors translated, see ``errors``); the
clock (``_clock``) and the backoff's sleep (``_sleep``) are attributes too, so a test can
replace them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from checkpoint_kv.errors import ConfigError, redact_url
from checkpoint_kv.keys import is_checkpoint_record
from checkpoint_kv.port import Op, PartitionPage, ScanResult

from . import config, errors, reads, refresh, transactions
from . import table as tables
from .items import PREFIX_SEP, Action, actions, key


class DynamoDBKV:
    """The port over one DynamoDB table (see ``checkpoint_kv.backends.dynamodb.items`` for the
    layout).

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
        conn = config.connect(
            table,
            region=region,
            endpoint_url=endpoint_url,
            profile=profile,
            max_attempts=max_attempts,
            retry_mode=retry_mode,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            client=client,
            session=session,
        )
        self.table = table
        self.ttl = ttl
        self.consistent_read = consistent_read
        self.prefix = prefix
        self._root = prefix + PREFIX_SEP if prefix else ""
        self._sleep: Callable[[float], None] = time.sleep
        self._clock: Callable[[], float] = time.time
        self.owns_client = conn.owns_client
        self.max_attempts = conn.max_attempts
        self.retry_mode = conn.retry_mode
        self.connect_timeout = conn.connect_timeout
        self.read_timeout = conn.read_timeout
        self.client = conn.client
        self.endpoint_url = conn.endpoint_url
        self.region: str = conn.region
        # items a read found close to expiry, refreshed by their partition's next commit
        self._stale = refresh.RefreshQueue(ttl)

    def __repr__(self) -> str:
        where = f", endpoint_url={redact_url(self.endpoint_url)!r}" if self.endpoint_url else ""
        return f"DynamoDBKV(table={self.table!r}, region={self.region!r}{where})"

    def _call(self, operation: str, *, passthrough: Iterable[str] = (), **kwargs: Any) -> Any:
        """One API call; botocore retries it (``retry_mode``, ``max_attempts``)."""
        with errors.mapped(self, operation, passthrough):
            return getattr(self.client, operation)(**kwargs)

    def _pk(self, partition: str) -> str:
        if PREFIX_SEP in partition:  # the saver's partitions are escaped ids: never
            raise ConfigError(f"dynamodb partition {partition!r} must not contain {PREFIX_SEP!r}")
        return self._root + partition

    # --- the port -------------------------------------------------------------------------------

    def get(self, partition: str, keys: Sequence[str]) -> dict[str, bytes]:
        if not keys:
            return {}
        return reads.get(self, self._pk(partition), keys)

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
        return reads.scan(self, pk, start, end, reverse=reverse, limit=limit, follow=follow)

    def write(self, partition: str, ops: Sequence[Op]) -> None:
        if not ops:
            return
        pk = self._pk(partition)
        now = int(self._clock())  # every item of the batch gets the same ttl
        net = transactions.coalesce(transactions.expand(self, pk, ops))
        todo, written, commit = actions(pk, net, now, self.ttl)
        touches = self._stale.take(pk, written, commit)
        if touches:
            touches = refresh.with_writes(self, pk, touches)
        # TTL refreshes ride in the commit's own transaction while it fits; the rest follow it.
        todo, touches = refresh.ride(todo, touches)
        transactions.send(self, pk, todo)
        if touches:
            refresh.flush(self, pk, touches)

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
            transactions.batch_write(self, pk, [Action("delete", k) for k in phase])
        self._stale.forget(pk)

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
            kwargs["ExclusiveStartKey"] = key(pk, sk)
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
        tables.setup(self)

    def info(self) -> dict[str, Any]:
        """What ``checkpoint-kv doctor`` reports (see ``table.info``)."""
        return tables.info(self)

    def close(self) -> None:
        """Close the DynamoDB client if this store made it (from the URL's options or
        ``session=``); a caller's ``client=`` stays open, whoever else uses it. A saver kept
        at module scope (Lambda) is never closed: its client lives as long as the container."""
        if self.owns_client:
            self.client.close()
