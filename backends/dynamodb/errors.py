"""Failures: botocore's errors as this library's typed errors, and the bounded retry loops
botocore cannot run.

botocore's retry modes (``retry_mode`` ``standard`` or ``adaptive``, one ``max_attempts``,
default 5, counting the first attempt) cover throttling, 5xx (whatever the body), timeouts and
dropped connections. Own loops only where botocore cannot help, bounded by the same
``max_attempts`` with capped, jittered backoff (:func:`backoff`): ``UnprocessedKeys`` /
``UnprocessedItems`` (then :class:`DynamoDBError` naming the table, :func:`unprocessed`) and
transactions cancelled for throttling or conflicts (``TX_RETRYABLE``, see
``transactions.transact``). ``connect_timeout`` and ``read_timeout`` bound every attempt, so a
silent peer fails with ``BackendUnavailableError`` after at most ``max_attempts`` x (timeouts +
backoff). Errors name the operation, table and region; an unreachable endpoint names host:port;
missing credentials are a ``ConfigError`` saying how to provide them; a missing table a
``StoreNotFoundError`` saying how to create it.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from botocore.exceptions import (
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    WaiterError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from checkpoint_kv.backends import _aws as aws
from checkpoint_kv.errors import (
    BackendError,
    BackendUnavailableError,
    ConfigError,
    StoreNotFoundError,
    redact,
    redact_url,
)

if TYPE_CHECKING:
    from .kv import DynamoDBKV

# Reasons of a cancelled transaction worth sending it again (botocore cannot see inside one).
TX_RETRYABLE = frozenset(
    {"ThrottlingError", "TransactionConflict", "ProvisionedThroughputExceeded"}
)


class DynamoDBError(BackendError):
    """DynamoDB refused a request (after botocore's retries) for a reason other than a
    missing table: access denied, validation, throttling that outlasted every attempt."""


def where(kv: DynamoDBKV) -> str:
    return f"table {kv.table!r} in region {kv.region!r}"


def endpoint(kv: DynamoDBKV) -> str:
    """``host:port`` of the client's endpoint, for an unreachable one."""
    url = str(kv.client.meta.endpoint_url)
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


def setup_url(kv: DynamoDBKV) -> str:
    """The URL ``checkpoint-kv setup`` needs to create our table where this store looks
    for it: the region and a custom endpoint (without it, the command would create the
    table on AWS), and ``ttl`` (setup enables TTL only with it)."""
    url = f"dynamodb://{kv.table}?region={kv.region}"
    if kv.endpoint_url:
        url += f"&endpoint_url={redact_url(kv.endpoint_url)}"
    if kv.ttl is not None:
        url += f"&ttl={kv.ttl}"
    return url


def translate(kv: DynamoDBKV, operation: str, e: ClientError) -> Exception:
    """A ``ClientError`` (botocore has given up) as the error to raise."""
    err = e.response.get("Error", {})
    code, msg = err.get("Code", "?"), err.get("Message", "")
    if code == "ResourceNotFoundException":
        return StoreNotFoundError(
            f"DynamoDB {where(kv)} does not exist. Create it with saver.setup(), "
            f"`checkpoint-kv setup '{setup_url(kv)}'`, or deploy "
            "examples/lambda_agent/template.yaml (keys PK and SK, both strings)."
        )
    if code in ("AccessDeniedException", "UnrecognizedClientException"):
        return DynamoDBError(
            f"DynamoDB {operation} denied on {where(kv)}: {code}: {msg} (the policy "
            "needs Query, BatchGetItem, PutItem, UpdateItem, DeleteItem, BatchWriteItem; "
            "see examples/lambda_agent/template.yaml)"
        )
    return DynamoDBError(f"DynamoDB {operation} failed on {where(kv)}: {code}: {msg}")


@contextlib.contextmanager
def mapped(kv: DynamoDBKV, operation: str, passthrough: Iterable[str] = ()) -> Iterator[None]:
    """botocore's errors (raised after its retries) as this library's typed errors;
    ``passthrough`` error codes re-raised untouched for the caller to handle."""
    try:
        yield
    except ClientError as e:
        if str(e.response.get("Error", {}).get("Code", "")) in passthrough:
            raise
        raise translate(kv, operation, e) from None
    except (BotoConnectionError, HTTPClientError) as e:
        raise BackendUnavailableError(
            f"cannot reach DynamoDB at {endpoint(kv)} ({where(kv)}): {redact(str(e))}"
        ) from None
    except NoCredentialsError:
        raise ConfigError(aws.NO_CREDENTIALS) from None
    except WaiterError as e:
        raise DynamoDBError(f"DynamoDB {where(kv)} did not become ACTIVE: {e}") from None


def backoff(kv: DynamoDBKV, attempt: int) -> None:
    """Capped exponential backoff with jitter, for the loops botocore cannot run."""
    kv._sleep(min(5.0, 0.1 * 2**attempt) * (0.5 + random.random() / 2))


def unprocessed(kv: DynamoDBKV, operation: str, rounds: int) -> None:
    """Backoff before the next round of a batch's unprocessed part; give up (naming the
    table) after ``max_attempts`` rounds: DynamoDB throttles the batch for longer than the
    caller can wait."""
    if rounds >= kv.max_attempts:
        raise DynamoDBError(
            f"DynamoDB {operation} on {where(kv)}: items still unprocessed after "
            f"{rounds} rounds (throttled); raise the table's capacity or max_attempts"
        )
    backoff(kv, rounds - 1)
