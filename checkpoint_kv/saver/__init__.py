"""The checkpointer: LangGraph's ``BaseCheckpointSaver`` contract mapped onto the key-value port.

Read it in the order a call runs: :mod:`.checkpointer` (``KVCheckpointSaver``: each public
method builds a sans-IO plan and runs it with the sync or the async driver of
:mod:`checkpoint_kv.drive`), then the plans: :mod:`.writes` (``put``, ``put_writes``),
:mod:`.reads` and :mod:`.listing` (``get_tuple``, ``list``), :mod:`.delta` (DeltaChannel
histories), :mod:`.maintenance` (``delete_thread``, ``prune``, ``delete_for_runs``),
:mod:`.copying` and :mod:`.migrate` (``copy_thread``, ``copy_threads``). Below them:
:mod:`.configs` (the ids of a config), :mod:`.versions` (channel versions), :mod:`.codec`
(records <-> ``CheckpointTuple``), :mod:`.groups` (scan items grouped into checkpoints),
:mod:`.packing` (where values live: homes, the locator), :mod:`.pending` (merging stored
``put_writes`` calls), :mod:`.records` (the records' CBOR layouts in the shared envelope) and
:mod:`.memo` (decoded records remembered per process).
"""

from checkpoint_kv.saver.checkpointer import KVCheckpointSaver

__all__ = ["KVCheckpointSaver"]
