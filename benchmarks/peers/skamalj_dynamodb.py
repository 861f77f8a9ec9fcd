"""langgraph-dynamodb-checkpoint (skamalj) on moto's server; it creates its own table."""

from __future__ import annotations

from typing import Any

from benchmarks.counting import Recorder, patch_botocore
from benchmarks.peers import Handle, ddb_held, safe_name

LABEL = "langgraph-dynamodb-checkpoint"
UNIT = "API calls"
VENV = "skamalj"
SERVICE = "moto"
IMPORT = "from langgraph_dynamodb_checkpoint import DynamoDBSaver"


def open(ctx: dict[str, Any], workload: str, rec: Recorder) -> Handle:
    import boto3
    from langgraph_dynamodb_checkpoint import DynamoDBSaver

    table = safe_name("skamalj", workload)
    admin = boto3.client("dynamodb", endpoint_url=ctx["services"]["moto"])
    saver = DynamoDBSaver(table_name=table)  # endpoint from AWS_ENDPOINT_URL
    patch_botocore(rec)
    return Handle(saver, lambda: ddb_held(admin, table))
