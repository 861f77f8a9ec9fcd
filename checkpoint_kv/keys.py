"""Key layout: how thread ids, namespaces and ids become partitions and sort keys.

User identifiers may hold any character and be of any length, so each one is *escaped*: the
characters ``A-Z a-z 0-9 . _ -`` stay, every other byte of its UTF-8 form becomes ``%XX``. A
component whose escaped form would exceed ``MAX_COMPONENT`` characters is replaced by ``~`` and
the SHA-256 of the raw text (``~`` is always escaped in the plain form, so the two forms never
collide). Records carry the raw identifiers, so hashing loses nothing.

Sort keys join components with ``!``, which sorts below every character an escaped component
can hold; so comparing keys compares the component tuples, and uuid6 checkpoint ids (made only
of kept characters) sort by time.

Layout inside a thread's partition (``<ns>``, ``<id>`` ... are escaped components)::

    c!<ns>!<checkpoint_id>!~               checkpoint record (the commit point of a put)
    c!<ns>!~!<root>                        incarnation mark (above every record of <ns>)
    c!<ns>!<checkpoint_id>!w!<task>!<nonce>  one put_writes call's writes (a WriteBatch)
    b!<ns>!<channel>!<version>             a channel value (blob), once per version
    n!<ns>                                 namespace index: the newest checkpoint id put there
    g!<id>                                 blobs a prune kept for a dying leaf, to collect later

The record sorts after its own writes, so a descending scan of a namespace meets the newest
record first and its writes right after it: "latest checkpoint with its writes" is one scan.
"""

from __future__ import annotations

import hashlib
import os
import re
import string
import threading
import time
from functools import lru_cache
from urllib.parse import unquote

MAX_COMPONENT = 120
SEP = "!"
AFTER_SEP = chr(ord(SEP) + 1)  # the smallest string greater than every "...!" prefix
_KEEP = frozenset(string.ascii_letters + string.digits + "._-")
_PLAIN = re.compile(r"[A-Za-z0-9._\-]*")  # exactly the _KEEP characters, ASCII only


def escape(raw: str) -> str:
    # Most components (uuid6 ids, versions, channel names) escape to themselves: one regex
    # match in C instead of a Python loop over characters (the loop was the saver's top CPU
    # cost per put). The others repeat (a thread id, a namespace), so they are cached.
    if len(raw) <= MAX_COMPONENT:
        return raw if _PLAIN.fullmatch(raw) is not None else _escape_cached(raw)
    return _escape(raw)  # long text is hashed: not cached, so the cache stays small


def _escape(raw: str) -> str:
    out = []
    for ch in raw:
        if ch in _KEEP:
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
    text = "".join(out)
    if len(text) > MAX_COMPONENT:
        return "~" + hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()
    return text


_escape_cached = lru_cache(maxsize=1024)(_escape)


def unescape(component: str) -> str:
    """The raw text of an escaped component; a hashed one (``~<sha256>``) comes back as is.
    Records carry the raw ids, so only tools that list bare partitions need this."""
    if component.startswith("~"):
        return component
    return unquote(component, encoding="utf-8", errors="surrogatepass")


def partition(thread_id: str) -> str:
    return escape(thread_id)


# Partitions starting with "!" belong to the long-term memory store (checkpoint_kv.store): an
# escaped thread id never starts with it, so the saver and the store can share one URL.
STORE_MARK = "!"


def is_thread_partition(part: str) -> bool:
    """True for a checkpoint thread's partition, False for the memory store's."""
    return not part.startswith(STORE_MARK)


def version_component(version: str | int | float) -> str:
    # Tag the type so that the int 1 and the string "1" never share a blob key.
    return _VERSION_TAGS.get(type(version), "s") + escape(str(version))


_VERSION_TAGS = {str: "s", int: "i", float: "f"}


def prefix_range(prefix: str) -> tuple[str, str]:
    """The half-open range of every key that starts with ``prefix + SEP``."""
    return prefix + SEP, prefix + AFTER_SEP


# --- checkpoint family --------------------------------------------------------------------


def ns_prefix(ns: str) -> str:
    return f"c{SEP}{escape(ns)}"


def checkpoint_prefix(ns: str, checkpoint_id: str) -> str:
    return f"{ns_prefix(ns)}{SEP}{escape(checkpoint_id)}"


def record_key(ns: str, checkpoint_id: str) -> str:
    return f"{checkpoint_prefix(ns, checkpoint_id)}{SEP}~"


def mark_key(ns: str, root: str) -> str:
    """``c!<ns>!~!<root>``: the *mark* of a namespace's incarnation, written with the put that
    starts it (no parent: ``root`` is its checkpoint id) and kept until ``delete_thread``.
    It sorts above every record of the namespace, so the scan that finds the latest checkpoint
    brings the marks first, for free. A record carries its incarnation's root and is visible
    only while that mark is there: a late put of a run that started before ``delete_thread``
    (or an expiry) names a root whose mark is gone, and reads as never written."""
    return f"{ns_prefix(ns)}{SEP}~{SEP}{escape(root)}"


def mark_range(ns: str) -> tuple[str, str]:
    return prefix_range(f"{ns_prefix(ns)}{SEP}~")


def is_mark(key: str) -> bool:
    parts = key.split(SEP, 3)
    return len(parts) == 4 and parts[0] == "c" and parts[2] == "~"


def mark_root(key: str) -> str:
    """The (escaped) root a mark key names."""
    return key.split(SEP, 3)[3]


def write_key(ns: str, checkpoint_id: str, task_id: str, idx: int) -> str:
    return f"{checkpoint_prefix(ns, checkpoint_id)}{SEP}w{SEP}{escape(task_id)}{SEP}{idx}"


def batch_key(ns: str, checkpoint_id: str, task_id: str, nonce: str) -> str:
    return f"{checkpoint_prefix(ns, checkpoint_id)}{SEP}w{SEP}{escape(task_id)}{SEP}{nonce}"


_nonce_lock = threading.Lock()
_last_ns = 0


def write_nonce() -> str:
    """Orders the put_writes calls of one task: ``n`` + nanoseconds (strictly increasing in
    this process) + random bits. It sorts after every format-1 write key (``<idx>``), so old
    writes come first, as they were written first. Across processes the clocks order it;
    two runs of one task at the same instant are not a case LangGraph produces."""
    global _last_ns
    with _nonce_lock:
        _last_ns = max(time.time_ns(), _last_ns + 1)
        now = _last_ns
    return f"n{now:020d}{os.urandom(4).hex()}"


RECORD_SUFFIX = SEP + "~"  # a checkpoint record's key ends with it (the Lua checks it too)


def is_record(key: str) -> bool:
    return key.endswith(RECORD_SUFFIX)


def is_checkpoint_record(key: str) -> bool:
    """A checkpoint record of a thread partition (``c!<ns>!<id>!~``): what a backend's ``drop``
    deletes before what records reference (backends import this, never re-code it)."""
    return key.startswith("c" + SEP) and key.endswith(RECORD_SUFFIX)


def owner(key: str) -> str:
    """The ``c!<ns>!<checkpoint_id>`` prefix of a record or write key (groups a scan)."""
    return SEP.join(key.split(SEP, 3)[:3])


ALL_CHECKPOINTS = prefix_range("c")
ALL_NS_INDEX = prefix_range("n")


def ns_index_key(ns: str) -> str:
    """``n!<ns>``: one per non-root namespace, its value the newest checkpoint id put there."""
    return f"n{SEP}{escape(ns)}"


ALL_BLOBS = prefix_range("b")
ALL_GARBAGE = prefix_range("g")


def garbage_key(when: float, pass_id: str) -> str:
    """``g!<unix seconds>!<id>``: the blob keys one maintenance pass kept only for a dying leaf
    (a JSON list in a blob). Seconds first, zero-padded: a scan up to a time finds the old
    lists only (see ``maintenance._collect``)."""
    return f"g{SEP}{int(when):012d}{SEP}{escape(pass_id)}"


def garbage_before(when: float) -> tuple[str, str]:
    """The range of the ``g!`` lists written before ``when``."""
    return ALL_GARBAGE[0], f"g{SEP}{int(when):012d}"


# --- blob family --------------------------------------------------------------------------


@lru_cache(maxsize=4096, typed=True)  # typed: 1, 1.0 and True are different versions
def blob_key(ns: str, channel: str, version: str | int | float) -> str:
    # Cached: every put and read lists the blob keys of all the checkpoint's channels, and
    # most of them are the same as in the previous checkpoint.
    return blob_key_vc(ns, channel, version_component(version))


def blob_key_vc(ns: str, channel: str, vc: str) -> str:
    """The blob key of a version already turned into its component (``version_component``)."""
    return f"b{SEP}{escape(ns)}{SEP}{escape(channel)}{SEP}{vc}"


def blob_channel_range(ns: str, channel: str) -> tuple[str, str]:
    return prefix_range(f"b{SEP}{escape(ns)}{SEP}{escape(channel)}")


def blob_ns_range(ns: str) -> tuple[str, str]:
    return prefix_range(f"b{SEP}{escape(ns)}")
