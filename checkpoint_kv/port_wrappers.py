"""Port wrappers: one delegating base, and ``CountingKV`` built on it. Tooling, not the saver's
path: the tests (fault injection, budgets), the benchmark and a user counting a step use them.

``DelegatingKV`` forwards every port call to the store it wraps through two hooks,
:meth:`~DelegatingKV.before_call` and :meth:`~DelegatingKV.after_call`, and gives the
same hooks to its async twin. A wrapper (counting here, fault injection in the tests, the
benchmark's recorder) is then a few lines of hook, written once for sync and async alike,
instead of another copy of the port's signatures.

Optional port methods (``scan_many``, ``info``) exist on the wrapper only when the wrapped
store has them: the drivers look for ``scan_many`` with ``getattr`` and fall back to one scan
per spec, and a wrapper must leave that choice as the real store would make it.

``CountingKV`` counts port calls: the budget tests and the benchmark use it; it is handy in
production to see what a graph step costs.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from checkpoint_kv.aio import async_twin
from checkpoint_kv.port import AsyncKVStore, KVStore, Op, PartitionPage, ScanResult

__all__ = ["AsyncDelegatingKV", "CountingKV", "DelegatingKV", "Intercept"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Intercept:
    """What :meth:`DelegatingKV.before_call` returns to take a call over: apply the call
    with ``apply`` as its arguments (``None``: not at all), then raise ``error``. This is how a
    fault is injected after the server applied all or part of a request."""

    error: BaseException
    apply: tuple[Any, ...] | None = None


class DelegatingKV:
    """A :class:`~checkpoint_kv.port.KVStore` that forwards to ``inner`` through two hooks.

    Each port call ``method(*args)`` (``args`` positional, in the port's order; ``scan``'s are
    ``(partition, start, end, reverse, limit, follow)``) runs as::

        intercept = self.before_call(method, args)   # None: go ahead
        result = inner.method(*args)
        self.after_call(method, args, result)

    The async twin (:meth:`async_twin`, over the backend's own async store or ``astore``)
    calls the *same* hooks, so a subclass is written once for both.

    Args:
        inner: the store to wrap.
        astore: the async store the twin wraps (default: ``inner``'s own async twin).
    """

    #: Optional port methods forwarded when ``inner`` has them (a subclass may hide some).
    optional: ClassVar[tuple[str, ...]] = ("scan_many", "scan_records", "info")

    def __init__(self, inner: KVStore, *, astore: AsyncKVStore | None = None) -> None:
        self.inner = inner
        self._astore = astore
        self._atwin: AsyncDelegatingKV | None = None
        self._atwin_lock = threading.Lock()
        # How the saver should store values there (``saver.growth``): as the store says.
        self.grows_values: bool = getattr(inner, "grows_values", True)
        for name in self.optional:
            fn = getattr(inner, name, None)
            if callable(fn):
                setattr(self, name, _forward_sync(self, name, fn))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.inner!r})"

    # --- hooks (override these) --------------------------------------------------------

    def before_call(self, method: str, args: tuple[Any, ...]) -> Intercept | None:
        """Called before each port call; return an :class:`Intercept` to take it over."""
        return None

    def after_call(self, method: str, args: tuple[Any, ...], result: Any) -> None:
        """Called with the result of each port call that returned."""

    # --- the port ------------------------------------------------------------------------

    def _call(self, method: str, args: tuple[Any, ...], fn: Callable[..., T]) -> T:
        intercept = self.before_call(method, args)
        if intercept is not None:
            if intercept.apply is not None:
                fn(*intercept.apply)
            raise intercept.error
        result = fn(*args)
        self.after_call(method, args, result)
        return result

    def get(self, partition: str, keys: Sequence[str]) -> dict[str, bytes]:
        return self._call("get", (partition, keys), self.inner.get)

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
        inner = self.inner

        def scan(
            partition: str, start: str, end: str, reverse: bool, limit: int | None, follow: int
        ) -> ScanResult:
            return inner.scan(partition, start, end, reverse=reverse, limit=limit, follow=follow)

        return self._call("scan", (partition, start, end, reverse, limit, follow), scan)

    def write(self, partition: str, ops: Sequence[Op]) -> None:
        self._call("write", (partition, ops), self.inner.write)

    def drop(self, partition: str) -> None:
        self._call("drop", (partition,), self.inner.drop)

    def partitions(self, cursor: str | None = None) -> PartitionPage:
        return self._call("partitions", (cursor,), self.inner.partitions)

    def setup(self) -> None:
        self.inner.setup()

    def close(self) -> None:
        self.inner.close()

    def async_twin(self) -> AsyncDelegatingKV:
        """The async wrapper (one per wrapper), running the same hooks."""
        with self._atwin_lock:
            if self._atwin is None:
                inner = self._astore if self._astore is not None else async_twin(self.inner)
                self._atwin = AsyncDelegatingKV(inner, self)
            return self._atwin


class AsyncDelegatingKV:
    """Async twin of a :class:`DelegatingKV`: forwards to ``inner`` (an async store)
    through ``hooks``' :meth:`~DelegatingKV.before_call` / ``after_call``."""

    def __init__(self, inner: AsyncKVStore, hooks: DelegatingKV) -> None:
        self.inner = inner
        self.hooks = hooks
        for name in hooks.optional:
            fn = getattr(inner, name, None)
            if callable(fn):
                setattr(self, name, _forward_async(self, name, fn))

    def __repr__(self) -> str:
        return f"{type(self.hooks).__name__}.async({self.inner!r})"

    async def _call(self, method: str, args: tuple[Any, ...], fn: Callable[..., Awaitable[T]]) -> T:
        intercept = self.hooks.before_call(method, args)
        if intercept is not None:
            if intercept.apply is not None:
                await fn(*intercept.apply)
            raise intercept.error
        result = await fn(*args)
        self.hooks.after_call(method, args, result)
        return result

    async def get(self, partition: str, keys: Sequence[str]) -> dict[str, bytes]:
        return await self._call("get", (partition, keys), self.inner.get)

    async def scan(
        self,
        partition: str,
        start: str,
        end: str,
        *,
        reverse: bool = False,
        limit: int | None = None,
        follow: int = 0,
    ) -> ScanResult:
        inner = self.inner

        async def scan(
            partition: str, start: str, end: str, reverse: bool, limit: int | None, follow: int
        ) -> ScanResult:
            return await inner.scan(
                partition, start, end, reverse=reverse, limit=limit, follow=follow
            )

        return await self._call("scan", (partition, start, end, reverse, limit, follow), scan)

    async def write(self, partition: str, ops: Sequence[Op]) -> None:
        await self._call("write", (partition, ops), self.inner.write)

    async def drop(self, partition: str) -> None:
        await self._call("drop", (partition,), self.inner.drop)

    async def partitions(self, cursor: str | None = None) -> PartitionPage:
        return await self._call("partitions", (cursor,), self.inner.partitions)

    async def setup(self) -> None:
        await self.inner.setup()

    async def close(self) -> None:
        await self.inner.close()


def _forward_sync(store: DelegatingKV, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        return store._call(name, args, fn)

    call.__name__ = name
    return call


def _forward_async(
    store: AsyncDelegatingKV, name: str, fn: Callable[..., Awaitable[Any]]
) -> Callable[..., Awaitable[Any]]:
    async def call(*args: Any) -> Any:
        return await store._call(name, args, fn)

    call.__name__ = name
    return call


class CountingKV(DelegatingKV):
    """Counts every port call, sync and async alike, in ``calls`` (by method name), and the
    items the reads returned in ``calls["items"]``."""

    def __init__(self, inner: KVStore, *, astore: AsyncKVStore | None = None) -> None:
        super().__init__(inner, astore=astore)
        self.calls: Counter[str] = Counter()

    @property
    def total(self) -> int:
        """Port calls (round trips); ``calls["items"]`` counts the items they returned."""
        return sum(n for k, n in self.calls.items() if k != "items")

    def reset(self) -> None:
        self.calls.clear()

    def before_call(self, method: str, args: tuple[Any, ...]) -> Intercept | None:
        self.calls[method] += 1
        return None

    def after_call(self, method: str, args: tuple[Any, ...], result: Any) -> None:
        if method == "get":
            self.calls["items"] += len(result)
        elif method in ("scan", "scan_records"):
            self.calls["items"] += _scanned(result)
        elif method == "scan_many":
            self.calls["items"] += sum(_scanned(r) for r in result)


def _scanned(res: ScanResult) -> int:
    return len(res.items) + len(res.refs)
