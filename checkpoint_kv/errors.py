"""A small set of typed errors; each also subclasses the builtin it means, so callers can catch
either ours or the one they already know."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import quote, unquote

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
    "PERCENT_ENCODE_HINT",
    "check_userinfo",
    "redact",
    "redact_url",
    "has_userinfo",
    "unparsable_url",
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


# --- credentials in URLs ---------------------------------------------------------------------
#
# Every URL an error, a repr, a log line or the command line shows goes through redact_url()
# (a whole URL) or redact() (a text that may hold URLs). Both work on the raw text, never on
# urlsplit(): with an unencoded "/", "?" or "#" in a password, urlsplit() ends the authority
# inside the password and files the rest of it under path, query or fragment, where nothing
# hides it (`redis://admin:Zx9/Qw@host` has host "admin", port "Zx9", path "/Qw@host").

# A URL in a text: its scheme, then everything up to whitespace, a double quote or an angle
# bracket (which no URL holds unencoded: where one URL ends in a text). A single quote is kept
# in: passwords hold them, and a redacted URL ends in "@host..." anyway.
_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*)?://([^\s\"<>]*)")
# The authority ends at the first "/", "?" or "#" (RFC 3986).
_AUTHORITY_END = re.compile(r"[/?#]")
# Schemes whose path never holds an "@" of its own (a Redis db number, a unix socket path, no
# path at all for DynamoDB): there an "@" past the authority's "@" is the password's
# (`redis://u:p@ss/word@host`). Elsewhere a path may hold one (`s3://KEY:SECRET@bucket/a@b.com`,
# `https://k:s@host/p@q`), and an "@" then a "/" in a password is told from it by nothing.
_NO_AT_IN_PATH = frozenset({"redis", "rediss", "valkey", "valkeys", "unix", "dynamodb", "ddb"})

PERCENT_ENCODE_HINT = (
    "percent-encode special characters in the password: / -> %2F, ? -> %3F, # -> %23, "
    "@ -> %40, & -> %26 (urllib.parse.quote(password, safe=''))"
)


def _userinfo_end(scheme: str, rest: str) -> tuple[int, bool]:
    """Where the userinfo of ``scheme://rest`` ends: the index in ``rest`` of its last ``@``
    (-1 without one), and whether it runs past the RFC 3986 authority: it holds an unencoded
    ``/``, ``?`` or ``#``, no parser can be trusted with the URL, and it is refused.

    Past the authority, an ``@`` is the userinfo's when the authority has the ``:`` of
    ``user:password`` (``redis://:pa?ss@host``), when the scheme's path holds no ``@``
    (``redis://u:p@ss/word@host``), when it sits in a fragment (``s3://k:a#b@bucket``) or in
    a query option's *name*, which never holds one (``redis://tok?en@host``). Else it belongs
    to a path or an option's value (``s3://bucket/user@example.com``,
    ``redis://host?prefix=a@b``); a ``:`` before it still hides it, unsure
    (``redis://us/er:pw@host``; a port: ``http://host:8000/p@q`` is over-hidden), but that URL
    parses.
    """
    last = rest.rfind("@")
    if last < 0:
        return -1, False
    found = _AUTHORITY_END.search(rest)
    end = found.start() if found else len(rest)
    if last < end:  # every "@" in the authority: the last one ends the userinfo
        return last, False
    authority = rest[:end]
    if "@" in authority:
        if scheme.removesuffix("+cluster") in _NO_AT_IN_PATH or _past_path(rest, end, last):
            return last, True
        return authority.rfind("@"), False
    if ":" in authority or _past_path(rest, end, last):
        return last, True
    if ":" in rest[:last] and "://" not in rest[:last]:  # a nested URL is redacted on its own
        return last, False
    return -1, False


def _past_path(rest: str, end: int, at: int) -> bool:
    """Whether the ``@`` at ``at`` (past the authority's ``end``) is in a fragment or in the
    name of a query option: places that never hold one of their own."""
    if "#" in rest[end:at]:
        return True
    query = rest.find("?", end, at)
    return query >= 0 and "=" not in re.split(r"[?&]", rest[query:at])[-1]


def _hide(scheme: str, rest: str, then: Callable[[str], str]) -> str:
    """``scheme://rest`` with its userinfo's secret replaced; ``then`` redacts what follows
    (nested URLs: ``dynamodb://t?endpoint_url=http://u:p@h``)."""
    at, _ = _userinfo_end(scheme.lower(), rest)
    if at < 0:
        return f"{scheme}://{then(rest)}"
    user, sep, _ = rest[:at].partition(":")
    return f"{scheme}://{user + ':' if sep else ''}***@{then(rest[at + 1 :])}"


def redact(text: str) -> str:
    """Hide the userinfo secrets of every URL in ``text``: ``redis://user:***@host``.

    The whole password goes, whatever it holds: up to the authority's last ``@`` (``:``,
    ``@``, ``%40``), or up to the URL's last ``@`` when an unencoded ``/``, ``?`` or ``#`` in
    the password ended the authority early (see :func:`_userinfo_end`). A userinfo without
    ``:`` is hidden whole (``***@host``): there the "user" is often a token
    (``https://TOKEN@host``). A URL ends at whitespace or a double quote here: give a single
    URL to :func:`redact_url`, which takes it whole (passwords may hold spaces).
    """
    return _URL.sub(lambda m: _hide(m.group(1) or "", m.group(2), redact), text)


def _hide_port(rest: str) -> str:
    """``host:***`` for a "port" that is no number: in ``redis://user:secret`` the "@host" is
    missing, and the "port" is a password. (Only for a whole URL: in a text, a URL's end is a
    guess, and ``'redis://h:1':`` would look like one.)"""
    found = _AUTHORITY_END.search(rest)
    end = found.start() if found else len(rest)
    authority = rest[:end]
    bracket = authority.rfind("]") + 1  # an IPv6 address: [::1]:6379
    host, colon, port = authority[bracket:].partition(":")
    if not colon or not port or port.isdigit():
        return rest
    return f"{authority[:bracket]}{host}:***{rest[end:]}"


def redact_url(url: str) -> str:
    """``url`` (the whole string, one URL) without its password, and without the values of
    secret-looking options (``password=``, ``secret_key=``, ``token=``...)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return redact(url)
    if _userinfo_end(scheme.lower(), rest)[0] < 0:
        rest = _hide_port(rest)
    return _hide(scheme, rest, _redact_after_host)


def _redact_after_host(text: str) -> str:
    """The host, path and query of a whole URL, redacted: an option's value that is a URL
    (``endpoint_url=``, percent-encoded or not) is one whole URL too, where :func:`redact`
    would end it at a quote or a space in its password. It runs up to the query's last ``@``:
    an ``&`` in its password splits it (``endpoint_url=http://u:a&b=c@host``)."""
    base, sep, query = text.partition("?")
    options = query.split("&") if sep else []
    shown = []
    i = 0
    while i < len(options):
        name, eq, value = options[i].partition("=")
        if re.search("password|secret|token|key", name, re.I):
            value = "***"
        elif "://" in value:
            last = max(j for j in range(i, len(options)) if j == i or "@" in options[j])
            value = redact_url("&".join([value, *options[i + 1 : last + 1]]))
            i = last
        elif "://" in unquote(value):  # endpoint_url=http%3A%2F%2F...: redacted decoded,
            decoded = unquote(value)  # shown encoded (a hint's URL is pasted as it is)
            redacted = redact_url(decoded)
            value = value if redacted == decoded else quote(redacted, safe="*")
        else:
            value = redact(value)
        shown.append(name + eq + value)
        i += 1
    return redact(base) + sep + "&".join(shown)


def has_userinfo(url: str) -> bool:
    """Whether ``url`` may carry credentials: what :func:`redact_url` hides (so also an
    unsure ``s3://us/er:pw@bucket``). For backends that take none in their URL."""
    scheme, sep, rest = url.partition("://")
    return bool(sep) and _userinfo_end(scheme.lower(), rest)[0] >= 0


def unparsable_url(url: str, problem: str = "", *, shown: str | None = None) -> ConfigError:
    """The error for a URL that cannot be parsed: what is wrong, the URL without its
    credentials (``shown``, when even :func:`redact_url` would be unsure), and how to
    percent-encode a password. Raise it ``from None``: a parser's own error (urlsplit's
    "Port could not be cast to integer value as 'Zx9'") quotes the password."""
    shown = redact_url(url) if shown is None else shown
    problem = problem or (
        "the part before the host holds an unencoded '/', '?', '#' or '@' (or an option's "
        "name or value holds '@': write it %40)"
    )
    return ConfigError(f"cannot parse the URL {shown!r}: {problem}; {PERCENT_ENCODE_HINT}")


def check_userinfo(url: str) -> None:
    """Raise :func:`unparsable_url` when ``url``'s userinfo runs past its authority (an
    unencoded ``/``, ``?`` or ``#`` in the password, an ``@`` in an option's name; see
    :func:`_userinfo_end`). Parsing it anyway would read part of the password as a host, a
    port, a path or an option, and errors would print it (``bad port in
    'redis://admin:Zx9/Qw@...'``, ``unknown redis option 'ss@...'``)."""
    scheme, sep, rest = url.partition("://")
    if sep and _userinfo_end(scheme.lower(), rest)[1]:
        raise unparsable_url(url) from None
