"""The public API around the saver: from_url, the registry, errors on bad input, shallow mode,
and the corners of the contract the official suite does not test (list(None), exact limits)."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.memory import InMemorySaver

import checkpoint_kv
from checkpoint_kv import (
    ConfigError,
    KVCheckpointSaver,
    MissingDependencyError,
    SerializationError,
    UnknownSchemeError,
)
from checkpoint_kv import keys as K
from checkpoint_kv.registry import known_schemes
from tests.contract.test_scenarios import chat_graph


def _put(saver: Any, thread: str, ns: str = "", parent: str | None = None, **md: Any) -> Any:
    conf: dict[str, Any] = {"thread_id": thread, "checkpoint_ns": ns}
    if parent:
        conf["checkpoint_id"] = parent
    cp = empty_checkpoint()
    cp["channel_values"] = {"x": thread}
    cp["channel_versions"] = {"x": saver.get_next_version(None, None)}
    return saver.put(
        {"configurable": conf}, cp, {"source": "loop", "step": 0, **md}, cp["channel_versions"]
    )


# --- from_url and the registry -----------------------------------------------------------------


def test_unknown_scheme_lists_known_and_suggests() -> None:
    with pytest.raises(UnknownSchemeError) as e:
        checkpoint_kv.from_url("reddis://localhost:6379")
    msg = str(e.value)
    assert "Did you mean redis://?" in msg
    for scheme in ("memory://", "sqlite://", "redis://", "dynamodb://", "s3://"):
        assert scheme in msg
    assert isinstance(e.value, ValueError)
    with pytest.raises(ConfigError, match="expected scheme://"):
        checkpoint_kv.from_url("just-a-path.db")


def test_default_url_is_sqlite_in_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CHECKPOINT_KV_URL", raising=False)
    with checkpoint_kv.from_url() as saver:
        _put(saver, "t")
    assert (tmp_path / "checkpoints.db").exists()
    monkeypatch.setenv("CHECKPOINT_KV_URL", f"sqlite:///{tmp_path / 'env.db'}")
    with checkpoint_kv.from_url() as saver:
        _put(saver, "t")
    assert (tmp_path / "env.db").exists()


def test_embedded_default_survives_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'persist.db'}"
    with checkpoint_kv.from_url(url) as saver:
        chat_graph(saver).invoke({"messages": ["hi"]}, {"configurable": {"thread_id": "p"}})
    with checkpoint_kv.from_url(url) as saver:
        state = chat_graph(saver).get_state({"configurable": {"thread_id": "p"}})
    assert state.next == ("approve",) and state.values["messages"][0] == "hi"


def test_register_and_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def factory(url: str, **options: Any) -> Any:
        calls.append(url)
        return checkpoint_kv.registry.open_store("memory://")

    checkpoint_kv.register("mine", factory)
    assert isinstance(checkpoint_kv.from_url("mine://x"), KVCheckpointSaver)
    assert calls == ["mine://x"] and "mine" in known_schemes()

    class EP:
        name, value = "viaep", "checkpoint_kv.backends.memory:from_url"

    monkeypatch.setattr(checkpoint_kv.registry, "entry_points", lambda group: [EP()])
    assert isinstance(checkpoint_kv.from_url("viaep://").store, object)


def test_missing_extra_names_pip_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # makes `import redis` fail
    for name in [m for m in sys.modules if m.startswith("checkpoint_kv.backends.redis")]:
        monkeypatch.delitem(sys.modules, name)  # the package and its modules import afresh
    with pytest.raises(MissingDependencyError, match=r'pip install "checkpoint-kv\[redis\]"'):
        checkpoint_kv.from_url("redis://localhost:6379")


def test_importing_the_package_loads_no_client() -> None:
    import subprocess

    code = (
        "import checkpoint_kv, sys; "
        "print(sorted(m for m in ('redis', 'boto3', 'botocore') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_history_option() -> None:
    assert checkpoint_kv.from_url("memory://?history=latest").shallow
    assert not checkpoint_kv.from_url("memory://?history=all").shallow
    with pytest.raises(ConfigError, match="history="):
        checkpoint_kv.from_url("memory://?history=sometimes")


def test_sqlite_unopenable_path_is_clear() -> None:
    with pytest.raises(checkpoint_kv.BackendUnavailableError, match="cannot open SQLite file"):
        checkpoint_kv.from_url("sqlite:////proc/no/such/dir/x.db").setup()


# --- bad input ----------------------------------------------------------------------------------


def test_config_without_thread_id(saver: KVCheckpointSaver) -> None:
    for call in (
        lambda: saver.get_tuple({"configurable": {}}),
        lambda: saver.get_tuple({}),  # type: ignore[typeddict-item]
        lambda: list(saver.list({"configurable": {"checkpoint_ns": ""}})),
        lambda: saver.put({"configurable": {}}, empty_checkpoint(), {}, {}),
        lambda: saver.put_writes({"configurable": {}}, [("a", 1)], "task"),
    ):
        with pytest.raises(ConfigError, match="thread_id"):
            call()
    with pytest.raises(ConfigError, match="thread_id"):
        chat_graph(saver).invoke({"messages": ["hi"]}, {"configurable": {"checkpoint_ns": ""}})


def test_refused_value_writes_nothing(saver: KVCheckpointSaver) -> None:
    first = _put(saver, "refuse")
    cp = empty_checkpoint()
    cp["channel_values"] = {"x": object()}
    cp["channel_versions"] = {"x": saver.get_next_version(1, None)}
    with pytest.raises(SerializationError, match="channel 'x'"):
        saver.put(first, cp, {}, cp["channel_versions"])
    with pytest.raises(SerializationError):
        saver.put_writes(first, [("x", object())], "task")
    latest = saver.get_tuple({"configurable": {"thread_id": "refuse"}})
    assert latest is not None and latest.config == first and latest.pending_writes == []


# --- contract corners the official suite does not cover ----------------------------------------


def test_brand_new_store_every_call(saver: KVCheckpointSaver) -> None:
    t = {"configurable": {"thread_id": "nothing"}}
    assert saver.get_tuple(t) is None
    assert list(saver.list(t)) == [] and list(saver.list(None)) == []
    saver.delete_thread("nothing")
    saver.prune(["nothing"])
    saver.copy_thread("nothing", "else")
    saver.delete_for_runs(["r"])
    assert saver.get_delta_channel_history(config=t, channels=["m"]) == {"m": {"writes": []}}


def test_list_none_spans_threads_with_exact_limit(saver: KVCheckpointSaver) -> None:
    ref = InMemorySaver()
    for s in (saver, ref):
        for t in range(4):
            parent = None
            for _ in range(5):
                parent = _put(s, f"t{t}", parent=parent and parent["configurable"]["checkpoint_id"])
    ours = list(saver.list(None))
    assert len(ours) == 20 == len(list(ref.list(None)))
    assert len(list(saver.list(None, limit=10))) == 10
    assert len(list(saver.list(None, limit=7, filter={"source": "loop"}))) == 7
    assert {t.config["configurable"]["thread_id"] for t in ours} == {f"t{i}" for i in range(4)}


def test_list_pages_exact_on_long_thread(saver: KVCheckpointSaver) -> None:
    parent = None
    for i in range(60):
        parent = _put(
            saver, "long", parent=parent and parent["configurable"]["checkpoint_id"], step=i
        )
        saver.put_writes(parent, [("a", i), ("b", i)], f"task{i}")
    t = {"configurable": {"thread_id": "long", "checkpoint_ns": ""}}
    everything = list(saver.list(t))
    assert [c.metadata["step"] for c in everything] == list(range(59, -1, -1))
    assert all(len(c.pending_writes or []) == 2 for c in everything)
    seen: list[int] = []
    before = None
    while True:
        page = list(saver.list(t, before=before, limit=10))
        if not page:
            break
        assert len(page) == 10
        seen += [c.metadata["step"] for c in page]
        before = page[-1].config
    assert seen == list(range(59, -1, -1))
    thread_only = {"configurable": {"thread_id": "long"}}
    assert len(list(saver.list(thread_only, limit=10))) == 10


def test_unusual_identifiers_do_not_collide(saver: KVCheckpointSaver) -> None:
    ids = [
        "a|b",
        "a:b",
        "a/b",
        "{a}",
        "a!b",
        "a%21b",
        "ä",
        "a" * 1000,
        "a" * 1001,
        "~x",
        "%7Ex",
        "",
    ]
    for tid in ids[:-1]:
        _put(saver, tid, ns="n|s:{1}")
    for tid in ids[:-1]:
        got = saver.get_tuple({"configurable": {"thread_id": tid, "checkpoint_ns": "n|s:{1}"}})
        assert got is not None and got.checkpoint["channel_values"] == {"x": tid}
    assert len({K.partition(t) for t in ids}) == len(ids)
    assert max(len(K.partition(t)) for t in ids) <= K.MAX_COMPONENT + 1


def test_shallow_keeps_only_latest(url: str) -> None:
    saver = checkpoint_kv.from_url(url, shallow=True)
    saver.setup()
    cfg = {"configurable": {"thread_id": "shallow-" + uuid.uuid4().hex[:6]}}
    g = chat_graph(saver)
    g.invoke({"messages": ["one"]}, cfg)
    assert len(list(saver.list(cfg))) == 1
    done = g.invoke(checkpoint_kv_resume("yes"), cfg)
    assert done["approved"] is True and done["messages"][0] == "one"
    g.invoke({"messages": ["two"]}, cfg)
    assert len(list(saver.list(cfg))) == 1
    # Superseded blobs went with the write that superseded them: one blob per live channel.
    store = saver.store
    part = K.partition(cfg["configurable"]["thread_id"])
    latest = saver.get_tuple(cfg)
    assert latest is not None
    blobs = store.scan(part, *K.ALL_BLOBS).items
    assert len(blobs) <= len(latest.checkpoint["channel_versions"])
    saver.close()


def checkpoint_kv_resume(answer: str) -> Any:
    from langgraph.types import Command

    return Command(resume=answer)
