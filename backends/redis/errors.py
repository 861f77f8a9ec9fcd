"""Redis client failures as the library's typed errors, saying where and never a password.

Every wait is bounded (``socket_timeout`` / ``connect_timeout``, see ``config.py``) and every
port call is idempotent (a batch applied twice leaves what it left once), so a lost connection
or a timeout is retried by redis-py (``retries``, exponential backoff); what still fails comes
out of :func:`typed_errors` as:

- :class:`~checkpoint_kv.errors.BackendUnavailableError` naming ``host:port`` (or the socket
  path): unreachable, timed out, refused credentials, a full pool, a read-only replica, a server
  that does not speak the protocol, a missing ACL permission;
- :class:`~checkpoint_kv.errors.BackendError`: a write the server refused for memory
  (``maxmemory`` with ``noeviction``), which stored nothing;
- :class:`~checkpoint_kv.errors.CorruptRecordError`: a read script's :data:`CORRUPT` reply (a
  thread the server lost part of);
- :class:`~checkpoint_kv.errors.ConfigError`: a cluster URL pointed at a single server.

Messages pass the server's text through :func:`~checkpoint_kv.errors.redact`. Errors are told
apart by class *name* (:func:`class_names`), so the ``valkey`` package's clients get the same typed
errors and the same ``NOSCRIPT`` recovery as redis-py's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from checkpoint_kv.backends.redis.scripts import CORRUPT
from checkpoint_kv.errors import (
    BackendError,
    BackendUnavailableError,
    CheckpointKVError,
    ConfigError,
    CorruptRecordError,
    redact,
)


def class_names(e: BaseException) -> set[str]:
    """The client library's class names of ``e`` (its MRO, builtins left out).

    redis-py and the ``valkey`` package (a fork) raise classes with the same names
    (``ConnectionError``, ``NoScriptError``...) from different modules, so errors are told
    apart by name: a caller's valkey client gets the same typed errors and the same NOSCRIPT
    recovery as a redis-py one."""
    return {c.__name__ for c in type(e).__mro__ if c.__module__ != "builtins"}


def is_noscript(e: BaseException) -> bool:
    return "NoScriptError" in class_names(e) or str(e).startswith("NOSCRIPT")


# Placeholders in angle brackets: redact() leaves them alone (a URL's userinfo never holds "<").
_PASSWORD_FORMS = (
    "redis://:<password>@host:port/0, or redis://<user>:<password>@host:port/0 for an ACL user"
)


@contextmanager
def typed_errors(where: str) -> Iterator[None]:
    """Turn the client's failures into the library's typed errors: unreachable (after its
    retries), refused (out of memory), damaged (a thread the server lost part of)."""
    try:
        yield
    except CheckpointKVError:
        raise
    except Exception as e:
        kinds = class_names(e)
        if not kinds & _CLIENT_ERRORS:
            raise
        err = _translate(e, kinds, where)
        if err is e:
            raise
        raise err from e


# Base classes of the errors redis-py / valkey raise (the cluster one is not a RedisError).
_CLIENT_ERRORS = {"RedisError", "ValkeyError", "RedisClusterException", "ValkeyClusterException"}


def _auth_error(text: str, where: str) -> Exception:
    """The three ways a server turns credentials down, each with its own fix. redis-py strips
    the error code from the message, and the NOAUTH text depends on the first command (``HELLO
    must be called with the client already authenticated``, ``Authentication required``)."""
    low = text.lower()
    if "without any password configured" in low or "no password is set" in low:
        return BackendUnavailableError(
            f"Redis at {where} has no password set, but a password was sent: drop it from the "
            f"URL (or configure requirepass / an ACL user on the server): {redact(text)}"
        )
    if "invalid" in low or "wrongpass" in low:
        return BackendUnavailableError(
            f"Redis at {where} refused the user name or password (WRONGPASS): {redact(text)} "
            f"Check them: {_PASSWORD_FORMS}"
        )
    return BackendUnavailableError(
        f"Redis at {where} requires a password (NOAUTH) and none was accepted: put it in the "
        f"URL, {_PASSWORD_FORMS}"
    )


# Before Redis 7.0 an error raised by redis.call inside a script comes back wrapped:
# "Error running script (call to f_<sha>): @user_script:77: @user_script: 77: -OOM ...".
_SCRIPT_WRAPPED = re.compile(r"@user_script:\s*\d+:\s*-([A-Z]+)\b(.*)", re.S)


def _translate(e: Exception, kinds: set[str], where: str) -> Exception:
    text = str(e)
    wrapped = _SCRIPT_WRAPPED.search(text)
    if wrapped is not None:  # Redis 6: take the error code out of the script's wrapper
        text = f"{wrapped.group(1)}{wrapped.group(2)}"
        if wrapped.group(1) == "READONLY":
            kinds = kinds | {"ReadOnlyError"}
    if "AuthenticationError" in kinds or "AuthorizationError" in kinds:
        return _auth_error(text, where)
    if "TimeoutError" in kinds:
        return BackendUnavailableError(
            f"Redis at {where} did not answer in time (socket_timeout / connect_timeout, after "
            f"retries; a stalled or overloaded server): {redact(text)}"
        )
    if "ConnectionError" in kinds and text.startswith("No connection available"):
        return BackendUnavailableError(  # the server may be fine: our own pool was full
            f"no free connection to Redis at {where} within pool_timeout: all max_connections "
            f"of this client's pool stayed busy. Raise pool_timeout or max_connections, or "
            f"make fewer calls at once: {text}"
        )
    if kinds & {"ConnectionError", "ClusterDownError", "SlotNotCoveredError"}:
        return BackendUnavailableError(
            f"cannot reach Redis at {where} (after retries): {type(e).__name__}: {redact(text)}"
        )
    if "ReadOnlyError" in kinds:
        return BackendUnavailableError(
            f"Redis at {where} is a read-only replica (a failover in progress, or the URL names "
            f"a replica; retried): {text}"
        )
    if "InvalidResponse" in kinds:  # an HTTP proxy, a TLS port reached without rediss://, ...
        return BackendUnavailableError(
            f"the server at {where} does not speak the Redis protocol (a proxy, or a TLS port "
            f"needing rediss://?): {redact(text)}"
        )
    if kinds & {"RedisClusterException", "ValkeyClusterException"}:
        cause = e.__cause__
        if cause is not None and class_names(cause) & {"AuthenticationError", "AuthorizationError"}:
            return _auth_error(str(cause), where)  # the seeds answered: they want credentials
        if "not enabled" in (text + str(cause)).lower():  # "Cluster mode is not enabled"
            return ConfigError(
                f"Redis at {where} is a single server, not a cluster: use redis://{where} "
                "(without +cluster or ?cluster=true)"
            )
        if "cannot be connected" in text:
            return BackendUnavailableError(
                f"cannot reach Redis Cluster at {where} (after retries; no seed node "
                f"answered): {redact(text)}"
            )
        return e
    if "ResponseError" in kinds:
        if "NoPermissionError" in kinds or text.startswith("NOPERM"):
            return BackendUnavailableError(
                f"the Redis user lacks a permission at {where}: {text}; see "
                "docs/backends/redis.md for the ACL it needs"
            )
        if "OutOfMemoryError" in kinds or text.startswith("OOM"):
            return BackendError(
                f"Redis at {where} is out of memory and refused the write (used memory > "
                "maxmemory, maxmemory-policy noeviction): nothing of it was stored. Free memory "
                "(delete_thread / prune old threads, or set ttl=<seconds> so idle threads "
                f"expire) or raise maxmemory. Redis said: {text}"
            )
        if text.startswith(CORRUPT):
            return CorruptRecordError(f"Redis at {where}: {text[len(CORRUPT) :].strip()}")
    return e
