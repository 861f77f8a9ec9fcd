"""The port's optional ``info()``: every built-in backend says what ``checkpoint-kv doctor``
reports (server version, TTL setting, table/bucket facts) and the problems it finds, as
``{**facts, "problems": [{"check", "detail", "fix"}]}``, so the CLI never reaches into a
backend by module name."""

from __future__ import annotations

import asyncio
import inspect
import os
from typing import Any
from urllib.parse import quote

import pytest

from checkpoint_kv.backends.memory import MemoryKV
from checkpoint_kv.backends.redis import codec as redis_codec
from checkpoint_kv.port import Put
from checkpoint_kv.registry import open_store
from tests.support.fixtures_redis import RedisProc


def _check_shape(info: dict[str, Any]) -> None:
    assert isinstance(info["server_version"], str) and info["server_version"]
    assert isinstance(info["ttl"], str) and info["ttl"]
    assert isinstance(info["problems"], list)
    for problem in info["problems"]:
        assert set(problem) == {"check", "detail", "fix"}
        assert all(isinstance(v, str) and v for v in problem.values())


def test_every_backend_answers_info(backend: str, url: str) -> None:
    if backend == "fakeredis":
        pytest.skip("fakeredis has no INFO command (doctor's server check fails there too)")
    store = open_store(url)
    try:
        store.setup()
        store.write("p", [Put("k", b"v")])
        info = store.info()  # type: ignore[attr-defined]
        _check_shape(info)
        kinds = ("in-process", "SQLite", "Redis", "Valkey", "DynamoDB,", "S3,")
        assert info["server_version"].split()[0] in kinds
        twin = store.async_twin() if hasattr(store, "async_twin") else None
        ainfo = getattr(twin, "info", None)
        if ainfo is not None and inspect.iscoroutinefunction(ainfo):

            async def both() -> dict[str, Any]:
                try:
                    return dict(await ainfo())
                finally:
                    await twin.close()  # type: ignore[union-attr]

            assert asyncio.run(both()) == info
        store.drop("p")
    finally:
        store.close()


def test_memory_and_sqlite(tmp_path: Any) -> None:
    assert MemoryKV().info() == {
        "server_version": "in-process",
        "ttl": "no (data dies with the process)",
        "problems": [],
    }
    store = open_store(f"sqlite:///{tmp_path / 'x.db'}")
    store.setup()
    store.write("p", [Put("k", b"v")])
    info = store.info()  # type: ignore[attr-defined]
    assert info["file"] == str(tmp_path / "x.db") and info["size_bytes"] > 0
    assert info["server_version"].startswith("SQLite 3.") and "prune" in info["ttl"]
    store.close()
    memory = open_store("sqlite:///:memory:")
    assert memory.info()["file"].startswith(":memory:")  # type: ignore[attr-defined]


def test_redis_describe_names_valkey_cluster_ttl_and_eviction() -> None:
    info = redis_codec.describe(
        {"valkey_version": "8.1.1", "redis_version": "7.2.4"},
        {"maxmemory_policy": "allkeys-lru"},
        ttl=3600,
        cluster=True,
    )
    assert info["server_version"] == "Valkey 8.1.1 (cluster)"
    assert info["ttl"] == "on: a thread expires 3600 s after its last write"
    assert info["maxmemory_policy"] == "allkeys-lru"
    (problem,) = info["problems"]
    assert problem["check"] == "eviction" and "noeviction" in problem["fix"]
    calm = redis_codec.describe({"redis_version": "7.0.15"}, {}, ttl=0, cluster=False)
    assert calm["server_version"] == "Redis 7.0.15" and calm["problems"] == []
    assert "never expire" in calm["ttl"]


def test_redis_eviction_policy_is_a_problem(redis_server: RedisProc) -> None:
    store = open_store(f"{redis_server.url}?ttl=12h")
    admin = store.client  # type: ignore[attr-defined]
    before = admin.config_get("maxmemory-policy")["maxmemory-policy"]
    try:
        assert store.info()["problems"] == []  # type: ignore[attr-defined]
        admin.config_set("maxmemory-policy", "allkeys-lru")
        info = store.info()  # type: ignore[attr-defined]
        assert info["ttl"] == "on: a thread expires 43200 s after its last write"
        assert [p["check"] for p in info["problems"]] == ["eviction"]
    finally:
        admin.config_set("maxmemory-policy", before)
        store.close()


def test_dynamodb_ttl_off_on_the_table_is_a_problem(moto_endpoint: str) -> None:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    url = f"dynamodb://ckv-info-{os.getpid()}?region=us-east-1&endpoint_url={moto_endpoint}"
    plain = open_store(url)
    plain.setup()  # no ?ttl=: the table's TTL stays off
    info = plain.info()  # type: ignore[attr-defined]
    assert info["problems"] == [] and "carry no ttl" in info["ttl"]
    assert info["server_version"] == f"DynamoDB, region us-east-1 at {moto_endpoint}"
    assert info["table"].startswith(f"ckv-info-{os.getpid()}: ACTIVE, PAY_PER_REQUEST")
    expiring = open_store(url + "&ttl=1h")
    (problem,) = expiring.info()["problems"]  # type: ignore[attr-defined]
    assert problem["check"] == "ttl" and "nothing expires" in problem["detail"]
    assert "update-time-to-live" in problem["fix"]
    assert f"--region us-east-1 --endpoint-url {moto_endpoint}" in problem["fix"]
    plain.close()
    expiring.close()


def test_s3_reports_lifecycle_rules_of_the_prefix(moto_endpoint: str) -> None:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    bucket = f"ckv-info-{os.getpid()}"
    store = open_store(
        f"s3://{bucket}/ckv?region=us-east-1&endpoint_url={quote(moto_endpoint, safe='')}"
    )
    store.setup()
    info = store.info()  # type: ignore[attr-defined]
    assert info["ttl"].startswith("off: no lifecycle rule") and info["problems"] == []
    assert info["server_version"] == f"S3, bucket {bucket!r}, region us-east-1 at {moto_endpoint}"
    store.client.put_bucket_lifecycle_configuration(  # type: ignore[attr-defined]
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [
                {"ID": "old", "Status": "Enabled", "Filter": {"Prefix": "ck"}}
                | {"Expiration": {"Days": 30}},
            ]
        },
    )
    assert store.info()["ttl"] == "lifecycle expiration: {'Days': 30}"  # type: ignore[attr-defined]
    store.close()
