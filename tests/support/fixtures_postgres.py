"""PostgreSQL for the tests that run LangGraph's ``PostgresSaver`` (processes/test_interop.py).

A PostgreSQL 15 server (Debian's ``postgresql-15``: ``/usr/lib/postgresql/<v>/bin``) is created
with ``initdb`` in a temporary directory and started with ``pg_ctl`` once per session, on a free
loopback port (and its socket in that directory), with fsync off; stopped and removed at the end.
``initdb`` refuses to run as root, so as root the server runs as the ``nobody`` user
(``runuser``). Each test gets a database of its own (``postgres_url``). Without the server
binaries or ``psycopg``, the tests skip locally and fail in CI (``CI`` set).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fixtures_redis import free_port


def _unavailable(why: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL: {why}")
    pytest.skip(f"PostgreSQL: {why}")


def _bindir() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return os.path.dirname(found[-1]) if found else None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """``postgres@127.0.0.1:PORT`` of a server started for this session (trust auth)."""
    bindir = _bindir()
    if bindir is None:
        _unavailable("no server binaries: apt-get install postgresql-15")
    try:
        import psycopg  # noqa: F401  # the client the savers use
    except ImportError:
        _unavailable("psycopg is not installed: pip install -e '.[test]'")
    work = Path(tempfile.mkdtemp(prefix="ckv-pg-"))
    data, sock = work / "data", work / "sock"
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root
        pw = pwd.getpwnam("nobody")
        work.chmod(0o755)
        for d in (data, sock):
            d.mkdir()
            os.chown(d, pw.pw_uid, pw.pw_gid)
        prefix = ["runuser", "-u", "nobody", "--"]
    else:
        sock.mkdir()
    port = free_port()
    log = work / "pg.log"
    stop = [*prefix, f"{bindir}/pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop"]
    initdb = [*prefix, f"{bindir}/initdb", "-D", str(data), "-U", "postgres", "-A", "trust"]
    try:
        subprocess.run(
            [*initdb, "--no-sync", "-E", "UTF8", "--locale", "C"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        opts = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off"
        opts += " -c synchronous_commit=off -c full_page_writes=off"
        if os.geteuid() == 0:
            log.touch()
            os.chown(log, pwd.getpwnam("nobody").pw_uid, -1)
        start = [*prefix, f"{bindir}/pg_ctl", "-D", str(data), "-o", opts, "-l", str(log)]
        subprocess.run(
            [*start, "-w", "-t", "60", "start"],
            check=True,
            capture_output=True,
            timeout=120,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
        tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
        out = getattr(e, "stderr", b"") or b""
        shutil.rmtree(work, ignore_errors=True)
        _unavailable(f"could not start: {e}: {out.decode(errors='replace')[-800:]} {tail}")
    try:
        yield f"postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(stop, capture_output=True, timeout=120, check=False)
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """``postgres@127.0.0.1:PORT/<db>``: a fresh database for one test, dropped after it."""
    import psycopg

    name = "t" + uuid.uuid4().hex[:12]
    with psycopg.connect(f"postgresql://{postgres_server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{postgres_server}/{name}"
    finally:
        with psycopg.connect(f"postgresql://{postgres_server}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
