"""LangGraph's long-term memory BaseStore (checkpoint_kv.store) on every backend."""
