"""Login throttling, socket admission and case look-ups counted across a cluster.

On one node (no ``redis_url``) the in-memory ``LoginThrottle`` counts failed logins, as
before. In a cluster an address that guesses passwords on several nodes must be counted
once, so failures are counted in Redis: one key per (username, address) pair and one per
address, ``INCR`` + ``PEXPIRE … NX`` (the window starts at the first failure and the key
expires with it). Redis unreachable: the node falls back to its own memory counts (a
login is never refused because Redis is away) and says so in the log.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from ..cluster.client import cluster_redis
from .limits import LookupLimit
from .ratelimit import LoginThrottle

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from ..settings import Settings
    from .hub import Hub

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
            self._redis = cluster_redis(settings.redis_url, socket_connect_timeout=1,
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


#: counts a new socket against its address's minute (``INCR`` + ``PEXPIRE … NX``) and, for
#: a caller socket, sums the address's open sockets over the live nodes' hashes before
#: counting it in this node's; a node whose hash has expired is dropped from the set
ADMIT_SOCKET = """
-- KEYS: minute key, node set, this node's hash
-- ARGV: per minute, caller (1/0), address, max open, hash prefix, node id, hash ttl ms
local count = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], 60000, 'NX')
if count > tonumber(ARGV[1]) then
  return 0
end
if ARGV[2] ~= '1' then
  return 1
end
local total = 0
for _, node in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local key = ARGV[5] .. node
  local open = redis.call('HGET', key, ARGV[3])
  if open then
    total = total + tonumber(open)
  elseif redis.call('EXISTS', key) == 0 then
    redis.call('SREM', KEYS[2], node)
  end
end
if total >= tonumber(ARGV[4]) then
  return -1
end
redis.call('HINCRBY', KEYS[3], ARGV[3], 1)
redis.call('PEXPIRE', KEYS[3], ARGV[7])
redis.call('SADD', KEYS[2], ARGV[6])
return 1
"""

#: an admitted caller socket closed; a hash that expired meanwhile is left alone (the
#: node writes it again whole, ``SharedSockets._rewrite``)
CLOSE_SOCKET = """
-- KEYS: this node's hash   ARGV: address
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
if redis.call('HINCRBY', KEYS[1], ARGV[1], -1) <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return 1
"""


@dataclass
class _Open:
    address: str
    caller: bool
    answer: asyncio.Future[bool]


@dataclass(frozen=True)
class _Closed:
    address: str


class SharedSockets:
    """Sockets per address counted across the cluster, on top of each node's own
    ``SocketLimits`` (which alone applies while Redis is unreachable). Only built in a
    cluster. Keys (``ns`` = ``"ca"`` + ``redis_namespace``):

    - ``{ns}:sockets:{address}``     STRING  new sockets (both roles) in the minute from
                                             the first one (``INCR`` + ``PEXPIRE … NX``)
    - ``{ns}:open:{node}``           HASH    address -> open caller sockets on that node;
                                             expires like the node's heartbeat
                                             (``HEARTBEAT_MS``) and is refreshed with it
    - ``{ns}:open-nodes``            SET     nodes that may have such a hash

    A caller socket is admitted when the live nodes' counts for its address sum below
    ``max_caller_sockets_per_address`` (``ADMIT_SOCKET``: one round trip per socket
    opened, none per message). A node killed stops counting within ``HEARTBEAT_MS``.
    One writer task sends every change in order, in pipelines; after any Redis failure
    (or when the node's hash expired, e.g. a stalled loop or a Redis restart) it writes
    the hash again whole from the node's own count before anything else, so the mirror
    never drifts.
    """

    def __init__(self, settings: Settings, node_id: str) -> None:
        from .node import HEARTBEAT_EVERY, HEARTBEAT_MS
        assert settings.redis_url
        self.per_minute = settings.new_sockets_per_minute
        self.max_open = settings.max_caller_sockets_per_address
        self.node_id = node_id
        ns = f"ca{settings.redis_namespace}"
        self.prefix = f"{ns}:sockets"
        self.hash_prefix = f"{ns}:open:"
        self.hash_key = self.hash_prefix + node_id
        self.nodes_key = f"{ns}:open-nodes"
        self.ttl_ms = HEARTBEAT_MS
        self.refresh_every = HEARTBEAT_EVERY
        self._redis = cluster_redis(settings.redis_url, socket_connect_timeout=1,
                                        socket_timeout=1)
        self._admit = self._redis.register_script(ADMIT_SOCKET)
        self._close = self._redis.register_script(CLOSE_SOCKET)
        #: this node's open caller sockets per address: what its hash must say
        self.open: dict[str, int] = {}
        self._queue: asyncio.Queue[_Open | _Closed] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._stale = False  # the hash must be written whole before the next change
        self._away = False  # Redis unreachable (logged once per outage)

    async def admit(self, address: str, caller: bool) -> bool:
        """Whether ``address`` may open another socket (its minute, and for a caller its
        open sockets over the cluster); if so, it is counted."""
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_loop())
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Open(address, caller, answer))
        return await answer

    def closed(self, address: str, caller: bool) -> None:
        """An admitted socket closed (no wait: the writer counts it down)."""
        if caller:
            self._queue.put_nowait(_Closed(address))

    async def _write_loop(self) -> None:
        next_refresh = 0.0
        loop = asyncio.get_running_loop()
        while True:
            batch: list[_Open | _Closed] = []
            try:
                async with asyncio.timeout(self.refresh_every):
                    batch.append(await self._queue.get())
            except TimeoutError:
                pass
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                if loop.time() >= next_refresh:
                    next_refresh = loop.time() + self.refresh_every
                    await self._refresh()
                await self._apply(batch)
            except Exception:  # never leave a socket waiting for its answer
                log.exception("socket admission: writer failed")
                self._apply_locally(batch, None)

    async def _refresh(self) -> None:
        """Keep this node's hash alive (its heartbeat); write it whole if it is gone."""
        try:
            if not await self._redis.pexpire(self.hash_key, self.ttl_ms) and self.open:
                self._stale = True
            if self._stale:
                await self._rewrite()
        except (RedisError, OSError):
            self._unreachable()

    async def _rewrite(self) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.hash_key)
            if self.open:
                pipe.hset(self.hash_key, mapping={a: str(n) for a, n in self.open.items()})
                pipe.pexpire(self.hash_key, self.ttl_ms)
                pipe.sadd(self.nodes_key, self.node_id)
            await pipe.execute()
        self._stale = False
        if self._away:
            self._away = False
            log.info("socket admission: Redis is back; counting across the cluster again")

    def _unreachable(self) -> None:
        self._stale = True
        if not self._away:
            self._away = True
            log.warning("socket admission: Redis unreachable; this node's limits alone")

    async def _apply(self, batch: list[_Open | _Closed]) -> None:
        if not batch:
            return
        results: list[Any] | None = None
        try:
            if self._stale:
                await self._rewrite()
            async with self._redis.pipeline(transaction=False) as pipe:
                for op in batch:
                    if isinstance(op, _Open):
                        await self._admit(
                            keys=[f"{self.prefix}:{op.address}", self.nodes_key,
                                  self.hash_key],
                            args=[self.per_minute, int(op.caller), op.address,
                                  self.max_open, self.hash_prefix, self.node_id,
                                  self.ttl_ms], client=pipe)
                    else:
                        await self._close(keys=[self.hash_key], args=[op.address],
                                          client=pipe)
                results = await pipe.execute()
        except (RedisError, OSError):
            self._unreachable()
        self._apply_locally(batch, results)

    def _apply_locally(self, batch: list[_Open | _Closed], results: list[Any] | None) -> None:
        """Count the batch in ``open`` and answer the waiting sockets; ``results`` None:
        Redis did not answer, every socket is admitted (the node's own limits held)."""
        for index, op in enumerate(batch):
            if isinstance(op, _Closed):
                left = self.open.get(op.address, 0) - 1
                if left > 0:
                    self.open[op.address] = left
                else:
                    self.open.pop(op.address, None)
                if results is not None and results[index] == 0:
                    self._stale = True  # the hash had expired: write it whole
                continue
            admitted = results is None or int(results[index]) == 1
            if admitted and op.caller:
                self.open[op.address] = self.open.get(op.address, 0) + 1
            if not op.answer.done():
                op.answer.set_result(admitted)

    async def close(self) -> None:
        """Stop counting: the node's hash goes (its sockets are closing with it)."""
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
        while not self._queue.empty():
            op = self._queue.get_nowait()
            if isinstance(op, _Open) and not op.answer.done():
                op.answer.set_result(False)
        try:
            await self._redis.delete(self.hash_key)
        except (RedisError, OSError):
            pass
        await self._redis.aclose()


#: at most ARGV[1] look-ups in any window (a sorted set of their times, Redis's clock);
#: returns 0 when this one is counted, else the milliseconds until the oldest leaves
LOOKUP = """
-- KEYS: the address's look-ups   ARGV: per window, window ms, a unique member
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + window - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return 0
"""


class SharedLookupLimit:
    """``LookupLimit`` (case look-ups per address in any 60 s) answered from Redis in a
    cluster: a sorted set ``{ns}:lookups:{address}`` of the look-ups' times, so an address
    spreading its guesses over N nodes gets one allowance, not N. One node (no
    ``redis_url``), or Redis unreachable: the node's own ``LookupLimit``."""

    def __init__(self, settings: Settings) -> None:
        self.memory = LookupLimit(settings.case_lookups_per_minute)
        self.per_minute = settings.case_lookups_per_minute
        self.prefix = f"ca{settings.redis_namespace}:lookups"
        self._redis: aioredis.Redis | None = None
        if settings.redis_url:
            self._redis = cluster_redis(settings.redis_url, socket_connect_timeout=1,
                                            socket_timeout=1)
            self._script = self._redis.register_script(LOOKUP)

    async def allow(self, address: str, now: float) -> float:
        """0 when this look-up may go ahead (and is counted), else seconds to wait;
        ``now`` is the node's monotonic clock (the memory fallback's)."""
        if self._redis is None:
            return self.memory.allow(address, now)
        try:
            wait_ms = await self._script(
                keys=[f"{self.prefix}:{address}"],
                args=[self.per_minute, int(LookupLimit.WINDOW * 1000), secrets.token_hex(8)])
        except (RedisError, OSError):
            log.warning("look-up limit: Redis unreachable; counting in memory")
            return self.memory.allow(address, now)
        return int(wait_ms) / 1000

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()


#: compare-and-delete: a lock is released only by the holder that still has it
RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class ClusterLock:
    """One holder at a time on this node (an ``asyncio.Lock``) and, in a cluster, over all
    nodes: ``SET {ns}:lock:{name} <token> NX PX hold_ms``, released by compare-and-delete.
    For a check-then-write on the shared database, such as a limit counted in rows (the
    callbacks of a day): without it two nodes may both pass the last place.

    The Redis lock expires after ``HOLD_MS`` if its holder dies. A holder waits at most
    ``WAIT`` seconds for it and then goes ahead (logged), as it does while Redis is
    unreachable: a request is never refused because Redis is away, at worst a limit is
    passed by one. On one node (no ``hub.cluster``) it is the asyncio lock alone.
    """

    HOLD_MS = 5000
    WAIT = 5.0

    def __init__(self, hub: Hub, name: str) -> None:
        self.hub = hub
        self.name = name
        self.key = f"ca{hub.settings.redis_namespace}:lock:{name}"
        self._local = asyncio.Lock()
        self._token: str | None = None

    def _redis(self) -> aioredis.Redis | None:
        cluster = self.hub.cluster  # started after the hub's sides are built
        return None if cluster is None else cluster.redis

    async def __aenter__(self) -> None:
        await self._local.acquire()
        try:
            redis = self._redis()
            if redis is None:
                return
            token = secrets.token_hex(8)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.WAIT
            try:
                while not await redis.set(self.key, token, nx=True, px=self.HOLD_MS):
                    if loop.time() >= deadline:
                        log.warning("lock %s: still held elsewhere after %.0f s; going "
                                    "ahead", self.name, self.WAIT)
                        return
                    await asyncio.sleep(0.01)
                self._token = token
            except (RedisError, OSError):
                log.warning("lock %s: Redis unreachable; this node's lock alone", self.name)
        except BaseException:
            self._local.release()
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            redis = self._redis()
            if self._token is not None and redis is not None:
                await redis.eval(RELEASE_LOCK, 1, self.key, self._token)
        except (RedisError, OSError):
            log.warning("lock %s: not released (Redis unreachable); it expires in %d ms",
                        self.name, self.HOLD_MS)
        finally:
            self._token = None
            self._local.release()
