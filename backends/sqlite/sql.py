"""The SQL the store runs: its one table, range scans (references followed inside the same
statement), and the fewest statements that apply a batch of port ops in order.

One table ``kv(partition, key, value)`` with a composite primary key: SQLite's BINARY
collation compares the ASCII keys byte-wise, which is the order the port needs.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence

from checkpoint_kv.port import Delete, DeleteRange, Op, Put

__all__ = ["MAX_VARS", "ROWS", "SCAN", "SCAN_FOLLOW", "SCHEMA", "statements"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    partition TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (partition, key)
) WITHOUT ROWID
"""

# --- scans --------------------------------------------------------------------------------

_RANGE = "FROM kv WHERE partition = ?1 AND key >= ?2 AND key < ?3 ORDER BY key {o} LIMIT ?4"
# ``SCAN[reverse]``: the items of a range.
SCAN = {r: f"SELECT key, value {_RANGE.format(o='DESC' if r else 'ASC')}" for r in (False, True)}
# A scan that follows references (``port.follow_refs``) in one statement: the range, then
# the header ("ref1\nref2\n\n<payload>") of the first ``?5`` items that have one, split at
# each newline by a recursive CTE, and the rows those keys name. Tagged 0 (item) / 1 (ref).
# The header stays a BLOB while it is split (byte-wise, whatever bytes a damaged one holds:
# text functions would stop at a NUL) and is cast to TEXT, byte for byte, only to be compared
# with keys; each step consumes at least one byte or ends the chain, so it always terminates.
_FOLLOW = """
WITH RECURSIVE
  items(key, value) AS (SELECT key, value {range}),
  refs(ref, rest) AS (
    SELECT NULL, head FROM (
      SELECT substr(value, 1, instr(value, X'0A0A') - 1) AS head
      FROM items WHERE instr(value, X'0A0A') > 1 ORDER BY key {o} LIMIT ?5)
    UNION ALL
    SELECT
      CASE WHEN instr(rest, X'0A') > 0 THEN substr(rest, 1, instr(rest, X'0A') - 1) ELSE rest END,
      CASE WHEN instr(rest, X'0A') > 0 THEN substr(rest, instr(rest, X'0A') + 1) END
    FROM refs WHERE rest IS NOT NULL)
SELECT 0, key, value FROM items
UNION ALL
SELECT 1, key, value FROM kv
WHERE partition = ?1 AND key IN (SELECT CAST(ref AS TEXT) FROM refs WHERE ref IS NOT NULL)
"""
SCAN_FOLLOW = {
    r: _FOLLOW.format(range=_RANGE.format(o="DESC" if r else "ASC"), o="DESC" if r else "ASC")
    for r in (False, True)
}

# --- writes -------------------------------------------------------------------------------

# Bound parameters per statement: 999 is SQLite's lowest compiled-in limit (before 3.32), so
# a chunk fits any build. A put binds 2 (key, value) besides the shared partition (``?1``).
MAX_VARS = 999
ROWS = (MAX_VARS - 1) // 2


@functools.lru_cache(maxsize=256)
def _insert_sql(if_absent: bool, rows: int) -> str:
    verb = "INSERT OR IGNORE" if if_absent else "INSERT OR REPLACE"
    # "?" after "?1" takes the next free number: (?1, ?2, ?3), (?1, ?4, ?5), ...
    return f"{verb} INTO kv (partition, key, value) VALUES " + ", ".join(["(?1, ?, ?)"] * rows)


@functools.lru_cache(maxsize=256)
def _delete_sql(rows: int) -> str:
    return f"DELETE FROM kv WHERE partition = ? AND key IN ({','.join('?' * rows)})"


def statements(partition: str, ops: Sequence[Op]) -> Iterator[tuple[str, tuple[object, ...]]]:
    """The statements applying ``ops`` in order: consecutive puts of one kind (replace or
    if-absent) become one multi-row ``INSERT`` (split where a key repeats, so a later put of
    the same key still runs after the earlier one), consecutive deletes one ``DELETE``."""
    i, n = 0, len(ops)
    while i < n:
        op = ops[i]
        if isinstance(op, Put):
            flag, seen = op.if_absent, set[str]()
            params: list[object] = [partition]
            while (
                i < n
                and isinstance(p := ops[i], Put)
                and p.if_absent == flag
                and p.key not in seen
                and len(seen) < ROWS
            ):
                seen.add(p.key)
                params += (p.key, p.value)
                i += 1
            yield _insert_sql(flag, len(seen)), tuple(params)
        elif isinstance(op, Delete):
            keys: list[object] = [partition]
            while i < n and isinstance(d := ops[i], Delete) and len(keys) <= ROWS:
                keys.append(d.key)
                i += 1
            yield _delete_sql(len(keys) - 1), tuple(keys)
        elif isinstance(op, DeleteRange):
            yield (
                "DELETE FROM kv WHERE partition = ? AND key >= ? AND key < ?",
                (partition, op.start, op.end),
            )
            i += 1
        else:  # pragma: no cover - defensive
            raise TypeError(f"unknown op {op!r}")
