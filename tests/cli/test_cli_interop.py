"""``checkpoint-kv copy`` to and from LangGraph's own savers (``langgraph+sqlite:///``,
``langgraph+memory://``; PostgreSQL and Redis are covered by tests/processes/test_interop.py),
and SQLite files that are not ours: every command and ``from_url`` refuse one, naming what it
looks like, and never write to it; ``doctor`` reports it."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import checkpoint_kv
from checkpoint_kv.backends.sqlite.config import ForeignFileError
from checkpoint_kv.cli import EXIT_OK, EXIT_USAGE
from tests.cli.test_cli import cli, one_line_error
from tests.processes.test_migrate import build_graph, resume, run_to_interrupt


def _sqlite_saver_file(path: Path, threads: tuple[str, ...] = ("a", "b")) -> Path:
    pytest.importorskip("langgraph.checkpoint.sqlite")
    from langgraph.checkpoint.sqlite import SqliteSaver

    conn = sqlite3.connect(path, check_same_thread=False)
    try:
        saver = SqliteSaver(conn)
        saver.setup()
        for t in threads:
            run_to_interrupt(saver, t, turns=1)  # type: ignore[arg-type]
    finally:
        conn.close()
    return path


def _digest(path: Path) -> tuple[str, list[str]]:
    """The file's bytes, and every file beside it (no -wal/-shm or journal left behind)."""
    beside = sorted(p.name for p in path.parent.iterdir())
    return hashlib.sha256(path.read_bytes()).hexdigest(), beside


def test_copy_from_sqlite_saver_and_back(tmp_path: Path) -> None:
    theirs = _sqlite_saver_file(tmp_path / "theirs.db")
    ours = f"sqlite:///{tmp_path / 'ours.db'}"
    r = cli("--json", "copy", f"langgraph+sqlite:///{theirs}", ours)
    assert r.code == EXIT_OK, r.err
    doc = r.json()
    assert doc["ok"] and {t["thread_id"] for t in doc["threads"]} == {"a", "b"}
    assert all(t["verified"] for t in doc["threads"])
    again = cli("--json", "copy", f"langgraph+sqlite:///{theirs}", ours).json()
    assert again["totals"]["copied"] == 0 and again["totals"]["skipped"] > 0
    threads = cli("--json", "threads", ours).json()["threads"]
    assert {t["thread_id"] for t in threads} == {"a", "b"}
    with checkpoint_kv.from_url(ours) as saver:
        state, _ = resume(saver, "a")  # type: ignore[arg-type]
    assert state["approved"] == "yes"

    back = tmp_path / "back.db"
    r = cli("copy", ours, f"langgraph+sqlite:///{back}", "--thread", "a")
    assert r.code == EXIT_OK, r.err
    assert r.out.splitlines()[1].split()[0] == "a"
    from langgraph.checkpoint.sqlite import SqliteSaver

    with SqliteSaver.from_conn_string(str(back)) as saver:
        app = build_graph().compile(checkpointer=saver)
        st = app.get_state({"configurable": {"thread_id": "a"}})
    assert st.values["approved"] == "yes" and st.next == ()


def test_copy_to_memory_saver_and_missing_source(tmp_path: Path) -> None:
    r = cli("copy", f"langgraph+sqlite:///{tmp_path / 'absent.db'}", "langgraph+memory://")
    assert r.code == 4 and "absent.db" in one_line_error(r)
    assert not (tmp_path / "absent.db").exists()
    r = cli("copy", "langgraph+nosuch://x", "memory://")
    assert r.code == EXIT_USAGE and "langgraph+sqlite://" in one_line_error(r)


def test_missing_package_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import importlib

    real = importlib.import_module

    def gone(name: str, *a: Any) -> Any:
        if name == "langgraph.checkpoint.postgres":
            raise ImportError(name)
        return real(name, *a)

    monkeypatch.setattr(importlib, "import_module", gone)
    r = cli("copy", "langgraph+postgres://u@127.0.0.1:1/db", f"sqlite:///{tmp_path / 'x.db'}")
    line = one_line_error(r)
    assert r.code == EXIT_USAGE
    assert 'pip install langgraph-checkpoint-postgres "psycopg[binary]"' in line


def test_saver_urls_only_for_copy(tmp_path: Path) -> None:
    r = cli("threads", f"langgraph+sqlite:///{tmp_path / 'x.db'}")
    assert r.code == EXIT_USAGE and "only `checkpoint-kv copy` reads it" in one_line_error(r)


# --- foreign SQLite files ---------------------------------------------------------------------


def _app_file(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO users (name) VALUES ('ann')")
    conn.commit()
    conn.close()
    return path


COMMANDS = [
    ("threads", "{url}"),
    ("history", "{url}", "a"),
    ("show", "{url}", "a"),
    ("delete", "{url}", "a", "--yes"),
    ("prune", "{url}", "--keep-latest", "--yes"),
    ("setup", "{url}"),
    ("copy", "{url}", "memory://"),
    ("copy", "memory://", "{url}"),
    ("store", "namespaces", "{url}"),
    ("store", "search", "{url}", "memories"),
]


@pytest.mark.parametrize("kind", ["sqlite_saver", "app"])
def test_every_command_refuses_a_foreign_file(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "theirs.db"
    _sqlite_saver_file(path, ("a",)) if kind == "sqlite_saver" else _app_file(path)
    before = _digest(path)
    url = f"sqlite:///{path}"
    for argv in COMMANDS:
        r = cli(*(a.format(url=url) for a in argv))
        line = one_line_error(r)
        assert r.code == EXIT_USAGE, (argv, r.err)
        assert "nothing was written to it" in line
        if kind == "sqlite_saver":
            assert "LangGraph SqliteSaver file" in line
            assert f"checkpoint-kv copy langgraph+sqlite:///{path} sqlite:///new.db" in line
        else:
            assert "another program (tables: users)" in line
    r = cli("--json", "doctor", url)
    checks = {c["check"]: c for c in r.json()["checks"]}
    assert r.code == EXIT_USAGE and not checks["open"]["ok"]
    assert "new one" in checks["open"]["fix"]
    with pytest.raises(ForeignFileError):
        checkpoint_kv.from_url(url)
    with pytest.raises(ValueError):  # ConfigError: a ValueError too
        checkpoint_kv.store_from_url(url)
    assert _digest(path) == before
    tables = {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master")}
    assert "kv" not in tables


def test_our_file_beside_other_tables_and_empty_files_open(tmp_path: Path) -> None:
    """Our table in an app's database is ours; an empty file becomes ours."""
    path = _app_file(tmp_path / "app.db")
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE kv (partition TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, "
        "PRIMARY KEY (partition, key)) WITHOUT ROWID"
    )
    conn.commit()
    conn.close()
    assert cli("threads", f"sqlite:///{path}").code == EXIT_OK
    empty = tmp_path / "empty.db"
    empty.touch()
    with checkpoint_kv.from_url(f"sqlite:///{empty}") as saver:
        run_to_interrupt(saver, "t", turns=0)
    assert cli("threads", f"sqlite:///{empty}").code == EXIT_OK


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("not a database\n" * 200)
    r = cli("threads", f"sqlite:///{path}")
    assert r.code == EXIT_USAGE and "not a SQLite database" in one_line_error(r)
    assert path.read_text() == "not a database\n" * 200
