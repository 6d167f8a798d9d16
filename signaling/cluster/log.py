"""``PartitionLog``: one partition's replicated log on a Redis Stream (issue 10).

Every node appends entries (any node may) and applies every entry, in stream order, to
its own ``StateMachine``; the ``now`` of an entry is its stream id's milliseconds, so
every replica sees one clock (Redis's) and ends in the same state. One node at a time
holds the partition's lease and has the single-writer duties: it appends ``Tick`` entries
when the machine's next deadline has passed (on its estimate of Redis's clock, from
``TIME``), and writes snapshots, trimming the stream behind them.

A node starting, or coming back after losing Redis, loads the snapshot and replays the
entries after it without delivering, then follows live. If Redis lost its data (the
epoch key is gone), the first node back seeds a new epoch from its own replica and the
others load that. While Redis is unreachable ``append`` raises ``LogUnavailable`` at once.
Keys and scripts: ``keys.py``.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import logging
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError

from . import keys
from .client import blocking_pool_like
from .codec import CODEC_VERSION, CodecError, dump_entry, load_entry, tick_entry
from .machine import LogUnavailable, StateMachine, StreamId, format_id, id_time, parse_id

log = logging.getLogger(__name__)

FOLLOW_BLOCK_MS = 2000
"""XREAD BLOCK per round; a watchdog a little longer notices a server that went silent."""
BATCH = 500
"""Entries read per round trip."""
RESYNC_TIMEOUT = 60.0
"""Seconds a reload and replay may take before the follower gives up and starts over
(the reading connection has no read timeout of its own)."""
STUCK_DEADLINE_RETRY = 0.05
"""Seconds before ticking again for a deadline a tick at or after it did not clear."""

_DROPPED_KWARGS = ("retry", "retry_on_error", "retry_on_timeout", "socket_timeout",
                   "health_check_interval", "decode_responses")


class PartitionLog:
    """One partition's log, followed by this node; see the module docstring.

    ``clock`` is this node's wall clock (tests offset it); ``on_resync`` runs after the
    state was reloaded from a snapshot and replayed without delivery (at start and after
    a Redis outage), so the owner can send full state to its sockets; ``on_leadership``
    runs with True when this node takes the lease and False when it loses it.
    """

    def __init__(self, redis: Redis, ns: str, partition: str, node_id: str,
                 machine: StateMachine, *, lease_ms: int = 1500,
                 clock: Callable[[], float] = time.time,
                 on_resync: Callable[[], None] | None = None,
                 on_leadership: Callable[[bool], None] | None = None,
                 snapshot_every: int = 1000, snapshot_interval: float = 5.0) -> None:
        self.keys = keys.PartitionKeys.of(ns, partition)
        self.partition = partition
        self.node_id = node_id
        self.machine = machine
        self.lease_ms = lease_ms
        self.snapshot_every = snapshot_every
        self.snapshot_interval = snapshot_interval
        self._clock = clock
        self._on_resync = on_resync
        self._on_leadership = on_leadership
        # Commands fail fast (no retries: the log has its own back-off); the follower
        # blocks on XREAD on a connection of its own with no read timeout.
        self._redis = _client_like(redis, socket_timeout=5.0)
        self._reader = _client_like(redis, socket_timeout=None)
        self._append_script = self._redis.register_script(keys.APPEND)
        self._lease_script = self._redis.register_script(keys.LEASE)
        self._release_script = self._redis.register_script(keys.RELEASE)
        self._snapshot_script = self._redis.register_script(keys.SNAPSHOT)
        self._seed_script = self._reader.register_script(keys.SEED)

        self._epoch: str | None = None
        self._last: StreamId = (0, 0)
        self._n = 0
        self._down = True
        self._caught_up = asyncio.Event()
        self._waiters: list[tuple[StreamId, int, asyncio.Future[None]]] = []
        self._waiter_seq = itertools.count()
        self._leader = False
        self._lease_valid_until = 0.0
        self._lapse_timer: asyncio.TimerHandle | None = None
        self._offset = 0.0
        self._offset_rtt = float("inf")
        self._tick_wake = asyncio.Event()
        self._last_tick_now = float("-inf")
        self._last_tick_applied = float("-inf")
        self._since_snapshot = 0
        self._snapshot_at = 0.0
        self._snapshot_task: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._hold_off_until = 0.0

    # ------------------------------------------------------------------ public API

    @property
    def is_leader(self) -> bool:
        """Holding the lease, renewed recently enough that it cannot have expired."""
        return self._leader and self._clock() < self._lease_valid_until

    @property
    def last_id(self) -> str:
        """The stream id of the last entry applied here."""
        return format_id(self._last)

    @property
    def available(self) -> bool:
        """Connected to Redis and caught up with the log."""
        return not self._down and self._caught_up.is_set()

    def now(self) -> float:
        """Redis's clock as this node estimates it (TIME, corrected for round trips)."""
        return self._clock() + self._offset

    async def start(self) -> None:
        """Load the snapshot (or seed the log), replay, then follow and contend for the
        lease. Raises LogUnavailable when Redis cannot be reached."""
        try:
            await self._measure_clock()
            await self._resync()
        except (RedisError, OSError) as exc:
            raise LogUnavailable(f"Redis unreachable: {exc}") from exc
        name = f"{self.partition}@{self.node_id}"
        self._tasks = [asyncio.create_task(self._follow(), name=f"log-follow {name}"),
                       asyncio.create_task(self._lease_loop(), name=f"log-lease {name}"),
                       asyncio.create_task(self._tick_loop(), name=f"log-tick {name}")]

    async def stop(self) -> None:
        """Stop following and ticking; give the lease up so another node takes over now."""
        self._stopping = True
        tasks = [*self._tasks, *([self._snapshot_task] if self._snapshot_task else [])]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        if self._lapse_timer is not None:
            self._lapse_timer.cancel()
        if self._leader:
            self._set_leader(False)
            try:
                await self._release_script(keys=[self.keys.lease], args=[self.node_id])
            except (RedisError, OSError):
                pass
        for _, _, future in self._waiters:
            if not future.done():
                future.set_exception(LogUnavailable("the partition log stopped"))
        self._waiters.clear()
        await self._redis.aclose()
        await self._reader.aclose()

    def step_down(self, hold_off: float) -> None:
        """Give the lease up (if held) and stay away from it for ``hold_off`` seconds, so
        another node takes it: how a node leading more than its share of the routers
        hands one over (``ClusterNode``). The lease loop does the release."""
        self._hold_off_until = self._clock() + hold_off

    async def append(self, entry: dict[str, Any]) -> str:
        """Append ``entry`` to the partition's stream; its id. Applied later, on every node
        including this one (``applied``). Raises LogUnavailable when Redis is down, or the
        log was re-seeded and this node has not resynced yet."""
        text = dump_entry(entry)
        if self._down or self._epoch is None or self._stopping:
            raise LogUnavailable("the partition log is unavailable (Redis down or resyncing)")
        try:
            raw = await self._append_script(keys=[self.keys.stream, self.keys.seq,
                                                  self.keys.epoch], args=[self._epoch, text])
        except ResponseError as exc:
            if "EPOCH" in str(exc):
                self._wake_follower()
                raise LogUnavailable("the log was re-seeded; resyncing") from exc
            raise
        except (RedisError, OSError) as exc:
            self._mark_down()
            raise LogUnavailable(f"Redis unreachable: {exc}") from exc
        return _text(raw)

    async def applied(self, entry_id: str) -> None:
        """Return once entry ``entry_id`` (and every one before it) is applied here.
        Raises LogUnavailable if the log is stopped first."""
        target = parse_id(entry_id)
        if target <= self._last:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (target, next(self._waiter_seq), future))
        await future

    # ------------------------------------------------------------------ applying

    def _apply_batch(self, items: list[Any], *, deliver: bool) -> bool:
        """Apply stream items in order; False (nothing more applied) at a gap in the
        entry numbers, which means entries were trimmed before this node read them."""
        for raw_id, fields in items:
            entry_id = parse_id(raw_id)
            if entry_id <= self._last:
                continue
            n = int(fields[b"n"])
            if n != self._n + 1:
                log.warning("log %s: entry %d follows %d here; reloading",
                            self.keys.stream, n, self._n)
                return False
            try:
                entry = load_entry(fields[b"e"])
            except CodecError:
                log.exception("log %s: entry %s is not an entry; skipped",
                              self.keys.stream, format_id(entry_id))
            else:
                try:
                    self.machine.apply(entry, id_time(entry_id), deliver=deliver)
                except Exception:
                    log.exception("log %s: applying a %s entry failed", self.keys.stream,
                                  entry.get("kind"))
                if entry.get("kind") == "event" and entry.get("event", {}).get("type") == "Tick":
                    self._last_tick_now = id_time(entry_id)
                    self._last_tick_applied = self._clock()
            self._last, self._n = entry_id, n
            self._since_snapshot += 1
        self._release_waiters()
        self._tick_wake.set()
        return True

    def _release_waiters(self) -> None:
        while self._waiters and self._waiters[0][0] <= self._last:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                future.set_result(None)

    # ------------------------------------------------------------------ following

    async def _follow(self) -> None:
        backoff = 0.05
        while not self._stopping:
            try:
                if self._down or not self._caught_up.is_set():
                    async with asyncio.timeout(RESYNC_TIMEOUT):
                        await self._resync()
                async with asyncio.timeout(FOLLOW_BLOCK_MS / 1000 + 3.0):
                    answer: Any = await self._reader.xread(
                        {self.keys.stream: self.last_id}, count=BATCH, block=FOLLOW_BLOCK_MS)
                for _, items in answer or ():
                    if not self._apply_batch(items, deliver=True):
                        self._caught_up.clear()
                self._maybe_snapshot()
                backoff = 0.05
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, TimeoutError) as exc:
                if not self._down:
                    log.warning("log %s: Redis lost (%s); resyncing with back-off",
                                self.keys.stream, exc)
                self._mark_down()
                await asyncio.sleep(backoff * (0.5 + random.random()))
                backoff = min(backoff * 2, 1.0)
            except Exception:
                log.exception("log %s: following failed", self.keys.stream)
                self._caught_up.clear()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)

    async def _resync(self) -> None:
        """Catch up with the log from wherever it is now: continue where this replica
        stopped if nothing is missing, else reload the snapshot and replay after it, or
        seed a new epoch if Redis lost the log."""
        await self._reader.ping()
        # Idle command connections may predate a Redis restart: drop them, or the next
        # append would fail on a dead socket (commands are not retried).
        await self._redis.connection_pool.disconnect(inuse_connections=False)
        epoch = _text_or_none(await self._reader.get(self.keys.epoch))
        if epoch is None:
            await self._seed()
        elif epoch == self._epoch and await self._catch_up(deliver=True):
            pass
        else:
            await self._reload()
        self._down = False
        self._caught_up.set()
        self._tick_wake.set()
        log.info("log %s: caught up at %s (entry %d)", self.keys.stream, self.last_id, self._n)

    async def _seed(self) -> None:
        new_epoch = uuid.uuid4().hex
        state = json.dumps(self.machine.snapshot(), separators=(",", ":"))
        seeded = await self._seed_script(
            keys=[self.keys.epoch, self.keys.stream, self.keys.seq, self.keys.snapshot],
            args=[new_epoch, state, CODEC_VERSION])
        if not seeded:
            await self._reload()  # another node seeded first
            return
        if self._epoch is not None:
            log.warning("log %s: Redis had lost the log; new epoch seeded from this "
                        "node's replica at entry %d", self.keys.stream, self._n)
        self._epoch, self._last, self._n = new_epoch, (0, 0), 0
        self._since_snapshot, self._snapshot_at = 0, self._clock()
        self._release_waiters()

    async def _reload(self) -> None:
        """Restore the snapshot and replay the log after it, without delivering."""
        while True:
            snap = {_text(k): v for k, v in (await self._reader.hgetall(
                self.keys.snapshot)).items()}
            if not snap:
                raise LogUnavailable("the log has an epoch but no snapshot")
            if int(snap["v"]) != CODEC_VERSION:
                raise LogUnavailable(f"snapshot codec version {_text(snap['v'])} is not "
                                     f"{CODEC_VERSION}; upgrade every node")
            self.machine.restore(json.loads(snap["state"]))
            self._epoch = _text(snap["epoch"])
            self._last, self._n = parse_id(snap["id"]), int(snap["n"])
            self._since_snapshot, self._snapshot_at = 0, self._clock()
            if await self._catch_up(deliver=False):
                break
            log.warning("log %s: trimmed while replaying; reloading", self.keys.stream)
        self._release_waiters()
        if self._on_resync is not None:
            try:
                self._on_resync()
            except Exception:
                log.exception("log %s: on_resync failed", self.keys.stream)

    async def _catch_up(self, *, deliver: bool) -> bool:
        """Apply every entry after this replica's last one; False at a gap."""
        while True:
            items = await self._reader.xrange(self.keys.stream, min=f"({self.last_id}",
                                              count=BATCH)
            if not items:
                return True
            if not self._apply_batch(items, deliver=deliver):
                return False

    def _mark_down(self) -> None:
        self._down = True
        self._caught_up.clear()

    def _wake_follower(self) -> None:
        self._caught_up.clear()

    # ------------------------------------------------------------------ lease and clock

    async def _lease_loop(self) -> None:
        interval = self.lease_ms / 3000
        while not self._stopping:
            try:
                if self._clock() < self._hold_off_until:
                    if self._leader:
                        self._set_leader(False)
                        await self._release_script(keys=[self.keys.lease],
                                                   args=[self.node_id])
                    await asyncio.sleep(interval)
                    continue
                sent = self._clock()
                holder_ttl, seconds, micros = await self._lease_script(
                    keys=[self.keys.lease], args=[self.node_id, self.lease_ms])
                received = self._clock()
                self._observe_clock(sent, received, int(seconds) + int(micros) / 1e6)
                if int(holder_ttl) == -1 and self.available:
                    self._lease_valid_until = sent + 0.8 * self.lease_ms / 1000
                    self._set_leader(True)
                    self._watch_lapse()
                    await asyncio.sleep(interval)
                else:
                    if int(holder_ttl) == -1:  # ours, but this replica is not caught up
                        await self._release_script(keys=[self.keys.lease],
                                                   args=[self.node_id])
                    self._set_leader(False)
                    # Ask again right when the holder's lease would run out.
                    ttl = int(holder_ttl) / 1000 if int(holder_ttl) > 0 else interval
                    await asyncio.sleep(min(ttl + 0.002, interval))
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self._leader and not self.is_leader:
                    log.warning("log %s: lease lapsed, Redis unreachable (%s)",
                                self.keys.stream, exc)
                    self._set_leader(False)
                self._mark_down()
                await asyncio.sleep(interval / 2)

    def _watch_lapse(self) -> None:
        """Give up leadership when the lease may have run out without a renewal, even if
        the renewing loop itself is stuck."""
        if self._lapse_timer is not None:
            self._lapse_timer.cancel()
        delay = self._lease_valid_until - self._clock()
        self._lapse_timer = asyncio.get_running_loop().call_later(max(0.0, delay) + 0.001,
                                                                  self._check_lapse)

    def _check_lapse(self) -> None:
        self._lapse_timer = None
        if self._leader and not self.is_leader:
            log.warning("log %s: the lease lapsed without renewal", self.keys.stream)
            self._set_leader(False)

    def _set_leader(self, leader: bool) -> None:
        if leader == self._leader:
            return
        self._leader = leader
        log.info("log %s: node %s %s the lease", self.keys.stream, self.node_id,
                 "holds" if leader else "gave up")
        self._tick_wake.set()
        if self._on_leadership is not None:
            try:
                self._on_leadership(leader)
            except Exception:
                log.exception("log %s: on_leadership failed", self.keys.stream)

    async def _measure_clock(self) -> None:
        for _ in range(3):
            sent = self._clock()
            seconds, micros = await self._redis.time()
            self._observe_clock(sent, self._clock(), seconds + micros / 1e6)

    def _observe_clock(self, sent: float, received: float, redis_time: float) -> None:
        """Keep the offset of the sample with the shortest round trip (its midpoint is
        the tightest bound), ageing that bound so a drifting clock is followed."""
        rtt = max(0.0, received - sent)
        self._offset_rtt *= 1.05
        if rtt <= self._offset_rtt:
            self._offset_rtt = rtt
            self._offset = redis_time - (sent + received) / 2

    # ------------------------------------------------------------------ leader duties

    async def _tick_loop(self) -> None:
        """Append a Tick when the machine's next deadline has passed on Redis's clock."""
        while not self._stopping:
            self._tick_wake.clear()
            deadline = self.machine.next_deadline() if self.is_leader and self.available \
                else None
            if deadline is None:
                await self._wait_tick_wake(None)
                continue
            delay = deadline - self.now() + 0.001  # the stamp is whole milliseconds
            if deadline <= self._last_tick_now:
                delay = max(delay, STUCK_DEADLINE_RETRY)
            else:
                # The last tick's stamp is Redis's clock itself: if that tick came early,
                # wait out what it left, whatever the TIME estimate says (no tick storm
                # when the estimate runs a few milliseconds ahead).
                since = self._clock() - self._last_tick_applied
                delay = max(delay, deadline - self._last_tick_now - since + 0.001)
            if delay > 0:
                await self._wait_tick_wake(delay)
                continue
            try:
                entry_id = await self.append(tick_entry())
                async with asyncio.timeout(self.lease_ms / 1000):
                    await self.applied(entry_id)
            except asyncio.CancelledError:
                raise
            except (LogUnavailable, TimeoutError) as exc:
                log.warning("log %s: tick not appended (%s)", self.keys.stream, exc)
                await asyncio.sleep(0.05)

    async def _wait_tick_wake(self, timeout: float | None) -> None:
        try:
            async with asyncio.timeout(timeout):
                await self._tick_wake.wait()
        except TimeoutError:
            pass

    def _maybe_snapshot(self) -> None:
        """Leader: snapshot the state as it is now, right after applying (so it matches
        the last id exactly), when enough entries or time went by."""
        if not self.is_leader or self._since_snapshot == 0 or (
                self._snapshot_task is not None and not self._snapshot_task.done()):
            return
        if (self._since_snapshot < self.snapshot_every
                and self._clock() - self._snapshot_at < self.snapshot_interval):
            return
        state = json.dumps(self.machine.snapshot(), separators=(",", ":"))
        args = [self.node_id, self._epoch or "", self._n, self.last_id, CODEC_VERSION, state]
        self._since_snapshot, self._snapshot_at = 0, self._clock()
        self._snapshot_task = asyncio.create_task(self._write_snapshot(args))

    async def _write_snapshot(self, args: list[Any]) -> None:
        try:
            await self._snapshot_script(keys=[self.keys.lease, self.keys.snapshot,
                                              self.keys.stream, self.keys.epoch], args=args)
        except (RedisError, OSError) as exc:
            log.warning("log %s: snapshot not written (%s)", self.keys.stream, exc)


def _client_like(redis: Redis, *, socket_timeout: float | None) -> Redis:
    """A client to the same server as ``redis``, with bytes replies, no retries (the
    log has its own back-off) and the given read timeout."""
    pool = redis.connection_pool
    kwargs = {k: v for k, v in pool.connection_kwargs.items()
              if k not in _DROPPED_KWARGS and not k.startswith(("maint_notifications", "orig_"))}
    return Redis(connection_pool=blocking_pool_like(
        redis, socket_timeout=socket_timeout, retry=Retry(NoBackoff(), 0), **kwargs))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _text_or_none(value: Any) -> str | None:
    return None if value is None else _text(value)
