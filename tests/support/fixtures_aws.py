"""A moto server (real HTTP on loopback) shared by the DynamoDB and S3 tests of a session.

It serves ONE request at a time. moto's own ``ThreadedMotoServer`` handles each connection in
its own thread, and moto's in-memory backends are not thread-safe: two concurrent DynamoDB
transactions raced there (``RuntimeError: dictionary changed size during iteration`` -> HTTP
500), so ``make test`` failed now and then for a reason real DynamoDB does not have. Serving
requests one by one makes the emulator deterministic; the library's retry of genuine 500s is
tested on its own (tests/backends/test_dynamodb.py), not by this accident.

Clients still send requests in parallel (S3 waves, DynamoDB batches from several threads):
they queue in the listen backlog. The handler speaks HTTP/1.0, so every response closes its
connection; with HTTP/1.1 keep-alive one pooled idle connection would hold the only worker and
starve every other client.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from werkzeug.serving import BaseWSGIServer


def _single_threaded_moto() -> tuple[BaseWSGIServer, threading.Thread]:
    """A started, single-threaded moto server on a free loopback port, and its thread."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import BaseWSGIServer

    class OneConnectionAtATime(MotoRequestHandler):
        # Explicit, so werkzeug never switches it (it does for threaded servers): one request
        # per connection, the connection closed after the response.
        protocol_version = "HTTP/1.0"

        def log(self, type: str, message: str, *args: object) -> None:
            pass  # one line per request on stderr: noise, and time

    class Server(BaseWSGIServer):
        multithread = False
        multiprocess = False
        request_queue_size = 1024  # parallel clients wait in the backlog, never get refused

    app = DomainDispatcherApplication(create_backend_app)
    server = Server("127.0.0.1", 0, app, handler=OneConnectionAtATime)
    thread = threading.Thread(target=server.serve_forever, name="moto-server", daemon=True)
    thread.start()
    return server, thread


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a moto server started for this session.

    Credentials are dummies set for the whole session; moto accepts any.
    """
    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ.setdefault(var, value)
    server, thread = _single_threaded_moto()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)


class ApiCalls:
    """Counts the API calls made through a boto3 client or a Session's clients (register it
    on the client's ``before-call`` event), and the threads that made them."""

    def __init__(self) -> None:
        self.n = 0
        self.threads: set[int] = set()

    def __call__(self, **kwargs: object) -> None:
        self.n += 1
        self.threads.add(threading.get_ident())


def no_new_boto_clients(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every botocore client created from now on (a store given a client must create none)."""
    import botocore.session

    made: list[str] = []
    real = botocore.session.Session.create_client

    def create_client(self: object, service_name: str, *args: object, **kwargs: object) -> object:
        made.append(service_name)
        return real(self, service_name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(botocore.session.Session, "create_client", create_client)
    return made
