"""The one way the cluster opens a Redis client: a pool that waits for a free connection.

redis-py's default asyncio pool holds at most 100 connections and fails the 101st
command at once; a burst of 300 agents logging in (each an append and a wait) or a call
ramp at capacity then got ``service_unavailable`` for what was only a busy moment
(bench/call_rate.py, issue 10). A ``BlockingConnectionPool`` holds up to ``POOL_SIZE``
connections and makes a command wait up to ``POOL_WAIT`` seconds for one instead.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis

POOL_SIZE = 256
POOL_WAIT = 5.0


def cluster_redis(url: str, **options: Any) -> Redis:
    """A client of ``url`` on a blocking pool (``options``: connection options such as
    ``socket_timeout``)."""
    pool = BlockingConnectionPool.from_url(url, max_connections=POOL_SIZE, timeout=POOL_WAIT,
                                           **options)
    return Redis(connection_pool=pool)


def blocking_pool_like(redis: Redis, **connection_kwargs: Any) -> BlockingConnectionPool:
    """A blocking pool to the same server as ``redis``'s, with these connection options."""
    pool = redis.connection_pool
    return BlockingConnectionPool(max_connections=POOL_SIZE, timeout=POOL_WAIT,
                                  connection_class=pool.connection_class, **connection_kwargs)
