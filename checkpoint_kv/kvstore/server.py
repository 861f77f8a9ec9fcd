"""Moved: :mod:`checkpoint_kv.server` (``store``, ``make_store``), beside the checkpointer's
entry. Kept so a ``langgraph.json`` naming ``checkpoint_kv.kvstore.server:store`` still starts."""

from checkpoint_kv._renamed import moved

__getattr__ = moved(__name__, "checkpoint_kv.server")
