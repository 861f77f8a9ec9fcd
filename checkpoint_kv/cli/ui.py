"""``checkpoint-kv ui [URL]``: serve a local web page to browse what the store holds.

Registered by ``add_commands(subparsers)`` like every command module. The page itself is the
package :mod:`checkpoint_kv.ui`, imported only when the command runs: the command line (and
``import checkpoint_kv``) never loads Starlette, and without the ``ui`` extra the command
says which ``pip install`` line adds it (exit code 2).

The store is opened, and one page of partitions read, before the server starts, so a wrong
URL, an unreachable server or a missing SQLite file fails with the usual exit codes instead
of a page that errors.
"""

from __future__ import annotations

import argparse
from typing import TextIO

from checkpoint_kv.cli.common import EXIT_OK, add_command, add_url, serde
from checkpoint_kv.errors import redact_url

__all__ = ["add_commands", "cmd_ui"]

DEFAULT_PORT = 8765


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(
        subparsers,
        "ui",
        "a local web page to browse threads, checkpoints and the memory store",
        cmd_ui,
    )
    add_url(p)
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; any other needs a token: "
        "$CHECKPOINT_KV_UI_TOKEN, or one generated and printed once)",
    )
    p.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port (default {DEFAULT_PORT}; 0: a free one)",
    )
    p.add_argument(
        "--allow-writes",
        action="store_true",
        help="offer delete, prune and copy (each confirmed; default: read-only)",
    )
    p.add_argument(
        "--graph",
        metavar="MODULE:ATTR",
        help="the graph (module:attr or file.py:attr), to rebuild DeltaChannel values",
    )


def cmd_ui(args: argparse.Namespace, out: TextIO) -> int:
    from checkpoint_kv.ui import require

    require()  # before opening anything: without the extra, say which pip line adds it
    from checkpoint_kv.cli.common import open_url
    from checkpoint_kv.cli.show import _graph_channels
    from checkpoint_kv.saver import KVCheckpointSaver
    from checkpoint_kv.ui.server import serve

    if not 0 <= args.port <= 65535:
        from checkpoint_kv.errors import ConfigError

        raise ConfigError(f"--port {args.port}: use 0-65535 (0: a free port)")
    specs = _graph_channels(args.graph)
    store = open_url(args.url)
    saver = KVCheckpointSaver(store, serde=serde(args))
    try:
        store.partitions(None)  # reachable, permitted, there: or the usual exit code now
        serve(
            saver,
            host=args.host,
            port=args.port,
            label=redact_url(args.url),
            allow_writes=args.allow_writes,
            specs=specs,
            out=getattr(args, "err", None),
        )
    finally:
        saver.close()
    return EXIT_OK
