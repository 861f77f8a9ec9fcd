"""Runs the workloads for ONE saver in the current interpreter and writes a JSON result.

``run.py`` launches it as ``python -m benchmarks.driver`` with the saver's own virtualenv
interpreter, so peers never share an environment with us or each other. It imports only the
stdlib, ``langgraph`` and the adapter.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import math
import os
import statistics
import sys
import time
import traceback
from typing import Any

from benchmarks.counting import Recorder, wrap_saver
from benchmarks.workloads import PROFILES, WORKLOADS


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    if not xs:
        return math.nan
    k = (len(xs) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def summarize(samples: dict[str, list[tuple[float, float]]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, xs in samples.items():
        lat = [s for s, _ in xs]
        hits = [h for _, h in xs if not math.isnan(h)]
        out[name] = {
            "n": len(xs),
            "median_ms": statistics.median(lat) * 1000,
            "p95_ms": _pct(lat, 0.95) * 1000,
            "hits_mean": statistics.fmean(hits) if hits else None,
            "hits_max": max(hits) if hits else None,
        }
    return out


def _short(e: BaseException) -> str:
    msg = f"{type(e).__name__}: {e}".splitlines()[0] if str(e) else type(e).__name__
    return msg[:300]


def run_target(
    adapter: Any, ctx: dict[str, Any], profile: str, workloads: list[str], budget: float
) -> dict[str, Any]:
    rec = Recorder()
    p = PROFILES[profile]
    results: dict[str, Any] = {}
    for w in workloads:
        rec.reset()
        deadline = time.monotonic() + budget

        def over(frac: float = 1.0, start: float = deadline - budget) -> bool:
            """Past ``frac`` of this workload's time budget."""
            return time.monotonic() > start + budget * frac

        entry: dict[str, Any] = {}
        handle = None
        try:
            with rec.paused():
                handle = adapter.open(ctx, w, rec)
            wrap_saver(handle.saver, rec)
            cpu0, t0 = time.process_time(), time.perf_counter()
            entry["info"] = WORKLOADS[w](handle.saver, rec, p, over)
            entry["wall_s"] = time.perf_counter() - t0
            entry["cpu_s"] = time.process_time() - cpu0
            entry["truncated"] = over()
        except BaseException as e:  # a failing saver is a result, not a crash of the run
            if isinstance(e, KeyboardInterrupt):
                raise
            entry["error"] = _short(e)
            entry["traceback"] = traceback.format_exc()[-2000:]
        entry["ops"] = summarize(rec.samples)
        # Per graph op, each sample's secondary measures (capacity units, S3 request classes,
        # saver method calls): the report averages them over the turns every saver reached.
        entry["meters"] = {op: xs for op, xs in rec.meter_samples.items() if any(xs)}
        entry["meter_totals"] = dict(rec.meters)
        entry["hits"] = rec.hits
        entry["hits_by_kind"] = dict(rec.hits_by_kind)
        entry["unattributed"] = rec.unattributed
        entry["bytes_sent"] = rec.bytes_sent
        entry["serde_cpu_s"] = rec.serde_cpu
        entry["serde_bytes_out"] = rec.serde_bytes_out
        if handle is not None:
            try:
                with rec.paused():
                    entry["held"] = handle.held()
            except Exception as e:
                entry["held_error"] = _short(e)
            try:
                with rec.paused():
                    handle.close()
            except Exception:
                pass
            if handle.notes:
                entry["notes"] = handle.notes
        results[w] = entry
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--adapter", required=True, help="module under benchmarks.peers")
    ap.add_argument("--ctx", required=True, help="JSON context (paths, service ports, URLs)")
    ap.add_argument("--profile", default="smoke", choices=sorted(PROFILES))
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--budget", type=float, default=60.0, help="seconds per workload")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    ctx = json.loads(a.ctx)
    adapter = importlib.import_module(f"benchmarks.peers.{a.adapter}")
    res = {
        "python": sys.version.split()[0],
        "versions": _versions(),
        "workloads": run_target(adapter, ctx, a.profile, a.workloads.split(","), a.budget),
    }
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(res, f, indent=1, default=str)
    os.replace(tmp, a.out)
    return 0


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in (
        "langgraph",
        "langgraph-checkpoint",
        "checkpoint-kv",
        "langgraph-checkpoint-sqlite",
        "langgraph-checkpoint-postgres",
        "langgraph-checkpoint-redis",
        "langgraph-checkpoint-plainredis",
        "langgraph-checkpoint-aws",
        "langgraph-dynamodb-checkpoint",
        "langgraph-checkpoint-objectstorage",
        "redis",
        "boto3",
        "psycopg",
        "s3fs",
    ):
        with contextlib.suppress(PackageNotFoundError):
            out[dist] = version(dist)
    return out


if __name__ == "__main__":
    sys.exit(main())
