"""One bucket's objects as S3 requests: LIST a range, GET values, PUT one, delete a batch,
and the *waves* that run independent requests in parallel.

LIST returns keys only, so a read is LIST, then parallel GETs of the items (through the
ETag-validated cache, :mod:`.etags`). Requests of a wave run on a bounded thread pool
(``max_workers``, also the HTTP connection pool size); ``waves`` counts sequential phases, which
is what a caller waits for (tests and benchmarks read it). A ``Put(if_absent=True)`` is a
conditional PUT with ``If-None-Match: *``; 412 means "already there", which is the wanted
outcome. For stores without conditional writes, ``conditional_writes=false`` falls back to
HEAD then PUT: NOT atomic (two racing writers of the same key can both write; for the saver
that means a retried task's write may replace the first one, with the same content in
practice).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from functools import partial
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from checkpoint_kv.backends.s3 import errors, layout
from checkpoint_kv.backends.s3.etags import ETagCache
from checkpoint_kv.backends.s3.layout import decode_key, encodable, encode_key
from checkpoint_kv.errors import CorruptRecordError

__all__ = ["Objects"]

T = TypeVar("T")


class Objects:
    """The requests of one store, to one bucket. Thread-safe: boto3 clients are."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        endpoint_url: str | None,
        *,
        max_workers: int,
        conditional_writes: bool,
        cache_bytes: int,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self.max_workers = max_workers
        self.conditional_writes = conditional_writes
        self.waves = 0  # sequential request phases so far
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._cache = ETagCache(cache_bytes)

    def call(self, operation: str, **kw: Any) -> Any:
        """One S3 request, with botocore's errors turned into ours where we have one."""
        return errors.call(self.client, self.bucket, self.endpoint_url, operation, **kw)

    # --- waves --------------------------------------------------------------------------------

    def tick(self, n: int = 1) -> None:
        with self._lock:
            self.waves += n

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="ckv-s3")
            return self._pool

    def phase(self, calls: Sequence[Callable[[], T]]) -> list[T]:
        """Run independent requests in parallel: one wave. Waits for all before raising."""
        if not calls:
            return []
        self.tick()
        if len(calls) == 1:
            return [calls[0]()]
        pool = self._executor()
        futures = [pool.submit(c) for c in calls]
        wait(futures)
        return [f.result() for f in futures]

    def close(self) -> None:
        """Stop the request threads (the client is its owner's to close)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    # --- reads --------------------------------------------------------------------------------

    def list_page(
        self, prefix: str, start_after: str, token: str | None, max_keys: int
    ) -> dict[str, Any]:
        kw: dict[str, Any] = {"Prefix": prefix, "MaxKeys": max_keys}
        if token:
            kw["ContinuationToken"] = token
        elif start_after:
            kw["StartAfter"] = start_after
        result: dict[str, Any] = self.call("list_objects_v2", **kw)
        return result

    def list_range(
        self, base: str, start: str, end: str, limit: int | None, *, inline: bool
    ) -> list[tuple[str, str]]:
        """``(sort key, ETag)`` in ``[start, end)`` of the partition ``base``, DESCENDING, at
        most ``limit``. ``inline``: pages are waves of their own; otherwise this runs inside a
        wave, adding its extra pages."""
        if start >= end or (limit is not None and limit <= 0):
            return []
        after, last, prefix = layout.range_bounds(base, start, end)
        out: list[tuple[str, str]] = []
        token: str | None = None
        pages = 0
        while True:
            want = layout.PAGE if limit is None else min(layout.PAGE, limit - len(out))
            if inline:
                (page,) = self.phase([partial(self.list_page, prefix, after, token, want)])
            else:
                pages += 1
                page = self.list_page(prefix, after, token, want)
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
            self.tick(pages - 1)
        return out

    def _get_object(self, name: str) -> bytes | None:
        try:
            resp = self.call("get_object", Key=name)
            body: bytes = resp["Body"].read()
        except ClientError as e:
            if errors.code(e) in ("NoSuchKey", "404"):
                return None
            raise
        self._cache.put(name, resp.get("ETag", ""), body)
        return body

    def get_many(
        self, base: str, keys: Sequence[str], etags: Sequence[str] = ()
    ) -> dict[str, bytes]:
        """Values of ``keys`` in the partition ``base``, in one wave; with the ETags a LIST
        just returned, cached values are used (an object rewritten since has another ETag, so a
        hit is never stale). A key no object can have (outside the sort-key alphabet, e.g. from
        a damaged header) is absent."""
        out: dict[str, bytes] = {}
        missing: dict[str, None] = {}
        for k, etag in zip(keys, etags or [""] * len(keys), strict=True):
            if not encodable(k):
                continue  # no object can have this key (e.g. from a damaged header): absent
            hit = self._cache.get(base + encode_key(k), etag) if etag else None
            if hit is None:
                missing[k] = None
            else:
                out[k] = hit
        todo = list(missing)
        values = self.phase([partial(self._get_object, base + encode_key(k)) for k in todo])
        out.update((k, v) for k, v in zip(todo, values, strict=True) if v is not None)
        return out

    # --- writes -------------------------------------------------------------------------------

    def put_object(self, name: str, value: bytes, if_absent: bool) -> None:
        if if_absent and not self.conditional_writes:
            self.tick()  # HEAD then PUT: a second sequential request inside this wave
            try:
                self.call("head_object", Key=name)
                return
            except ClientError as e:
                if errors.code(e) not in ("404", "NoSuchKey", "NotFound"):
                    raise
            if_absent = False
        extra = {"IfNoneMatch": "*"} if if_absent else {}
        for attempt in range(4):
            try:
                resp = self.call("put_object", Key=name, Body=value, **extra)
                self._cache.put(name, resp.get("ETag", ""), value)
                return
            except ClientError as e:
                code = errors.code(e)
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
        result = self.call(
            "delete_objects",
            Delete={"Objects": [{"Key": n} for n in names], "Quiet": True},
        )
        errs = result.get("Errors") or []
        if errs:
            first = errs[0]
            raise OSError(
                f"S3 DeleteObjects failed for {len(errs)} key(s), e.g. {first.get('Key')!r}: "
                f"{first.get('Code')} {first.get('Message')}"
            )

    def delete_calls(self, names: Iterable[str]) -> list[Callable[[], None]]:
        """``DeleteObjects`` requests for ``names``, a page each, to run in one wave."""
        ordered = sorted(names)
        return [
            partial(self._delete_objects, ordered[i : i + layout.PAGE])
            for i in range(0, len(ordered), layout.PAGE)
        ]
