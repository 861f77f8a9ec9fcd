"""Configuration: the URL and its options, and the boto3 client a store talks through.

URL: ``dynamodb://TABLE?region=&endpoint_url=&ttl=&consistent_read=&prefix=&profile=``
``&max_attempts=&retry_mode=&connect_timeout=&read_timeout=`` (``max_retries=N`` still works:
``max_attempts = N + 1``), plus the usual AWS environment, profile and role configuration for
credentials and region. ``connect_timeout`` (default 5 s) and ``read_timeout`` (default 10 s)
bound every attempt (see ``errors`` for the retries). The boto3 client is thread-safe and
created once, so a saver at module scope in a Lambda handler is reused across warm invocations.
Async uses the default thread-pool twin (``checkpoint_kv.aio.ThreadedAsyncStore``): the same
client, the same calls, no blocking of the event loop.

Bring your own (keyword only, as for S3): ``client=`` a boto3 DynamoDB client, used as it is for
every request (its credentials, retry config, X-Ray/OpenTelemetry hooks) and never closed by
the store; the options that configure a client (``region``, ``endpoint_url``, ``profile``,
``max_attempts``/``max_retries``, ``retry_mode``, ``connect_timeout``, ``read_timeout``) are
then refused unless equal to the client's, and the own loops are bounded by the client's
attempt count. ``session=`` a ``boto3.Session`` (an assumed role, a profile): the store makes
its client from it with the options above (bounded timeouts included) and closes that client,
never the session. A Session passed as ``client=`` is taken as ``session=``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, NoRegionError

from checkpoint_kv.backends import _aws as aws
from checkpoint_kv.errors import ConfigError, redact, redact_url
from checkpoint_kv.options import Option, Schema, url_query

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 10.0
RETRY_MODES = ("standard", "adaptive")

OPTIONS = Schema(
    "dynamodb",
    [
        Option("region", "str", None, "AWS region (default: the AWS configuration's)"),
        Option("endpoint_url", "str", None, "a DynamoDB-compatible endpoint (moto, LocalStack)"),
        Option("profile", "str", None, "AWS profile for the credentials"),
        Option("ttl", "duration", None, "items expire this long after their last write", min=1),
        Option("consistent_read", "bool", True, "strongly consistent reads"),
        Option("prefix", "str", "", "tenant prefix of every partition key"),
        Option("max_attempts", "int", None, "attempts per request, the first included", min=1),
        Option("max_retries", "int", None, "older spelling of max_attempts - 1", min=0),
        Option("retry_mode", "enum", None, "botocore's retry mode", choices=RETRY_MODES),
        Option("connect_timeout", "float", None, "seconds per connect (default 5)", above=0),
        Option("read_timeout", "float", None, "seconds per reply (default 10)", above=0),
    ],
)


@dataclass
class Connection:
    """The client a store uses and what it does: its retries and timeouts are what the store's
    own loops and messages follow."""

    client: Any
    owns_client: bool  # made here (from the options or ``session=``): the store closes it
    endpoint_url: str | None
    region: str
    max_attempts: int
    retry_mode: str
    connect_timeout: float
    read_timeout: float


def connect(
    table: str,
    *,
    region: str | None,
    endpoint_url: str | None,
    profile: str | None,
    max_attempts: int | None,
    retry_mode: str | None,
    connect_timeout: float | None,
    read_timeout: float | None,
    client: Any,
    session: Any,
) -> Connection:
    """The caller's ``client=`` as it is (an option that would configure it is refused, not
    ignored), else a client made from ``session=`` or the AWS configuration with these options
    (None: the library's defaults)."""
    if max_attempts is not None and max_attempts < 1:
        raise ConfigError(f"dynamodb max_attempts={max_attempts}: at least 1")
    if retry_mode is not None and retry_mode not in RETRY_MODES:
        raise ConfigError(f"dynamodb retry_mode={retry_mode!r}: use standard or adaptive")
    if (connect_timeout is not None and connect_timeout <= 0) or (
        read_timeout is not None and read_timeout <= 0
    ):
        raise ConfigError("dynamodb connect_timeout and read_timeout must be positive")
    client, session = aws.client_or_session(client, session, profile)
    owns_client = client is None
    if client is not None:
        # The caller's client, as it is: its credentials, retries, timeouts and
        # instrumentation. An option that would configure it is refused, not ignored.
        aws.check_service(client, "dynamodb")
        given = {
            "region": region,
            "endpoint_url": endpoint_url,
            "profile": profile,
            "max_attempts": max_attempts,
            "retry_mode": retry_mode,
            "connect_timeout": connect_timeout,
            "read_timeout": read_timeout,
        }
        conflicting = aws.conflicting_options(client, given)
        if conflicting:
            raise aws.conflict_error("dynamodb", "DynamoDB", conflicting)
        # What the client does is what our own loops and messages follow.
        retry_mode, max_attempts = aws.client_retries(client)
        connect_timeout = float(client.meta.config.connect_timeout)
        read_timeout = float(client.meta.config.read_timeout)
    else:
        max_attempts = max_attempts or DEFAULT_MAX_ATTEMPTS
        retry_mode = retry_mode or "standard"
        connect_timeout = connect_timeout or DEFAULT_CONNECT_TIMEOUT
        read_timeout = read_timeout or DEFAULT_READ_TIMEOUT
        try:
            if session is None:
                session = boto3.session.Session(profile_name=profile)
            # Every request has a bounded wait and one retry budget (errors' docstring);
            # only on a client we make: a caller's client keeps its own Config.
            client = session.client(
                "dynamodb",
                region_name=region,
                endpoint_url=endpoint_url,
                config=Config(
                    retries={"mode": retry_mode, "total_max_attempts": max_attempts},
                    connect_timeout=connect_timeout,
                    read_timeout=read_timeout,
                    max_pool_connections=32,
                ),
            )
        except NoRegionError:
            raise ConfigError(
                f"dynamodb://{table}: no AWS region; add ?region=us-east-1 to the URL or set "
                "AWS_REGION / AWS_DEFAULT_REGION"
            ) from None
        except BotoCoreError as e:
            raise ConfigError(f"dynamodb://{table}: {redact(str(e))}") from None
    return Connection(
        client,
        owns_client,
        # Hints and the CLI name a custom endpoint even when it came with the client (or from
        # AWS_ENDPOINT_URL_DYNAMODB): without it, pasting them would target real AWS.
        endpoint_url or aws.custom_endpoint(client),
        str(client.meta.region_name),
        max_attempts,
        retry_mode,
        connect_timeout,
        read_timeout,
    )


def parse_url(url: str, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The table of a ``dynamodb://`` URL and the store's keyword arguments (the URL's options,
    ``client=`` and ``session=`` from ``options``). A caller's client is checked here already,
    to name the conflicting options as the URL spells them (``max_retries``)."""
    client = options.pop("client", None)
    session = options.pop("session", None)
    base, query = url_query(url, options)
    aws.refuse_credentials("dynamodb", base, query, OPTIONS.names)
    rest = base.split("://", 1)[1]
    table = unquote(rest.strip("/"))
    if not table or "/" in table or not 3 <= len(table) <= 255:
        raise ConfigError(
            "dynamodb URL needs a table name (3-255 chars): dynamodb://TABLE, "
            f"got {redact_url(url)!r}"
        )
    opts = OPTIONS.parse(query)
    if opts["max_attempts"] is not None and opts["max_retries"] is not None:
        raise ConfigError("dynamodb: give max_attempts or max_retries (= max_attempts - 1)")
    attempts: int | None = opts["max_attempts"]  # None: the store's default, or the client's
    if opts["max_retries"] is not None:
        attempts = opts["max_retries"] + 1
    timeouts = {
        name: opts[name] for name in ("connect_timeout", "read_timeout") if opts[name] is not None
    }
    settings: dict[str, Any] = {
        "region": opts["region"] or None,
        "endpoint_url": opts["endpoint_url"] or None,
        "profile": opts["profile"] or None,
        "max_attempts": attempts,
        "retry_mode": opts["retry_mode"],
        **timeouts,
    }
    if client is not None and not aws.is_session(client):
        # Refused here too, to name the options as the URL spells them (max_retries).
        aws.check_service(client, "dynamodb")
        conflicting = aws.conflicting_options(client, settings)
        if conflicting:
            if "max_retries" in query:
                conflicting = sorted(
                    "max_retries" if n == "max_attempts" else n for n in conflicting
                )
            raise aws.conflict_error("dynamodb", "DynamoDB", conflicting)
    return table, {
        "ttl": opts["ttl"],
        "consistent_read": opts["consistent_read"],
        "prefix": opts["prefix"],
        "client": client,
        "session": session,
        **settings,
    }
