"""Channel versions: made here (``next_version``), read here (``always_stored``,
``version_gap``), turned into keys by :mod:`checkpoint_kv.keys`.

Ours are ``<32-digit step>.k<64 random bits in hex>``: zero-padded, so versions of one channel
sort lexically (the delta-history probe relies on it); the random suffix keeps forks of one step
from sharing a blob key (as ``InMemorySaver`` does); the ``k`` after the dot marks a version
whose blob is always stored (an empty marker where the channel has no value), so a missing blob
is damage, never "empty". Other savers' versions (ints, floats, other strings: copied threads,
format 1) are read as they are.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from langgraph.checkpoint.base import ChannelVersions

from checkpoint_kv import keys as K

__all__ = ["always_stored", "next_version", "version_gap"]


def next_version(current: str | int | float | None) -> str:
    """The version after ``current`` (``KVCheckpointSaver.get_next_version``)."""
    if current is None:
        n = 0
    elif isinstance(current, (int, float)):
        n = int(current)
    else:
        n = int(current.split(".")[0])
    return f"{n + 1:032}.k{random.getrandbits(64):016x}"


def always_stored(version: Any) -> bool:
    """Whether a blob is stored for every version of this kind (see
    ``KVCheckpointSaver.get_next_version``); other versions (format 1, or another saver's)
    stored nothing for an empty channel."""
    return isinstance(version, str) and version.partition(".")[2].startswith("k")


def _version_number(version: Any) -> int | None:
    try:
        return int(str(version).split(".")[0].lstrip("sif") or "0")
    except ValueError:
        return None


def version_gap(tversions: ChannelVersions, seeds: Mapping[str, Mapping[str, Any]]) -> int:
    """Updates between each channel's target version and its newest seed candidate (max)."""
    gap = 0
    for ch, cands in seeds.items():
        top = _version_number(tversions.get(ch))
        nums = [n for n in (_version_number(k.rsplit(K.SEP, 1)[1]) for k in cands) if n is not None]
        if top is not None and nums:
            gap = max(gap, top - max(nums))
    return gap
