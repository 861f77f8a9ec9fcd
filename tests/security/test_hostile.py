"""Hostile input: identifiers made of separators, control characters, unicode or 10,000
characters; nested, non-string metadata; 50 MB values; corrupted or future-format records."""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from typing import Any

import cbor2
import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import Checkpoint, empty_checkpoint

import checkpoint_kv
from checkpoint_kv import (
    CheckpointKVError,
    CorruptRecordError,
    KVCheckpointSaver,
    UnsupportedFormatError,
)
from checkpoint_kv import keys as K
from checkpoint_kv.port import Put, split_refs
from tests.conftest import selected_backends

HOSTILE_IDS = [
    "|",
    ":",
    "/",
    "{}",
    "!",
    "%",
    "~",
    "a|b:c/d{e}f!g%h~i",
    "{thread}",
    "%21",  # must not collide with "!"
    "~" + "0" * 64,  # looks like a hashed component
    "\x00\x01\n\r\t\x7f",
    "\n\n",
    "ünïcødé 🧵 线程",
    " ",
    "x" * 10_000,
    "y" * 10_000,
]


def _cp(cid: str, values: dict[str, Any]) -> Checkpoint:
    cp = empty_checkpoint()
    cp["id"] = cid
    cp["channel_values"] = dict(values)
    cp["channel_versions"] = {ch: f"{i + 1:05d}.1" for i, ch in enumerate(values)}
    return cp


def _put(
    saver: KVCheckpointSaver, thread: str, ns: str, cid: str, values: dict[str, Any], md: Any = None
) -> RunnableConfig:
    cp = _cp(cid, values)
    config: RunnableConfig = {"configurable": {"thread_id": thread, "checkpoint_ns": ns}}
    return saver.put(config, cp, md or {"source": "input", "step": 0}, cp["channel_versions"])


def _conf(thread: str, ns: str = "") -> RunnableConfig:
    return {"configurable": {"thread_id": thread, "checkpoint_ns": ns}}


def test_hostile_thread_ids_and_namespaces(saver: KVCheckpointSaver) -> None:
    """Every id round-trips, none collides with another, delete hits only its own thread."""
    for i, raw in enumerate(HOSTILE_IDS):
        for ns in ("", raw):
            cfg = _put(saver, raw, ns, f"1f0-{i:04d}", {"v": [raw, i]})
            saver.put_writes(cfg, [("v", raw)], task_id=raw, task_path=raw)
    for i, raw in enumerate(HOSTILE_IDS):
        for ns in ("", raw):
            t = saver.get_tuple(_conf(raw, ns))
            assert t is not None, (raw[:20], ns[:20])
            assert t.config["configurable"] == {
                "thread_id": raw,
                "checkpoint_ns": ns,
                "checkpoint_id": f"1f0-{i:04d}",
            }
            assert t.checkpoint["channel_values"] == {"v": [raw, i]}
            assert t.pending_writes == [(raw, "v", raw)]
        listed = list(saver.list({"configurable": {"thread_id": raw}}))
        assert {t.config["configurable"]["checkpoint_ns"] for t in listed} == {"", raw}
    everything = list(saver.list(None))
    assert len(everything) == 2 * len(HOSTILE_IDS)
    threads = {t.config["configurable"]["thread_id"] for t in everything}
    assert threads == set(HOSTILE_IDS)
    saver.delete_thread("!")
    assert saver.get_tuple(_conf("!")) is None
    assert saver.get_tuple(_conf("%21")) is not None
    saver.copy_thread("x" * 10_000, "z" * 10_000)
    copied = saver.get_tuple(_conf("z" * 10_000))
    want = {"v": ["x" * 10_000, HOSTILE_IDS.index("x" * 10_000)]}
    assert copied is not None and copied.checkpoint["channel_values"] == want
    assert saver.get_tuple(_conf("y" * 10_000)) is not None


def test_nested_non_string_metadata(saver: KVCheckpointSaver) -> None:
    md = {
        "source": "loop",
        "step": 3,
        "score": 0.5,
        "flag": True,
        "none": None,
        "nested": {"list": [1, "two", {"three": [3.0, None]}], "empty": {}},
        "big": 2**62,
        "unicode": "ü🧵",
        "writes": {"node": {"messages": ["hi"]}},
    }
    _put(saver, "t", "", "1f0-1", {"a": 1}, md)
    t = saver.get_tuple(_conf("t"))
    assert t is not None
    assert {k: t.metadata[k] for k in md} == md  # type: ignore[literal-required]
    assert [x.metadata["step"] for x in saver.list(None, filter={"nested": md["nested"]})] == [3]
    assert list(saver.list(None, filter={"score": 0.5, "flag": True, "none": None}))
    assert not list(saver.list(None, filter={"step": "3"}))  # equality is typed


def test_lone_surrogate_thread_id(saver: KVCheckpointSaver) -> None:
    """A lone surrogate (Python allows it; JSON "\\ud800" decodes to it): round-trips, or is
    refused with one of our typed errors before anything is written."""
    raw = "\ud800"
    try:
        _put(saver, raw, "", "1f0-1", {"v": 1})
    except CheckpointKVError:
        # Refused up front, and reads refuse it the same way (nothing half-written to find).
        with pytest.raises(CheckpointKVError, match="Unicode"):
            saver.get_tuple(_conf(raw))
        assert list(saver.list(None)) == []
        return
    t = saver.get_tuple(_conf(raw))
    assert t is not None and t.config["configurable"]["thread_id"] == raw


# --- 50 MB values: in-process backends only (a remote one would test its network) -----------

LARGE_BACKENDS = [b for b in ("memory", "sqlite") if b in selected_backends()]


@pytest.fixture(params=LARGE_BACKENDS)
def large_saver(request: pytest.FixtureRequest) -> Iterator[KVCheckpointSaver]:
    s = checkpoint_kv.from_url(str(request.getfixturevalue(f"url_{request.param}")))
    s.setup()
    try:
        yield s
    finally:
        s.close()


@pytest.mark.slow
def test_50mb_channel_values(large_saver: KVCheckpointSaver) -> None:
    big_bytes = os.urandom(50 * 1024 * 1024)
    big_text = "é" * (25 * 1024 * 1024)  # 50 MB of UTF-8
    cfg = _put(large_saver, "big", "", "1f0-1", {"b": big_bytes, "t": big_text})
    large_saver.put_writes(cfg, [("b", big_bytes)], "task")
    t = large_saver.get_tuple(_conf("big"))
    assert t is not None
    assert t.checkpoint["channel_values"]["b"] == big_bytes
    assert t.checkpoint["channel_values"]["t"] == big_text
    assert t.pending_writes is not None and t.pending_writes[0][2] == big_bytes


# --- corrupted and future records -------------------------------------------------------------


def _stored(saver: KVCheckpointSaver, thread: str) -> dict[str, bytes]:
    """Every stored value but the incarnation mark, whose value nothing reads (only whether
    it is there: see test_deleted_thread.py)."""
    items = saver.store.scan(K.partition(thread), "", "~").items
    return {k: v for k, v in items if not K.is_mark(k)}


def _setup_victim(saver: KVCheckpointSaver, which: str = "record") -> dict[str, str]:
    """A checkpoint with a write, whose value lives in its parent's record (its *home*, the
    packed layout) or, for ``which="blob"``, in a blob of its own (format 1, what a shallow
    saver writes). Returns the keys: record, home or blob, write."""
    saver.shallow = which == "blob"
    parent = _put(saver, "victim", "", "1f0-0", {"msg": "hello " * 10})
    cp = _cp("1f0-1", {"msg": "hello " * 10})
    cfg = saver.put(parent, cp, {"source": "loop", "step": 1}, {})
    saver.put_writes(cfg, [("msg", "pending")], "task1")
    keys = {"record": K.record_key("", "1f0-1")}
    if which == "blob":
        keys["blob"] = K.blob_key("", "msg", "00001.1")
    else:
        keys["home"] = K.record_key("", "1f0-0")
    stored = set(_stored(saver, "victim"))
    (write,) = (k for k in stored if k.startswith(K.checkpoint_prefix("", "1f0-1") + "!w!task1!"))
    keys["write"] = write
    assert stored == set(keys.values())
    return keys


def _replace(saver: KVCheckpointSaver, key: str, value: bytes) -> None:
    saver.store.write(K.partition("victim"), [Put(key, value)])


def _reads(saver: KVCheckpointSaver) -> list[Any]:
    """Every way a user reads the victim checkpoint."""
    cfg = _conf("victim")
    return [
        lambda: saver.get_tuple(cfg),
        lambda: saver.get_tuple(
            {"configurable": {**cfg["configurable"], "checkpoint_id": "1f0-1"}}
        ),
        lambda: list(saver.list(cfg)),
        lambda: list(saver.list({"configurable": {"thread_id": "victim"}})),
        lambda: list(saver.list(None)),
    ]


@pytest.mark.parametrize("which", ["record", "home", "blob", "write"])
@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda v: b"", id="empty"),
        pytest.param(lambda v: v[: len(v) // 2], id="truncated"),
        pytest.param(lambda v: b"garbage", id="garbage"),
        pytest.param(lambda v: b"\n\n" + os.urandom(64), id="random-payload"),
        pytest.param(lambda v: b"\n\n" + cbor2.dumps([1, 2, 3]), id="cbor-not-a-map"),
        pytest.param(lambda v: b"\n\n" + cbor2.dumps({"f": 1, "k": "?"}), id="wrong-kind"),
        pytest.param(lambda v: b"\n\n" + cbor2.dumps({"f": 1, "k": "c"}), id="fields-missing"),
    ],
)
def test_corrupt_record_names_the_key(
    saver: KVCheckpointSaver, which: str, damage: Any, no_carry: None
) -> None:
    key = _setup_victim(saver, which)[which]
    value = _stored(saver, "victim")[key]
    _replace(saver, key, damage(value))
    for read in _reads(saver):
        with pytest.raises(CorruptRecordError) as e:
            read()
        assert key in str(e.value)


@pytest.mark.heavy
@pytest.mark.parametrize("layout", ["home", "blob"])
def test_flipped_bytes_never_silently_wrong(
    saver: KVCheckpointSaver, layout: str, no_carry: None
) -> None:
    """Flip each byte of each stored record: either a CorruptRecordError naming the key or
    exactly the original data, never something else."""
    _setup_victim(saver, layout)
    original = saver.get_tuple(_conf("victim"))
    outcomes: dict[str, list[str]] = {}
    for key, value in _stored(saver, "victim").items():
        for i in range(len(value)):
            damaged = bytearray(value)
            damaged[i] ^= 0x01
            _replace(saver, key, bytes(damaged))
            try:
                outcome = "same" if saver.get_tuple(_conf("victim")) == original else "WRONG"
            except CorruptRecordError as e:
                outcome = "named" if key in str(e) else "unnamed"
            except Exception as e:
                outcome = type(e).__name__
            outcomes.setdefault(outcome, []).append(f"{key}@{i}")
        _replace(saver, key, value)
    bad = {k: v[:3] for k, v in outcomes.items() if k not in ("same", "named")}
    assert not bad, f"{ {k: len(v) for k, v in outcomes.items()} }; examples: {bad}"


def _future(value: bytes, framed: bool) -> bytes:
    """The same record as a future checkpoint-kv would write it: format byte 99, new fields."""
    refs, payload = split_refs(value) if framed else ([], value)
    obj = cbor2.loads(payload[6:])
    obj["new-field"] = "from the future"
    body = cbor2.dumps(obj)
    data = b"K" + bytes([99]) + zlib.crc32(body).to_bytes(4, "big") + body
    return (b"\n".join(r.encode() for r in refs) + b"\n\n" + data) if framed else data


@pytest.mark.parametrize("which", ["record", "home", "blob", "write"])
def test_newer_format_is_refused(saver: KVCheckpointSaver, which: str, no_carry: None) -> None:
    key = _setup_victim(saver, which)[which]
    _replace(saver, key, _future(_stored(saver, "victim")[key], framed=which != "blob"))
    for read in _reads(saver):
        with pytest.raises(UnsupportedFormatError) as e:
            read()
        assert key in str(e.value) and "99" in str(e.value) and "upgrade" in str(e.value)
