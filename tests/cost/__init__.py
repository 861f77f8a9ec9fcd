"""Counted costs, never timed: round trips per operation, SQLite statements, CPU fast paths equal
to their reference, the benchmark's smoke run.
"""
