"""The modules that moved in the restructuring (issue 22) still import from their old paths.

``checkpoint_kv.kvstore`` (the memory store, now :mod:`checkpoint_kv.store`), its ``server``
entry (now in :mod:`checkpoint_kv.server`, next to the checkpointer's) and
``checkpoint_kv.instrument`` (now :mod:`checkpoint_kv.port_wrappers`, its classes renamed to
``...KV``) answer every old name with the same object and a DeprecationWarning that names the
new import; the CHANGELOG's "Moved" table lists them.
"""

from __future__ import annotations

import importlib

import pytest

import checkpoint_kv

# (old module, old name) -> (new module, new name): the CHANGELOG's "Moved" table.
MOVED = {
    ("checkpoint_kv.kvstore", "KVBaseStore"): ("checkpoint_kv.store", "KVBaseStore"),
    ("checkpoint_kv.kvstore", "store_from_url"): ("checkpoint_kv.store", "store_from_url"),
    ("checkpoint_kv.kvstore", "is_store_partition"): ("checkpoint_kv.store", "is_store_partition"),
    ("checkpoint_kv.kvstore.server", "store"): ("checkpoint_kv.server", "store"),
    ("checkpoint_kv.kvstore.server", "make_store"): ("checkpoint_kv.server", "make_store"),
    ("checkpoint_kv.instrument", "CountingStore"): ("checkpoint_kv.port_wrappers", "CountingKV"),
    ("checkpoint_kv.instrument", "DelegatingStore"): (
        "checkpoint_kv.port_wrappers",
        "DelegatingKV",
    ),
    ("checkpoint_kv.instrument", "AsyncDelegatingStore"): (
        "checkpoint_kv.port_wrappers",
        "AsyncDelegatingKV",
    ),
}


@pytest.mark.parametrize(("old", "new"), sorted(MOVED.items()), ids=lambda x: ".".join(x))
def test_an_old_import_is_the_new_object_with_a_warning(
    old: tuple[str, str], new: tuple[str, str]
) -> None:
    module = importlib.import_module(old[0])
    target = getattr(importlib.import_module(new[0]), new[1], None)
    if target is None:
        pytest.fail(f"{new[0]}.{new[1]} does not exist")
    with pytest.warns(DeprecationWarning, match=rf"import {new[1]} from {new[0]}"):
        assert getattr(module, old[1]) is target


def test_an_unknown_name_of_an_old_module_is_an_attribute_error() -> None:
    import checkpoint_kv.kvstore

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        checkpoint_kv.kvstore.nope  # noqa: B018


def test_the_public_names_did_not_move() -> None:
    from checkpoint_kv.saver import KVCheckpointSaver
    from checkpoint_kv.server import checkpointer, store

    assert checkpoint_kv.KVCheckpointSaver is KVCheckpointSaver
    assert callable(checkpointer) and callable(store)
    assert checkpoint_kv.store_from_url("memory://").__class__.__module__.startswith(
        "checkpoint_kv.store"
    )
