"""``s3://BUCKET/PREFIX``: one object per record in an S3 bucket (or MinIO, R2, Ceph RGW...).

Layout. Every port key is one object::

    PREFIX/<partition>!/<encoded sort key>

``<partition>`` is the escaped thread id (``keys.partition``: ``[A-Za-z0-9._%~-]``, at most
120 characters, never ``/``). The ``!/`` marker ends it, so a listing of the prefix with
``Delimiter='/'`` yields exactly our partitions, and two stores never see each other's data
even when one prefix is nested in the other (``a`` and ``a/b``: the prefix may not contain
``!``). Nothing else of ours lives under ``PREFIX/``; foreign objects there are ignored by
``partitions()``.

Newest first with one LIST. ListObjectsV2 lists ascending only, while the saver's hot reads
(latest checkpoint, ``list`` pages) are *descending* scans with a limit. So sort keys are stored
order-inverted: each character of the port's alphabet (ASCII 0x21..0x7E) is replaced by its
*complement* code, and a terminator ``~`` that sorts above every code is appended. Then
``a < b`` exactly when ``enc(a) > enc(b)``, prefixes included (``ab`` sorts after ``abc`` once
encoded, because ``~`` beats any code). A descending scan ``[start, end)`` with a limit is
therefore ONE ListObjectsV2 call: ``StartAfter=enc(end)``, ``MaxKeys=limit``, stop past
``enc(start)``; a thread with 500 checkpoints finds its latest with the same single LIST as one
with 5. A forward (ascending) scan must list its WHOLE range and reverse it, limit or not: its
first keys are the last ones S3 lists. It GETs only the ``limit`` items it returns, but a caller
that pages through a large range ascending re-lists the rest of the range for every page;
whole-thread reads should page descending (one LIST per page). ``Prefix`` is always narrowed
to the encoded common prefix of ``start`` and ``end``.

The code alphabet is printable ASCII without ``/`` and ``\\`` (MinIO and other file-backed
stores give those a meaning), which leaves 91 characters for 94 inputs. So the four rare
characters ``[ \\ ] ^`` (never produced by ``checkpoint_kv.keys``) get two-character codes under
one lead character; the codes stay prefix-free, so the order still inverts. Saver keys never grow
when encoded. Worst case (1,000-character ids are hashed to 65 characters by ``keys.escape``):
a write key of ~375 bytes plus a 120-byte partition, so a prefix of up to ``MAX_PREFIX`` bytes
keeps every object key under S3's 1,024-byte limit (checked on every write anyway).

Values. LIST returns keys only, so a scan is LIST, then parallel GETs of the items, then
parallel GETs of the followed references not among them (``port.follow_refs``; only from a
well-formed header: a damaged one is not turned into object keys, the saver reports the
record, naming its key; keys no object can have read as absent). "The latest checkpoint"
(``scan_records``) GETs only the newest record of its page and its writes; the record holds
the step's new values and copies of small unchanged ones. So ``get_tuple`` is one LIST and
one GET (plus one per write object) in 2 sequential *waves*, a third only for a large value
that lives in an older record, whatever the thread's length; ``list(limit=10)`` at most 3.
Requests of a wave run on a bounded thread pool (``max_workers``, also the HTTP connection pool
size); ``waves`` counts sequential phases.

Cache. LIST returns each key's ETag, so values this process already read or wrote are served
from a bounded in-memory cache when the ETag still matches (``cache_mb``, default 64; 0 turns
it off). A hit is never stale: a rewritten object has a new ETag. A long-running server that
re-reads its threads (every invoke reads the latest checkpoint, DeltaChannel history re-reads
the chain back to its snapshot) then sends the GETs of new objects only; a cold process (a
Lambda) pays the full count.

Writes. ``write`` splits the batch at its commit barriers (``port.commit_groups``): requests of a
group run in parallel, groups strictly in order. A ``put`` is one object (the record carries
the step's new values), a ``put_writes`` one; in a subgraph the namespace index goes first.
Within a group the ops are resolved to one action per key first, so list order is honoured
even in parallel.
``Put(if_absent=True)`` is a conditional PUT with ``If-None-Match: *``; 412 means "already
there", which is the wanted outcome. For stores without conditional writes,
``conditional_writes=false`` falls back to HEAD then PUT: NOT atomic (two racing writers of the
same key can both write; for the saver that means a retried task's write may replace the first
one, with the same content in practice). ``DeleteRange`` lists the range (in the first wave,
beside the first group's PUTs) and removes keys with ``DeleteObjects``, 1,000 a call; ``drop``
lists the partition and deletes it the same way. Deletes run in reverse of writes: a group's
deletes of checkpoint records (``c!...!~``) complete, beside its PUTs, before its other deletes
start (writes, blobs), so a crash or a reader mid-delete may find data without a record, never
a record without its data; deletes after a commit barrier run after it like any op. Nothing is
atomic across objects; S3's read-after-write consistency and this order make readers safe.

URL: ``s3://BUCKET/PREFIX?region=...&endpoint_url=...`` plus the usual AWS configuration
(environment, ``~/.aws``, instance roles; never credentials in the URL). Options:
``region``, ``endpoint_url`` (S3-compatible stores), ``profile``, ``addressing_style``
(``path`` for MinIO), ``max_workers`` (default 32), ``conditional_writes`` (default true),
``connect_timeout`` / ``read_timeout`` (seconds, default 5 and 20; botocore's own are 60),
``max_attempts`` (default 3: botocore's standard retries, first attempt included; a silent peer
costs at most attempts x (connect + read) plus backoff, then ``BackendUnavailableError`` naming
host:port), ``cache_mb`` (default 64), ``checksums``
(``auto``: botocore's CRC checksums on AWS, only where required with ``endpoint_url``, since
many S3-compatible stores refuse them; or ``when_supported`` / ``when_required``).

Bring your own (keyword only): ``client=`` a boto3 S3 client, used as it is for every request
(its credentials, retry config, X-Ray/OpenTelemetry hooks) and never closed by the store; the
options that configure a client are then refused unless equal to the client's. ``session=`` a
``boto3.Session`` (an assumed role, a profile): the store makes its client from it with the
options above and closes that client, never the session. ``setup()`` creates the bucket if
missing, and warns when a lifecycle rule expires objects under the prefix (S3 has no TTL; a rule
deletes data active threads still read: see docs/backends/s3.md); without it a missing bucket
raises :class:`~checkpoint_kv.errors.StoreNotFoundError`.
The async twin is the default ``ThreadedAsyncStore``: boto3 is synchronous and the work is
already parallel inside a call.
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    HTTPClientError,
    NoCredentialsError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from checkpoint_kv._renamed import renamed
from checkpoint_kv.backends import _aws as aws
from checkpoint_kv.errors import (
    BackendUnavailableError,
    ConfigError,
    CorruptRecordError,
    StoreNotFoundError,
    redact,
    redact_url,
)
from checkpoint_kv.keys import is_checkpoint_record, is_mark, mark_root
from checkpoint_kv.options import Option, Schema, url_query
from checkpoint_kv.port import (
    Delete,
    DeleteRange,
    Op,
    PartitionPage,
    Put,
    ScanResult,
    commit_groups,
    follow_refs,
)

__all__ = ["MAX_PREFIX", "OPTIONS", "S3KV", "decode_key", "encode_key", "from_url"]

T = TypeVar("T")

MAX_KEY_BYTES = 1024  # S3's limit on an object key
MAX_PREFIX = 400  # bytes; leaves room for the worst-case partition and saver sort key
_PAGE = 1000  # ListObjectsV2 and DeleteObjects maximum
_MARK = "!/"  # ends a partition segment
CONNECT_TIMEOUT = 5.0  # seconds; botocore's own default is 60
READ_TIMEOUT = 20.0  # seconds without a byte from the server; botocore's own default is 60
MAX_ATTEMPTS = 3  # botocore's standard retry mode, first attempt included


# --- what a backend must know of the saver's keys (checkpoint_kv.keys) ---------------------


# --- order-inverting key encoding ---------------------------------------------------------

_INPUT = [chr(c) for c in range(0x21, 0x7F)]  # the port's sort-key alphabet
_CODE_CHARS = [chr(c) for c in range(0x21, 0x7E) if chr(c) not in "/\\"]  # 91 characters
_END = "~"  # terminator: above every code
_DOUBLE = "[\\]^"  # rare input characters that get two-character codes


def _build_codes() -> tuple[dict[str, str], str]:
    """Codes ascending while the input characters descend; one lead for the double codes."""
    codes: dict[str, str] = {}
    singles = iter(_CODE_CHARS)
    lead = ""
    seconds = iter(_CODE_CHARS)
    for ch in reversed(_INPUT):
        if ch in _DOUBLE:
            lead = lead or next(singles)
            codes[ch] = lead + next(seconds)
        else:
            codes[ch] = next(singles)
    assert next(singles, None) is None, "the code alphabet must be used up exactly"
    return codes, lead


_CODES, _LEAD = _build_codes()
_DECODE = {v: k for k, v in _CODES.items()}


def _codes(key: str) -> str:
    try:
        return "".join([_CODES[c] for c in key])
    except KeyError as e:
        raise ValueError(f"sort key {key!r} has a character outside ASCII 0x21..0x7E") from e


def encode_key(key: str) -> str:
    """The order-inverted form of a sort key: ``a < b`` iff ``encode_key(a) > encode_key(b)``."""
    return _codes(key) + _END


def decode_key(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text) and text[i] != _END:
        n = 2 if text[i] == _LEAD else 1
        out.append(_DECODE[text[i : i + n]])
        i += n
    if i != len(text) - 1:
        raise KeyError(text)
    return "".join(out)


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def _encodable(key: str) -> bool:
    try:
        _codes(key)
    except ValueError:
        return False
    return True


# --- a value cache validated by ETags --------------------------------------------------------


class _ValueCache:
    """Object values by name, each with the ETag it was read or written with; LRU, bounded in
    bytes. A LIST returns every key's current ETag, so a scan serves a value from here only
    when the object is unchanged: never stale, even with other writers. Values fetched without
    a LIST (``get``, followed references) are always fetched."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, tuple[str, bytes]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, name: str, etag: str) -> bytes | None:
        with self._lock:
            hit = self._items.get(name)
            if hit is None or hit[0] != etag.strip('"'):
                return None
            self._items.move_to_end(name)
            return hit[1]

    def put(self, name: str, etag: str, value: bytes) -> None:
        if not etag or len(value) > self.max_bytes // 8:
            return
        with self._lock:
            self._drop(name)
            self._items[name] = (etag.strip('"'), value)
            self._size += len(value)
            while self._size > self.max_bytes:
                self._drop(next(iter(self._items)))

    def discard(self, name: str) -> None:
        with self._lock:
            self._drop(name)

    def _drop(self, name: str) -> None:
        old = self._items.pop(name, None)
        if old is not None:
            self._size -= len(old[1])


# --- a caller's boto3 objects ------------------------------------------------------------


# --- the store ----------------------------------------------------------------------------


class S3KV:
    """The port over one bucket and prefix. Thread-safe: boto3 clients are."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: Any = None,
        session: Any = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        profile: str | None = None,
        addressing_style: str | None = None,
        max_workers: int = 32,
        conditional_writes: bool = True,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
        max_attempts: int = MAX_ATTEMPTS,
        checksums: str = "auto",
        cache_mb: float = 64,
    ) -> None:
        prefix = prefix.strip("/")
        if not bucket:
            raise ConfigError("S3 URL needs a bucket: s3://BUCKET/PREFIX")
        if "!" in prefix or "//" in prefix:
            raise ConfigError(f"S3 prefix {prefix!r}: no '!' and no empty path segment")
        if len(prefix.encode()) > MAX_PREFIX:
            raise ConfigError(f"S3 prefix is longer than {MAX_PREFIX} bytes")
        if max_workers < 1:
            raise ConfigError("S3 max_workers must be at least 1")
        if max_attempts < 1:
            raise ConfigError("S3 max_attempts must be at least 1")
        if not (connect_timeout > 0 and read_timeout > 0):
            raise ConfigError("S3 connect_timeout and read_timeout must be positive seconds")
        if cache_mb < 0:
            raise ConfigError("S3 cache_mb must be 0 (off) or more")
        if checksums not in ("auto", "when_supported", "when_required"):
            raise ConfigError(f"checksums={checksums!r}: use auto, when_supported or when_required")
        self.bucket = bucket
        self.prefix = prefix
        self._root = prefix + "/" if prefix else ""
        self.endpoint_url = endpoint_url
        self.max_workers = max_workers
        self.conditional_writes = conditional_writes
        client, session = aws.client_or_session(client, session, profile)
        self.owns_client = client is None
        if client is not None:
            # The caller's client, as it is (its credentials, retries, instrumentation); our
            # endpoint_url is its endpoint when that is not AWS's, so hints name it.
            aws.check_service(client, "s3")
            self.endpoint_url = endpoint_url or aws.custom_endpoint(client)
        else:
            if session is None:
                session = boto3.session.Session(profile_name=profile)
            # Every request has a bounded wait: a silent peer costs at most max_attempts x
            # (connect_timeout + read_timeout) plus botocore's backoff, then
            # BackendUnavailableError naming host:port.
            cfg: dict[str, Any] = {
                "max_pool_connections": max_workers,
                "retries": {"mode": "standard", "total_max_attempts": max_attempts},
                "connect_timeout": connect_timeout,
                "read_timeout": read_timeout,
            }
            if addressing_style:
                cfg["s3"] = {"addressing_style": addressing_style}
            if checksums == "auto" and endpoint_url:
                # boto3 >= 1.36 adds CRC checksums to every request by default; many
                # S3-compatible stores refuse them, so send them only where required there.
                checksums = "when_required"
            if checksums != "auto":
                cfg["request_checksum_calculation"] = checksums
                cfg["response_checksum_validation"] = checksums
            client = session.client(
                "s3", region_name=region, endpoint_url=endpoint_url, config=Config(**cfg)
            )
        self.client = client
        self.waves = 0  # sequential request phases so far (tests and benchmarks read it)
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._cache = _ValueCache(int(cache_mb * 2**20))

    def __repr__(self) -> str:
        where = f", endpoint_url={redact_url(self.endpoint_url)!r}" if self.endpoint_url else ""
        return f"S3KV(bucket={self.bucket!r}, prefix={self.prefix!r}{where})"

    # --- requests -----------------------------------------------------------------------------

    def _where(self) -> str:
        """``host:port`` of the endpoint, for error messages (never its credentials)."""
        url = self.endpoint_url or str(getattr(self.client.meta, "endpoint_url", ""))
        parts = urlsplit(url)
        if not parts.hostname:
            return "S3"
        return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"

    def _call(self, operation: str, **kw: Any) -> Any:
        """One S3 request, with botocore's errors turned into ours where we have one."""
        try:
            return getattr(self.client, operation)(Bucket=self.bucket, **kw)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") == "NoSuchBucket":
                raise StoreNotFoundError(
                    f"S3 bucket {self.bucket!r} does not exist: call saver.setup() to create it, "
                    f"or create it yourself ({self._mb_command()})"
                ) from None
            raise
        except (BotoConnectionError, HTTPClientError) as e:
            raise BackendUnavailableError(
                f"cannot reach S3 at {self._where()}: {redact(str(e))}"
            ) from None
        except NoCredentialsError:
            raise ConfigError(aws.NO_CREDENTIALS) from None

    def _mb_command(self) -> str:
        """The ``aws s3 mb`` line that creates our bucket where this store looks for it (with
        the endpoint and region: without them it would create it on AWS, or elsewhere)."""
        region: str | None = getattr(self.client.meta, "region_name", None)
        target: str = aws.cli_target(region, self.endpoint_url)
        return f"aws s3 mb s3://{self.bucket}{target}"

    def _tick(self, n: int = 1) -> None:
        with self._lock:
            self.waves += n

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="ckv-s3")
            return self._pool

    def _phase(self, calls: Sequence[Callable[[], T]]) -> list[T]:
        """Run independent requests in parallel: one wave. Waits for all before raising."""
        if not calls:
            return []
        self._tick()
        if len(calls) == 1:
            return [calls[0]()]
        pool = self._executor()
        futures = [pool.submit(c) for c in calls]
        wait(futures)
        return [f.result() for f in futures]

    def _dir(self, partition: str) -> str:
        if not partition or "/" in partition:
            raise ValueError(f"bad partition {partition!r}: non-empty, no '/'")
        return f"{self._root}{partition}{_MARK}"

    def _name(self, base: str, key: str) -> str:
        name = base + encode_key(key)
        if len(name.encode()) > MAX_KEY_BYTES:
            raise ConfigError(
                f"S3 object key would be {len(name.encode())} bytes (limit {MAX_KEY_BYTES}): "
                "use a shorter prefix"
            )
        return name

    def _list_page(
        self, prefix: str, start_after: str, token: str | None, max_keys: int
    ) -> dict[str, Any]:
        kw: dict[str, Any] = {"Prefix": prefix, "MaxKeys": max_keys}
        if token:
            kw["ContinuationToken"] = token
        elif start_after:
            kw["StartAfter"] = start_after
        result: dict[str, Any] = self._call("list_objects_v2", **kw)
        return result

    def _list_range(
        self, partition: str, start: str, end: str, limit: int | None, *, inline: bool
    ) -> list[tuple[str, str]]:
        """``(sort key, ETag)`` in ``[start, end)``, DESCENDING, at most ``limit``. ``inline``:
        pages are waves of their own; otherwise this runs inside a wave, adding its extra pages."""
        base = self._dir(partition)
        if start >= end or (limit is not None and limit <= 0):
            return []
        after = base + encode_key(end)
        last = base + encode_key(start)
        prefix = base + _codes(_common_prefix(start, end))
        out: list[tuple[str, str]] = []
        token: str | None = None
        pages = 0
        while True:
            want = _PAGE if limit is None else min(_PAGE, limit - len(out))
            if inline:
                (page,) = self._phase([partial(self._list_page, prefix, after, token, want)])
            else:
                pages += 1
                page = self._list_page(prefix, after, token, want)
            for obj in page.get("Contents", ()):
                name: str = obj["Key"]
                if name > last:
                    token = None
                    break
                try:
                    out.append((decode_key(name[len(base) :]), obj.get("ETag", "")))
                except KeyError:
                    raise CorruptRecordError(
                        f"object {name!r} in s3://{self.bucket} is not a checkpoint-kv key"
                    ) from None
            else:
                token = page.get("NextContinuationToken") if page.get("IsTruncated") else None
            if token is None or (limit is not None and len(out) >= limit):
                break
        if pages > 1:
            self._tick(pages - 1)
        return out

    def _get_object(self, name: str) -> bytes | None:
        try:
            resp = self._call("get_object", Key=name)
            body: bytes = resp["Body"].read()
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        self._cache.put(name, resp.get("ETag", ""), body)
        return body

    def _get_many(
        self, partition: str, keys: Sequence[str], etags: Sequence[str] = ()
    ) -> dict[str, bytes]:
        """Values of ``keys``; with the ETags a LIST just returned, cached values are used
        (an object rewritten since has another ETag, so a hit is never stale). A key no object
        can have (outside the sort-key alphabet, e.g. from a damaged header) is absent."""
        base = self._dir(partition)
        out: dict[str, bytes] = {}
        missing: dict[str, None] = {}
        for k, etag in zip(keys, etags or [""] * len(keys), strict=True):
            if not _encodable(k):
                continue  # no object can have this key (e.g. from a damaged header): absent
            hit = self._cache.get(base + encode_key(k), etag) if etag else None
            if hit is None:
                missing[k] = None
            else:
                out[k] = hit
        todo = list(missing)
        values = self._phase([partial(self._get_object, base + encode_key(k)) for k in todo])
        out.update((k, v) for k, v in zip(todo, values, strict=True) if v is not None)
        return out

    def _put_object(self, name: str, value: bytes, if_absent: bool) -> None:
        if if_absent and not self.conditional_writes:
            self._tick()  # HEAD then PUT: a second sequential request inside this wave
            try:
                self._call("head_object", Key=name)
                return
            except ClientError as e:
                if e.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                    raise
            if_absent = False
        extra = {"IfNoneMatch": "*"} if if_absent else {}
        for attempt in range(4):
            try:
                resp = self._call("put_object", Key=name, Body=value, **extra)
                self._cache.put(name, resp.get("ETag", ""), value)
                return
            except ClientError as e:
                code = e.response.get("Error", {}).get("Code")
                if code == "PreconditionFailed" or (
                    if_absent
                    and e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 412
                ):
                    return  # already there: insert-if-absent keeps it
                if code == "ConditionalRequestConflict" and attempt < 3:
                    continue  # a concurrent conditional write to this key: ask again
                raise

    def _delete_objects(self, names: Sequence[str]) -> None:
        for n in names:
            self._cache.discard(n)
        result = self._call(
            "delete_objects",
            Delete={"Objects": [{"Key": n} for n in names], "Quiet": True},
        )
        errors = result.get("Errors") or []
        if errors:
            first = errors[0]
            raise OSError(
                f"S3 DeleteObjects failed for {len(errors)} key(s), e.g. {first.get('Key')!r}: "
                f"{first.get('Code')} {first.get('Message')}"
            )

    def _delete_calls(self, names: Iterable[str]) -> list[Callable[[], None]]:
        ordered = sorted(names)
        return [
            partial(self._delete_objects, ordered[i : i + _PAGE])
            for i in range(0, len(ordered), _PAGE)
        ]

    # --- the port -----------------------------------------------------------------------------

    def get(self, partition: str, keys: Sequence[str]) -> dict[str, bytes]:
        return self._get_many(partition, keys)

    def scan(
        self,
        partition: str,
        start: str,
        end: str,
        *,
        reverse: bool = False,
        limit: int | None = None,
        follow: int = 0,
    ) -> ScanResult:
        return self._scan(partition, start, end, reverse, limit, follow, 0)

    def scan_records(
        self, partition: str, start: str, end: str, limit: int | None, follow: int, records: int
    ) -> ScanResult:
        """A descending scan that GETs only the items before the ``records + 1``-th record of
        the LIST page (see ``port``): "the latest checkpoint" reads the newest record and its
        writes, not the whole page."""
        return self._scan(partition, start, end, True, limit, follow, records)

    def _scan(
        self,
        partition: str,
        start: str,
        end: str,
        reverse: bool,
        limit: int | None,
        follow: int,
        records: int,
    ) -> ScanResult:
        # Descending with a limit: one LIST. Ascending: the whole range, reversed.
        listed = self._list_range(partition, start, end, limit if reverse else None, inline=True)
        if not reverse:
            listed.reverse()
            listed = listed if limit is None else listed[: max(limit, 0)]
        if records:  # stop before the (records + 1)-th record
            seen = 0
            for i, (k, _) in enumerate(listed):
                seen += is_checkpoint_record(k)
                if seen > records:
                    listed = listed[:i]
                    break
        # A mark (``keys.mark_key``) says only that it is there: the LIST told, no GET.
        fetched = [(k, etag) for k, etag in listed if not is_mark(k)]
        values = self._get_many(partition, [k for k, _ in fetched], [e for _, e in fetched])
        values.update((k, mark_root(k).encode("ascii")) for k, _ in listed if is_mark(k))
        keys = [k for k, _ in listed]
        items = [(k, values[k]) for k in keys if k in values]  # a key deleted meanwhile is gone
        refs = self._get_many(partition, follow_refs(items, follow, _encodable)) if follow else {}
        return ScanResult(items, refs)

    def write(self, partition: str, ops: Sequence[Op]) -> None:
        groups = commit_groups(ops)
        if not groups:
            return
        base = self._dir(partition)
        ranges = [op for op in ops if isinstance(op, DeleteRange) and op.start < op.end]
        present: set[str] = set()  # keys known to exist, for DeleteRange
        listing: list[Callable[[], None]] = []
        if ranges:
            # One listing covers every range; the keys it finds are filtered per range later.
            lo, hi = min(r.start for r in ranges), max(r.end for r in ranges)

            def list_cover() -> None:
                present.update(
                    k for k, _ in self._list_range(partition, lo, hi, None, inline=False)
                )

            listing = [list_cover]
            if any(isinstance(op, DeleteRange) for op in groups[0]):
                self._phase(listing)
                listing = []
            # else the first group needs no listing: it runs beside it, in one wave.
        for group in groups:
            puts, dels = self._resolve(group, present)
            waves = self._actions(base, puts, dels)
            self._phase([*listing, *waves[0]])
            listing = []
            for wave in waves[1:]:
                self._phase(wave)
            present |= puts.keys()
            present -= set(dels)

    @staticmethod
    def _resolve(group: Sequence[Op], present: set[str]) -> tuple[dict[str, Put], list[str]]:
        """One action per key with the effect of the ops in list order (so that the requests
        of a group can run in parallel): the puts to make and the keys to delete."""
        state: dict[str, Put | None] = {}  # None: delete
        for op in group:
            if isinstance(op, Put):
                if op.if_absent and op.key in state:
                    prev = state[op.key]
                    if prev is not None:
                        continue  # written earlier in this group: keep it
                    op = Put(op.key, op.value)  # deleted just before: plain write
                state[op.key] = op
            elif isinstance(op, Delete):
                state[op.key] = None
            elif isinstance(op, DeleteRange):
                for k in [*present, *state]:
                    if op.start <= k < op.end:
                        state[k] = None
            else:  # pragma: no cover - defensive
                raise TypeError(f"unknown op {op!r}")
        puts = {k: p for k, p in state.items() if p is not None}
        return puts, [k for k, p in state.items() if p is None]

    def _actions(
        self, base: str, puts: dict[str, Put], dels: Sequence[str]
    ) -> list[list[Callable[[], None]]]:
        """The waves of one commit group: its PUTs beside the deletes of records, then the
        deletes of everything else (see ``_delete_waves``)."""
        calls: list[Callable[[], None]] = [
            partial(self._put_object, self._name(base, k), p.value, p.if_absent)
            for k, p in puts.items()
        ]
        records, rest = self._delete_waves(base, dels)
        return [calls + records, rest]

    def _delete_waves(
        self, base: str, keys: Iterable[str]
    ) -> tuple[list[Callable[[], None]], list[Callable[[], None]]]:
        """``DeleteObjects`` calls in two waves, records first: a reader (or a crash) between
        them finds writes and blobs without a record, never a record without its data."""
        records: list[str] = []
        rest: list[str] = []
        for k in keys:
            (records if is_checkpoint_record(k) else rest).append(base + encode_key(k))
        return self._delete_calls(records), self._delete_calls(rest)

    def drop(self, partition: str) -> None:
        """List the partition, then delete its records, then (once those are gone) the rest."""
        base = self._dir(partition)
        keys: list[str] = []
        foreign: list[str] = []  # objects under our segment that we did not write
        token: str | None = None
        while True:
            (page,) = self._phase([partial(self._list_page, base, "", token, _PAGE)])
            for obj in page.get("Contents", ()):
                try:
                    keys.append(decode_key(obj["Key"][len(base) :]))
                except KeyError:
                    foreign.append(obj["Key"])
            token = page.get("NextContinuationToken") if page.get("IsTruncated") else None
            if token is None:
                break
        records, rest = self._delete_waves(base, keys)
        self._phase(records)
        self._phase(rest + self._delete_calls(foreign))

    def partitions(self, cursor: str | None = None) -> PartitionPage:
        kw: dict[str, Any] = {"Prefix": self._root, "Delimiter": "/", "MaxKeys": _PAGE}
        if cursor:
            kw["ContinuationToken"] = cursor
        (page,) = self._phase([partial(self._call, "list_objects_v2", **kw)])
        parts = []
        for cp in page.get("CommonPrefixes", ()):
            segment: str = cp["Prefix"][len(self._root) :]
            if segment.endswith(_MARK) and len(segment) > len(_MARK):
                parts.append(segment[: -len(_MARK)])
        token = page.get("NextContinuationToken") if page.get("IsTruncated") else None
        return PartitionPage(parts, token)

    def setup(self) -> None:
        """Create the bucket if it does not exist (idempotent). On an existing bucket, warn
        when a lifecycle rule expires our objects (see :meth:`lifecycle_expirations`)."""
        try:
            self._call("head_bucket")
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code")
            if code in ("403", "AccessDenied"):
                return  # it exists; a policy scoped to the prefix may not allow HeadBucket
            if code not in ("404", "NoSuchBucket", "NotFound"):
                raise
        else:
            rules = self.lifecycle_expirations()
            if rules:
                warnings.warn(
                    f"s3://{self.bucket}/{self.prefix}: lifecycle rule(s) {', '.join(rules)} "
                    "expire checkpoint objects by age, which deletes data that ACTIVE threads "
                    "still read (unchanged channel values, DeltaChannel history); they then "
                    "fail with CorruptRecordError. Use prune / delete_thread instead "
                    "(docs/backends/s3.md, Retention)",
                    UserWarning,
                    stacklevel=2,
                )
            return
        region = self.client.meta.region_name
        kw: dict[str, Any] = {}
        if region and region != "us-east-1":
            kw["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            self._call("create_bucket", **kw)
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code")
            if code == "BucketAlreadyExists":
                raise ConfigError(
                    f"S3 bucket name {self.bucket!r} is taken by another account: choose another"
                ) from None
            if code != "BucketAlreadyOwnedByYou":
                raise

    def lifecycle_expirations(self) -> list[str] | None:
        """The enabled lifecycle rules that expire (``Expiration``) objects under our prefix,
        described as ``'ID' (Days=30)``; ``None`` when the rules cannot be read (no
        ``s3:GetLifecycleConfiguration`` permission, a store without lifecycle support).

        S3 rule prefixes are plain string prefixes, so a rule covers us when it and our root
        (``PREFIX/``) are prefixes of one another: ``ckv`` covers ``ckv1/`` too. Rules that
        filter on tags never match (we tag nothing); ``NoncurrentVersionExpiration`` and
        ``ExpiredObjectDeleteMarker`` touch only deleted data, so they are harmless."""
        try:
            resp = self._call("get_bucket_lifecycle_configuration")
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") == "NoSuchLifecycleConfiguration":
                return []
            return None
        out = []
        for rule in resp.get("Rules", ()):
            expiration = rule.get("Expiration") or {}
            if rule.get("Status") != "Enabled" or not (
                "Days" in expiration or "Date" in expiration
            ):
                continue
            flt = rule.get("Filter") or {}
            flt = flt.get("And", flt)
            if flt.get("Tag") or flt.get("Tags"):
                continue
            prefix = flt.get("Prefix", rule.get("Prefix", "")) or ""
            if self._root.startswith(prefix) or prefix.startswith(self._root):
                when = ", ".join(f"{k}={v}" for k, v in expiration.items() if k in ("Days", "Date"))
                out.append(f"{rule.get('ID', '?')!r} ({when})")
        return out

    def info(self) -> dict[str, Any]:
        """The port's optional ``info()`` (what ``checkpoint-kv doctor`` reports): bucket,
        region and endpoint, and the lifecycle rules that expire this prefix (S3 has no TTL;
        see docs/backends/s3.md)."""
        try:
            rules = self._call("get_bucket_lifecycle_configuration")["Rules"]
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") != "NoSuchLifecycleConfiguration":
                raise
            rules = []
        covering = [
            r
            for r in rules
            if r.get("Status") == "Enabled"
            and "Expiration" in r
            and self.prefix.startswith(_rule_prefix(r))
        ]
        where = f" at {redact_url(self.endpoint_url)}" if self.endpoint_url else ""
        return {
            "server_version": f"S3, bucket {self.bucket!r}, region "
            f"{self.client.meta.region_name}{where}",
            "ttl": "lifecycle expiration: " + ", ".join(str(r["Expiration"]) for r in covering)
            if covering
            else "off: no lifecycle rule expires this prefix (S3 has no TTL; see "
            "docs/backends/s3.md)",
            "problems": [],
        }

    def close(self) -> None:
        """Stop the request threads, and close the S3 client if this store made it (from
        ``session=`` or the AWS configuration); a caller's ``client=`` stays open."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        if self.owns_client:
            self.client.close()


OPTIONS = Schema(
    "s3",
    [
        Option("region", "str", None, "AWS region (default: the AWS configuration's)"),
        Option("endpoint_url", "str", None, "an S3-compatible store (MinIO, R2, Ceph RGW...)"),
        Option("profile", "str", None, "AWS profile for the credentials"),
        Option(
            "addressing_style",
            "enum",
            None,
            "path for MinIO",
            choices=("path", "virtual", "auto"),
        ),
        Option("max_workers", "int", 32, "parallel requests (and HTTP connections)", min=1),
        Option("conditional_writes", "bool", True, "If-None-Match writes (else HEAD + PUT)"),
        Option("connect_timeout", "float", CONNECT_TIMEOUT, "seconds per connect", above=0),
        Option("read_timeout", "float", READ_TIMEOUT, "seconds per reply", above=0),
        Option("max_attempts", "int", MAX_ATTEMPTS, "attempts per request", min=1),
        Option(
            "checksums",
            "enum",
            "auto",
            "CRC checksums: auto is when_required with endpoint_url",
            choices=("auto", "when_supported", "when_required"),
        ),
        Option("cache_mb", "float", 64, "cache of values by ETag (0: off)", min=0),
    ],
)


# What configures the S3 client: a caller's client= is used as it is, so these would silently
# not apply (equal values are accepted: a shared URL may carry them).
_CLIENT_OPTIONS = {
    "region",
    "endpoint_url",
    "profile",
    "addressing_style",
    "connect_timeout",
    "read_timeout",
    "max_attempts",
    "checksums",
}


def _rule_prefix(rule: dict[str, Any]) -> str:
    """The key prefix a lifecycle rule filters on (``Filter.Prefix``, or the older ``Prefix``)."""
    return str(rule.get("Filter", {}).get("Prefix", rule.get("Prefix", "")) or "")


def from_url(url: str, **options: Any) -> S3KV:
    """``s3://BUCKET/PREFIX?region=...&endpoint_url=...&max_workers=...``.

    ``client=`` (a boto3 S3 client) is used as it is and never closed; ``session=`` (a
    ``boto3.Session``: its credentials, profile, region) makes the store's client, with this
    URL's options."""
    client = options.pop("client", None)
    session = options.pop("session", None)
    if client is not None and aws.is_session(client):
        client, session = None, client
    base, query = url_query(url, options)
    aws.refuse_credentials("s3", base, query, OPTIONS.names)
    opts = OPTIONS.parse(query)
    if client is not None:
        aws.check_service(client, "s3")
        given = {k: opts[k] for k in _CLIENT_OPTIONS if k in query}
        conflicting = aws.conflicting_options(client, given)
        if conflicting:
            raise aws.conflict_error("s3", "S3", conflicting)
    parts = urlsplit(base)
    return S3KV(
        unquote(parts.netloc),
        unquote(parts.path),
        client=client,
        session=session,
        region=opts["region"] or None,
        endpoint_url=opts["endpoint_url"] or None,
        profile=opts["profile"] or None,
        addressing_style=opts["addressing_style"],
        max_workers=opts["max_workers"],
        conditional_writes=opts["conditional_writes"],
        connect_timeout=opts["connect_timeout"],
        read_timeout=opts["read_timeout"],
        max_attempts=opts["max_attempts"],
        checksums=opts["checksums"],
        cache_mb=opts["cache_mb"],
    )


# --- old names ------------------------------------------------------------------------------
# Deprecated aliases: the adapters were named like LangGraph's memory stores (BaseStore).
if TYPE_CHECKING:
    S3Store = S3KV
else:
    __getattr__ = renamed(
        __name__,
        {
            "S3Store": "S3KV",
        },
    )
