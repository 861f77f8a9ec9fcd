"""langgraph-checkpoint-plainredis on Debian's redis-server (no modules)."""

from __future__ import annotations

from typing import Any

from benchmarks.counting import Recorder, patch_redis
from benchmarks.peers import Handle, redis_held

LABEL = "langgraph-checkpoint-plainredis"
UNIT = "redis round trips"
VENV = "plainredis"
SERVICE = "redis"
IMPORT = "from langgraph_checkpoint_plainredis import RedisSaver"


def open(ctx: dict[str, Any], workload: str, rec: Recorder) -> Handle:
    import redis
    from langgraph_checkpoint_plainredis import RedisSaver

    url = f"redis://127.0.0.1:{ctx['services']['redis_port']}/0"
    admin = redis.Redis.from_url(url)
    admin.flushall()
    saver = RedisSaver(url=url)
    patch_redis(rec)
    return Handle(saver, lambda: redis_held(admin), admin.close)
