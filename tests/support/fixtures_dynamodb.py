"""DynamoDB fixtures: ``url_dynamodb`` on the session's moto server (real HTTP), a fresh table
per test; ``url_dynamodb_inproc`` on moto's in-process ``mock_aws`` for fast unit tests."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest


def table_name() -> str:
    return "ckv-" + uuid.uuid4().hex[:12]


@pytest.fixture
def url_dynamodb(moto_endpoint: str) -> str:
    return f"dynamodb://{table_name()}?region=us-east-1&endpoint_url={moto_endpoint}"


@pytest.fixture
def url_dynamodb_inproc() -> Iterator[str]:
    """Stores must be created inside the test (the mock patches clients made while active)."""
    from moto import mock_aws

    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ.setdefault(var, value)
    with mock_aws():
        yield f"dynamodb://{table_name()}?region=us-east-1"
