"""langgraph-checkpoint-aws ``DynamoDBSaver`` on moto's server (table PK/SK made here)."""

from __future__ import annotations

from typing import Any

from benchmarks.counting import Recorder, patch_botocore
from benchmarks.peers import Handle, ddb_held, safe_name

LABEL = "langgraph-checkpoint-aws DynamoDBSaver"
UNIT = "API calls"
VENV = "aws"
SERVICE = "moto"
IMPORT = "from langgraph_checkpoint_aws import DynamoDBSaver"


def open(ctx: dict[str, Any], workload: str, rec: Recorder) -> Handle:
    import boto3
    from langgraph_checkpoint_aws import DynamoDBSaver

    endpoint = ctx["services"]["moto"]
    table = safe_name("aws", workload)
    admin = boto3.client("dynamodb", endpoint_url=endpoint)
    admin.create_table(
        TableName=table,
        KeySchema=[
            {"AttributeName": "PK", "KeyType": "HASH"},
            {"AttributeName": "SK", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "PK", "AttributeType": "S"},
            {"AttributeName": "SK", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    saver = DynamoDBSaver(table_name=table, endpoint_url=endpoint, region_name="us-east-1")
    patch_botocore(rec)
    return Handle(saver, lambda: ddb_held(admin, table))
