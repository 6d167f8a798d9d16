"""Login throttling counted across a cluster.

On one node (no ``redis_url``) the in-memory ``LoginThrottle`` counts failed logins, as
before. In a cluster an address that guesses passwords on several nodes must be counted
once, so failures are counted in Redis: one key per (username, address) pair and one per
address, ``INCR`` + ``PEXPIRE … NX`` (the window starts at the first failure and the key
expires with it). Redis unreachable: the node falls back to its own memory counts (a
login is never refused because Redis is away) and says so in the log.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from .ratelimit import LoginThrottle

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from ..settings import Settings

log = logging.getLogger(__name__)


class SharedLoginThrottle:
    """``LoginThrottle``'s questions, answered from Redis in a cluster, else from memory."""

    def __init__(self, settings: Settings) -> None:
        self.memory = LoginThrottle.from_settings(settings)
        self.max_failures = settings.login_max_failures
        self.max_failures_per_address = settings.login_max_failures_per_address
        self.window_ms = int(settings.login_failure_window * 1000)
        self.prefix = f"ca{settings.redis_namespace}:login"
        self._redis: aioredis.Redis | None = None
        if settings.redis_url:
            import redis.asyncio as aioredis
            self._redis = aioredis.from_url(settings.redis_url, socket_connect_timeout=1,
                                            socket_timeout=1)

    def _keys(self, username: str, address: str) -> tuple[str, str]:
        user = hashlib.sha256(username.encode()).hexdigest()[:32]  # any length, any bytes
        return f"{self.prefix}:pair:{user}:{address}", f"{self.prefix}:addr:{address}"

    async def blocked_for(self, username: str, address: str, now: float) -> float:
        """Seconds until another attempt is allowed (0 = allowed now)."""
        if self._redis is None:
            return self.memory.blocked_for(username, address, now)
        pair, by_address = self._keys(username, address)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in (pair, by_address):
                    pipe.get(key)
                    pipe.pttl(key)
                pair_n, pair_ttl, addr_n, addr_ttl = await pipe.execute()
        except (RedisError, OSError):
            log.warning("login throttle: Redis unreachable; counting in memory")
            return self.memory.blocked_for(username, address, now)
        wait = 0.0
        if pair_n is not None and int(pair_n) >= self.max_failures:
            wait = max(wait, max(0, pair_ttl) / 1000)
        if addr_n is not None and int(addr_n) >= self.max_failures_per_address:
            wait = max(wait, max(0, addr_ttl) / 1000)
        return wait

    async def failed(self, username: str, address: str, now: float) -> None:
        self.memory.failed(username, address, now)  # the fallback knows them too
        if self._redis is None:
            return
        pair, by_address = self._keys(username, address)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                for key in (pair, by_address):
                    pipe.incr(key)
                    pipe.pexpire(key, self.window_ms, nx=True)
                await pipe.execute()
        except (RedisError, OSError):
            log.warning("login throttle: Redis unreachable; failure counted in memory")

    async def succeeded(self, username: str, address: str) -> None:
        """Clear the pair's count; the address keeps its count."""
        self.memory.succeeded(username, address)
        if self._redis is None:
            return
        try:
            await self._redis.delete(self._keys(username, address)[0])
        except (RedisError, OSError):
            log.warning("login throttle: Redis unreachable")

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()


class SharedSocketRate:
    """New sockets per address per minute counted across the cluster (``INCR`` +
    ``PEXPIRE … NX``: a one-minute window from the address's first socket), on top of the
    node's own ``SocketLimits`` (which still counts open caller sockets per node). Only
    built in a cluster; Redis unreachable: the node's own limit alone applies."""

    def __init__(self, settings: Settings) -> None:
        import redis.asyncio as aioredis
        assert settings.redis_url
        self.per_minute = settings.new_sockets_per_minute
        self.prefix = f"ca{settings.redis_namespace}:sockets"
        self._redis = aioredis.from_url(settings.redis_url, socket_connect_timeout=1,
                                        socket_timeout=1)

    async def admit(self, address: str) -> bool:
        key = f"{self.prefix}:{address}"
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.pexpire(key, 60_000, nx=True)
                count, _ = await pipe.execute()
        except (RedisError, OSError):
            log.warning("socket admission: Redis unreachable; this node's limit alone")
            return True
        return int(count) <= self.per_minute

    async def close(self) -> None:
        await self._redis.aclose()
