"""The ``checkpoint-kv`` command line: every command on the embedded default (SQLite) and on
server backends (Redis, DynamoDB on moto), in-process through ``main(argv)`` and as a real
process; output (tables and parsed ``--json``) and exit codes; bad input gives one line on
stderr, a documented exit code and no traceback or password."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import pytest
from langgraph.channels.delta import DeltaChannel
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command
from typing_extensions import TypedDict

import checkpoint_kv
from checkpoint_kv.backends.memory import MemoryKV
from checkpoint_kv.cli import (
    EXIT_CHECK_FAILED,
    EXIT_CORRUPT,
    EXIT_NO_STORE,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    main,
)
from tests.processes.test_migrate import build_graph, run_to_interrupt
from tests.support.fixtures_redis import RedisProc, free_port

SERVER_BACKENDS = ["redis", "dynamodb", "s3"]


class Result:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def json(self) -> Any:
        return json.loads(self.out)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def cli(*argv: str, tty: bool = False, stdin: str = "", stdin_tty: bool = False) -> Result:
    """Run ``main`` in-process; stdin is never the real one (a ``pytest -s`` in a terminal
    would otherwise be asked to confirm)."""
    out, err = io.StringIO(), (_Tty() if tty else io.StringIO())
    real = sys.stdin
    sys.stdin = _Tty(stdin) if stdin_tty else io.StringIO(stdin)
    try:
        code = main(list(argv), stdout=out, stderr=err)
    finally:
        sys.stdin = real
    return Result(code, out.getvalue(), err.getvalue())


def one_line_error(r: Result) -> str:
    assert r.code != 0
    assert "Traceback" not in r.err and "Traceback" not in r.out
    lines = r.err.strip().splitlines()
    assert len(lines) == 1, r.err
    assert lines[0].startswith("checkpoint-kv: ")
    return lines[0]


@pytest.fixture(params=["sqlite", *SERVER_BACKENDS])
def store_url(request: pytest.FixtureRequest) -> str:
    """A populated store: ``t|interrupted`` stopped at an interrupt, ``done`` finished."""
    url = str(request.getfixturevalue(f"url_{request.param}"))
    with checkpoint_kv.from_url(url) as saver:
        saver.setup()
        run_to_interrupt(saver, "t|interrupted", turns=1)
        app = build_graph().compile(checkpointer=saver)
        cfg = {"configurable": {"thread_id": "done"}}
        app.invoke({"log": ["hi"]}, cfg)
        app.invoke(Command(resume="fine"), cfg)
    return url


def _snapshots(url: str, thread: str) -> list[Any]:
    with checkpoint_kv.from_url(url) as saver:
        app = build_graph().compile(checkpointer=saver)
        return list(app.get_state_history({"configurable": {"thread_id": thread}}))


# --- every command, on every backend ---------------------------------------------------------


def test_threads(store_url: str) -> None:
    r = cli("--json", "threads", store_url)
    assert r.code == EXIT_OK, r.err
    docs = {d["thread_id"]: d for d in r.json()["threads"]}
    assert set(docs) == {"t|interrupted", "done"}
    for tid, d in docs.items():
        snaps = _snapshots(store_url, tid)
        assert d["checkpoints"] == len(snaps)
        assert d["latest_checkpoint_id"] == snaps[0].config["configurable"]["checkpoint_id"]
        assert d["last_update"] == snaps[0].created_at
    table = cli("threads", store_url)
    assert table.code == EXIT_OK
    lines = table.out.splitlines()
    assert lines[0].split() == ["THREAD", "CHECKPOINTS", "NAMESPACES", "LAST", "UPDATE"]
    assert {ln.split()[0] for ln in lines[1:]} == {"t|interrupted", "done"}
    assert cli("--json", "threads", store_url, "--limit", "1").json()["threads"][0]["thread_id"]


def test_history_matches_get_state_history(store_url: str) -> None:
    r = cli("history", store_url, "t|interrupted", "--json")
    assert r.code == EXIT_OK, r.err
    rows = r.json()["checkpoints"]
    snaps = _snapshots(store_url, "t|interrupted")
    assert [d["checkpoint_id"] for d in rows] == [
        s.config["configurable"]["checkpoint_id"] for s in snaps
    ]
    assert [tuple(d["next"]) for d in rows] == [s.next for s in snaps]
    assert [d["step"] for d in rows] == [s.metadata["step"] for s in snaps]
    assert [d["source"] for d in rows] == [s.metadata["source"] for s in snaps]
    assert rows[0]["interrupts"] == 1 and rows[0]["next"] == ["review"]
    assert [d["pending_writes"] for d in rows] == [
        len(t.pending_writes or []) for t in _tuples(store_url, "t|interrupted")
    ]
    limited = cli("--json", "history", store_url, "t|interrupted", "--limit", "2").json()
    assert [d["checkpoint_id"] for d in limited["checkpoints"]] == [
        d["checkpoint_id"] for d in rows[:2]
    ]
    table = cli("history", store_url, "t|interrupted")
    assert table.out.splitlines()[0].split() == [
        "CHECKPOINT",
        "STEP",
        "SOURCE",
        "WRITES",
        "NEXT",
        "CREATED",
    ]
    assert "review (interrupted)" in table.out.splitlines()[1]


def _tuples(url: str, thread: str) -> list[Any]:
    with checkpoint_kv.from_url(url) as saver:
        return list(saver.list({"configurable": {"thread_id": thread}}))


def test_show(store_url: str) -> None:
    r = cli("--json", "show", store_url, "t|interrupted")
    assert r.code == EXIT_OK, r.err
    doc = r.json()
    latest = _snapshots(store_url, "t|interrupted")[0]
    assert doc["values"] == {"log": latest.values["log"], "approved": latest.values["approved"]}
    assert doc["metadata"]["step"] == latest.metadata["step"]
    assert doc["next"] == ["review"]
    assert [w["channel"] for w in doc["pending_writes"]] == ["__interrupt__"]
    assert doc["pending_writes"][0]["value"][0]["value"]["question"] == "approve?"
    # an older checkpoint by id
    first = _snapshots(store_url, "done")[-1]
    cid = first.config["configurable"]["checkpoint_id"]
    old = cli("--json", "show", store_url, "done", cid).json()
    assert old["checkpoint_id"] == cid and old["source"] == "input"
    human = cli("show", store_url, "t|interrupted")
    assert human.code == EXIT_OK
    for label in ("thread:", "checkpoint:", "next:", "metadata:", "values:", "pending writes:"):
        assert label in human.out
    assert "branch:to" not in human.out
    assert "branch:to:review" in cli("show", store_url, "t|interrupted", "--all-channels").out
    missing = cli("show", store_url, "done", "1f000000-0000-6000-8000-000000000000")
    assert missing.code == EXIT_NOT_FOUND and "not found" in one_line_error(missing)


def test_delete(store_url: str) -> None:
    r = cli("--json", "delete", store_url, "done", "--yes")
    assert r.code == EXIT_OK, r.err
    assert r.json()["deleted"] == "done" and r.json()["checkpoints"] > 0
    threads = cli("--json", "threads", store_url).json()["threads"]
    assert [d["thread_id"] for d in threads] == ["t|interrupted"]
    again = cli("delete", store_url, "done", "--yes")
    assert again.code == EXIT_NOT_FOUND and "no thread 'done'" in one_line_error(again)


def test_prune_keep_latest(store_url: str) -> None:
    assert cli("prune", store_url, "-y").code == EXIT_USAGE  # a strategy must be named
    r = cli("--json", "prune", store_url, "t|interrupted", "--keep-latest", "--yes")
    assert r.code == EXIT_OK, r.err
    (doc,) = r.json()["threads"]
    assert doc["after"] == 1 and doc["removed"] == doc["before"] - 1 > 0
    r = cli("prune", store_url, "--keep-latest", "--yes")  # every thread
    assert r.code == EXIT_OK
    assert {ln.split()[0] for ln in r.out.splitlines()[1:]} == {"t|interrupted", "done"}
    for d in cli("--json", "threads", store_url).json()["threads"]:
        assert d["checkpoints"] == 1
    # The pruned interrupted thread still resumes.
    with checkpoint_kv.from_url(store_url) as saver:
        app = build_graph().compile(checkpointer=saver)
        cfg = {"configurable": {"thread_id": "t|interrupted"}}
        app.invoke(Command(resume="late"), cfg)
        assert app.get_state(cfg).values["approved"] == "late"
    assert cli("prune", store_url, "nope", "--keep-latest", "-y").code == EXIT_NOT_FOUND


def test_setup_and_doctor(store_url: str) -> None:
    r = cli("--json", "setup", store_url)
    assert r.code == EXIT_OK and r.json()["ok"] is True
    d = cli("--json", "doctor", store_url)
    assert d.code == EXIT_OK, d.out
    checks = {c["check"]: c for c in d.json()["checks"]}
    assert all(c["ok"] for c in checks.values())
    assert {"open", "reach", "read-write", "round-trip", "server", "ttl"} <= set(checks)
    assert "ms" in checks["round-trip"]["detail"]
    assert checks["server"]["detail"].split()[0] in (
        "SQLite",
        "Redis",
        "Valkey",
        "DynamoDB,",
        "S3,",
    )
    assert checks["ttl"]["detail"] != "not reported"
    human = cli("doctor", store_url)
    assert human.code == EXIT_OK and "round-trip" in human.out and "FAIL" not in human.out
    # doctor leaves nothing behind
    assert len(cli("--json", "threads", store_url).json()["threads"]) == 2


@pytest.mark.parametrize("dst_name", SERVER_BACKENDS)
def test_copy_command(url_sqlite: str, dst_name: str, request: pytest.FixtureRequest) -> None:
    dst = str(request.getfixturevalue(f"url_{dst_name}"))
    with checkpoint_kv.from_url(url_sqlite) as saver:
        run_to_interrupt(saver, "a", turns=1)
        run_to_interrupt(saver, "b", turns=0)
    r = cli("--json", "copy", url_sqlite, dst, "--setup")
    assert r.code == EXIT_OK, r.err
    doc = r.json()
    assert doc["ok"] is True and {t["thread_id"] for t in doc["threads"]} == {"a", "b"}
    assert all(t["verified"] and t["skipped"] == 0 for t in doc["threads"])
    assert "\r" not in r.err  # no progress bar off a terminal
    # re-run: nothing copied, everything skipped; human table
    again = cli("copy", url_sqlite, dst, "--thread", "a", tty=True)
    assert again.code == EXIT_OK, again.err
    row = next(ln for ln in again.out.splitlines() if ln.startswith("a ")).split()
    assert row[4] == "0" and row[6] == "ok"  # COPIED 0, VERIFIED ok
    assert "verified" in again.out.splitlines()[-1]
    assert "[" in again.err and "threads" in again.err  # a bar on a terminal
    # the graph resumes on the destination
    with checkpoint_kv.from_url(dst) as saver:
        app = build_graph().compile(checkpointer=saver)
        cfg = {"configurable": {"thread_id": "b"}}
        app.invoke(Command(resume="moved"), cfg)
        assert app.get_state(cfg).values["log"][-1] == "act (moved)"
    nope = cli("copy", url_sqlite, dst, "--thread", "nope")
    assert nope.code == EXIT_NOT_FOUND and "'nope'" in one_line_error(nope)


def test_copy_verification_failure_exit_code(url_sqlite: str) -> None:
    with checkpoint_kv.from_url(url_sqlite) as saver:
        run_to_interrupt(saver, "a", turns=0)

    class Lossy(MemoryKV):
        def write(self, partition: str, ops: Any) -> None:
            super().write(partition, [op for op in ops if "!w!" not in op.key])

    checkpoint_kv.register("lossy", lambda url, **o: Lossy())
    r = cli("--json", "copy", url_sqlite, "lossy://")
    assert r.code == EXIT_CHECK_FAILED
    assert r.json()["ok"] is False  # exactly one JSON document
    assert "missing" in one_line_error(r)


# --- the URL from the environment; memory through a shared in-process store ------------------


def test_url_from_environment(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHECKPOINT_KV_URL", store_url)
    assert {d["thread_id"] for d in cli("--json", "threads").json()["threads"]} == {
        "t|interrupted",
        "done",
    }
    cid = cli("--json", "history", "done").json()["checkpoints"][-1]["checkpoint_id"]
    assert cli("--json", "show", "done", cid).json()["checkpoint_id"] == cid
    assert cli("--json", "prune", "done", "--keep-latest", "-y").json()["threads"][0]["after"] == 1
    monkeypatch.delenv("CHECKPOINT_KV_URL")
    r = cli("threads")
    assert r.code == EXIT_USAGE and "CHECKPOINT_KV_URL" in one_line_error(r)


def test_the_apps_url_with_history_option_works(url_sqlite: str) -> None:
    """The URL the app uses may carry ``?history=latest`` (a saver option): before, every
    command refused it as an unknown SQLite option."""
    app_url = url_sqlite + "?history=latest"
    with checkpoint_kv.from_url(app_url) as saver:
        run_to_interrupt(saver, "h", turns=1)
    assert cli("--json", "threads", app_url).json()["threads"][0]["thread_id"] == "h"
    assert cli("--json", "show", app_url, "h").json()["next"] == ["review"]
    assert cli("--json", "doctor", url_sqlite + "?history=latest&timeout=5").code == EXIT_OK
    r = cli("threads", url_sqlite + "?history=latest&bogus=1")
    assert r.code == EXIT_USAGE and "bogus" in one_line_error(r)
    r = cli("threads", url_sqlite + "?history=sometimes")
    assert r.code == EXIT_USAGE and "history=" in one_line_error(r)
    d = cli("--json", "doctor", "sqlite:///:memory:").json()
    assert d["ok"] and any(c["detail"].startswith(":memory:") for c in d["checks"])


def test_memory_store_in_process() -> None:
    """``memory://`` lives in one process: share one store through a registered scheme."""
    shared = MemoryKV()
    checkpoint_kv.register("sharedmem", lambda url, **o: shared)
    with checkpoint_kv.KVCheckpointSaver(shared) as saver:
        run_to_interrupt(saver, "m", turns=0)
    assert cli("--json", "threads", "sharedmem://").json()["threads"][0]["thread_id"] == "m"
    assert cli("--json", "history", "sharedmem://", "m").json()["checkpoints"][0]["next"] == [
        "review"
    ]
    assert cli("--json", "show", "sharedmem://", "m").json()["next"] == ["review"]
    assert cli("--json", "doctor", "sharedmem://").code == EXIT_OK
    assert cli("--json", "prune", "sharedmem://", "--keep-latest", "-y").code == EXIT_OK
    assert cli("--json", "delete", "sharedmem://", "m", "-y").code == EXIT_OK
    assert cli("--json", "threads", "sharedmem://").json()["threads"] == []
    # and plain memory:// is a fresh, empty store per invocation
    assert cli("--json", "threads", "memory://").json()["threads"] == []
    assert cli("history", "memory://", "m").code == EXIT_NOT_FOUND


# --- bad input: one line, a documented exit code, no traceback, no password -------------------


def test_unknown_scheme() -> None:
    r = cli("threads", "redsi://localhost")
    assert r.code == EXIT_USAGE
    line = one_line_error(r)
    assert "unknown" in line and "redis://" in line  # did you mean


def test_not_a_url(tmp_path: Path) -> None:
    assert cli("threads", str(tmp_path / "x.db")).code == EXIT_USAGE


def test_unreachable_redis_hides_password() -> None:
    r = cli("threads", "redis://admin:hunter2@127.0.0.1:1/0")
    assert r.code == EXIT_UNAVAILABLE
    line = one_line_error(r)
    assert "hunter2" not in r.err + r.out and "127.0.0.1:1" in line
    d = cli("--json", "doctor", "redis://admin:hunter2@127.0.0.1:1/0")
    assert d.code == EXIT_UNAVAILABLE and "hunter2" not in d.out + d.err
    checks = d.json()["checks"]
    assert checks[-1]["ok"] is False and checks[-1]["fix"]


def test_unreachable_dynamodb(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    url = "dynamodb://tbl?region=us-east-1&endpoint_url=http://127.0.0.1:1"
    r = cli("threads", url)
    assert r.code == EXIT_UNAVAILABLE and "127.0.0.1:1" in one_line_error(r)


def test_missing_table_and_file(moto_endpoint: str, tmp_path: Path) -> None:
    url = f"dynamodb://no-such-table?region=us-east-1&endpoint_url={moto_endpoint}"
    r = cli("threads", url)
    assert r.code == EXIT_NO_STORE and "no-such-table" in one_line_error(r)
    d = cli("--json", "doctor", url)
    assert d.code == EXIT_NO_STORE and "setup" in d.json()["checks"][-1]["fix"]
    assert cli("setup", url).code == EXIT_OK
    assert cli("--json", "threads", url).json()["threads"] == []
    missing = f"sqlite:///{tmp_path / 'nothing.db'}"
    r = cli("history", missing, "t")
    assert r.code == EXIT_NO_STORE and "setup" in one_line_error(r)
    assert not (tmp_path / "nothing.db").exists()  # reading never creates a file


def test_unknown_thread(url_sqlite: str) -> None:
    assert cli("setup", url_sqlite).code == EXIT_OK
    for argv in (("history", url_sqlite, "ghost"), ("show", url_sqlite, "ghost")):
        r = cli(*argv)
        assert r.code == EXIT_NOT_FOUND and "'ghost'" in one_line_error(r)


def test_usage_errors() -> None:
    assert cli().code == EXIT_USAGE
    assert cli("frobnicate").code == EXIT_USAGE
    assert cli("--help").code == EXIT_OK


# --- as a real process -----------------------------------------------------------------------


def _proc(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "checkpoint_kv", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_subprocess_on_sqlite(url_sqlite: str) -> None:
    with checkpoint_kv.from_url(url_sqlite) as saver:
        run_to_interrupt(saver, "p", turns=1)
    p = _proc("--json", "threads", url_sqlite)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["threads"][0]["thread_id"] == "p"
    p = _proc("history", "p", env={"CHECKPOINT_KV_URL": url_sqlite})
    assert p.returncode == 0 and "review (interrupted)" in p.stdout
    p = _proc("show", "ghost", env={"CHECKPOINT_KV_URL": url_sqlite})
    assert p.returncode == EXIT_NOT_FOUND and p.stderr.count("\n") == 1
    assert "Traceback" not in p.stderr
    p = _proc("threads", "nosuch://x")
    assert p.returncode == EXIT_USAGE and "Traceback" not in p.stderr
    p = _proc("delete", url_sqlite, "p", "--json", "--yes")
    assert p.returncode == 0 and json.loads(p.stdout)["deleted"] == "p"


def test_console_script_is_installed() -> None:
    import shutil

    exe = shutil.which("checkpoint-kv")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("checkpoint-kv is not on PATH: install the package (pip install -e .)")
        pytest.skip("checkpoint-kv is not on PATH (package not installed with its scripts)")
    p = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.startswith("checkpoint-kv ")


# --- LangGraph server integration (langgraph.json "checkpointer.path") -----------------------

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load_path(path: str) -> Any:
    """Resolve a langgraph.json import path the way the server does (``module:attr`` or
    ``./file.py:attr`` relative to the config file)."""
    import importlib
    import importlib.util

    target, _, attr = path.rpartition(":")
    if target.endswith(".py"):
        spec = importlib.util.spec_from_file_location("lg_example", EXAMPLES / target)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # type hints of the state resolve through it
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    return getattr(module, attr)


@pytest.mark.parametrize("backend_name", ["sqlite", "redis"])
async def test_langgraph_json_checkpointer(
    backend_name: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    from langgraph.checkpoint.base import BaseCheckpointSaver

    config = json.loads((EXAMPLES / "langgraph.json").read_text())
    factory = _load_path(config["checkpointer"]["path"])
    graph = _load_path(config["graphs"]["approval"])
    url = str(request.getfixturevalue(f"url_{backend_name}"))
    monkeypatch.setenv("CHECKPOINT_KV_URL", url)
    cfg: Any = {"configurable": {"thread_id": "server-1"}}
    async with factory() as saver:  # what the server does at start-up
        assert isinstance(saver, BaseCheckpointSaver)
        app = graph.copy(update={"checkpointer": saver})
        out = await app.ainvoke({"log": []}, cfg)
        assert "__interrupt__" in out
    async with factory() as saver:  # a restarted server finds the run where it stopped
        app = graph.copy(update={"checkpointer": saver})
        assert (await app.aget_state(cfg)).next == ("approve",)
        out = await app.ainvoke(Command(resume="yes"), cfg)
        assert out["log"] == ["draft #0", "approved: yes"]
    assert cli("--json", "history", url, "server-1").json()["checkpoints"][0]["next"] == []


async def test_server_setup_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from checkpoint_kv.server import checkpointer

    monkeypatch.setenv("CHECKPOINT_KV_URL", f"sqlite:///{tmp_path / 's.db'}")
    monkeypatch.setenv("CHECKPOINT_KV_SETUP", "maybe")
    with pytest.raises(checkpoint_kv.ConfigError):
        async with checkpointer():
            pass
    monkeypatch.setenv("CHECKPOINT_KV_SETUP", "0")
    async with checkpointer() as saver:
        assert await saver.aget_tuple({"configurable": {"thread_id": "x"}}) is None


# --- delete and prune need --yes without a terminal ------------------------------------------


def _counts(url: str) -> dict[str, int]:
    docs = cli("--json", "threads", url).json()["threads"]
    return {d["thread_id"]: d["checkpoints"] for d in docs}


def test_delete_and_prune_refuse_without_a_terminal(url_sqlite: str) -> None:
    """Before: a pipe (cron, CI, ``echo | checkpoint-kv prune``) pruned every thread silently."""
    with checkpoint_kv.from_url(url_sqlite) as saver:
        run_to_interrupt(saver, "a", turns=2)
        run_to_interrupt(saver, "b", turns=1)
    before = _counts(url_sqlite)
    for argv in (("delete", url_sqlite, "a"), ("prune", url_sqlite, "--keep-latest")):
        for stdin in ("", "y\n"):  # a "y" on a pipe is not a confirmation either
            r = cli(*argv, stdin=stdin)
            assert r.code == EXIT_USAGE
            line = one_line_error(r)
            assert "--yes" in line and "not a terminal" in line
            j = cli("--json", *argv, stdin=stdin)
            assert j.code == EXIT_USAGE and j.json()["exit_code"] == EXIT_USAGE
    assert _counts(url_sqlite) == before  # nothing touched
    # a terminal asks; anything but y/yes keeps the data
    no = cli("prune", url_sqlite, "--keep-latest", stdin="n\n", stdin_tty=True)
    assert no.code == EXIT_OK and "[y/N]" in no.err and "nothing done" in no.err
    assert _counts(url_sqlite) == before
    yes = cli("delete", url_sqlite, "b", stdin="yes\n", stdin_tty=True)
    assert yes.code == EXIT_OK and "deleted thread 'b'" in yes.out
    assert cli("--json", "prune", url_sqlite, "--keep-latest", "--yes").code == EXIT_OK
    assert _counts(url_sqlite) == {"a": 1}


def test_prune_through_a_real_pipe_refuses(url_sqlite: str) -> None:
    with checkpoint_kv.from_url(url_sqlite) as saver:
        run_to_interrupt(saver, "p", turns=2)
    before = _counts(url_sqlite)
    p = subprocess.run(
        [sys.executable, "-m", "checkpoint_kv", "prune", url_sqlite, "--keep-latest"],
        input="y\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == EXIT_USAGE and "--yes" in p.stderr, p.stderr
    assert _counts(url_sqlite) == before


# --- --serde / CHECKPOINT_KV_SERDE: stores written with EncryptedSerializer -------------------

AES = "langgraph.checkpoint.serde.encrypted:EncryptedSerializer.from_pycryptodome_aes"


@pytest.fixture
def encrypted_url(url_sqlite: str, monkeypatch: pytest.MonkeyPatch) -> str:
    from langgraph.checkpoint.serde.encrypted import EncryptedSerializer

    monkeypatch.setenv("LANGGRAPH_AES_KEY", "0123456789abcdef")
    monkeypatch.delenv("CHECKPOINT_KV_SERDE", raising=False)
    serde = EncryptedSerializer.from_pycryptodome_aes()
    with checkpoint_kv.from_url(url_sqlite, serde=serde) as saver:
        run_to_interrupt(saver, "enc", turns=2)
    return url_sqlite


def test_serde_option_reads_an_encrypted_store(
    encrypted_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: no way to give a serializer, so an encrypted store could not be read."""
    plain = cli("show", encrypted_url, "enc")
    assert plain.code == EXIT_CORRUPT
    assert "--serde" in one_line_error(plain) and "CHECKPOINT_KV_SERDE" in plain.err
    assert cli("threads", encrypted_url).code == EXIT_CORRUPT
    # --serde before or after the command
    r = cli("--serde", AES, "--json", "show", encrypted_url, "enc")
    assert r.code == EXIT_OK, r.err
    assert r.json()["values"]["log"][-1].startswith("plan") and r.json()["next"] == ["review"]
    r2 = cli("--json", "show", encrypted_url, "enc", "--serde", AES)
    assert r2.code == EXIT_OK and r2.json()["values"] == r.json()["values"]
    # the environment variable; every reading and pruning command
    monkeypatch.setenv("CHECKPOINT_KV_SERDE", AES)
    assert [d["thread_id"] for d in cli("--json", "threads", encrypted_url).json()["threads"]] == [
        "enc"
    ]
    assert cli("--json", "history", encrypted_url, "enc").json()["checkpoints"][0]["next"] == [
        "review"
    ]
    pruned = cli("--json", "prune", encrypted_url, "--keep-latest", "--yes")
    assert pruned.code == EXIT_OK and pruned.json()["threads"][0]["after"] == 1
    # the wrong key is a decoding error, not a crash
    monkeypatch.setenv("LANGGRAPH_AES_KEY", "fedcba9876543210")
    assert cli("show", encrypted_url, "enc").code == EXIT_CORRUPT


def test_bad_serde_is_a_usage_error(encrypted_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for spec, words in (
        ("no.such.module:make", "cannot import"),
        ("json:nope", "has no 'nope'"),
        ("json", "module:attribute"),
        ("json:dumps", "failed"),  # called with no arguments: TypeError
        ("builtins:dict", "no dumps_typed"),
    ):
        r = cli("--serde", spec, "show", encrypted_url, "enc")
        assert r.code == EXIT_USAGE, (spec, r.err)
        assert words in one_line_error(r), (spec, r.err)
    monkeypatch.delenv("LANGGRAPH_AES_KEY")
    r = cli("--serde", AES, "show", encrypted_url, "enc")
    assert r.code == EXIT_USAGE and "LANGGRAPH_AES_KEY" in one_line_error(r)


async def test_server_serde_from_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from langgraph.checkpoint.serde.encrypted import EncryptedSerializer

    from checkpoint_kv.server import checkpointer

    url = f"sqlite:///{tmp_path / 'enc.db'}"
    monkeypatch.setenv("CHECKPOINT_KV_URL", url)
    monkeypatch.setenv("CHECKPOINT_KV_SERDE", AES)
    monkeypatch.setenv("LANGGRAPH_AES_KEY", "0123456789abcdef")
    async with checkpointer() as saver:
        assert isinstance(saver.serde, EncryptedSerializer)
        app = build_graph().compile(checkpointer=saver)
        await app.ainvoke({"log": ["hi"]}, {"configurable": {"thread_id": "s"}})
    monkeypatch.delenv("CHECKPOINT_KV_SERDE")
    assert cli("show", url, "s").code == EXIT_CORRUPT  # it really is encrypted
    assert cli("--serde", AES, "show", url, "s").code == EXIT_OK


# --- show: DeltaChannel values ----------------------------------------------------------------


def _extend(state: list[str], writes: Any) -> list[str]:
    return [*state, *(m for w in writes for m in w)]


class DeltaState(TypedDict, total=False):
    messages: Annotated[list[str], DeltaChannel(_extend, snapshot_frequency=5)]
    turns: int


def delta_builder() -> Any:
    """``--graph tests.cli.test_cli:delta_builder``: a one-node chat whose messages are a
    DeltaChannel snapshotted every 5 updates."""

    def bot(s: DeltaState) -> DeltaState:
        return {"messages": [f"bot:{len(s['messages'])}"], "turns": s.get("turns", 0) + 1}

    b = StateGraph(DeltaState)
    b.add_node("bot", bot)
    b.add_edge(START, "bot")
    b.add_edge("bot", END)
    return b


@pytest.mark.parametrize("backend_name", ["sqlite", "redis"])
def test_show_includes_delta_channel_values(
    backend_name: str, request: pytest.FixtureRequest
) -> None:
    """Before: a DeltaChannel is absent from a non-snapshot checkpoint's channel_values, and
    ``show`` printed no messages at all."""
    url = str(request.getfixturevalue(f"url_{backend_name}"))
    cfg: Any = {"configurable": {"thread_id": "d"}}
    states = []
    with checkpoint_kv.from_url(url) as saver:
        saver.setup()
        app = delta_builder().compile(checkpointer=saver)
        for turn in range(4):
            app.invoke({"messages": [f"user:{turn}"]}, cfg)
            states.append(app.get_state(cfg))
    latest = states[-1]
    expected = latest.values["messages"]
    assert len(expected) == 8
    # with the graph: the value LangGraph's get_state shows
    graph = "tests.cli.test_cli:delta_builder"
    r = cli("--json", "show", url, "d", "--graph", graph)
    assert r.code == EXIT_OK, r.err
    doc = r.json()
    assert doc["values"]["messages"] == expected
    assert doc["values"]["turns"] == 4
    assert doc["delta_channels"]["messages"]["rebuilt"] is True
    # an older checkpoint by id, also rebuilt
    cid = states[1].config["configurable"]["checkpoint_id"]
    old = cli("--json", "show", url, "d", cid, "--graph", graph).json()
    assert old["values"]["messages"] == states[1].values["messages"]
    # without the graph (no reducer): the seed and every write since, in order
    bare = cli("--json", "show", url, "d").json()
    assert "messages" not in bare["values"]
    d = bare["delta_channels"]["messages"]
    assert d["rebuilt"] is False and d["writes_since_seed"] == len(d["writes"]) > 0
    assert _extend(d["seed"] or [], d["writes"]) == expected
    human = cli("show", url, "d")
    assert human.code == EXIT_OK and "DeltaChannel" in human.out and "bot:7" in human.out
    rebuilt = cli("show", url, "d", "--graph", graph)
    assert "messages (DeltaChannel: rebuilt" in rebuilt.out and "bot:7" in rebuilt.out
    for spec in ("tests.cli.test_cli:Result", "tests.cli.test_cli:AES", "tests.nope:x"):
        bad = cli("show", url, "d", "--graph", spec)
        assert bad.code == EXIT_USAGE and spec in one_line_error(bad)


def test_show_unwraps_a_delta_snapshot(url_sqlite: str) -> None:
    cfg: Any = {"configurable": {"thread_id": "snap"}}
    with checkpoint_kv.from_url(url_sqlite) as saver:
        app = delta_builder().compile(checkpointer=saver)
        for turn in range(3):  # 6 updates: the 5th wrote a snapshot blob
            app.invoke({"messages": [f"user:{turn}"]}, cfg)
        history = list(app.get_state_history(cfg))
    for snap in history:
        cid = snap.config["configurable"]["checkpoint_id"]
        doc = cli("--json", "show", url_sqlite, "snap", cid).json()
        shown = doc["values"].get("messages")
        if shown is None:  # not stored at this step: seed + writes rebuild it
            d = doc["delta_channels"].get("messages")
            got = _extend(d["seed"] or [], d["writes"]) if d else []
        else:
            got = shown
        assert got == snap.values.get("messages", []), cid


# --- hints that name the right cause (issue 13) ----------------------------------------------


def test_a_url_in_the_thread_position_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """``history URL`` without a thread: argparse takes the URL as the thread, and "no backend
    URL" was the wrong news. The message says what happened and the right command line."""
    monkeypatch.delenv("CHECKPOINT_KV_URL", raising=False)
    r = cli("history", "redis://127.0.0.1:1/0")
    assert r.code == EXIT_USAGE
    line = one_line_error(r)
    assert "no backend URL" not in line
    assert "taken as the thread" in line
    assert "checkpoint-kv history redis://127.0.0.1:1/0 THREAD" in line
    r = cli("show", "checkpoints.db")  # a file name: its sqlite URL is suggested
    assert r.code == EXIT_USAGE
    assert "checkpoint-kv show sqlite:///checkpoints.db THREAD" in one_line_error(r)
    r = cli("delete", "redis://:hunter2@127.0.0.1:1/0")
    assert r.code == EXIT_USAGE and "hunter2" not in r.err
    assert "taken as the thread" in one_line_error(r)
    # a thread id that is not URL-like keeps the plain message
    assert "no backend URL" in one_line_error(cli("history", "user-42"))


def test_a_url_as_thread_with_the_url_from_the_environment(
    url_sqlite: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("setup", url_sqlite).code == EXIT_OK
    monkeypatch.setenv("CHECKPOINT_KV_URL", url_sqlite)
    r = cli("history", "redis://:hunter2@127.0.0.1:1/0")  # taken as a thread of the env's store
    assert r.code == EXIT_NOT_FOUND
    line = one_line_error(r)
    assert "looks like a backend URL" in line and "hunter2" not in r.err


@pytest.mark.parametrize(
    ("operand", "meant"),
    [("redis:/127.0.0.1:1", "redis://127.0.0.1:1"), ("checkpoints.db", "sqlite:///checkpoints.db")],
)
def test_near_urls_get_a_suggestion(
    operand: str, meant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CHECKPOINT_KV_URL", raising=False)
    for argv in (("threads", operand), ("history", operand, "t"), ("doctor", operand)):
        r = cli(*argv)
        assert r.code == EXIT_USAGE
        assert f"Did you mean {meant}?" in (r.err if argv[0] != "doctor" else r.out)


def _doctor_failure(url: str) -> tuple[int, dict[str, Any]]:
    d = cli("--json", "doctor", url)
    failed = [c for c in d.json()["checks"] if not c["ok"]]
    assert failed, d.out
    return d.code, failed[0]


def test_doctor_names_missing_aws_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance role lookup
    for url in (
        "s3://bkt/p?region=us-east-1&endpoint_url=http%3A%2F%2F127.0.0.1%3A1",
        "dynamodb://tbl?region=us-east-1&endpoint_url=http%3A%2F%2F127.0.0.1%3A1",
    ):
        _, check = _doctor_failure(url)
        assert "AWS_ACCESS_KEY_ID" in check["fix"] and "AWS_PROFILE" in check["fix"], url
        assert "server running" not in check["fix"]


def test_doctor_names_a_refused_connection() -> None:
    port = free_port()
    code, check = _doctor_failure(f"redis+cluster://127.0.0.1:{port}")
    assert code == EXIT_UNAVAILABLE
    assert "cluster node" in check["fix"] and "install the backend's extra" not in check["fix"]
    code, check = _doctor_failure(f"redis://127.0.0.1:{port}/0?retries=0")
    assert code == EXIT_UNAVAILABLE
    assert "nothing accepts connections" in check["fix"]


def test_doctor_names_a_redis_password(tmp_path: Path, redis_server: RedisProc) -> None:
    server = RedisProc(free_port(), tmp_path / "auth", password="s3cret-pw")
    server.start()
    try:
        base = f"127.0.0.1:{server.port}/0"
        code, check = _doctor_failure(f"redis://{base}")  # NOAUTH
        assert code == EXIT_UNAVAILABLE
        assert "requires a password" in check["fix"] and "redis://:<password>@" in check["fix"]
        code, check = _doctor_failure(f"redis://:wrong-pw@{base}")  # WRONGPASS
        assert code == EXIT_UNAVAILABLE
        assert "refused the user name or password" in check["fix"]
        d = cli("--json", "doctor", f"redis://:s3cret-pw@{base}")
        assert d.code == EXIT_OK, d.out
        assert "s3cret-pw" not in d.out + d.err and "wrong-pw" not in d.out
        # a cluster URL for a single server: says so (not "cannot reach")
        code, check = _doctor_failure(f"redis+cluster://127.0.0.1:{redis_server.port}")
        assert code == EXIT_USAGE and "not a cluster" in check["fix"]
    finally:
        server.stop()


def test_create_it_hints_keep_the_endpoint(moto_endpoint: str) -> None:
    """Pasting a hint must act on the store the URL names, never on real AWS."""
    endpoint = quote(moto_endpoint, safe="")
    s3 = f"s3://ckv-missing-{os.getpid()}/p?region=us-east-1&endpoint_url={endpoint}"
    r = cli("threads", s3)
    assert r.code == EXIT_NO_STORE
    assert f"--endpoint-url {moto_endpoint}" in one_line_error(r)
    code, check = _doctor_failure(s3)
    assert code == EXIT_NO_STORE and f"endpoint_url={endpoint}" in check["fix"]

    table = f"ckv-ttl-{os.getpid()}"
    ddb = f"dynamodb://{table}?region=us-east-1&endpoint_url={endpoint}"
    assert cli("setup", ddb).code == EXIT_OK  # no ?ttl=: the table's TTL stays off
    code, check = _doctor_failure(f"{ddb}&ttl=3600")
    assert code == EXIT_CHECK_FAILED and check["check"] == "ttl"
    assert "update-time-to-live" in check["fix"]
    assert f"--endpoint-url {moto_endpoint}" in check["fix"]
    assert "--region us-east-1" in check["fix"]
