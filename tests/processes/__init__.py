"""Many processes on one store: the interleaving model test, real OS processes, crashes, injected
faults, concurrency, maintenance and copies beside live runs.
"""
