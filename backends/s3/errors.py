"""botocore's errors turned into checkpoint-kv's, with a message that says what to do.

Every S3 request goes through :func:`call`: a missing bucket becomes
:class:`~checkpoint_kv.errors.StoreNotFoundError` with the ``aws s3 mb`` line that creates it
where this store looks (its endpoint and region: without them the line would act on real AWS);
an endpoint that cannot be reached, :class:`~checkpoint_kv.errors.BackendUnavailableError`
naming ``host:port`` (never the URL's credentials); no credentials, a
:class:`~checkpoint_kv.errors.ConfigError`. Every other ``ClientError`` goes to the caller, who
knows which codes mean "absent" for its request (:func:`code`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import ClientError, HTTPClientError, NoCredentialsError
from botocore.exceptions import ConnectionError as BotoConnectionError

from checkpoint_kv.backends import _aws as aws
from checkpoint_kv.errors import BackendUnavailableError, ConfigError, StoreNotFoundError, redact

__all__ = ["call", "code", "mb_command", "where"]


def code(e: ClientError) -> str | None:
    """The error code S3 answered (``NoSuchKey``, ``404``, ``PreconditionFailed``...)."""
    found: str | None = e.response.get("Error", {}).get("Code")
    return found


def where(client: Any, endpoint_url: str | None) -> str:
    """``host:port`` of the endpoint, for error messages (never its credentials)."""
    url = endpoint_url or str(getattr(client.meta, "endpoint_url", ""))
    parts = urlsplit(url)
    if not parts.hostname:
        return "S3"
    return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


def mb_command(client: Any, bucket: str, endpoint_url: str | None) -> str:
    """The ``aws s3 mb`` line that creates our bucket where this store looks for it (with
    the endpoint and region: without them it would create it on AWS, or elsewhere)."""
    region: str | None = getattr(client.meta, "region_name", None)
    target: str = aws.cli_target(region, endpoint_url)
    return f"aws s3 mb s3://{bucket}{target}"


def call(client: Any, bucket: str, endpoint_url: str | None, operation: str, /, **kw: Any) -> Any:
    """One S3 request on ``bucket``, with botocore's errors turned into ours where we have one."""
    try:
        return getattr(client, operation)(Bucket=bucket, **kw)
    except ClientError as e:
        if code(e) == "NoSuchBucket":
            raise StoreNotFoundError(
                f"S3 bucket {bucket!r} does not exist: call saver.setup() to create it, "
                f"or create it yourself ({mb_command(client, bucket, endpoint_url)})"
            ) from None
        raise
    except (BotoConnectionError, HTTPClientError) as e:
        raise BackendUnavailableError(
            f"cannot reach S3 at {where(client, endpoint_url)}: {redact(str(e))}"
        ) from None
    except NoCredentialsError:
        raise ConfigError(aws.NO_CREDENTIALS) from None
