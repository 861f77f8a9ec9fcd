"""A small set of typed errors; each also subclasses the builtin it means, so callers can catch
either ours or the one they already know."""

from __future__ import annotations

import re

__all__ = [
    "BackendError",
    "BackendUnavailableError",
    "CheckpointKVError",
    "ConfigError",
    "CorruptRecordError",
    "MissingDependencyError",
    "SerializationError",
    "StoreNotFoundError",
    "ThreadNotFoundError",
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


class BackendError(CheckpointKVError, RuntimeError):
    """The server refused a request it understood (out of memory, access denied, a quota):
    nothing of the refused write is visible. The message names the host (never passwords)."""


class StoreNotFoundError(CheckpointKVError, FileNotFoundError):
    """The table or bucket does not exist; the message says how to create it."""


class ThreadNotFoundError(CheckpointKVError, LookupError):
    """A thread (or checkpoint) named by the caller has no data in the store."""


class CorruptRecordError(CheckpointKVError, ValueError):
    """A stored record could not be decoded; the message names its key."""


class UnsupportedFormatError(CorruptRecordError):
    """A record was written by a newer storage format than this version reads."""


class SerializationError(CheckpointKVError, TypeError):
    """The serializer refused a value; nothing was written."""


# The userinfo of a URL: from "://" to the LAST "@" of the authority, which ends at the first
# "/", "?" or "#" (RFC 3986), or at whitespace, a double quote or angle brackets (which no URL
# holds unencoded: where one URL ends in a text). Stopping at the first "@" leaked the rest of a
# password holding one (redis-py accepts `redis://:a@b@host`: urlsplit splits at the last "@").
_USERINFO = re.compile(r"(?<=://)[^/?#\s\"<>]*@")


def redact(text: str) -> str:
    """Hide the userinfo secrets of every URL in ``text``: ``redis://user:***@host``.

    The whole password goes (up to the authority's last ``@``, whatever ``:``, ``@`` or
    ``%40`` it holds). A userinfo without ``:`` is hidden whole (``***@host``): there the
    "user" is often a token (``https://TOKEN@host``).
    """

    def hide(match: re.Match[str]) -> str:
        userinfo = match.group(0)[:-1]
        user, sep, _ = userinfo.partition(":")
        return f"{user}:***@" if sep else "***@"

    return _USERINFO.sub(hide, text)


def redact_url(url: str) -> str:
    """``url`` without its password (and without secret-looking query values)."""
    base, sep, query = redact(url).partition("?")
    if sep:
        query = re.sub(r"((?:password|secret|token|key)[^=&]*=)[^&]*", r"\1***", query, flags=re.I)
    return base + sep + query
