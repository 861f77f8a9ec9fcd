"""LangGraph's ``InMemorySaver``: the baseline every ratio is taken against (no I/O at all)."""

from __future__ import annotations

from typing import Any

from benchmarks.counting import Recorder, deep_bytes
from benchmarks.peers import Handle

LABEL = "InMemorySaver"
UNIT = "-"
VENV = None
SERVICE = None
IMPORT = "from langgraph.checkpoint.memory import InMemorySaver"


def open(ctx: dict[str, Any], workload: str, rec: Recorder) -> Handle:
    from langgraph.checkpoint.memory import InMemorySaver

    saver = InMemorySaver()

    def held() -> dict[str, int]:
        return {
            "bytes": deep_bytes(saver.storage) + deep_bytes(saver.writes) + deep_bytes(saver.blobs)
        }

    return Handle(saver, held)
