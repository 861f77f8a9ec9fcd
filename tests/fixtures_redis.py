"""Redis servers for the tests: a real Debian ``redis-server``, a 3-node Redis Cluster, fakeredis.

Each server is started once per session on free loopback ports with no persistence, and stopped
(by its own pid) at the end. Each test gets its own ``prefix=``, so tests never see each other's
threads in a shared server. Without the binary the real-server tests skip locally but fail in CI
(env ``CI`` set), as the project requires.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
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

REDIS_SERVER = shutil.which("redis-server")
REDIS_CLI = shutil.which("redis-cli")


def need_redis_binaries() -> None:
    """Skip (locally) or fail (in CI) when the Debian redis-server package is missing."""
    if REDIS_SERVER and REDIS_CLI:
        return
    msg = "redis-server/redis-cli not found: apt-get install -y redis-server"
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


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
    """One ``redis-server`` process started by the tests."""

    port: int
    workdir: Path
    extra: list[str] = field(default_factory=list)
    password: str | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *, wait: float = 20.0) -> None:
        assert REDIS_SERVER
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [
            REDIS_SERVER,
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
                raise RuntimeError(f"redis-server on port {self.port} exited:\n{log}")
            if self.cli("PING", check=False).strip() == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not answer PING")

    def cli(self, *args: str, check: bool = True) -> str:
        assert REDIS_CLI
        auth = ["--no-auth-warning", "-a", self.password] if self.password else []
        out = subprocess.run(
            [REDIS_CLI, "-h", "127.0.0.1", "-p", str(self.port), *auth, *args],
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
        assert REDIS_CLI
        seeds = [f"127.0.0.1:{n.port}" for n in nodes]
        create = [REDIS_CLI, "--cluster", "create", *seeds, "--cluster-replicas", "0"]
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
    """``fakeredis://?prefix=...``: a RedisStore over fakeredis (sync and async share data)."""
    import fakeredis
    from checkpoint_kv.backends import redis as ckv_redis

    global _FAKE_SERVER
    if _FAKE_SERVER is None:
        _FAKE_SERVER = fakeredis.FakeServer()
    server = _FAKE_SERVER
    cfg = ckv_redis.parse_url(url.replace("fakeredis://", "redis://localhost", 1), **options)
    return ckv_redis.RedisStore(
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
