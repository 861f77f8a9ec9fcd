"""What the DynamoDB and S3 backends share about boto3: telling a caller's Session from a
client, refusing another service's client or options a caller's client would not honour, and
naming a non-AWS endpoint in hints (pasting a hint must never target real AWS when the store
talks to moto, MinIO or LocalStack)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import boto3

from checkpoint_kv.errors import ConfigError, has_userinfo, redact_url

__all__ = [
    "NO_CREDENTIALS",
    "check_service",
    "cli_target",
    "client_or_session",
    "client_retries",
    "conflict_error",
    "conflicting_options",
    "custom_endpoint",
    "is_session",
    "refuse_credentials",
]

NO_CREDENTIALS = (
    "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/"
    "AWS_SECRET_ACCESS_KEY, or run with an IAM role (never put them in the URL)"
)


def is_session(obj: Any) -> bool:
    """A ``boto3.Session`` (it makes clients; a client has ``meta`` instead)."""
    if isinstance(obj, boto3.session.Session):
        return True
    return callable(getattr(obj, "client", None)) and not hasattr(obj, "meta")


def client_or_session(client: Any, session: Any, profile: str | None) -> tuple[Any, Any]:
    """``(client, session)`` as the caller meant them: a Session passed as ``client=`` is taken
    as ``session=``; both at once, or a session with a profile, are refused."""
    if client is not None and is_session(client):
        if session is not None:
            raise ConfigError("pass a boto3 Session as session= and a client as client=")
        client, session = None, client
    if client is not None and session is not None:
        raise ConfigError("pass client= or session=, not both")
    if session is not None and profile:
        raise ConfigError("profile= names a profile, session= is one already: pass one")
    return client, session


def refuse_credentials(
    label: str, base: str, query: Mapping[str, str], known: Iterable[str]
) -> None:
    """No key or secret in a ``dynamodb://`` / ``s3://`` URL or its ``endpoint_url``: refused
    on the raw text, before any option is parsed or any urlsplit() runs (their errors would
    quote a piece of the secret: an AWS secret key often holds a ``/``). ``base`` is the URL
    without its query, ``known`` the backend's option names."""
    authority = base.partition("://")[2].partition("/")[0]
    if "@" in authority or has_userinfo(base):
        raise ConfigError(
            f"do not put credentials in the {label}:// URL: use the AWS environment, profile or "
            "role"
        )
    # An "&" in endpoint_url's password splits it: `endpoint_url=http://u:a&b=c@host` also
    # gives an unknown option "b" whose value holds the "@".
    names = set(known)
    stray = any("@" in value for name, value in query.items() if name not in names)
    if "@" in query.get("endpoint_url", "") or stray:
        raise ConfigError(
            "do not put credentials in endpoint_url: use the AWS environment, profile or role "
            "(an '@' in another option's value: write it %40)"
        )


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


def client_retries(client: Any) -> tuple[str, int]:
    """The retry mode and total attempts per request of a boto3 client, as botocore resolved
    them (its Config, ``AWS_MAX_ATTEMPTS``, the profile), else botocore's defaults."""
    retries = dict(getattr(client.meta.config, "retries", None) or {})
    mode = str(retries.get("mode") or "legacy")
    if retries.get("total_max_attempts"):
        return mode, int(retries["total_max_attempts"])
    if retries.get("max_attempts") is not None:  # retries after the first attempt
        return mode, int(retries["max_attempts"]) + 1
    return mode, 5 if mode == "legacy" else 3


def conflicting_options(client: Any, given: Mapping[str, Any]) -> list[str]:
    """The options in ``given`` (None or "": not given) that a caller's client would not
    honour: those not equal to the client's own setting (equal ones are fine: an app may share
    one URL). Options a client does not report (``profile``, S3's ``addressing_style``...)
    always conflict."""
    meta = client.meta
    mode, attempts = client_retries(client)
    have: dict[str, Any] = {
        "region": meta.region_name,
        "endpoint_url": str(meta.endpoint_url or "").rstrip("/"),
        "max_attempts": attempts,
        "retry_mode": mode,
        "connect_timeout": float(meta.config.connect_timeout),
        "read_timeout": float(meta.config.read_timeout),
    }
    out = []
    for name, value in given.items():
        if value is None or value == "":
            continue
        if name == "endpoint_url":
            value = str(value).rstrip("/")
        elif name in ("connect_timeout", "read_timeout"):
            value = float(value)
        if name not in have or have[name] != value:
            out.append(name)
    return sorted(out)


def conflict_error(label: str, service: str, names: Iterable[str]) -> ConfigError:
    """``client=`` is used as it is: options that would configure it are refused, not ignored."""
    return ConfigError(
        f"{label} option(s) {', '.join(names)} configure the {service} client, and client= is "
        "used as it is: set them on the client you pass, or pass session= instead (the store "
        "then makes its client from your session, with these options)"
    )
