"""The TTL refresh queue: items a read found close to expiry, refreshed by the next commit.

With ``?ttl=30d`` every written item gets ``ttl = now + 30 days`` (items already expired are
absent to reads, see ``reads``). Channels that never change and the ancestors a
``DeltaChannel`` replays are not rewritten, so every item a read meets that expires within half
the TTL (records, writes, blobs; a chunked value's chunks with its head) is noted per
partition, and the next checkpoint commit of that partition refreshes them: in the commit's own
transaction while it fits (:func:`ride`), else in follow-up transactions after it
(:func:`flush`; at most ``TOUCH_MAX_PER_COMMIT`` per commit, the rest at the next one). A
refresh is conditional on the item still existing and not yet being expired, so it never
revives data and never fails the user's write (a follow-up that fails is logged and retried at
the next commit). A checkpoint record refreshed brings its writes along (:func:`with_writes`),
so a history entry is shown whole or not at all. So a thread used at least once every
``ttl / 2`` never loses an item it reads, and one left idle longer than ``ttl`` has expired
whole (everything it wrote or refreshed was stamped at or before its last commit).

The queue is bounded twice: ``NOTED_PARTITIONS`` partitions (least recently used dropped first)
of at most ``NOTED_MAX_PER_PARTITION`` items each (least recently read dropped first); a commit
drains the most recently read first. Both are :class:`checkpoint_kv.cache.BoundedCache`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from checkpoint_kv.cache import BoundedCache
from checkpoint_kv.errors import BackendError, BackendUnavailableError
from checkpoint_kv.keys import is_checkpoint_record, is_record
from checkpoint_kv.port import follow_refs

from . import reads, transactions
from .items import ITEM_OVERHEAD, Action, Item, chunk_keys, expiry
from .transactions import TX_MAX_ACTIONS, TX_MAX_BYTES

if TYPE_CHECKING:
    from .kv import DynamoDBKV

log = logging.getLogger(__name__)

NOTED_MAX_PER_PARTITION = 1_000  # items remembered for a TTL refresh, per partition
NOTED_PARTITIONS = 256  # partitions remembered (least recently read or written dropped first)
TOUCH_MAX_PER_COMMIT = 300  # TTL refreshes per commit (the rest wait for the next commit)

Noted = BoundedCache[str, list[str]]  # sort key -> its chunk keys


class RefreshQueue:
    """Per partition key, the items a read found close to expiry (each with its chunk keys).
    One lock makes each method atomic (a partition's notes are read, then changed)."""

    def __init__(self, ttl: int | None) -> None:
        self.ttl = ttl
        self._noted: BoundedCache[str, Noted] = BoundedCache(NOTED_PARTITIONS)
        self._lock = threading.Lock()

    def _partition(self, pk: str) -> Noted:
        """The partition's notes, now the most recently used (created if missing)."""
        noted = self._noted.get(pk)
        if noted is None:
            noted = BoundedCache(NOTED_MAX_PER_PARTITION)
            self._noted.put(pk, noted)
        return noted

    def note(self, pk: str, items: Iterable[Item], now: float) -> None:
        """Remember items (any family) that expire within half the TTL: the partition's next
        commit refreshes them."""
        if self.ttl is None:
            return
        # Within half the TTL, that instant included: a thread used again exactly ttl / 2
        # later must still find what this read met (found by the option matrix: days 0, 15,
        # 30 with ttl=30d lost day 0's records, which a day-15 record's chain names).
        soon = now + self.ttl / 2
        stale: list[tuple[str, list[str]]] = []
        for i in items:
            t = expiry(i)
            if t is not None and t <= soon:
                sk = i["SK"]["S"]
                stale.append((sk, chunk_keys(i)))
                if is_record(sk) and "v" in i:
                    # A record outliving its blobs would read as damaged (get_state_history
                    # of an active thread): its references are refreshed with it.
                    stale += [(ref, []) for ref in follow_refs([(sk, i["v"]["B"])], 1)]
        if not stale:
            return
        with self._lock:
            noted = self._partition(pk)
            for sk, chunks in stale:
                noted.put(sk, chunks)

    def take(self, pk: str, written: set[str], commit: bool) -> list[Action]:
        """TTL refreshes due with a write: every noted item of the partition that it does not
        rewrite, if it commits (most recently read first, at most TOUCH_MAX_PER_COMMIT)."""
        if self.ttl is None:
            return []
        base = len(pk) + ITEM_OVERHEAD
        out: list[Action] = []
        with self._lock:
            noted = self._noted.get(pk)
            if noted is None:
                return []
            for k in written:  # rewritten (fresh ttl) or deleted: nothing to refresh
                noted.pop(k)
            while commit and len(out) < TOUCH_MAX_PER_COMMIT:
                newest = noted.pop_newest()
                if newest is None:
                    break
                key, chunks = newest
                out += [Action("touch", k, None, "exists", key, base + len(k)) for k in chunks]
                out.append(Action("touch", key, None, "exists", key, base + len(key)))
            if not noted:
                self._noted.pop(pk)
        return out

    def requeue(self, pk: str, touches: Sequence[Action]) -> None:
        """Refreshes that could not be sent: due again at the partition's next commit."""
        with self._lock:
            noted = self._partition(pk)
            for a in touches:
                if a.key == a.owner:
                    noted.put(a.key, [t.key for t in touches if t.owner == a.key and t is not a])

    def forget(self, pk: str) -> None:
        """The partition is gone (dropped): nothing of it to refresh."""
        with self._lock:
            self._noted.pop(pk)


def with_writes(kv: DynamoDBKV, pk: str, touches: list[Action]) -> list[Action]:
    """The refreshes, plus the writes (``put_writes``) of every checkpoint record among them:
    a record a read met as a reference (an older record holding a value a newer one names, a
    grown value's chain) is refreshed for that value, and its history entry must stay whole,
    never shown without the writes that expired beside it. One keys-only ``Query`` per such
    record, at most once per ``ttl / 2`` for each (found by the option matrix once values were
    stored grown: days 0, 15, ... 75 with ttl=30d showed a checkpoint without its writes)."""
    have = {a.key for a in touches}
    base = len(pk) + ITEM_OVERHEAD
    out = list(touches)
    for a in touches:
        if a.key != a.owner or not is_checkpoint_record(a.key):
            continue
        prefix = a.key[: -len("~")]  # the checkpoint's keys: its writes, then the record
        for item in reads.query(kv, pk, prefix, a.key, keys_only=True):
            key = item["SK"]["S"]
            if key in have:
                continue
            have.add(key)
            for k in [*chunk_keys(item), key]:
                out.append(Action("touch", k, None, "exists", key, base + len(k)))
    return out


def ride(actions: list[Action], touches: list[Action]) -> tuple[list[Action], list[Action]]:
    """The commit's actions with as many refreshes as its transaction still holds, and the
    refreshes left for :func:`flush` (all of them when the commit is a transaction already
    too large)."""
    if not touches or not transactions.fits(actions):
        return actions, touches
    room = TX_MAX_ACTIONS - len(actions)
    size = sum(a.size for a in actions)
    n = 0
    while n < min(room, len(touches)) and size + touches[n].size <= TX_MAX_BYTES:
        size += touches[n].size
        n += 1
    return actions + touches[:n], touches[n:]


def flush(kv: DynamoDBKV, pk: str, touches: list[Action]) -> None:
    """Refreshes that did not fit the commit's transaction, after it, in transactions of
    ``TX_MAX_ACTIONS``. The user's write has succeeded: a failure here is logged and the
    rest waits for the next commit (touches of deleted items simply drop out)."""
    for i in range(0, len(touches), TX_MAX_ACTIONS):
        pack = touches[i : i + TX_MAX_ACTIONS]
        try:
            transactions.apply(kv, pk, pack)
        except (BackendError, BackendUnavailableError) as e:
            log.warning("DynamoDB TTL refresh deferred to the next commit: %s", e)
            kv._stale.requeue(pk, touches[i:])
            return
