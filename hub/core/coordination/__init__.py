"""What the replicas of one hub share, behind the ports of `hub.core.ports.coordination`.

Each port has an embedded twin (one process, in memory) and a Redis implementation; the Redis
ones share one `RedisLink` (a connection pool, the Lua scripts, one pub/sub connection and a
heartbeat). `hub/bootstrap.py` picks them: Redis when `HUB_REDIS_URL` is set.
"""
