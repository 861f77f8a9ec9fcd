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


def test_round_trips_are_counted(results: dict[str, Any]) -> None:
    """The saver's documented budget: one port call per put / put_writes / get_tuple."""
    w = results["targets"]["ckv-memory"]["workloads"]
    for name in ("chat", "fanout", "concurrent"):
        ops = w[name]["ops"]
        for method in ("saver.put", "saver.put_writes", "saver.get_tuple"):
            assert ops[method]["hits_mean"] == 1.0, (name, method, ops[method])
    page = w["history"]["ops"]["history page (10)"]
    assert page["hits_max"] <= 2
    assert w["chat-delta"]["ops"]["saver.get_delta_channel_history"]["hits_max"] <= 3
    assert w["chat-delta"]["ops"]["history page (10)"]["hits_max"] <= 2  # listing + 1 history
    assert w["chat"]["unattributed"] == 0


def test_sqlite_counts_statements(results: dict[str, Any]) -> None:
    """Our SQLite backend is counted in SQL statements, as SqliteSaver is (the trace callback
    of every connection), with the port calls beside them: the same calls as on memory://."""
    sq = results["targets"]["ckv-sqlite"]["workloads"]
    mem = results["targets"]["ckv-memory"]["workloads"]
    for name in ("chat", "chat-delta", "history"):
        port = sq[name]["hits_by_kind"]["port calls"]
        assert port == mem[name]["hits_by_kind"]["port calls"], name
        # A port call is at least one statement (a write: one multi-row INSERT; a scan: one
        # SELECT; several statements only inside BEGIN IMMEDIATE ... COMMIT).
        assert sq[name]["hits"] >= port, name
    assert sq["chat"]["ops"]["saver.put"]["hits_mean"] >= 1
    assert sq["chat"]["bytes_sent"] == mem["chat"]["bytes_sent"] > 0


def test_delta_get_state_is_probed_at_the_same_turn(results: dict[str, Any]) -> None:
    """Every saver: get_state after turn 3 (not a DeltaChannel snapshot), three samples, one
    get_delta_channel_history call each."""
    for key, t in results["targets"].items():
        e = t["workloads"]["chat-delta"]
        assert e["ops"]["get_state @ turn 3"]["n"] == 3, key
        samples = e["meters"]["get_state @ turn 3"]
        assert [s["calls:get_delta_channel_history"] for s in samples] == [1.0] * 3, key


def test_report_renders(results: dict[str, Any], tmp_path: Path) -> None:
    report.write_report(results, tmp_path, plots=False)
    md = (tmp_path / "RESULTS.md").read_text()
    assert "| **checkpoint-kv sqlite** | statements |" in md
    assert "## DeltaChannel get_state at fixed turns" in md
    assert "| checkpoint-kv memory | port calls | " in md
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
            "--cold-repeat",
            "1",
        ]
    )
    assert rc == 0
    data = json.loads((tmp_path / "results.json").read_text())
    assert set(data["targets"]) == {"ckv-memory", "inmemory"}
    for t in data["targets"].values():
        assert t["status"] == "ok", t["status"]
        assert t["import_ms"] and t["import_ms"] > 0
    cold = data["cold_start"]
    assert cold["base_ms"] > 0 and cold["checkpoint_kv_ms"] > 0
    assert "## Cold start" in (tmp_path / "RESULTS.md").read_text()
    assert sys.executable  # subprocesses ran with this interpreter


def test_aws_units_follow_published_rules() -> None:
    """DynamoDB request units and S3 request classes, from the payloads (moto in-process)."""
    pytest.importorskip("moto")
    import botocore.client

    from benchmarks.counting import Recorder, patch_botocore

    rec = Recorder()
    unpatched = botocore.client.BaseClient._make_api_call
    patch_botocore(rec)
    try:
        _check_units(rec)
    finally:  # the patch must not outlive this test (later tests count API calls themselves)
        rec.enabled = False
        botocore.client.BaseClient._make_api_call = unpatched  # type: ignore[method-assign]


def _check_units(rec: Any) -> None:
    import boto3
    from moto import mock_aws

    key = {"pk": {"S": "a"}, "sk": {"S": "1"}}

    def units() -> dict[str, float]:
        out = dict(rec.meters)
        rec.meters.clear()
        return out

    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        s3 = boto3.client("s3", region_name="us-east-1")
        with rec.paused():
            ddb.create_table(
                TableName="t",
                KeySchema=[
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                AttributeDefinitions=[
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )
            s3.create_bucket(Bucket="units")
        ddb.put_item(TableName="t", Item={**key, "v": {"B": b"x" * 1500}})
        assert units() == {"ddb:WRU": 2.0}  # 1 per started KB
        item3 = {"pk": {"S": "a"}, "sk": {"S": "3"}, "v": {"B": b"x" * 3000}}
        ddb.transact_write_items(TransactItems=[{"Put": {"TableName": "t", "Item": item3}}])
        assert units() == {"ddb:WRU": 6.0}  # doubled in a transaction
        ddb.get_item(TableName="t", Key=key)
        assert units() == {"ddb:RRU": 0.5}  # eventually consistent, under 4 KB
        ddb.get_item(TableName="t", Key={**key, "sk": {"S": "none"}}, ConsistentRead=True)
        assert units() == {"ddb:RRU": 1.0}  # an absent item costs the minimum
        ddb.query(
            TableName="t",
            KeyConditionExpression="pk = :p",
            ProjectionExpression="sk",
            ExpressionAttributeValues={":p": {"S": "a"}},
            ConsistentRead=True,
        )
        assert units() == {"ddb:RRU": 2.0}  # 4.5 KB read (a projection does not save units)
        ddb.update_item(
            TableName="t",
            Key=key,
            UpdateExpression="SET w = :w",
            ExpressionAttributeValues={":w": {"B": b"y" * 1000}},
        )
        assert units() == {"ddb:WRU": 3.0}  # the larger of before (1.5 KB) and after (2.5 KB)
        s3.put_object(Bucket="units", Key="k", Body=b"x")
        s3.list_objects_v2(Bucket="units")
        s3.get_object(Bucket="units", Key="k")
        s3.delete_objects(Bucket="units", Delete={"Objects": [{"Key": "k"}]})
        assert units() == {"s3:tier1": 2.0, "s3:tier2": 1.0, "s3:free": 1.0}
