"""How a large value should reach Redis: the Lua script's arguments, or plain commands.

Issue 23 asks whether our write path (one EVALSHA whose arguments carry the value, copied by
the script into the hash) costs more than a plain command or a MULTI/EXEC transaction (also one
round trip, also atomic) at 10 KB, 100 KB and 500 KB per put. This times each, on a
redis-server it starts on a free loopback port, so the answer is measured, not argued:

    python -m benchmarks.redis_write_path            # prints a Markdown table
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time

import redis

SCRIPT = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _time(fn: object, n: int) -> float:
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1e6


def main() -> None:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = _port()
    work = tempfile.mkdtemp()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", work],
        stdout=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(port=port)
        for _ in range(50):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.1)
        sha = client.script_load(SCRIPT)
        print("| value | EVALSHA (value in ARGV) | MULTI/EXEC HSET+PEXPIRE | HSET alone |")
        print("|---|---|---|---|")
        for size in (10_000, 100_000, 500_000):
            value = os.urandom(size)
            n = 300 if size < 500_000 else 120

            def evalsha(value: bytes = value) -> None:
                client.evalsha(sha, 1, "h", "f", value, 86_400_000)

            def multi(value: bytes = value) -> None:
                pipe = client.pipeline(transaction=True)
                pipe.hset("h", "f", value)
                pipe.pexpire("h", 86_400_000)
                pipe.execute()

            def plain(value: bytes = value) -> None:
                client.hset("h", "f", value)

            for fn in (evalsha, multi, plain):  # warm up
                fn()
            cells = [f"{_time(fn, n):.0f} us" for fn in (evalsha, multi, plain)]
            print(f"| {size // 1000} KB | " + " | ".join(cells) + " |")
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
