"""What the DynamoDB and S3 backends share about boto3: telling a caller's Session from a
client, refusing another service's client, and naming a non-AWS endpoint in hints (pasting a
hint must never target real AWS when the store talks to moto, MinIO or LocalStack)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import boto3

from checkpoint_kv.errors import ConfigError, redact_url

__all__ = ["NO_CREDENTIALS", "check_service", "cli_target", "custom_endpoint", "is_session"]

NO_CREDENTIALS = (
    "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/"
    "AWS_SECRET_ACCESS_KEY, or run with an IAM role (never put them in the URL)"
)


def is_session(obj: Any) -> bool:
    """A ``boto3.Session`` (it makes clients; a client has ``meta`` instead)."""
    if isinstance(obj, boto3.session.Session):
        return True
    return callable(getattr(obj, "client", None)) and not hasattr(obj, "meta")


def check_service(client: Any, service: str) -> None:
    """A client of another service (``boto3.client("dynamodb")`` for an ``s3://`` URL) would
    fail on its first call with an AttributeError: say so at once."""
    model = getattr(getattr(client, "meta", None), "service_model", None)
    name = getattr(model, "service_name", service)
    if name != service:
        raise ConfigError(
            f"client= is a {name!r} client; the {service}:// backend needs "
            f'boto3.client("{service}") (or pass session=)'
        )


def custom_endpoint(client: Any) -> str | None:
    """The client's endpoint when it is not AWS's own (moto, MinIO, LocalStack...)."""
    url = str(getattr(getattr(client, "meta", None), "endpoint_url", "") or "")
    host = urlsplit(url).hostname or ""
    if not host or host.endswith((".amazonaws.com", ".amazonaws.com.cn")):
        return None
    return url


def cli_target(region: str | None, endpoint_url: str | None) -> str:
    """`` --region R --endpoint-url URL`` for an ``aws`` command a hint prints: without the
    endpoint, pasting it would act on real AWS instead of the emulator or store in the URL."""
    out = f" --region {region}" if region else ""
    return out + (f" --endpoint-url {redact_url(endpoint_url)}" if endpoint_url else "")
