"""Interim: the facts ``doctor`` reports for built-in backends that do not offer the port's
optional ``info()`` yet, read through their clients. Goes away once every backend has
``info()`` (issue 14): ``doctor`` then asks the port only, never a module name."""

from __future__ import annotations

import os
from typing import Any

from checkpoint_kv.errors import redact_url
from checkpoint_kv.port import KVStore


def legacy_info(store: KVStore) -> dict[str, Any]:
    """What ``info()`` would return (``problems`` included) for a built-in backend without it."""
    module = type(store).__module__
    if module.endswith("backends.sqlite"):
        import sqlite3

        path = str(getattr(store, "path", ""))
        memory = path == ":memory:"
        size = os.path.getsize(path) if not memory and os.path.exists(path) else 0
        return {
            "server_version": f"SQLite {sqlite3.sqlite_version}",
            "ttl": "not supported: use `checkpoint-kv prune` or delete_thread",
            "file": ":memory: (in this process only)" if memory else os.path.abspath(path),
            "size_bytes": size,
        }
    if module.endswith("backends.memory"):
        return {"server_version": "in-process", "ttl": "no (data dies with the process)"}
    if module.endswith("backends.redis"):
        return _redis_info(store)
    if module.endswith("backends.dynamodb"):
        return _dynamodb_info(store)
    if module.endswith("backends.s3"):
        return _s3_info(store)
    return {}


def _redis_info(store: Any) -> dict[str, Any]:
    def section(name: str) -> dict[str, Any]:
        raw = store.client.info(name)
        if raw and all(isinstance(v, dict) for v in raw.values()):  # a cluster: node -> info
            raw = next(iter(raw.values()))
        return dict(raw)

    server, memory = section("server"), section("memory")
    ttl = int(getattr(store, "ttl", 0) or 0)
    policy = str(memory.get("maxmemory_policy", "?"))
    name = "Valkey" if "valkey_version" in server else "Redis"
    version = server.get("valkey_version") or server.get("redis_version", "?")
    facts = {
        "server_version": f"{name} {version}" + (" (cluster)" if store.cluster else ""),
        "ttl": f"on: a thread expires {ttl} s after its last write"
        if ttl
        else "off: threads never expire (add ?ttl=SECONDS to the URL)",
        "maxmemory_policy": policy,
    }
    problems: list[dict[str, str]] = []
    if policy.startswith("allkeys-"):
        problems.append(
            {
                "check": "eviction",
                "detail": f"maxmemory-policy {policy} may evict checkpoints of live threads",
                "fix": "CONFIG SET maxmemory-policy noeviction (or volatile-lru with ?ttl=)",
            }
        )
    return {**facts, "problems": problems}


def _s3_info(store: Any) -> dict[str, Any]:
    """S3 has no TTL: report the lifecycle rules that cover the prefix (docs/backends/s3.md)."""
    where = f" at {store.endpoint_url}" if store.endpoint_url else ""
    try:
        rules = store.client.get_bucket_lifecycle_configuration(Bucket=store.bucket)["Rules"]
    except Exception as e:  # NoSuchLifecycleConfiguration: no rule at all
        if "NoSuchLifecycleConfiguration" not in str(e):
            raise
        rules = []
    prefix = store.prefix or ""
    covering = [
        r
        for r in rules
        if r.get("Status") == "Enabled"
        and "Expiration" in r
        and prefix.startswith(r.get("Filter", {}).get("Prefix", r.get("Prefix", "")) or "")
    ]
    ttl = (
        "lifecycle expiration: " + ", ".join(str(r["Expiration"]) for r in covering)
        if covering
        else "off: no lifecycle rule expires this prefix (S3 has no TTL; see docs/backends/s3.md)"
    )
    return {
        "server_version": f"S3, bucket {store.bucket!r}, region "
        f"{store.client.meta.region_name}{where}",
        "ttl": ttl,
    }


def _aws_target(region: str | None, endpoint_url: str | None) -> str:
    """``--region`` and ``--endpoint-url`` for an ``aws`` command a fix prints: without the
    endpoint, pasting it would act on real AWS instead of the emulator or store in the URL."""
    out = f" --region {region}" if region else ""
    return out + (f" --endpoint-url {redact_url(endpoint_url)}" if endpoint_url else "")


def _dynamodb_info(store: Any) -> dict[str, Any]:
    table = store.client.describe_table(TableName=store.table)["Table"]
    ttl_desc = store.client.describe_time_to_live(TableName=store.table)
    status = ttl_desc.get("TimeToLiveDescription", {}).get("TimeToLiveStatus", "DISABLED")
    billing = table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    where = f" at {store.endpoint_url}" if store.endpoint_url else ""
    facts = {
        "server_version": f"DynamoDB, region {store.region}{where}",
        "ttl": f"table TTL {status}; items "
        + (f"expire {store.ttl} s after their last write" if store.ttl else "carry no ttl"),
        "table": f"{store.table}: {table.get('TableStatus')}, {billing}, "
        f"{table.get('ItemCount', '?')} items",
    }
    problems: list[dict[str, str]] = []
    if store.ttl and status not in ("ENABLED", "ENABLING"):
        problems.append(
            {
                "check": "ttl",
                "detail": f"items carry a ttl but the table's TTL is {status}: nothing expires",
                "fix": f"aws dynamodb update-time-to-live --table-name {store.table} "
                "--time-to-live-specification Enabled=true,AttributeName=ttl"
                + _aws_target(store.region, store.endpoint_url),
            }
        )
    return {**facts, "problems": problems}
