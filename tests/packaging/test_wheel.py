"""The built wheel carries every backend: a module left out of the package list works in an
editable install but vanishes from the wheel, so build one and import each backend from it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = sorted(
    p.stem if p.suffix == ".py" else p.name
    for p in (ROOT / "backends").iterdir()
    if not p.name.startswith(("_", ".")) and (p.suffix == ".py" or (p / "__init__.py").is_file())
)


def test_wheel_contains_and_imports_every_backend(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(ROOT),
        ],
        check=True,
    )
    (wheel,) = (tmp_path / "dist").glob("checkpoint_kv-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        zf.extractall(tmp_path / "site")
    assert "backends/__init__.py" not in names, "a top-level `backends` package leaked"
    assert {"memory", "sqlite", "redis", "dynamodb", "s3"} <= set(BACKENDS)
    for name in BACKENDS:  # a module, or a package split by concern
        assert {
            f"checkpoint_kv/backends/{name}.py",
            f"checkpoint_kv/backends/{name}/__init__.py",
        } & names
    # Every module of the core and of the backends, subpackages too (an explicit package list
    # forgets new ones).
    core = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "checkpoint_kv").rglob("*.py")
        if "backends" not in p.relative_to(ROOT).parts
    }
    core |= {
        "checkpoint_kv/" + p.relative_to(ROOT).as_posix() for p in (ROOT / "backends").rglob("*.py")
    }
    assert core <= names, sorted(core - names)
    # The ui's templates and assets are package data: a wheel without them serves only errors.
    ui = ROOT / "checkpoint_kv" / "ui"
    assets = {
        p.relative_to(ROOT).as_posix() for d in ("templates", "static") for p in (ui / d).iterdir()
    }
    assert "checkpoint_kv/ui/templates/base.html" in assets
    assert assets <= names, sorted(assets - names)
    code = (
        "import importlib, sys\n"
        f"for name in {BACKENDS!r}:\n"
        "    m = importlib.import_module('checkpoint_kv.backends.' + name)\n"
        f"    assert m.__file__.startswith({str(tmp_path / 'site')!r}), m.__file__\n"
        "    assert callable(m.from_url)\n"
        "import checkpoint_kv.cli, checkpoint_kv.store\n"
        "from checkpoint_kv.ui.render import HERE\n"
        f"assert str(HERE).startswith({str(tmp_path / 'site')!r}), HERE\n"
        "assert (HERE / 'templates' / 'base.html').is_file()\n"
        "assert (HERE / 'static' / 'app.js').is_file()\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path / "site")},
        capture_output=True,
        text=True,
    )
    assert out.stdout.strip() == "ok", out.stderr
