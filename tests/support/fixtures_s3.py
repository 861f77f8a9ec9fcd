"""``url_s3``: a fresh bucket per test on the session's moto server (real HTTP, see
``tests/support/fixtures_aws.py``). The bucket is created by ``setup()``, as a user's would be."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import pytest


@pytest.fixture
def url_s3(moto_endpoint: str) -> str:
    bucket = f"ckv-{uuid.uuid4().hex[:16]}"
    return f"s3://{bucket}/ckv?region=us-east-1&endpoint_url={quote(moto_endpoint, safe='')}"
