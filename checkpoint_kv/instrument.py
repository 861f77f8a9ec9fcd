"""Moved: :mod:`checkpoint_kv.port_wrappers` (``DelegatingStore`` is now ``DelegatingKV``,
``AsyncDelegatingStore`` ``AsyncDelegatingKV``, ``CountingStore`` ``CountingKV``: wrappers of
the key-value port, not LangGraph stores). Old imports keep working with a warning."""

from checkpoint_kv._renamed import moved

__getattr__ = moved(
    __name__,
    "checkpoint_kv.port_wrappers",
    {
        "DelegatingStore": "DelegatingKV",
        "AsyncDelegatingStore": "AsyncDelegatingKV",
        "CountingStore": "CountingKV",
    },
)
