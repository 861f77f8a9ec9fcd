"""What the saver reads from and writes into LangGraph's ``RunnableConfig``: the ids.

Every operation starts here, so a config without ``thread_id`` is a ``ConfigError`` that says
what to pass, before any I/O.
"""

from __future__ import annotations

from langchain_core.runnables import RunnableConfig

from checkpoint_kv.errors import ConfigError

__all__ = ["ids", "tconf"]


def ids(
    config: RunnableConfig | None, *, need_checkpoint: bool = False
) -> tuple[str, str, str | None]:
    """``(thread_id, checkpoint_ns, checkpoint_id)`` of a config, or a ConfigError that says
    what to pass."""
    conf = (config or {}).get("configurable") or {}
    thread_id = conf.get("thread_id")
    if thread_id is None or thread_id == "":
        raise ConfigError(
            "this checkpointer needs a thread_id: pass "
            'config={"configurable": {"thread_id": "..."}} to invoke/stream/get_state'
        )
    checkpoint_id = conf.get("checkpoint_id") or None
    for name, value in (("thread_id", thread_id), ("checkpoint_ns", conf.get("checkpoint_ns"))):
        try:
            str(value or "").encode("utf-8")
        except UnicodeEncodeError:
            raise ConfigError(f"{name} must be valid Unicode text (no lone surrogates)") from None
    if need_checkpoint and checkpoint_id is None:
        raise ConfigError("put_writes needs config['configurable']['checkpoint_id']")
    return str(thread_id), str(conf.get("checkpoint_ns") or ""), checkpoint_id


def tconf(thread_id: str, ns: str, checkpoint_id: str) -> RunnableConfig:
    return {
        "configurable": {
            "thread_id": thread_id,
            "checkpoint_ns": ns,
            "checkpoint_id": checkpoint_id,
        }
    }
