"""The store's operations as sans-IO plans: generators that yield port requests
(``checkpoint_kv.drive``), so ``batch`` and ``abatch`` run the same lines and differ only in I/O.

A batch runs as ``InMemoryStore`` runs one: every read (get, search, list) sees the store as it
was before the batch, then the batch's puts apply (the last put of a key wins).

Round trips (port calls), for the budget tests:

- ``get``: one ``get`` per namespace in the batch (the item and its TTL refresh together),
  plus one write per namespace whose returned items have a TTL to refresh.
- ``put``: one ``write`` per namespace; the first put of a namespace by this store object also
  writes its index entry first (one ``write`` for all of a batch's new namespaces).
- ``delete``: one ``write``, then one ``scan`` (limit 1) to see whether the namespace is now
  empty; only then one ``get`` + ``write`` to flag its index entry *maybe empty*.
- ``search``: one ``scan`` of the index range of the prefix, then one ``scan`` per namespace read
  (a namespace's items and refreshes in one range; without filter or query a scan limited to
  the items the page still needs, plus a ``get`` of their refresh records if they have a TTL),
  plus refresh writes as for ``get``. A search
  of one namespace of 1,000 items is 2 round trips (3 with TTL refresh).
- ``list_namespaces``: one index ``scan`` per 1,000 entries, plus one ``scan`` (limit 1) per
  *maybe empty* namespace it has to vouch for.

Index entries are written when a store object first puts into a namespace and never removed
(a process caches "indexed" to keep ``put`` at one round trip; removing an entry could make
another process's cached put invisible to listings). A delete that empties a namespace flags
its entry instead, and readers check flagged entries before listing them.
"""

from __future__ import annotations

from langgraph.store.base import GetOp, ListNamespacesOp, PutOp, Result, SearchOp

from checkpoint_kv.drive import Plan, Write
from checkpoint_kv.port import Put
from checkpoint_kv.store.batch import Batch, IndexCache
from checkpoint_kv.store.reads import plan_gets, plan_list, plan_search
from checkpoint_kv.store.writes import plan_puts, plan_sweep

__all__ = ["Batch", "IndexCache", "plan_batch", "plan_sweep"]


def plan_batch(b: Batch) -> Plan[list[Result]]:
    results: list[Result] = [None] * len(b.ops)
    yield from plan_gets(b, results)
    for i, op in enumerate(b.ops):
        if isinstance(op, SearchOp):
            results[i] = yield from plan_search(b, op)
        elif isinstance(op, ListNamespacesOp):
            results[i] = yield from plan_list(op)
        elif not isinstance(op, (GetOp, PutOp)):
            raise ValueError(f"Unknown operation type: {type(op)}")
    for part, writes in b.refresh.items():
        yield Write(part, [Put(k, v) for k, v in writes.items()])
    yield from plan_puts(b)
    return results
