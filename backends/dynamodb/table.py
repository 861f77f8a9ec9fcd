"""The table itself: created on demand by ``setup()``, described by ``info()``.

``setup()`` creates the table if missing (keys ``PK`` and ``SK``, both strings, on-demand
billing), waits until it is ACTIVE, refuses a table of another key schema, and enables
DynamoDB's TTL on the ``ttl`` attribute when the store writes one. ``info()`` is what
``checkpoint-kv doctor`` reports, with a fix for a table that ignores the items' expiry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from checkpoint_kv.backends import _aws as aws
from checkpoint_kv.errors import ConfigError, redact_url

from . import errors

if TYPE_CHECKING:
    from .kv import DynamoDBKV

TTL_ON = ("ENABLED", "ENABLING")


def setup(kv: DynamoDBKV) -> None:
    """Create the table if missing (on-demand), wait until ACTIVE, enable TTL if configured."""
    try:
        resp = kv._call(
            "describe_table", passthrough={"ResourceNotFoundException"}, TableName=kv.table
        )
        desc: dict[str, Any] = resp["Table"]
    except ClientError:
        desc = create(kv)
    keys = {k["AttributeName"]: k["KeyType"] for k in desc.get("KeySchema", [])}
    if keys != {"PK": "HASH", "SK": "RANGE"}:
        raise ConfigError(
            f"DynamoDB {errors.where(kv)} has key schema {keys}; checkpoint-kv needs "
            "PK (HASH, string) and SK (RANGE, string)"
        )
    if desc.get("TableStatus") != "ACTIVE":
        with errors.mapped(kv, "DescribeTable"):
            waiter = kv.client.get_waiter("table_exists")
            waiter.wait(TableName=kv.table, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    if kv.ttl is not None:
        status = kv._call("describe_time_to_live", TableName=kv.table)
        ttl_desc = status.get("TimeToLiveDescription", {})
        if ttl_desc.get("TimeToLiveStatus") not in TTL_ON:
            kv._call(
                "update_time_to_live",
                TableName=kv.table,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"},
            )


def create(kv: DynamoDBKV) -> dict[str, Any]:
    """The new table's description (or the existing one's, created concurrently)."""
    try:
        resp = kv._call(
            "create_table",
            passthrough={"ResourceInUseException"},
            TableName=kv.table,
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
        desc = kv._call("describe_table", TableName=kv.table)["Table"]
    return desc


def info(kv: DynamoDBKV) -> dict[str, Any]:
    """The port's optional ``info()`` (what ``checkpoint-kv doctor`` reports): region and
    endpoint, the table's status, billing mode and size, its TTL setting, and a ``ttl``
    problem when items carry an expiry the table does not act on."""
    table = kv._call("describe_table", TableName=kv.table)["Table"]
    ttl_desc = kv._call("describe_time_to_live", TableName=kv.table)
    status = ttl_desc.get("TimeToLiveDescription", {}).get("TimeToLiveStatus", "DISABLED")
    billing = table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    where = f" at {redact_url(kv.endpoint_url)}" if kv.endpoint_url else ""
    problems = []
    if kv.ttl and status not in TTL_ON:
        problems.append(
            {
                "check": "ttl",
                "detail": f"items carry a ttl but the table's TTL is {status}: nothing expires",
                "fix": f"aws dynamodb update-time-to-live --table-name {kv.table} "
                "--time-to-live-specification Enabled=true,AttributeName=ttl"
                + aws.cli_target(kv.region, kv.endpoint_url),
            }
        )
    return {
        "server_version": f"DynamoDB, region {kv.region}{where}",
        "ttl": f"table TTL {status}; items "
        + (f"expire {kv.ttl} s after their last write" if kv.ttl else "carry no ttl"),
        "table": f"{kv.table}: {table.get('TableStatus')}, {billing}, "
        f"{table.get('ItemCount', '?')} items",
        "problems": problems,
    }
