"""The checkpoint-kv command line."""
