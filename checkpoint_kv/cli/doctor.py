"""``setup`` and ``doctor``: create the store, then check it end to end (open, reach, write,
read, drop, latency) and report what the backend says about itself.

The backend's facts and problems come from the port's optional ``info()``; ``doctor`` never
looks at a backend's module or client.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Iterator
from typing import Any, TextIO

from checkpoint_kv.cli.common import (
    EXIT_CHECK_FAILED,
    EXIT_ERROR,
    EXIT_OK,
    PROG,
    add_command,
    add_url,
    code_for,
    dump,
    open_url,
)
from checkpoint_kv.errors import CorruptRecordError, StoreNotFoundError, redact, redact_url
from checkpoint_kv.port import KVStore, Put


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(subparsers, "setup", "create the table / bucket / file (idempotent)", cmd_setup)
    add_url(p)
    p = add_command(
        subparsers, "doctor", "check reachability, permissions, latency, version, TTL", cmd_doctor
    )
    add_url(p)


def cmd_setup(args: argparse.Namespace, out: TextIO) -> int:
    store = open_url(args.url, must_exist=False)
    try:
        store.setup()
    finally:
        store.close()
    if args.json:
        dump({"ok": True, "url": redact_url(args.url)}, out)
    else:
        out.write(f"ready: {redact_url(args.url)}\n")
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace, out: TextIO) -> int:
    checks = list(doctor_checks(args.url))
    failed = [c for c in checks if not c["ok"]]
    code = failed[0].pop("code") if failed else EXIT_OK
    for c in failed[1:]:
        c.pop("code", None)
    if code == EXIT_ERROR:
        code = EXIT_CHECK_FAILED
    if args.json:
        dump({"url": redact_url(args.url), "ok": not failed, "checks": checks}, out)
    else:
        out.write(f"{redact_url(args.url)}\n")
        width = max(len(c["check"]) for c in checks)
        for c in checks:
            mark = "ok  " if c["ok"] else "FAIL"
            out.write(f"  {mark} {c['check']:<{width}}  {c['detail']}\n")
            if not c["ok"]:
                out.write(f"       fix: {c['fix']}\n")
    return code


def doctor_checks(url: str) -> Iterator[dict[str, Any]]:
    """Each check: name, ok, detail, and (when not ok) the fix and the exit code it maps to."""

    def fail(name: str, e: BaseException, fix: str) -> dict[str, Any]:
        return {
            "check": name,
            "ok": False,
            "detail": redact(str(e)),
            "fix": fix,
            "code": code_for(e),
        }

    try:
        store = open_url(url)
    except Exception as e:
        if isinstance(e, StoreNotFoundError):
            fix = f"run `{PROG} setup {redact_url(url)}`"
        elif type(e).__name__ == "ForeignFileError":  # a SQLite file of another program
            fix = (
                "leave this file to its program and give checkpoint-kv a new one "
                "(sqlite:///new.db); a LangGraph SqliteSaver file is imported with "
                f"`{PROG} copy langgraph+sqlite:///PATH sqlite:///new.db`"
            )
        else:
            fix = (
                _cause_fix(e)
                or "check the URL (see docs/backends/) and install the backend's extra"
            )
        yield fail("open", e, fix)
        return
    yield {"check": "open", "ok": True, "detail": type(store).__name__}
    try:
        t0 = time.perf_counter()
        store.partitions()
        ms = (time.perf_counter() - t0) * 1000
    except Exception as e:
        if isinstance(e, StoreNotFoundError):
            fix = f"run `{PROG} setup {redact_url(url)}` (needs create permission)"
        elif _cause_fix(e):
            fix = str(_cause_fix(e))
        elif isinstance(e, PermissionError):
            fix = "grant read access (see the IAM/ACL section of the backend's docs page)"
        else:
            fix = "is the server running and reachable from here? check host, port, TLS, password"
        yield fail("reach", e, fix)
        store.close()
        return
    yield {"check": "reach", "ok": True, "detail": f"listed partitions in {ms:.1f} ms"}
    probe = f"~doctor-{uuid.uuid4().hex[:12]}"  # never an escaped thread id (those have no '-')
    try:
        store.write(probe, [Put("p!1", b"ping"), Put("p!2", b"pong", commit=True)])
        got = store.get(probe, ["p!1", "p!2"])
        scanned = store.scan(probe, "p!", "p~").items
        if got != {"p!1": b"ping", "p!2": b"pong"} or len(scanned) != 2:
            raise CorruptRecordError(f"wrote 2 keys, read back {len(got)} / scanned {len(scanned)}")
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            store.get(probe, ["p!1"])
            times.append((time.perf_counter() - t0) * 1000)
        store.drop(probe)
        if store.get(probe, ["p!1"]):
            raise CorruptRecordError("drop left the probe key behind")
    except Exception as e:
        yield fail(
            "read-write",
            e,
            _cause_fix(e)
            or "grant write and delete permission (see the IAM/ACL section of the backend's page)",
        )
        store.close()
        return
    times.sort()
    yield {"check": "read-write", "ok": True, "detail": "write, get, scan and drop work"}
    yield {"check": "round-trip", "ok": True, "detail": f"{times[2]:.2f} ms (median of 5 gets)"}
    try:
        info, problems = backend_info(store)
    except Exception as e:
        yield fail("server", e, "grant INFO (Redis) / DescribeTable, DescribeTimeToLive (AWS)")
        store.close()
        return
    store.close()
    version = info.pop("server_version", None)
    yield {"check": "server", "ok": True, "detail": version or "not reported by this backend"}
    ttl = info.pop("ttl", None)
    yield {"check": "ttl", "ok": True, "detail": ttl if ttl is not None else "not reported"}
    for k, v in info.items():
        yield {"check": k, "ok": True, "detail": v}
    yield from problems


def backend_info(store: KVStore) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """What the backend says about itself through the port's optional ``info()``
    (``server_version``, ``ttl``, anything else it names; see ``port.py``), and the problems
    it found, as failed checks. A store without ``info()`` reports nothing here."""
    info = getattr(store, "info", None)
    facts: dict[str, Any] = dict(info()) if callable(info) else {}
    problems = [
        {
            "check": p["check"],
            "ok": False,
            "detail": p["detail"],
            "fix": p["fix"],
            "code": EXIT_CHECK_FAILED,
        }
        for p in facts.pop("problems", None) or []
    ]
    return facts, problems


def _chain_text(e: BaseException) -> str:
    """The messages and class names of ``e`` and the errors it was raised from."""
    parts: list[str] = []
    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        parts += [type(cur).__name__, str(cur)]
        cur = cur.__cause__ or cur.__context__
    return " ".join(parts)


def _cause_fix(e: BaseException) -> str | None:
    """The fix for the cause a failure names (missing credentials, a password, a refused
    connection...), or None when it names none we know. Read from the backend's message and
    the client error beneath it; the fix never holds a secret."""
    text = _chain_text(e)
    low = text.lower()
    if "NoCredentialsError" in text or "no aws credentials" in low:
        return (
            "no AWS credentials were found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or run with an IAM role (a local emulator such as moto "
            "accepts any values); never put them in the URL"
        )
    if "(NOAUTH)" in text:
        return (
            "the server requires a password: put it in the URL, redis://:<password>@host:port/0 "
            "(an ACL user: redis://<user>:<password>@host:port/0)"
        )
    if "(WRONGPASS)" in text:
        return (
            "the server refused the user name or password in the URL: check both (the default "
            "user: redis://:<password>@host:port/0; an ACL user: redis://<user>:<password>@...)"
        )
    if "has no password set" in text:
        return "the server has no password: remove it from the URL (redis://host:port/0)"
    if "not a cluster" in text:
        return "the server is not a cluster: use redis://host:port (without +cluster)"
    if "Redis Cluster" in text and "cannot reach" in text:
        return (
            "no cluster node accepted a connection at the seed host:port: start the cluster, "
            "or point the URL at any node's host:port (every node is a seed); a single server "
            "is redis://host:port, without +cluster"
        )
    if "did not answer in time" in low or "timed out" in low or "timeout on endpoint" in low:
        return (
            "the server accepted the connection but did not answer in time: it is stopped, "
            "overloaded, or not the service the URL names (a TLS port needs rediss://)"
        )
    if "connection refused" in low or "error 111" in low or "could not connect" in low:
        return (
            "nothing accepts connections at that host:port: start the server, or fix the host "
            "and port in the URL"
        )
    if "NOPERM" in text or "lacks a permission" in text:
        return "grant the Redis user the ACL in docs/backends/redis.md (section ACL)"
    if "AccessDenied" in text or "UnrecognizedClient" in text or "InvalidAccessKeyId" in text:
        return (
            "the AWS credentials were refused or lack a permission: see the IAM policy on the "
            "backend's page in docs/backends/"
        )
    return None
