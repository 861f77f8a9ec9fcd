"""A small set of typed errors; each also subclasses the builtin it means, so callers can catch
either ours or the one they already know."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "BackendUnavailableError",
    "CheckpointKVError",
    "ConfigError",
    "CorruptRecordError",
    "MissingDependencyError",
    "SerializationError",
    "StoreNotFoundError",
    "UnknownSchemeError",
    "UnsupportedFormatError",
    "redact",
]


class CheckpointKVError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(CheckpointKVError, ValueError):
    """A config, URL or option that cannot work (e.g. no ``thread_id``)."""


class UnknownSchemeError(ConfigError):
    """The URL's scheme names no registered backend."""


class MissingDependencyError(CheckpointKVError, ImportError):
    """A backend's optional dependency is not installed; the message has the pip line."""


class BackendUnavailableError(CheckpointKVError, ConnectionError):
    """The server could not be reached (the message names host and port, never passwords)."""


class StoreNotFoundError(CheckpointKVError, FileNotFoundError):
    """The table or bucket does not exist; the message says how to create it."""


class CorruptRecordError(CheckpointKVError, ValueError):
    """A stored record could not be decoded; the message names its key."""


class UnsupportedFormatError(CorruptRecordError):
    """A record was written by a newer storage format than this version reads."""


class SerializationError(CheckpointKVError, TypeError):
    """The serializer refused a value; nothing was written."""


_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")


def redact(text: str) -> str:
    """Hide the password of every URL in ``text`` (``redis://user:***@host``)."""

    def hide(match: re.Match[str]) -> str:
        userinfo = match.group(0)[:-1]
        user, sep, _ = userinfo.partition(":")
        return f"{user}:***@" if sep else f"{user}@" if user else "***@"

    return _USERINFO.sub(hide, text)


def redact_url(url: str) -> str:
    """``url`` without its password (and without secret-looking query values)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}:***@{host}" if ":" in userinfo else f"{user}@{host}"
    query = re.sub(
        r"((?:password|secret|token|key)[^=&]*=)[^&]*", r"\1***", parts.query, flags=re.I
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
