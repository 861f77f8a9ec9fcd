"""Serving the app: bind the socket, decide the token, say once where the page is, run uvicorn.

Why the socket is bound here and not by uvicorn: ``--port 0`` (a free port) must print the
port actually taken, and a port already in use must fail before the banner claims success.
The banner names the backend by its redacted URL. A generated token is printed once, inside
the URL to open (``?token=...``); a token from ``$CHECKPOINT_KV_UI_TOKEN`` is never printed.
"""

from __future__ import annotations

import socket
from typing import Any, TextIO

from checkpoint_kv.saver import KVCheckpointSaver
from checkpoint_kv.ui.security import TOKEN_ENV, Security, is_loopback, resolve_token

__all__ = ["bind", "serve"]


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``0``: any free port)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def page_url(host: str, port: int, token: str | None = None) -> str:
    shown = host
    if host in ("0.0.0.0", "::", ""):
        shown = socket.gethostname()
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def serve(
    saver: KVCheckpointSaver,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    label: str = "",
    allow_writes: bool = False,
    store: Any = None,
    specs: dict[str, Any] | None = None,
    out: TextIO | None = None,
    log_level: str = "warning",
) -> None:
    """Serve the page over ``saver`` until interrupted (Ctrl-C). Loopback needs no token;
    any other address takes ``$CHECKPOINT_KV_UI_TOKEN`` or generates one and prints it once."""
    import sys

    import uvicorn

    from checkpoint_kv.ui.app import create_app

    out = out or sys.stderr
    token, generated = resolve_token(host)
    sec = Security(token=token, allow_writes=allow_writes, loopback=is_loopback(host))
    app = create_app(saver, store=store, label=label, security=sec, specs=specs)
    try:
        sock = bind(host, port)
    except OSError as e:  # taken, not an address of this machine, a privileged port
        from checkpoint_kv.errors import ConfigError

        raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    taken = sock.getsockname()[1]
    mode = "writes allowed (delete, prune, copy)" if allow_writes else "read-only"
    out.write(f"checkpoint-kv ui: {label or 'store'} ({mode})\n")
    if token is None:
        out.write(f"  open {page_url(host, taken)}  (loopback only; Ctrl-C stops it)\n")
    elif generated:
        out.write(
            f"  open {page_url(host, taken, token)}\n"
            f"  the token above is shown once; set ${TOKEN_ENV} to choose your own. Anyone "
            "with it can read every thread. Ctrl-C stops it.\n"
        )
    else:
        out.write(
            f"  open {page_url(host, taken)} with the token of ${TOKEN_ENV} "
            "(?token=... on the first visit, or Authorization: Bearer ...; Ctrl-C stops it)\n"
        )
    out.flush()
    config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
