"""Counting and timing instruments, importable in any virtualenv (needs only the stdlib).

Why this shape: round trips must be *counted*, not estimated, and savers differ in which client
they talk through. So each client gets a small patch that calls :meth:`Recorder.hit` once per
request that crosses to the store (a redis-py ``send_packed_command``, a botocore API call, a
psycopg statement or pipeline sync, a port call for checkpoint-kv). Hits are attributed two ways:

- to every *graph-level* op by global totals taken before and after it (sequential workloads);
- to the saver method running on the *same thread* (thread-local frames), so per-method counts
  stay right even when LangGraph writes checkpoints from a background thread.
"""

from __future__ import annotations

import functools
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
        t0 = time.perf_counter()
        try:
            yield
        finally:
            dt = time.perf_counter() - t0
            if self.enabled:
                with self._lock:
                    self.samples[name].append((dt, float(self.hits - before)))

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
    """One hit per API call (``_make_api_call``; retries inside it are not extra hits)."""
    try:
        import botocore.client as bc
    except ImportError:
        return
    orig = bc.BaseClient._make_api_call
    if not getattr(orig, "_bench_wrapped", False):

        def _make_api_call(self: Any, operation_name: str, api_params: Any) -> Any:
            rec.hit(1, _size(api_params))
            rec.hit(1, kind="api:" + operation_name, primary=False)
            return orig(self, operation_name, api_params)

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
        return await aorig(self, operation_name, api_params)

    _amake_api_call._bench_wrapped = True  # type: ignore[attr-defined]
    ac.AioBaseClient._make_api_call = _amake_api_call  # type: ignore[method-assign]


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


def sqlite_counting_factory(rec: Recorder) -> type:
    """A ``sqlite3.Connection`` subclass whose cursors count statements (no round trips exist)."""
    import sqlite3

    class CountingCursor(sqlite3.Cursor):
        def execute(self, sql: str, params: Any = ()) -> Any:  # type: ignore[override]
            rec.hit(1, _size(params))
            return super().execute(sql, params)

        def executemany(self, sql: str, seq: Any) -> Any:  # type: ignore[override]
            seq = list(seq)
            rec.hit(1, _size(seq))
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
