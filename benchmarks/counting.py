"""Counting and timing instruments, importable in any virtualenv (needs only the stdlib).

Why this shape: round trips must be *counted*, not estimated, and savers differ in which client
they talk through. So each client gets a small patch that calls :meth:`Recorder.hit` once per
request that crosses to the store (a redis-py ``send_packed_command``, a botocore API call, a
psycopg statement, a statement SQLite runs, a port call for checkpoint-kv's memory backend).
Hits are attributed two ways:

- to every *graph-level* op by global totals taken before and after it (sequential workloads);
- to the saver method running on the *same thread* (thread-local frames), so per-method counts
  stay right even when LangGraph writes checkpoints from a background thread.
"""

from __future__ import annotations

import contextlib
import functools
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

SAVER_METHODS = (
    "get_tuple",
    "list",
    "put",
    "put_writes",
    "get_delta_channel_history",
    "delete_thread",
)


class Recorder:
    """Collects latency samples, hit counts, bytes sent and serialization CPU time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tls = threading.local()
        self._open: dict[int, list[list[int]]] = {}
        self.reset()

    def reset(self) -> None:
        """Start a new workload: the client patches keep pointing at this same recorder."""
        self.enabled = True
        self.hits = 0  # round trips / API calls / statements (the primary count)
        self.hits_by_kind: dict[str, int] = defaultdict(int)
        self.bytes_sent = 0
        self.serde_cpu = 0.0
        self.serde_bytes_out = 0
        self.unattributed = 0
        # op name -> list of (seconds, hits) samples
        self.samples: dict[str, list[tuple[float, float]]] = defaultdict(list)
        # Secondary measures that are not round trips (capacity units, S3 request classes,
        # saver method calls): running totals, and per graph op the delta of each sample.
        self.meters: dict[str, float] = defaultdict(float)
        self.meter_samples: dict[str, list[dict[str, float]]] = defaultdict(list)

    # --- counting -----------------------------------------------------------------------

    def hit(self, n: int = 1, nbytes: int = 0, kind: str = "rt", primary: bool = True) -> None:
        """One request crossed to the store (``primary``), or a secondary count (``kind``)."""
        if not self.enabled:
            return
        with self._lock:
            self.hits_by_kind[kind] += n
            if not primary:
                return
            self.hits += n
            self.bytes_sent += nbytes
        frames: list[list[int]] | None = getattr(self._tls, "frames", None)
        if frames:
            frames[-1][0] += n
            return
        with self._lock:
            # A client's own worker thread (parallel S3 GETs): if exactly one saver method is
            # running anywhere, the request is its; otherwise it stays unattributed.
            open_frames = [f for fs in self._open.values() for f in fs[-1:]]
            if len(open_frames) == 1:
                open_frames[0][0] += n
            else:
                self.unattributed += n

    def meter(self, kind: str, amount: float) -> None:
        """Add to a secondary measure (``ddb:WRU``, ``s3:tier1``, ``calls:<method>``...)."""
        if not self.enabled:
            return
        with self._lock:
            self.meters[kind] += amount

    def add_bytes(self, nbytes: int) -> None:
        """Bytes sent to the store by a request counted elsewhere (a traced SQL statement)."""
        if not self.enabled:
            return
        with self._lock:
            self.bytes_sent += nbytes

    def add_serde(self, cpu: float, nbytes: int = 0) -> None:
        if not self.enabled:
            return
        with self._lock:
            self.serde_cpu += cpu
            self.serde_bytes_out += nbytes

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Admin and measurement calls (sizes, flushes) must not count."""
        was, self.enabled = self.enabled, False
        try:
            yield
        finally:
            self.enabled = was

    # --- timing -------------------------------------------------------------------------

    @contextmanager
    def graph_op(self, name: str) -> Iterator[None]:
        """A graph-level op: its hits are the global delta (valid when ops do not overlap)."""
        before = self.hits
        meters = dict(self.meters)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            dt = time.perf_counter() - t0
            if self.enabled:
                with self._lock:
                    self.samples[name].append((dt, float(self.hits - before)))
                    delta = {k: v - meters.get(k, 0.0) for k, v in self.meters.items()}
                    delta["rt"] = float(self.hits - before)
                    self.meter_samples[name].append({k: v for k, v in delta.items() if v})

    def record(self, name: str, seconds: float, hits: float) -> None:
        with self._lock:
            self.samples[name].append((seconds, hits))

    @contextmanager
    def method_frame(self, name: str) -> Iterator[None]:
        frames: list[list[int]] | None = getattr(self._tls, "frames", None)
        if frames is None:
            frames = self._tls.frames = []
            with self._lock:
                self._open[threading.get_ident()] = frames
        frame = [0]
        frames.append(frame)
        self.meter("calls:" + name, 1)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            dt = time.perf_counter() - t0
            frames.pop()
            if frames:  # a saver method calling another (list -> get_tuple): count once
                frames[-1][0] += frame[0]
            if self.enabled:
                self.record("saver." + name, dt, float(frame[0]))


# --- wrapping a saver ---------------------------------------------------------------------


def wrap_saver(saver: Any, rec: Recorder) -> None:
    """Time the saver's public sync methods and its serializer, in place (instance attributes)."""
    for name in SAVER_METHODS:
        fn = getattr(saver, name, None)
        if fn is None:
            continue
        if name == "list":
            setattr(saver, name, _wrap_iter(fn, name, rec))
        else:
            setattr(saver, name, _wrap_call(fn, name, rec))
    wrap_serde(saver.serde, rec)


def _wrap_call(fn: Callable[..., Any], name: str, rec: Recorder) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with rec.method_frame(name):
            return fn(*args, **kwargs)

    return wrapper


def _wrap_iter(fn: Callable[..., Any], name: str, rec: Recorder) -> Callable[..., Any]:
    """``list`` is a generator: time it until exhausted (how get_state_history consumes it)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
        with rec.method_frame(name):
            yield from fn(*args, **kwargs)

    return wrapper


def wrap_serde(serde: Any, rec: Recorder) -> None:
    """Add the thread CPU time of ``dumps_typed``/``loads_typed`` to the recorder."""
    if getattr(serde, "_bench_wrapped", False):
        return
    dumps, loads = serde.dumps_typed, serde.loads_typed

    def dumps_typed(obj: Any) -> Any:
        t0 = time.thread_time()
        out = dumps(obj)
        rec.add_serde(time.thread_time() - t0, len(out[1]) if isinstance(out, tuple) else 0)
        return out

    def loads_typed(data: Any) -> Any:
        t0 = time.thread_time()
        out = loads(data)
        rec.add_serde(time.thread_time() - t0)
        return out

    try:
        serde.dumps_typed, serde.loads_typed = dumps_typed, loads_typed
        serde._bench_wrapped = True
    except (AttributeError, TypeError):  # slotted serializer: leave it unmeasured
        pass


def wrap_module_functions(module: Any, names: list[str], rec: Recorder) -> None:
    """Count module-level encode/decode helpers (checkpoint-kv's CBOR envelope) as serde CPU."""
    for name in names:
        fn = getattr(module, name, None)
        if fn is None or getattr(fn, "_bench_wrapped", False):
            continue

        def make(f: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(f)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                t0 = time.thread_time()
                out = f(*args, **kwargs)
                rec.add_serde(time.thread_time() - t0)
                return out

            wrapper._bench_wrapped = True  # type: ignore[attr-defined]
            return wrapper

        setattr(module, name, make(fn))


# --- client patches -------------------------------------------------------------------------


def _size(obj: Any) -> int:
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return len(obj)
    if isinstance(obj, str):
        return len(obj.encode("utf-8", "surrogatepass"))
    if isinstance(obj, dict):
        return sum(_size(k) + _size(v) for k, v in obj.items())
    if isinstance(obj, (list, tuple, set)):
        return sum(_size(x) for x in obj)
    if hasattr(obj, "read") and hasattr(obj, "seek"):  # a body stream
        try:
            pos = obj.tell()
            obj.seek(0, 2)
            n = obj.tell() - pos
            obj.seek(pos)
            return int(n)
        except Exception:
            return 0
    return 8 if isinstance(obj, (int, float)) else 0


def patch_redis(rec: Recorder) -> None:
    """One hit per packed send: a command, or a whole pipeline/transaction (one round trip)."""
    import redis.connection as rc

    orig = rc.AbstractConnection.send_packed_command
    if getattr(orig, "_bench_wrapped", False):
        return

    def send_packed_command(self: Any, command: Any, check_health: bool = True) -> Any:
        if isinstance(command, (bytes, bytearray, memoryview)):
            n = len(command)
        else:
            n = sum(len(c) for c in command)
        rec.hit(1, n)
        return orig(self, command, check_health)

    send_packed_command._bench_wrapped = True  # type: ignore[attr-defined]
    rc.AbstractConnection.send_packed_command = send_packed_command  # type: ignore[method-assign]


def patch_botocore(rec: Recorder) -> None:
    """One hit per API call (``_make_api_call``; retries inside it are not extra hits), plus
    what AWS bills for it (:func:`aws_meters`): DynamoDB capacity units and S3 request classes."""
    try:
        import botocore.client as bc
    except ImportError:
        return
    orig = bc.BaseClient._make_api_call
    if not getattr(orig, "_bench_wrapped", False):

        def _make_api_call(self: Any, operation_name: str, api_params: Any) -> Any:
            rec.hit(1, _size(api_params))
            rec.hit(1, kind="api:" + operation_name, primary=False)
            if not rec.enabled:
                return orig(self, operation_name, api_params)
            service = self.meta.service_model.service_name

            def call(op: str, params: dict[str, Any]) -> Any:  # unmetered (sizing) requests
                return orig(self, op, params)

            with aws_meters(rec, service, operation_name, api_params, call) as done:
                result = orig(self, operation_name, api_params)
                done(result)
            return result

        _make_api_call._bench_wrapped = True  # type: ignore[attr-defined]
        bc.BaseClient._make_api_call = _make_api_call  # type: ignore[method-assign]
    try:  # s3fs and other aiobotocore users
        import aiobotocore.client as ac
    except ImportError:
        return
    aorig = ac.AioBaseClient._make_api_call
    if getattr(aorig, "_bench_wrapped", False):
        return

    async def _amake_api_call(self: Any, operation_name: str, api_params: Any) -> Any:
        rec.hit(1, _size(api_params))
        rec.hit(1, kind="api:" + operation_name, primary=False)
        if self.meta.service_model.service_name == "s3":
            rec.meter("s3:" + s3_request_class(operation_name), 1)
        return await aorig(self, operation_name, api_params)

    _amake_api_call._bench_wrapped = True  # type: ignore[attr-defined]
    ac.AioBaseClient._make_api_call = _amake_api_call  # type: ignore[method-assign]


# --- what AWS bills: DynamoDB capacity units, S3 request classes -----------------------------
# Moto answers ReturnConsumedCapacity with a constant (0.5 or 1.0 per call, whatever the item
# size), so the units are computed here from the request and response payloads, with AWS's
# published rules (DynamoDB developer guide, "Read/write capacity mode" and "Item sizes"):
# - write: 1 unit per started KB of each item written (PutItem, UpdateItem, DeleteItem, each
#   item of a BatchWriteItem); inside TransactWriteItems 2 units per KB per item. UpdateItem
#   and DeleteItem bill the larger of the item before and after (read here with an unmetered
#   GetItem); a PutItem is billed on the new item (an overwrite of a larger item would bill
#   that one: not measured).
# - read: 1 unit per started 4 KB strongly consistent, 0.5 eventually consistent, 2 in a
#   transaction; GetItem and each item of a BatchGetItem rounded separately (an absent item
#   still costs the minimum); Query and Scan on the summed size of the items read, rounded up
#   once per request. A projection or filter does not lower the units (the full items are
#   read), so such a request is re-sent without them, unmetered, to size what it read.

_AV_TYPES = {"S", "N", "B", "BOOL", "NULL", "L", "M", "SS", "NS", "BS"}
_S3_FREE = ("Delete", "AbortMultipartUpload")
_S3_TIER1 = ("Put", "Copy", "List", "Create", "Upload", "Complete", "Restore", "Post")


def s3_request_class(operation: str) -> str:
    """``tier1`` (PUT, COPY, POST, LIST), ``free`` (DELETE, cancel) or ``tier2`` (GET, HEAD and
    every other request), as S3 Standard prices them. DeleteObjects is counted free."""
    if operation.startswith(_S3_FREE):
        return "free"
    return "tier1" if operation.startswith(_S3_TIER1) else "tier2"


def _num_size(text: Any) -> int:
    digits = str(text).lstrip("+-").replace(".", "").split("e")[0].split("E")[0]
    significant = digits.strip("0") or "0"
    return (len(significant) + 1) // 2 + 1


def _value_size(v: Any) -> int:
    """Bytes DynamoDB bills for one attribute value: typed (``{"S": ..}``, the client API) or
    plain Python (the boto3 resource API, which serializes inside the call)."""
    if isinstance(v, dict) and len(v) == 1 and next(iter(v)) in _AV_TYPES:
        ((t, x),) = v.items()
        if t == "S":
            return len(x.encode("utf-8"))
        if t == "B":
            return len(x)
        if t == "N":
            return _num_size(x)
        if t in ("BOOL", "NULL"):
            return 1
        if t == "SS":
            return sum(len(e.encode("utf-8")) for e in x)
        if t == "BS":
            return sum(len(e) for e in x)
        if t == "NS":
            return sum(_num_size(e) for e in x)
        if t == "L":
            return 3 + sum(_value_size(e) + 1 for e in x)
        return 3 + sum(len(k.encode("utf-8")) + _value_size(e) + 1 for k, e in x.items())
    if v is None or isinstance(v, bool):
        return 1
    if isinstance(v, str):
        return len(v.encode("utf-8"))
    if isinstance(v, (bytes, bytearray, memoryview)):
        return len(v)
    if hasattr(v, "value") and isinstance(v.value, (bytes, bytearray)):  # boto3 Binary
        return len(v.value)
    if isinstance(v, (int, float)) or type(v).__name__ == "Decimal":
        return _num_size(v)
    if isinstance(v, (set, frozenset)):
        return sum(_value_size(e) for e in v)
    if isinstance(v, (list, tuple)):
        return 3 + sum(_value_size(e) + 1 for e in v)
    if isinstance(v, dict):
        return 3 + sum(len(str(k).encode("utf-8")) + _value_size(e) + 1 for k, e in v.items())
    return 0


def ddb_item_size(item: dict[str, Any] | None) -> int:
    """An item's size by DynamoDB's rule: attribute names plus values."""
    if not item:
        return 0
    return sum(len(k.encode("utf-8")) + _value_size(v) for k, v in item.items())


def _units(size: int, per: int) -> int:
    return max(1, -(-size // per))


_SIZING_KEYS = ("ProjectionExpression", "FilterExpression", "AttributesToGet", "Select")


@contextmanager
def aws_meters(
    rec: Recorder,
    service: str,
    op: str,
    params: dict[str, Any],
    call: Callable[[str, dict[str, Any]], Any],
) -> Iterator[Callable[[Any], None]]:
    """Meter one API call: yields ``done(result)`` to call with its result. Write units are
    metered before the call (a failed conditional write is billed too)."""
    if service == "s3":
        rec.meter("s3:" + s3_request_class(op), 1)
        yield lambda result: None
        return
    if service != "dynamodb":
        yield lambda result: None
        return

    def fetch(table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        try:
            item: dict[str, Any] | None = call(
                "GetItem", {"TableName": table, "Key": key, "ConsistentRead": True}
            ).get("Item")
            return item
        except Exception:
            return None

    def changed(table: str, key: dict[str, Any]) -> int:
        return ddb_item_size(fetch(table, key))

    before: list[tuple[str, dict[str, Any], int, int]] = []  # (table, key, size, factor)
    wru = 0.0
    if op == "PutItem":
        wru += _units(ddb_item_size(params.get("Item")), 1024)
    elif op in ("UpdateItem", "DeleteItem"):
        before.append((params["TableName"], params["Key"], changed(**_tk(params)), 1))
    elif op == "BatchWriteItem":
        for table, reqs in params.get("RequestItems", {}).items():
            for r in reqs:
                if "PutRequest" in r:
                    wru += _units(ddb_item_size(r["PutRequest"].get("Item")), 1024)
                else:
                    wru += _units(changed(table, r["DeleteRequest"]["Key"]), 1024)
    elif op == "TransactWriteItems":
        for t in params.get("TransactItems", []):
            ((kind, body),) = t.items()
            if kind == "Put":
                wru += 2 * _units(ddb_item_size(body.get("Item")), 1024)
            elif kind == "Update":
                before.append((body["TableName"], body["Key"], changed(**_tk(body)), 2))
            else:  # Delete, ConditionCheck
                wru += 2 * _units(changed(**_tk(body)), 1024)
    failed = True
    result: list[Any] = []
    try:
        yield lambda r: result.append(r)
        failed = False
    finally:
        for table, key, size, factor in before:
            after = 0 if failed or op == "DeleteItem" else changed(table, key)
            wru += factor * _units(max(size, after), 1024)
        if wru:
            rec.meter("ddb:WRU", wru)
        if not failed and result:
            rru = _read_units(op, params, result[0], call, fetch)
            if rru:
                rec.meter("ddb:RRU", rru)


def _has_key(item: dict[str, Any], key: dict[str, Any]) -> bool:
    return all(item.get(k) == v for k, v in key.items())


def _unprojected(params: dict[str, Any]) -> dict[str, Any]:
    """A Query/Scan reading the same items, returning them whole: no projection, no filter,
    and only the expression names/values the key condition still uses."""
    plain = {k: v for k, v in params.items() if k not in _SIZING_KEYS}
    used = set(re.findall(r"[#:][A-Za-z0-9_]+", str(plain.get("KeyConditionExpression", ""))))
    for field in ("ExpressionAttributeNames", "ExpressionAttributeValues"):
        kept = {k: v for k, v in plain.pop(field, {}).items() if k in used}
        if kept:
            plain[field] = kept
    return plain


def _tk(body: dict[str, Any]) -> dict[str, Any]:
    return {"table": body["TableName"], "key": body["Key"]}


def _read_units(
    op: str,
    params: dict[str, Any],
    result: Any,
    call: Callable[[str, dict[str, Any]], Any],
    fetch: Callable[[str, dict[str, Any]], dict[str, Any] | None],
) -> float:
    half = 0.5 if not params.get("ConsistentRead") else 1.0
    if op == "GetItem":
        item = result.get("Item")
        if item is not None and any(k in params for k in _SIZING_KEYS):
            item = fetch(params["TableName"], params["Key"])
        return half * _units(ddb_item_size(item), 4096)
    if op in ("Query", "Scan"):
        items = result.get("Items", [])
        if any(k in params for k in _SIZING_KEYS):
            with contextlib.suppress(Exception):  # unsizable: keep the returned items
                items = call(op, _unprojected(params)).get("Items", [])
        return half * _units(sum(ddb_item_size(i) for i in items), 4096)
    if op == "BatchGetItem":
        total = 0.0
        unprocessed = result.get("UnprocessedKeys", {})
        for table, req in params.get("RequestItems", {}).items():
            f = 1.0 if req.get("ConsistentRead") else 0.5
            got = result.get("Responses", {}).get(table, [])
            sizing = any(k in req for k in _SIZING_KEYS)
            skipped = unprocessed.get(table, {}).get("Keys", [])
            for key in req.get("Keys", []):
                if key in skipped:
                    continue
                if sizing:
                    item = fetch(table, key)
                else:
                    item = next((i for i in got if _has_key(i, key)), None)
                total += f * _units(ddb_item_size(item), 4096)
        return total
    if op == "TransactGetItems":
        total = 0.0
        for t, r in zip(params.get("TransactItems", []), result.get("Responses", []), strict=False):
            item = r.get("Item")
            if item is not None and "ProjectionExpression" in t.get("Get", {}):
                item = fetch(t["Get"]["TableName"], t["Get"]["Key"])
            total += 2 * _units(ddb_item_size(item), 4096)
        return total
    return 0.0


def patch_psycopg(rec: Recorder) -> None:
    """One hit per statement sent (``executemany`` is one batched statement), as round trips.

    PostgresSaver batches some statements in a pipeline, so this is an upper bound on its
    network round trips; it is exact for the statements the server runs.
    """
    import psycopg

    cur_cls = psycopg.Cursor
    if getattr(cur_cls.execute, "_bench_wrapped", False):
        return
    exe, exemany = cur_cls.execute, cur_cls.executemany

    def execute(self: Any, query: Any, params: Any = None, **kw: Any) -> Any:
        rec.hit(1, _size(params))
        return exe(self, query, params, **kw)

    def executemany(self: Any, query: Any, params_seq: Any, **kw: Any) -> Any:
        params_seq = list(params_seq)
        rec.hit(1, _size(params_seq))
        rec.hit(len(params_seq), kind="rows in executemany", primary=False)
        return exemany(self, query, params_seq, **kw)

    execute._bench_wrapped = True  # type: ignore[attr-defined]
    cur_cls.execute = execute  # type: ignore[method-assign]
    cur_cls.executemany = executemany  # type: ignore[method-assign]


def trace_sqlite(conn: Any, rec: Recorder) -> None:
    """One hit per SQL statement SQLite runs on ``conn`` (``set_trace_callback``): the same unit
    for every SQLite saver, whatever API it calls (an ``executemany`` of N rows is N
    statements; the ``BEGIN``/``COMMIT`` the sqlite3 module issues are statements too)."""
    conn.set_trace_callback(lambda sql: rec.hit(1))


def patch_sqlite_connect(rec: Recorder) -> None:
    """Trace every connection ``sqlite3.connect`` makes from now on (checkpoint-kv's SQLite
    backend opens one per thread)."""
    import sqlite3

    orig = sqlite3.connect
    if getattr(orig, "_bench_wrapped", False):
        return

    @functools.wraps(orig)
    def connect(*args: Any, **kwargs: Any) -> Any:
        conn = orig(*args, **kwargs)
        trace_sqlite(conn, rec)
        return conn

    connect._bench_wrapped = True  # type: ignore[attr-defined]
    sqlite3.connect = connect


def sqlite_bytes_factory(rec: Recorder) -> type:
    """A ``sqlite3.Connection`` subclass whose cursors add the bytes of the parameters they
    bind to ``bytes_sent`` (statements are counted by :func:`trace_sqlite`)."""
    import sqlite3

    class CountingCursor(sqlite3.Cursor):
        def execute(self, sql: str, params: Any = ()) -> Any:  # type: ignore[override]
            rec.add_bytes(_size(params))
            return super().execute(sql, params)

        def executemany(self, sql: str, seq: Any) -> Any:  # type: ignore[override]
            seq = list(seq)
            rec.add_bytes(_size(seq))
            return super().executemany(sql, seq)

    class CountingConnection(sqlite3.Connection):
        def cursor(self, factory: Any = CountingCursor) -> Any:  # type: ignore[override]
            return super().cursor(factory)

        def execute(self, sql: str, params: Any = ()) -> Any:  # type: ignore[override]
            return self.cursor().execute(sql, params)

        def executemany(self, sql: str, seq: Any) -> Any:  # type: ignore[override]
            return self.cursor().executemany(sql, seq)

    return CountingConnection


def deep_bytes(obj: Any, _seen: set[int] | None = None) -> int:
    """Bytes held in an in-process structure (InMemorySaver's dicts): bytes and str payloads."""
    seen = _seen if _seen is not None else set()
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    if isinstance(obj, (bytes, bytearray, str)):
        return _size(obj)
    if isinstance(obj, dict):
        return sum(deep_bytes(k, seen) + deep_bytes(v, seen) for k, v in obj.items())
    if isinstance(obj, (list, tuple, set)):
        return sum(deep_bytes(x, seen) for x in obj)
    return 0
