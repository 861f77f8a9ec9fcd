"""The command line's first-hour papercuts (issue 24), each with what it printed before:

- ``checkpoint-kv show URL t | head -2`` printed ``[Errno 32] Broken pipe`` and exited 3: now
  quiet, exit 0 (a broken pipe to a *server* is still an error);
- ``CHECKPOINT_KV_DEBUG=0`` turned tracebacks on: ``0``/``false``/``no``/``off`` mean off;
- a stalled server gave 20 s of silence: after one second without an answer, a
  ``connecting to host:port...`` line on stderr when it is a terminal;
- ``histroy`` got argparse's bare ``invalid choice``: now a "did you mean";
- ``history t URL`` (swapped) said "not a URL": now it shows the command in order;
- ``store search URL memories u1`` printed the top-level usage: labels may be operands.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import checkpoint_kv
from checkpoint_kv.cli import EXIT_OK, EXIT_UNAVAILABLE, EXIT_USAGE
from checkpoint_kv.cli.waiting import endpoint
from tests.cli.test_cli import cli, one_line_error
from tests.processes.test_migrate import run_to_interrupt
from tests.support.fixtures_redis import SilentPeer


def _big_thread(url: str) -> None:
    """A thread whose ``show`` prints far more than a pipe holds (64 KB)."""
    with checkpoint_kv.from_url(url) as saver:
        run_to_interrupt(saver, "t", turns=0)
        conf = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
        latest = saver.get_tuple(conf)
        assert latest is not None
        cp = dict(latest.checkpoint)
        cp["channel_values"] = {**cp["channel_values"], "log": ["x" * 100] * 5000}
        cp["id"] = cp["id"][:-1] + ("0" if cp["id"][-1] != "0" else "1")
        saver.put(latest.config, cp, latest.metadata or {}, {"log": "99"})  # type: ignore[arg-type]


def test_closed_pipe_ends_quietly(url_sqlite: str) -> None:
    _big_thread(url_sqlite)
    script = (
        f"set -o pipefail; {sys.executable} -m checkpoint_kv show {url_sqlite} t --all-channels "
        "2>err.txt | head -2"
    )
    here = Path(url_sqlite.removeprefix("sqlite:///")).parent
    p = subprocess.run(
        ["bash", "-c", script], cwd=here, capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 0, (p.returncode, (here / "err.txt").read_text())
    assert len(p.stdout.splitlines()) == 2
    assert (here / "err.txt").read_text() == ""


def test_debug_zero_means_off(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*a: object, **k: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("checkpoint_kv.cli.inspect.cmd_threads", boom)
    for value, traceback in (("0", False), ("false", False), ("off", False), ("1", True)):
        monkeypatch.setenv("CHECKPOINT_KV_DEBUG", value)
        r = cli("threads", "memory://")
        assert r.code == 1
        assert ("Traceback" in r.err) is traceback, (value, r.err)


def test_connecting_notice_on_a_terminal() -> None:
    peer = SilentPeer()
    try:
        url = f"redis://127.0.0.1:{peer.port}/0?socket_timeout=2&retries=0"
        t0 = time.monotonic()
        r = cli("threads", url, tty=True)
        assert time.monotonic() - t0 >= 1.0
        assert r.code == EXIT_UNAVAILABLE
        lines = r.err.strip().splitlines()
        assert lines[0] == f"checkpoint-kv: connecting to 127.0.0.1:{peer.port}..."
        assert len(lines) == 2 and "127.0.0.1" in lines[1]
        quiet = cli("threads", url)  # not a terminal: only the error
        assert "connecting" not in quiet.err
    finally:
        peer.close()


def test_no_notice_when_the_server_answers(url_redis: str) -> None:
    r = cli("threads", url_redis, tty=True)
    assert r.code == EXIT_OK and r.err == ""


def test_endpoints_named() -> None:
    assert endpoint("redis://:pw@cache.internal/0") == "cache.internal:6379"
    assert endpoint("rediss://u:p@h:6380/1?prefix=x") == "h:6380"
    assert endpoint("unix:///run/redis.sock") == "/run/redis.sock"
    assert endpoint("dynamodb://t?region=eu-west-1") == "dynamodb.eu-west-1.amazonaws.com:443"
    assert endpoint("s3://b/p?endpoint_url=http://127.0.0.1:5000") == "127.0.0.1:5000"
    assert endpoint("sqlite:///x.db") is None and endpoint("memory://") is None


def test_did_you_mean_for_commands(capsys: pytest.CaptureFixture[str]) -> None:
    # argparse writes its usage errors to sys.stderr itself
    assert cli("histroy", "memory://", "t").code == EXIT_USAGE
    assert "unknown command 'histroy'; did you mean 'history'?" in capsys.readouterr().err
    assert cli("store", "serach", "memory://").code == EXIT_USAGE
    assert "did you mean 'search'?" in capsys.readouterr().err
    assert cli("zzzz").code == EXIT_USAGE
    assert "unknown command 'zzzz' (commands: threads, history" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ("history", "t", "{url}"),
        ("show", "t", "{url}"),
        ("delete", "t", "{url}", "--yes"),
        ("prune", "t", "{url}", "--keep-latest"),
        ("store", "get", "users", "{url}", "k"),
    ],
)
def test_swapped_operands_get_a_hint(argv: tuple[str, ...], url_sqlite: str) -> None:
    r = cli(*(a.format(url=url_sqlite) for a in argv))
    line = one_line_error(r)
    assert r.code == EXIT_USAGE
    assert f"the URL comes first: {url_sqlite} was given after" in line
    assert f"checkpoint-kv {argv[0]}" in line and url_sqlite in line.split("did you mean")[1]


def test_store_namespace_as_operands(url_sqlite: str) -> None:
    store = checkpoint_kv.store_from_url(url_sqlite)
    store.setup()
    store.put(("memories", "u1"), "tea", {"text": "likes tea"})
    store.put(("memories", "u2"), "coffee", {"text": "likes coffee"})
    store.close()
    for ns in (("memories", "u1"), ("memories.u1",)):
        r = cli("--json", "store", "search", url_sqlite, *ns)
        assert r.code == EXIT_OK, r.err
        assert [i["key"] for i in r.json()["items"]] == ["tea"]
        r = cli("store", "get", url_sqlite, *ns, "tea")
        assert r.code == EXIT_OK and "likes tea" in r.out
    r = cli("--json", "store", "search", url_sqlite)
    assert {i["key"] for i in r.json()["items"]} == {"tea", "coffee"}
    env_url = {"CHECKPOINT_KV_URL": url_sqlite}
    old = {k: os.environ.get(k) for k in env_url}
    os.environ.update(env_url)
    try:
        r = cli("--json", "store", "search", "memories", "u2")
        assert [i["key"] for i in r.json()["items"]] == ["coffee"]
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
