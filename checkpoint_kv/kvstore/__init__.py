"""Moved: the long-term memory store is :mod:`checkpoint_kv.store` (``checkpoint_kv.kvstore``
read as "the key-value store", which is the port). Old imports keep working with a
``DeprecationWarning``; ``langgraph.json``'s ``checkpoint_kv.kvstore.server:store`` too."""

from checkpoint_kv._renamed import moved

__getattr__ = moved(__name__, "checkpoint_kv.store")
