"""An ``s3://`` URL and its options, checked, and the boto3 client they make (or the
caller's own, used as it is).

URL: ``s3://BUCKET/PREFIX?region=...&endpoint_url=...`` plus the usual AWS configuration
(environment, ``~/.aws``, instance roles; never credentials in the URL). Options:
``region``, ``endpoint_url`` (S3-compatible stores), ``profile``, ``addressing_style``
(``path`` for MinIO), ``max_workers`` (default 32), ``conditional_writes`` (default true),
``connect_timeout`` / ``read_timeout`` (seconds, default 5 and 20; botocore's own are 60),
``max_attempts`` (default 3: botocore's standard retries, first attempt included; a silent peer
costs at most attempts x (connect + read) plus backoff, then ``BackendUnavailableError`` naming
host:port), ``cache_mb`` (default 64), ``checksums``
(``auto``: botocore's CRC checksums on AWS, only where required with ``endpoint_url``, since
many S3-compatible stores refuse them; or ``when_supported`` / ``when_required``).

Bring your own (keyword only): ``client=`` a boto3 S3 client, used as it is for every request
(its credentials, retry config, X-Ray/OpenTelemetry hooks) and never closed by the store; the
options that configure a client are then refused unless equal to the client's. ``session=`` a
``boto3.Session`` (an assumed role, a profile): the store makes its client from it with the
options above and closes that client, never the session.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

import boto3
from botocore.config import Config

from checkpoint_kv.backends import _aws as aws
from checkpoint_kv.backends.s3.layout import MAX_PREFIX
from checkpoint_kv.errors import ConfigError
from checkpoint_kv.options import Option, Schema, url_query

__all__ = [
    "CONNECT_TIMEOUT",
    "MAX_ATTEMPTS",
    "OPTIONS",
    "READ_TIMEOUT",
    "check",
    "make_client",
    "url_arguments",
]

CONNECT_TIMEOUT = 5.0  # seconds; botocore's own default is 60
READ_TIMEOUT = 20.0  # seconds without a byte from the server; botocore's own default is 60
MAX_ATTEMPTS = 3  # botocore's standard retry mode, first attempt included

OPTIONS = Schema(
    "s3",
    [
        Option("region", "str", None, "AWS region (default: the AWS configuration's)"),
        Option("endpoint_url", "str", None, "an S3-compatible store (MinIO, R2, Ceph RGW...)"),
        Option("profile", "str", None, "AWS profile for the credentials"),
        Option(
            "addressing_style",
            "enum",
            None,
            "path for MinIO",
            choices=("path", "virtual", "auto"),
        ),
        Option("max_workers", "int", 32, "parallel requests (and HTTP connections)", min=1),
        Option("conditional_writes", "bool", True, "If-None-Match writes (else HEAD + PUT)"),
        Option("connect_timeout", "float", CONNECT_TIMEOUT, "seconds per connect", above=0),
        Option("read_timeout", "float", READ_TIMEOUT, "seconds per reply", above=0),
        Option("max_attempts", "int", MAX_ATTEMPTS, "attempts per request", min=1),
        Option(
            "checksums",
            "enum",
            "auto",
            "CRC checksums: auto is when_required with endpoint_url",
            choices=("auto", "when_supported", "when_required"),
        ),
        Option("cache_mb", "float", 64, "cache of values by ETag (0: off)", min=0),
    ],
)

# What configures the S3 client: a caller's client= is used as it is, so these would silently
# not apply (equal values are accepted: a shared URL may carry them).
_CLIENT_OPTIONS = {
    "region",
    "endpoint_url",
    "profile",
    "addressing_style",
    "connect_timeout",
    "read_timeout",
    "max_attempts",
    "checksums",
}


def check(
    bucket: str,
    prefix: str,
    *,
    max_workers: int,
    max_attempts: int,
    connect_timeout: float,
    read_timeout: float,
    cache_mb: float,
    checksums: str,
) -> str:
    """The prefix without its outer slashes; a ConfigError for any value the store refuses
    (also when S3KV is made without a URL)."""
    prefix = prefix.strip("/")
    if not bucket:
        raise ConfigError("S3 URL needs a bucket: s3://BUCKET/PREFIX")
    if "!" in prefix or "//" in prefix:
        raise ConfigError(f"S3 prefix {prefix!r}: no '!' and no empty path segment")
    if len(prefix.encode()) > MAX_PREFIX:
        raise ConfigError(f"S3 prefix is longer than {MAX_PREFIX} bytes")
    if max_workers < 1:
        raise ConfigError("S3 max_workers must be at least 1")
    if max_attempts < 1:
        raise ConfigError("S3 max_attempts must be at least 1")
    if not (connect_timeout > 0 and read_timeout > 0):
        raise ConfigError("S3 connect_timeout and read_timeout must be positive seconds")
    if cache_mb < 0:
        raise ConfigError("S3 cache_mb must be 0 (off) or more")
    if checksums not in ("auto", "when_supported", "when_required"):
        raise ConfigError(f"checksums={checksums!r}: use auto, when_supported or when_required")
    return prefix


def make_client(
    client: Any,
    session: Any,
    *,
    profile: str | None,
    region: str | None,
    endpoint_url: str | None,
    addressing_style: str | None,
    max_workers: int,
    connect_timeout: float,
    read_timeout: float,
    max_attempts: int,
    checksums: str,
) -> tuple[Any, bool, str | None]:
    """``(client, owned, endpoint_url)``: the caller's client as it is (not owned: never
    closed), else one made from ``session`` or the AWS configuration with these options."""
    client, session = aws.client_or_session(client, session, profile)
    if client is not None:
        # The caller's client, as it is (its credentials, retries, instrumentation); our
        # endpoint_url is its endpoint when that is not AWS's, so hints name it.
        aws.check_service(client, "s3")
        return client, False, endpoint_url or aws.custom_endpoint(client)
    if session is None:
        session = boto3.session.Session(profile_name=profile)
    # Every request has a bounded wait: a silent peer costs at most max_attempts x
    # (connect_timeout + read_timeout) plus botocore's backoff, then
    # BackendUnavailableError naming host:port.
    cfg: dict[str, Any] = {
        "max_pool_connections": max_workers,
        "retries": {"mode": "standard", "total_max_attempts": max_attempts},
        "connect_timeout": connect_timeout,
        "read_timeout": read_timeout,
    }
    if addressing_style:
        cfg["s3"] = {"addressing_style": addressing_style}
    if checksums == "auto" and endpoint_url:
        # boto3 >= 1.36 adds CRC checksums to every request by default; many
        # S3-compatible stores refuse them, so send them only where required there.
        checksums = "when_required"
    if checksums != "auto":
        cfg["request_checksum_calculation"] = checksums
        cfg["response_checksum_validation"] = checksums
    made = session.client("s3", region_name=region, endpoint_url=endpoint_url, config=Config(**cfg))
    return made, True, endpoint_url


def url_arguments(url: str, options: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """``(bucket, prefix, keyword arguments of S3KV)`` of an ``s3://BUCKET/PREFIX?...`` URL and
    ``from_url``'s keyword options (``client=``, ``session=``, URL options)."""
    client = options.pop("client", None)
    session = options.pop("session", None)
    if client is not None and aws.is_session(client):
        client, session = None, client
    base, query = url_query(url, options)
    aws.refuse_credentials("s3", base, query, OPTIONS.names)
    opts = OPTIONS.parse(query)
    if client is not None:
        aws.check_service(client, "s3")
        given = {k: opts[k] for k in _CLIENT_OPTIONS if k in query}
        conflicting = aws.conflicting_options(client, given)
        if conflicting:
            raise aws.conflict_error("s3", "S3", conflicting)
    parts = urlsplit(base)
    return (
        unquote(parts.netloc),
        unquote(parts.path),
        {
            "client": client,
            "session": session,
            "region": opts["region"] or None,
            "endpoint_url": opts["endpoint_url"] or None,
            "profile": opts["profile"] or None,
            "addressing_style": opts["addressing_style"],
            "max_workers": opts["max_workers"],
            "conditional_writes": opts["conditional_writes"],
            "connect_timeout": opts["connect_timeout"],
            "read_timeout": opts["read_timeout"],
            "max_attempts": opts["max_attempts"],
            "checksums": opts["checksums"],
            "cache_mb": opts["cache_mb"],
        },
    )
