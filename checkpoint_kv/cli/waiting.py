"""The "connecting to host:port..." notice: a command that waits on a server says so.

A stalled server (a firewall dropping packets, a wrong host) gave 21 seconds of silence before
its error. While a command runs with stderr on a terminal (``main`` sets ``notice_stream``),
the store is wrapped so that a call unanswered after ``NOTICE_AFTER`` seconds prints where it
is connecting, once; in-process stores (memory, SQLite) never wait and are not wrapped.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, TextIO

from checkpoint_kv.port import KVStore
from checkpoint_kv.port_wrappers import DelegatingKV
from checkpoint_kv.registry import split_options

__all__ = ["NOTICE_AFTER", "Waiting", "endpoint", "notice_stream"]

PROG = "checkpoint-kv"

NOTICE_AFTER = 1.0  # seconds without an answer before the notice
# The stream the notice goes to while a command runs (``main`` sets it when stderr is a
# terminal), else None: no notice, and stores are not wrapped.
notice_stream: TextIO | None = None


def endpoint(url: str) -> str | None:
    """Where a URL's store lives, as ``host:port`` (a socket path, an AWS endpoint), or None
    for an in-process store (memory, SQLite) that never waits for a server."""
    from urllib.parse import urlsplit

    base, query = split_options(url)
    scheme = base.partition("://")[0].lower()
    if scheme in ("memory", "mem", "sqlite", "sqlite3") or "://" not in base:
        return None
    if scheme == "unix":
        return base.partition("://")[2] or None
    if scheme in ("dynamodb", "ddb", "s3"):
        if query.get("endpoint_url"):
            parts = urlsplit(query["endpoint_url"])
            port = parts.port or (443 if parts.scheme == "https" else 80)
            return f"{parts.hostname}:{port}"
        region = query.get("region") or os.environ.get("AWS_REGION")
        region = region or os.environ.get("AWS_DEFAULT_REGION")
        service = "s3" if scheme == "s3" else "dynamodb"
        return f"{service}.{region}.amazonaws.com:443" if region else f"AWS {service}"
    netloc = urlsplit(base).netloc.rpartition("@")[2]
    if not netloc:
        return None
    if ":" not in netloc and scheme.startswith(("redis", "valkey")):
        netloc += ":6379"
    return netloc


class Waiting(DelegatingKV):
    """Prints "connecting to host:port..." once on ``stream`` when a call has not been
    answered after ``NOTICE_AFTER`` seconds; silent after the first answer."""

    def __init__(self, inner: KVStore, where: str, stream: TextIO) -> None:
        super().__init__(inner)
        self.where, self.stream = where, stream
        self.answered = False

    def _call(self, method: str, args: tuple[Any, ...], fn: Callable[..., Any]) -> Any:
        with self.waiting():
            return super()._call(method, args, fn)

    def setup(self) -> None:
        with self.waiting():
            super().setup()

    def waiting(self) -> Any:
        import contextlib

        @contextlib.contextmanager
        def cm() -> Any:
            if self.answered:
                yield
                return
            timer = threading.Timer(NOTICE_AFTER, self._say)
            timer.daemon = True
            timer.start()
            try:
                yield
                self.answered = True
            finally:
                timer.cancel()

        return cm()

    def _say(self) -> None:
        if not self.answered:
            self.stream.write(f"{PROG}: connecting to {self.where}...\n")
            self.stream.flush()
