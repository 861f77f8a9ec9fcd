"""The Redis store written once for sync and async: each port call as a plan of requests.

A plan is a generator that yields the requests a port call needs - a :class:`Command`, a
:class:`Pipeline` of them, the cluster's :class:`Primaries` - and receives their replies, as the
saver's own plans do (``checkpoint_kv/drive.py``). :class:`RedisBase` holds the plans: which
script to call with which arguments, the ``EVALSHA`` / ``NOSCRIPT`` / ``EVAL`` dance, the
``partitions()`` paging over every primary, decoding the replies. ``kv.RedisKV`` runs a plan's
requests on its client, ``aio.AsyncRedisKV`` awaits them: the two stores differ only in I/O.

Scripts. A store's first call of a script not yet loaded is an ``EVAL`` (which caches it on the
server), later calls are ``EVALSHA``. After ``NOSCRIPT`` (a restart, failover or ``SCRIPT
FLUSH``) the same call is re-sent once as ``EVAL`` (:attr:`Command.fallback`): redis-py's
``register_script`` would ``SCRIPT LOAD`` then ``EVALSHA``, one round trip more. ``drop`` is one
``DEL``; ``partitions`` pages ``SCAN``.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

from checkpoint_kv.backends.redis.codec import (
    Layout,
    decode_get,
    decode_scan,
    decode_scan_page,
    describe,
    get_args,
    info_section,
    partitions_cursor,
    scan_args,
    scans_args,
    split_page,
    write_args,
)
from checkpoint_kv.backends.redis.errors import is_noscript
from checkpoint_kv.backends.redis.scripts import GET, SCAN, SCANS, SCRIPTS, WRITE, Script
from checkpoint_kv.port import Op, PartitionPage, ScanResult, ScanSpec

T = TypeVar("T")

_SCAN_COUNT = 1000  # keys SCAN inspects per call
_PAGE = 500  # partitions() returns a page once it holds at least this many


class Command(NamedTuple):
    """One client call, ``client.<method>(*args, **kwargs)``."""

    method: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] | None = None
    # Sent instead when this call answers NOSCRIPT (an EVALSHA of a script the server lost).
    fallback: Command | None = None

    def on(self, client: Any) -> Any:
        """Make the call (a coroutine on an async client, queued on a pipeline)."""
        return getattr(client, self.method)(*self.args, **(self.kwargs or {}))

    def after(self, e: Exception) -> Command | None:
        """The call to send after this one failed with ``e``: None when there is none (by
        name: valkey's NoScriptError is another class)."""
        return self.fallback if self.fallback is not None and is_noscript(e) else None


class Pipeline(NamedTuple):
    """Commands sent in one non-transactional pipeline; the reply is the list of theirs."""

    commands: list[Command]

    def on(self, client: Any) -> Any:
        """The pipeline, ready to ``execute()``."""
        pipe = client.pipeline(transaction=False)
        for command in self.commands:
            command.on(pipe)
        return pipe


class Primaries(NamedTuple):
    """The primaries of a cluster in a stable order (``clients.primaries``)."""


Request = Command | Pipeline | Primaries
Plan = Generator[Request, Any, T]


@dataclass(frozen=True)
class Finished(Generic[T]):
    """What a plan returned."""

    value: T


def step(plan: Plan[T], reply: Any) -> Request | Finished[T]:
    """Send ``reply`` (None to start) into ``plan``: its next request, or what it returned."""
    try:
        return plan.send(reply)
    except StopIteration as done:
        return Finished(done.value)


class RedisBase:
    """What a sync or async Redis store is: its key names, its TTL setting, where it points
    (``host:port`` for messages), the scripts its client has seen loaded, and its plans."""

    def __init__(
        self, *, prefix: str, ttl: int, ttl_on_read: bool, where: str, cluster: bool
    ) -> None:
        self.layout = Layout(prefix)
        self.ttl = int(ttl)
        self.ttl_on_read = bool(ttl_on_read)
        self.where = where
        self.cluster = cluster
        self._loaded: set[str] = set()  # scripts this client has seen the server accept

    @property
    def _read_ttl(self) -> int:
        return self.ttl if self.ttl_on_read else 0

    def _eval(self, script: Script, partition: str, args: Sequence[Any]) -> Plan[Any]:
        keys = self.layout.keys(partition)
        call = Command("eval", (script.source, 2, *keys, *args))
        if script.sha in self._loaded:
            call = Command("evalsha", (script.sha, 2, *keys, *args), fallback=call)
        reply = yield call
        self._loaded.add(script.sha)
        return reply

    def _get(self, partition: str, keys: Sequence[str]) -> Plan[dict[str, bytes]]:
        if not keys:
            return {}
        reply = yield from self._eval(GET, partition, get_args(keys, self._read_ttl))
        return decode_get(keys, reply)

    def _scan(
        self,
        partition: str,
        start: str,
        end: str,
        reverse: bool,
        limit: int | None,
        follow: int,
        records: int = 0,
    ) -> Plan[ScanResult]:
        args = scan_args(start, end, reverse, limit, follow, self._read_ttl, records)
        return decode_scan((yield from self._eval(SCAN, partition, args)))

    def _scan_many(self, partition: str, specs: Sequence[ScanSpec]) -> Plan[list[ScanResult]]:
        replies = yield from self._eval(SCANS, partition, scans_args(specs, self._read_ttl))
        return [decode_scan(r) for r in replies]

    def _write(self, partition: str, ops: Sequence[Op]) -> Plan[None]:
        if ops:
            yield from self._eval(WRITE, partition, write_args(ops, self.ttl))

    def _drop(self, partition: str) -> Plan[None]:
        yield Command("delete", self.layout.keys(partition))

    def _partitions(self, cursor: str | None) -> Plan[PartitionPage]:
        node, scan = partitions_cursor(cursor)
        nodes = (yield Primaries()) if self.cluster else [None]
        found: list[str] = []
        while node < len(nodes) and len(found) < _PAGE:
            target = {} if nodes[node] is None else {"target_nodes": nodes[node]}
            args = ("SCAN", scan, "MATCH", self.layout.match, "COUNT", _SCAN_COUNT)
            scan, keys = decode_scan_page((yield Command("execute_command", args, target)))
            indexed, unsure = split_page(self.layout, keys)
            found += indexed
            if unsure:
                exists = [Command("exists", (self.layout.keys(p)[0],)) for p in unsure]
                replies = yield Pipeline(exists)
                found += [p for p, n in zip(unsure, replies, strict=True) if not n]
            if scan == 0:
                node += 1
        more = node < len(nodes)
        return PartitionPage(list(dict.fromkeys(found)), f"{node}:{scan}" if more else None)

    def _setup(self) -> Plan[None]:
        """Nothing to create: checks the server answers and loads the scripts (every primary)."""
        for script in SCRIPTS:
            yield Command("script_load", (script.source,))
            self._loaded.add(script.sha)

    def _info(self) -> Plan[dict[str, Any]]:
        server = info_section((yield Command("info", ("server",))))
        memory = info_section((yield Command("info", ("memory",))))
        return describe(server, memory, ttl=self.ttl, cluster=self.cluster)
