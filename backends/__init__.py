"""Backend adapters, installed as ``checkpoint_kv.backends`` (one flat module per backend)."""
