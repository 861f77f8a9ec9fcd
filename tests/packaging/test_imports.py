"""Imports work wherever a user stands, and type checkers see the package.

``checkpoint_kv/backends`` is a symbolic link to the top-level ``backends/`` folder, so the
package is whole in a source checkout too: a process started in the repository root imports
the source tree (the current directory comes first on ``sys.path``), which used to lack
``checkpoint_kv.backends`` under a normal install (``uvicorn examples.redis_chat.app:app`` as
its README says failed). The wheel holds real files there, no top-level ``backends``
(test_wheel.py). An editable install with ``editable_mode=compat`` (scripts/setup-test-env.sh,
the README) puts a plain path in a ``.pth`` file, which mypy follows, unlike setuptools'
default import hook.

Each test builds a small virtual environment without pip (its dependencies come from this
one through a ``.pth`` line), installs checkpoint-kv into it one way, and runs a user's app.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PIP = (sys.executable, "-m", "pip")
EDIT = ("-e", str(ROOT), "--config-settings", "editable_mode=compat")
MYPY = (sys.executable, "-m", "mypy", "--strict", "--no-incremental")

APP = """\
import checkpoint_kv
from checkpoint_kv import KVCheckpointSaver
from checkpoint_kv.backends import sqlite

saver: KVCheckpointSaver = checkpoint_kv.from_url("memory://")
opener = sqlite.from_url
wrong: int = saver  # the probe: mypy must know what from_url returns
"""

RUN = """\
import os, sys, tempfile
import checkpoint_kv
saver = checkpoint_kv.from_url("sqlite:///" + os.path.join(tempfile.mkdtemp(), "x.db"))
saver.setup()
import checkpoint_kv.backends.redis, checkpoint_kv.backends.dynamodb, checkpoint_kv.backends.s3
print(checkpoint_kv.__file__)
"""


def _env(tmp: Path) -> Path:
    """A virtual environment whose site-packages also sees this one's (langgraph, boto3...)."""
    venv.EnvBuilder(with_pip=False).create(tmp / "venv")
    py = tmp / "venv" / "bin" / "python"
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(site) / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return py


def _site(py: Path) -> Path:
    out = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip())


def _normal(tmp: Path) -> Path:
    """checkpoint-kv installed from its wheel."""
    py = _env(tmp)
    dist = tmp / "dist"
    subprocess.run(
        [*PIP, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(ROOT)],
        check=True,
    )
    (wheel,) = dist.glob("checkpoint_kv-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(_site(py))
    return py


def _editable(tmp: Path) -> Path:
    """checkpoint-kv installed editable, as scripts/setup-test-env.sh and the README do."""
    py = _env(tmp)
    subprocess.run(
        [*PIP, "--python", str(py), "install", "-q", "--no-deps", "--no-build-isolation", *EDIT],
        check=True,
    )
    return py


INSTALLS = {"normal": _normal, "editable": _editable}


def _run(py: Path, code: str, cwd: Path) -> str:
    out = subprocess.run([str(py), "-c", code], cwd=cwd, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.mark.timeout(240)
@pytest.mark.parametrize("install", sorted(INSTALLS))
def test_imports_from_the_repository_root_and_elsewhere(install: str, tmp_path: Path) -> None:
    py = INSTALLS[install](tmp_path)
    # From the repository root the source tree is imported, and it is whole.
    assert _run(py, RUN, ROOT) == str(ROOT / "checkpoint_kv" / "__init__.py")
    elsewhere = _run(py, RUN, tmp_path)
    if install == "normal":
        assert elsewhere.startswith(str(_site(py)))
    else:
        assert elsewhere == str(ROOT / "checkpoint_kv" / "__init__.py")
    # The example's own instructions: `uvicorn examples.redis_chat.app:app` from the root.
    _run(py, "import examples.redis_chat.app", ROOT)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("install", sorted(INSTALLS))
def test_mypy_strict_sees_the_types(install: str, tmp_path: Path) -> None:
    py = INSTALLS[install](tmp_path)
    app = tmp_path / "app" / "app.py"
    app.parent.mkdir()
    app.write_text(APP)
    out = subprocess.run(
        [*MYPY, "--python-executable", str(py), str(app)],
        cwd=app.parent,
        capture_output=True,
        text=True,
    )
    # Exactly the probe's error: the package, its types and its backends were all found.
    assert 'variable has type "int"' in out.stdout and "KVCheckpointSaver" in out.stdout, out
    assert "Found 1 error" in out.stdout, out.stdout
