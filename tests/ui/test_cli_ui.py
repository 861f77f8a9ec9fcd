"""``checkpoint-kv ui`` as a command: lazy imports, the missing extra, and the usual exit codes
before anything is served."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from checkpoint_kv.cli import EXIT_NO_STORE, EXIT_UNAVAILABLE, EXIT_USAGE, main
from tests.support.fixtures_redis import free_port

ROOT = Path(__file__).resolve().parents[2]


def run(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    code = main(list(argv), stdout=io.StringIO(), stderr=err)
    return code, err.getvalue()


def test_importing_the_package_and_the_command_line_loads_no_web_framework() -> None:
    code = (
        "import sys, checkpoint_kv, checkpoint_kv.cli\n"
        "checkpoint_kv.cli.build_parser()\n"
        "print(sorted(m for m in ('starlette', 'jinja2', 'uvicorn') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_without_the_extra_the_command_names_the_pip_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "starlette", None)  # as if not installed
    code, err = run("ui", f"sqlite:///{tmp_path / 'x.db'}")
    assert code == EXIT_USAGE
    assert "pip install 'checkpoint-kv[ui]'" in err and "starlette" in err


def test_the_store_is_checked_before_serving(tmp_path: Path) -> None:
    code, err = run("ui", f"sqlite:///{tmp_path / 'missing.db'}", "--port", "0")
    assert code == EXIT_NO_STORE and "checkpoint-kv setup" in err
    code, err = run("ui", f"redis://:hunter2@127.0.0.1:{free_port()}/0", "--port", "0")
    assert code == EXIT_UNAVAILABLE and "hunter2" not in err
    code, err = run("ui", "memory://", "--port", "70000")
    assert code == EXIT_USAGE and "--port" in err
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        code, err = run("ui", "memory://", "--port", str(taken.getsockname()[1]))
    assert code == EXIT_USAGE and "cannot listen on 127.0.0.1" in err


def test_help_lists_the_command() -> None:
    help_text = subprocess.run(
        [sys.executable, "-m", "checkpoint_kv", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "ui" in help_text and "web page" in help_text
