"""Turns one run's JSON into ``RESULTS.md`` and PNG plots (matplotlib, optional).

Absolute times on a shared 2-core machine are noisy, so every latency is also shown as a ratio
to ``InMemorySaver`` measured in the same run.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from benchmarks.workloads import probe_op

BASE = "inmemory"
# workload -> (label, main graph op)
MAIN_OP = {
    "chat": ("chat: invoke", "invoke"),
    "chat-delta": ("DeltaChannel chat: invoke", "invoke"),
    "fanout": ("fan-out 8 + interrupt: invoke", "invoke (8 Sends, interrupt)"),
    "history": ("history: page of 10", "history page (10)"),
    "concurrent": ("32 threads: invoke", "invoke (per thread)"),
}
METHODS = ["get_tuple", "put", "put_writes", "list", "get_delta_channel_history"]

# List prices used for the AWS cost columns: us-east-1, DynamoDB on-demand (per request unit,
# after AWS's November 2024 price cut) and S3 Standard requests. Sources in the README.
REGION = "us-east-1"
PRICES: dict[str, float] = {
    "ddb:WRU": 0.625 / 1e6,  # $ per write request unit
    "ddb:RRU": 0.125 / 1e6,  # $ per read request unit
    "s3:tier1": 0.005 / 1000,  # $ per PUT, COPY, POST, LIST request
    "s3:tier2": 0.0004 / 1000,  # $ per GET, HEAD and every other request
}
AWS_METERS = ("ddb:WRU", "ddb:RRU", "s3:tier1", "s3:tier2")


def _op(t: dict[str, Any], w: str, op: str) -> dict[str, Any] | None:
    e = t.get("workloads", {}).get(w)
    if not e:
        return None
    return e.get("ops", {}).get(op)  # type: ignore[no-any-return]


def _num(x: float | None, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.{digits}f}"


def _mb(n: int | None) -> str:
    if n is None:
        return "-"
    return f"{n / 1e6:.2f}" if n < 1e8 else f"{n / 1e6:,.0f}"


def _ratio(x: float | None, base: float | None) -> str:
    if x is None or not base or math.isnan(x) or math.isnan(base):
        return ""
    return f" ({x / base:.1f}x)"


def _cell(t: dict[str, Any], base: dict[str, Any] | None, w: str, op: str) -> str:
    o = _op(t, w, op)
    if o is None:
        e = t.get("workloads", {}).get(w, {})
        return "fails" if e.get("error") else "-"
    b = _op(base, w, op) if base else None
    return _num(o["median_ms"]) + _ratio(o["median_ms"], b["median_ms"] if b else None)


def _hits(t: dict[str, Any], w: str, op: str) -> str:
    if not t.get("unit") or t["unit"] == "-":
        return "-"
    o = _op(t, w, op)
    return _num(o["hits_mean"]) if o and o.get("hits_mean") is not None else "-"


def _dollars(x: float | None) -> str:
    return "-" if x is None else f"${x:,.2f}"


def _held(t: dict[str, Any], w: str) -> int | None:
    e = t.get("workloads", {}).get(w, {})
    return (e.get("held") or {}).get("bytes")


def _written(t: dict[str, Any], w: str) -> int | None:
    e = t.get("workloads", {}).get(w)
    if not e:
        return None
    return e.get("bytes_sent") or e.get("serde_bytes_out")


def _status(t: dict[str, Any]) -> str:
    s = t.get("status", "?")
    if s != "ok":
        return s.replace("|", "/")
    bad = []
    for w, e in t.get("workloads", {}).items():
        if e.get("error"):
            bad.append(f"{w}: {e['error']}")
        elif e.get("truncated"):
            info = e.get("info", {})
            done = info.get("turns", info.get("rounds", info.get("checkpoints", "?")))
            bad.append(f"{w}: time budget hit ({done} done)")
    return ("; ".join(bad) or "ok").replace("|", "/").replace("\n", " ")


def write_report(data: dict[str, Any], out_dir: Path, plots: bool = True) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(data, indent=1, default=str))
    made = make_plots(data, out_dir) if plots else []
    (out_dir / "RESULTS.md").write_text(render(data, made))


def render(data: dict[str, Any], plots: list[str]) -> str:
    T: dict[str, dict[str, Any]] = data["targets"]
    base = T.get(BASE) if T.get(BASE, {}).get("status") == "ok" else None
    m = data["machine"]
    versions: dict[str, str] = {}
    for t in T.values():
        versions.update(t.get("versions", {}))
    L: list[str] = []
    L.append(f"# checkpoint-kv benchmark ({data['profile']} profile)\n")
    L.append(
        f"Run {data['started']} with `{data['command']}` on {m['cpu']}, {m['cores']} cores "
        f"(shared; load {m['load_at_start']:.1f} at start), {m['os']}, Python {m['python']}.  "
    )
    L.append("Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())) + ".\n")
    L.append(
        "Latencies are medians in ms, with the ratio to `InMemorySaver` measured in the same "
        "run. *Round trips* are counted per graph call, in the unit of each saver: redis "
        "round trips (one per command or pipeline sent), AWS API calls (botocore), SQL "
        "statements (PostgreSQL: statements sent; SQLite, both savers: statements SQLite "
        "runs, from its trace callback), or port calls for checkpoint-kv's memory backend. "
        "*Held* is the storage after the workload: SQLite file size, PostgreSQL table+index "
        "size, Redis `MEMORY USAGE` summed over keys, DynamoDB item sizes, S3 "
        "object sizes, the bytes in InMemorySaver's dicts.\n"
    )
    probes = _probe_turns(T)
    probe = probe_op(probes[-1]) if probes else "get_state"
    at = f" @{probes[-1]}" if probes else ""
    n_chat, aws_chat = aws_per_turn(T, "chat")
    aws_n = f" (first {n_chat})" if n_chat else ""
    L.append("## Summary\n")
    L.append(
        "| saver | unit | chat invoke ms | chat RT/invoke | chat held MB | delta invoke ms "
        f"| delta RT/invoke | delta get_state RT{at} | delta held MB | fan-out RT/invoke "
        "| history page ms | history RT/page | 32 threads invokes/s | import ms "
        f"| AWS $ per 1M chat turns{aws_n} | status |"
    )
    L.append("|" + "---|" * 16)
    for key, t in T.items():
        conc = (t.get("workloads", {}).get("concurrent", {}).get("info") or {}).get("invokes_per_s")
        bconc = (
            (base.get("workloads", {}).get("concurrent", {}).get("info") or {}).get("invokes_per_s")
            if base
            else None
        )
        row = [
            ("**" + t["label"] + "**") if t.get("ours") else t["label"],
            t.get("unit", "-"),
            _cell(t, base, "chat", "invoke"),
            _hits(t, "chat", "invoke"),
            _mb(_held(t, "chat")),
            _cell(t, base, "chat-delta", "invoke"),
            _hits(t, "chat-delta", "invoke"),
            _hits(t, "chat-delta", probe),
            _mb(_held(t, "chat-delta")),
            _hits(t, "fanout", "invoke (8 Sends, interrupt)"),
            _cell(t, base, "history", "history page (10)"),
            _hits(t, "history", "history page (10)"),
            _num(conc) + (f" ({conc / bconc:.2f}x)" if conc and bconc else ""),
            _num(t.get("import_ms"), 0),
            _dollars(aws_chat.get(key, {}).get("cost")),
            _status(t),
        ]
        L.append("| " + " | ".join(row) + " |")
    L.append("")
    L += _cold_start(data.get("cold_start"))
    L += _delta_probes(T, base, probes)
    L += _aws_costs(T)
    for p in plots:
        L.append(f"![{p}]({p})\n")
    L.append("## Per workload\n")
    L.append(
        "Per graph op: median / p95 ms (ratio of medians to InMemorySaver), round trips per op. "
        "Per saver method: mean round trips per call (counted on the calling thread). Bytes "
        "written: bytes sent to the store (request payloads; for InMemorySaver the serialized "
        "bytes). Serde CPU: thread CPU time in the saver's `serde` (and checkpoint-kv's CBOR "
        "envelope); CPU: the whole process during the workload.\n"
    )
    for w, (title, _main) in MAIN_OP.items():
        if not any(w in t.get("workloads", {}) for t in T.values()):
            continue
        ops = sorted(
            {
                op
                for t in T.values()
                for op in t.get("workloads", {}).get(w, {}).get("ops", {})
                if not op.startswith("saver.")
            }
        )
        L.append(f"### {title} (`{w}`)\n")
        head = ["saver"] + [f"{op}: ms med/p95, RT" for op in ops]
        head += [f"{mth} RT" for mth in METHODS]
        head += ["written MB", "held MB", "serde CPU ms", "CPU s", "error"]
        L.append("| " + " | ".join(head) + " |")
        L.append("|" + "---|" * len(head))
        for t in T.values():
            e = t.get("workloads", {}).get(w)
            if e is None:
                continue
            cells = [t["label"]]
            for op in ops:
                o = e["ops"].get(op)
                if not o:
                    cells.append("-")
                    continue
                b = _op(base, w, op) if base else None
                cells.append(
                    f"{_num(o['median_ms'])} / {_num(o['p95_ms'])}"
                    f"{_ratio(o['median_ms'], b['median_ms'] if b else None)}, "
                    f"{_hits(t, w, op)}"
                )
            for mth in METHODS:
                cells.append(_hits(t, w, "saver." + mth))
            cells += [
                _mb(_written(t, w)),
                _mb(_held(t, w)),
                _num(e.get("serde_cpu_s", 0) * 1000),
                _num(e.get("cpu_s"), 2),
                (e.get("error") or "").replace("|", "/"),
            ]
            L.append("| " + " | ".join(cells) + " |")
        L.append("")
    if data.get("service_errors"):
        L.append("## Services that did not start\n")
        for k, v in data["service_errors"].items():
            L.append(f"- {k}: {v}")
        L.append("")
    return "\n".join(L) + "\n"


def _probe_turns(T: dict[str, dict[str, Any]]) -> list[int]:
    turns = {
        int(op.rsplit(" ", 1)[1])
        for t in T.values()
        for op in t.get("workloads", {}).get("chat-delta", {}).get("ops", {})
        if op.startswith("get_state @ turn ")
    }
    return sorted(turns)


def _meter_mean(
    t: dict[str, Any], w: str, op: str, kind: str, n: int | None = None
) -> float | None:
    """Mean per sample of one secondary measure (over the first ``n`` samples)."""
    xs = (t.get("workloads", {}).get(w, {}).get("meters") or {}).get(op)
    if not xs:
        return None
    xs = xs[:n] if n else xs
    return float(sum(x.get(kind, 0.0) for x in xs)) / len(xs)


def _cold_start(cs: dict[str, Any] | None) -> list[str]:
    if not cs or cs.get("overhead_ms") is None:
        return []
    added = cs.get("added_ms")
    lead = (
        f"checkpoint-kv adds **{added:+.1f} ms** (median time spent in the modules only "
        f"`{cs['statements']['checkpoint_kv']}` loads; goal: at most +20 ms); "
        if added is not None
        else ""
    )
    return [
        "## Cold start\n",
        f"`python -X importtime`, bytecode compiled as pip installs it, {cs['repeat']} "
        f"alternating fresh interpreters: {lead}the difference of the two medians of the "
        f"top-level cumulative times (`{cs['statements']['base']}` {cs['base_ms']:.0f} ms, "
        f"`{cs['statements']['checkpoint_kv']}` {cs['checkpoint_kv_ms']:.0f} ms) is "
        f"{cs['overhead_ms']:+.0f} ms (noisier: each total swings by tens of ms between runs). The "
        "per-saver `import ms` column above also imports each saver's backend module and "
        "client library.\n",
    ]


def _delta_probes(
    T: dict[str, dict[str, Any]], base: dict[str, Any] | None, probes: list[int]
) -> list[str]:
    if not probes:
        return []
    L = [
        "## DeltaChannel get_state at fixed turns\n",
        "Every saver is measured after the same turns of the DeltaChannel chat (`chat-delta`), "
        "several samples each, away from DeltaChannel's snapshots (every 100 updates = 50 "
        "turns with the default `snapshot_frequency=100`; turns 50, 100, 150, 200 land on "
        "one). Median ms (ratio to InMemorySaver), round trips per `get_state`, and the "
        "`get_delta_channel_history` calls LangGraph made per `get_state`. A saver that did "
        "not reach a turn within its time share shows `-`.\n",
    ]
    head = ["saver", "unit"]
    for turn in probes:
        head += [f"@{turn} ms", f"@{turn} RT", f"@{turn} history calls", f"@{turn} samples"]
    L.append("| " + " | ".join(head) + " |")
    L.append("|" + "---|" * len(head))
    for t in T.values():
        if "chat-delta" not in t.get("workloads", {}):
            continue
        row = [t["label"], t.get("unit", "-")]
        for turn in probes:
            op = probe_op(turn)
            o = _op(t, "chat-delta", op)
            calls = _meter_mean(t, "chat-delta", op, "calls:get_delta_channel_history")
            row += [
                _cell(t, base, "chat-delta", op),
                _hits(t, "chat-delta", op),
                _num(calls if o else None),
                str(o["n"]) if o else "-",
            ]
        L.append("| " + " | ".join(row) + " |")
    L.append("")
    return L


def _aws_targets(T: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        k: t
        for k, t in T.items()
        if any(
            kind in AWS_METERS
            for e in t.get("workloads", {}).values()
            for kind in e.get("meter_totals", {})
        )
    }


def aws_per_turn(
    T: dict[str, dict[str, Any]], w: str
) -> tuple[int, dict[str, dict[str, float | None]]]:
    """(N, per AWS target: mean units/requests per turn over the first N turns and ``cost``,
    the $ of 1 million turns), N being the turns every AWS target completed (0: none did)."""
    aws = _aws_targets(T)
    done = [
        len((t.get("workloads", {}).get(w, {}).get("meters") or {}).get("invoke", []))
        for t in aws.values()
    ]
    n = min((d for d in done if d), default=0)
    out: dict[str, dict[str, float | None]] = {}
    for key, t in aws.items():
        vals = {k: _meter_mean(t, w, "invoke", k, n) for k in (*AWS_METERS, "rt")} if n else {}
        if vals.get("rt") is not None:
            vals["cost"] = sum((vals[k] or 0.0) * PRICES[k] for k in AWS_METERS) * 1e6
        out[key] = vals
    return n, out


def _aws_costs(T: dict[str, dict[str, Any]]) -> list[str]:
    if not _aws_targets(T):
        return []
    L = [
        "## AWS request cost per chat turn\n",
        "Per chat turn (one `invoke`), averaged over the first *N* turns, where *N* is the "
        "number of turns every saver below completed (state size grows with the turns, so "
        "only equal turns compare). DynamoDB read/write request units are computed from each "
        "request and response with AWS's published rules (moto does not report real consumed "
        "capacity; see `counting.py`); S3 requests by price class. Cost of 1 million turns: "
        f"{REGION} list prices, DynamoDB on-demand "
        f"${PRICES['ddb:WRU'] * 1e6:.3f} per million write and "
        f"${PRICES['ddb:RRU'] * 1e6:.3f} per million read request units, S3 Standard "
        f"${PRICES['s3:tier1'] * 1e3:.4f} per 1,000 PUT/COPY/POST/LIST and "
        f"${PRICES['s3:tier2'] * 1e3:.4f} per 1,000 GET/HEAD requests (DELETE free); "
        "requests only: storage and data transfer are not included.\n",
    ]
    for w in ("chat", "chat-delta"):
        n, rows = aws_per_turn(T, w)
        if not n:
            continue
        L.append(f"### `{w}`: first {n} turns\n")
        L.append(
            "| saver | API calls/turn | WRU/turn | RRU/turn | S3 PUT+LIST/turn "
            "| S3 GET+HEAD/turn | $ per 1M turns |"
        )
        L.append("|" + "---|" * 7)
        for key, vals in rows.items():
            t = T[key]
            label = ("**" + t["label"] + "**") if t.get("ours") else t["label"]
            if vals.get("cost") is None:
                L.append(f"| {label} | did not complete a turn | - | - | - | - | - |")
                continue
            cells = [_num(vals[k]) for k in ("rt", *AWS_METERS)]
            L.append("| " + " | ".join([label, *cells, f"${vals['cost']:,.2f}"]) + " |")
        L.append("")
    return L


def make_plots(data: dict[str, Any], out_dir: Path) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    T = {k: t for k, t in data["targets"].items() if t.get("status") == "ok"}
    if not T:
        return []
    base = T.get(BASE)
    labels = [t["label"] for t in T.values()]
    colors = ["#1f77b4" if t.get("ours") else "#999999" for t in T.values()]
    made: list[str] = []

    def grouped(
        fname: str,
        title: str,
        series: list[tuple[str, list[float | None]]],
        xlabel: str,
        log: bool = True,
    ) -> None:
        fig, ax = plt.subplots(figsize=(9, 0.45 * len(labels) * max(1, len(series)) / 2 + 1.8))
        n = len(series)
        h = 0.8 / n
        cmap = plt.get_cmap("tab10")
        for i, (name, vals) in enumerate(series):
            ys = [j + i * h for j in range(len(labels))]
            xs = [v if v is not None and v > 0 else 0 for v in vals]
            ax.barh(ys, xs, height=h, label=name, color=cmap(i))
        ax.set_yticks([j + h * (n - 1) / 2 for j in range(len(labels))])
        ax.set_yticklabels(labels)
        for tick, c in zip(ax.get_yticklabels(), colors, strict=False):
            tick.set_fontweight("bold" if c != "#999999" else "normal")
        ax.invert_yaxis()
        if log:
            ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_title(title)
        ax.grid(axis="x", alpha=0.3)
        if n > 1:
            ax.legend(fontsize=8, loc="best")
        fig.tight_layout()
        fig.savefig(out_dir / fname, dpi=110)
        plt.close(fig)
        made.append(fname)

    def med(t: dict[str, Any], w: str, op: str) -> float | None:
        o = _op(t, w, op)
        return o["median_ms"] if o else None

    if base:
        series = []
        for w, (title, op) in MAIN_OP.items():
            b = med(base, w, op)
            if b:
                series.append((title, [(med(t, w, op) or 0) / b for t in T.values()]))
        grouped(
            "latency_ratio.png",
            "Median latency / InMemorySaver (same run; bold = ours)",
            series,
            "ratio (log)",
        )
    rts = []
    for w, op, name in [
        ("chat", "invoke", "chat invoke"),
        ("chat-delta", "invoke", "DeltaChannel chat invoke"),
        ("chat-delta", "get_state", "DeltaChannel get_state (end of run)"),
        ("fanout", "invoke (8 Sends, interrupt)", "fan-out invoke"),
        ("history", "history page (10)", "history page of 10"),
    ]:
        vals = []
        for t in T.values():
            o = _op(t, w, op)
            vals.append(o["hits_mean"] if o and t.get("unit") != "-" else None)
        rts.append((name, vals))
    grouped(
        "round_trips.png",
        "Round trips / API calls / statements per graph call (counted)",
        rts,
        "count (log)",
    )
    grouped(
        "storage.png",
        "Storage held after the run (MB)",
        [
            ("200-turn chat", [(_held(t, "chat") or 0) / 1e6 for t in T.values()]),
            ("DeltaChannel chat", [(_held(t, "chat-delta") or 0) / 1e6 for t in T.values()]),
        ],
        "MB (log)",
    )
    grouped(
        "import_time.png",
        "Import time (python -X importtime; cold start)",
        [("import", [t.get("import_ms") for t in T.values()])],
        "ms",
        log=False,
    )
    return made
