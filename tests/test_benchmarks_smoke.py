"""The benchmark must never rot: run its smoke profile on our in-process backends.

No network, no server, no peer virtualenv: checkpoint-kv on memory:// and sqlite:// plus
LangGraph's InMemorySaver, tiny counts. Round-trip counts are deterministic, so they are
asserted; times never are.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langgraph.channels.delta")

from benchmarks import driver, report, run
from benchmarks.peers import inmemory, ours
from benchmarks.workloads import WORKLOADS


def _ours_ctx(tmp_path: Path, backend: str) -> dict[str, Any]:
    return {"dir": str(tmp_path), "backend": backend, "url_template": run.OURS[backend]}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("bench")
    targets: dict[str, Any] = {}
    for backend in ("memory", "sqlite"):
        targets[f"ckv-{backend}"] = {
            "label": f"checkpoint-kv {backend}",
            "unit": ours.unit(backend),
            "ours": True,
            "status": "ok",
            "workloads": driver.run_target(
                ours, _ours_ctx(tmp, backend), "smoke", list(WORKLOADS), budget=60
            ),
        }
    targets["inmemory"] = {
        "label": inmemory.LABEL,
        "unit": inmemory.UNIT,
        "status": "ok",
        "workloads": driver.run_target(inmemory, {"dir": str(tmp)}, "smoke", list(WORKLOADS), 60),
    }
    return {
        "profile": "smoke",
        "command": "pytest",
        "started": "now",
        "machine": run.machine() | {"load_at_start": 0.0},
        "targets": targets,
    }


def test_every_workload_runs(results: dict[str, Any]) -> None:
    for key, t in results["targets"].items():
        for w in WORKLOADS:
            e = t["workloads"][w]
            assert not e.get("error"), (key, w, e.get("traceback"))
            assert not e.get("truncated"), (key, w)
            assert e["held"]["bytes"] > 0, (key, w)


@pytest.mark.parametrize("key", ["ckv-memory", "ckv-sqlite"])
def test_round_trips_are_counted(results: dict[str, Any], key: str) -> None:
    """The saver's documented budget: one port call per put / put_writes / get_tuple."""
    w = results["targets"][key]["workloads"]
    for name in ("chat", "fanout", "concurrent"):
        ops = w[name]["ops"]
        for method in ("saver.put", "saver.put_writes", "saver.get_tuple"):
            assert ops[method]["hits_mean"] == 1.0, (name, method, ops[method])
    page = w["history"]["ops"]["history page (10)"]
    assert page["hits_max"] <= 2
    assert w["chat-delta"]["ops"]["saver.get_delta_channel_history"]["hits_max"] <= 3
    assert w["chat"]["unattributed"] == 0


def test_report_renders(results: dict[str, Any], tmp_path: Path) -> None:
    report.write_report(results, tmp_path, plots=False)
    md = (tmp_path / "RESULTS.md").read_text()
    assert "| **checkpoint-kv sqlite** | port calls |" in md
    assert "InMemorySaver" in md
    assert json.loads((tmp_path / "results.json").read_text())["profile"] == "smoke"


def test_one_command_end_to_end(tmp_path: Path) -> None:
    """``python -m benchmarks.run`` itself: subprocess per saver, import time, report."""
    rc = run.main(
        [
            "--profile",
            "smoke",
            "--only",
            "ckv-memory,inmemory",
            "--workloads",
            "chat",
            "--out",
            str(tmp_path),
            "--no-plots",
        ]
    )
    assert rc == 0
    data = json.loads((tmp_path / "results.json").read_text())
    assert set(data["targets"]) == {"ckv-memory", "inmemory"}
    for t in data["targets"].values():
        assert t["status"] == "ok", t["status"]
        assert t["import_ms"] and t["import_ms"] > 0
    assert sys.executable  # subprocesses ran with this interpreter
