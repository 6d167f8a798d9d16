"""The hub as one node of a cluster on Redis (``cloud-agent serve --redis URL``).

Live state is replicated by one log per router (``signaling.cluster.log.PartitionLog``;
a router serves one or more districts, ``routing.routers``): every node appends entries
to the log of the router they concern and applies every entry of every log in order
(``state.LiveState``), so each node can answer for any caller or agent and delivers what
concerns its own sockets. Each router has its own lease and leader, so the routers'
single-writer duties spread over the nodes and a dead leader stops one router for about
a second, not all of them. What never goes through a log lives here:

- **relay**: SDP/ICE (and anything else sent to one party outside an entry) for a party
  on another node goes to that node's stream ``{ns}:relay:{node}``, which it reads with
  ``XREAD BLOCK`` and hands to the socket. One sender task per destination keeps the
  order (an answer before its candidates).
- **heartbeats**: ``{ns}:node:{id}`` with an expiry, refreshed every second; each
  router's leader appends ``node_gone`` for a node whose heartbeat expired while parties
  of that router were on it, so the engine treats them as disconnected (resume grace,
  agent reconnect grace).
- **leader chores** the log does not do: the agents' reconnect grace and the live
  invariant self-check, per router by its leader.
- **leadership spread**: each node counts the live nodes (``{ns}:nodes``, a sorted set
  of heartbeat expiries) and hands a router over when it leads more than its share
  (routers ÷ nodes, rounded up), so the routers' chores spread as nodes join.
- **the router map**: ``{ns}:routers`` holds the first node's ``routing_partitions``; a
  node with another map refuses to start (two maps would route one district twice).

Where a caller or agent is connected (presence) is part of the replicated state itself
(``CallerInfo.node``, ``Hub.agent_conns``), so no separate presence keys are needed.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
import time
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from ..cluster.client import cluster_redis
from ..cluster.log import PartitionLog
from ..cluster.machine import LogUnavailable
from .sessions import HubError
from .state import RouterState, node_gone_entry

if TYPE_CHECKING:
    from .hub import Hub

log = logging.getLogger(__name__)

#: a node's heartbeat lives this long without refresh (ms), refreshed every second: a
#: loaded node whose loop stalls for a few seconds must not be taken for dead
HEARTBEAT_MS = 6000
HEARTBEAT_EVERY = 1.0
#: how often a node compares the routers it leads with its share, and how long one it
#: handed over keeps away from that router's lease
BALANCE_EVERY = 2.0
BALANCE_HOLD_OFF = 5.0
#: seconds between a leader's checks for call records the cluster left live
ORPHAN_CHECK_EVERY = 30.0
#: relay stream length kept per node (approximate trim)
RELAY_MAXLEN = 10_000
#: longest wait for an appended entry to come back from the log (seconds)
APPLY_TIMEOUT = 5.0


class RouterMapMismatch(RuntimeError):
    """This node's ``routing_partitions`` differ from the cluster's."""


class ClusterNode:
    """This process's place in the cluster: the partition log, relay, heartbeats."""

    def __init__(self, hub: Hub) -> None:
        settings = hub.settings
        assert settings.redis_url is not None
        self.hub = hub
        self.node_id = hub.node_id
        self.ns = "ca" + settings.redis_namespace
        #: one pool for everything: an XREAD BLOCK holds one of its connections (blocks
        #: stay well inside the read timeout)
        self.redis = cluster_redis(settings.redis_url, socket_connect_timeout=2,
                                   socket_timeout=10)
        #: one log per router (``default`` first)
        self.logs: dict[str, PartitionLog] = {
            name: PartitionLog(self.redis, self.ns, name, self.node_id,
                               RouterState(hub.state, name), clock=self._local_clock,
                               on_leadership=functools.partial(self._on_leadership, name),
                               on_resync=functools.partial(self._on_resync, name))
            for name in hub.routers.map.names}
        self.log = self.logs[hub.routers.map.names[0]]
        self._tasks: list[asyncio.Task[None]] = []
        self._outgoing: dict[str, asyncio.Queue[tuple[str, str]]] = {}
        self._senders: dict[str, asyncio.Task[None]] = {}
        self._gone_asked: dict[str, set[str]] = {name: set() for name in self.logs}
        self._missing: dict[str, set[str]] = {name: set() for name in self.logs}
        self._orphans_checked: dict[str, float] = {}
        #: no node is declared gone before this (monotonic): after Redis was away (an
        #: emptied Redis has no heartbeats at all) every node needs a heartbeat's life to
        #: beat again; declaring one gone sooner closed its sockets with 1012
        self._beats_trusted_from = 0.0

    @property
    def is_leader(self) -> bool:
        """Whether this node leads the ``default`` router."""
        return bool(self.log.is_leader)

    def leads(self, router: str) -> bool:
        """Whether this node holds ``router``'s lease (its single-writer duties)."""
        log_ = self.logs.get(router)
        return log_ is not None and bool(log_.is_leader)

    def now(self) -> float:
        """Redis's clock as this node estimates it (engine time in a cluster is epoch
        seconds stamped by Redis; a node's own skew cancels out). Every log measures it;
        the default router's estimate serves them all (one Redis)."""
        return self.log.now()

    def _local_clock(self) -> float:
        return time.time() + self.hub.settings.clock_offset

    def _on_leadership(self, router: str, leader: bool) -> None:
        """A router's new leader writes the record of each of its live calls once more
        (the last leader may have died with writes in flight; the upserts are
        idempotent)."""
        if leader:
            replayed = self.hub.replay_recent_records(router)
            self.hub.rewrite_live_records(router)
            log.info("cluster node %s leads router %s: %d recent record writes replayed",
                     self.node_id, router, replayed)

    def _on_resync(self, router: str) -> None:
        """A router's state was reloaded from a snapshot (start, or after a Redis
        outage): the sockets of this node are linked again and that router's callers and
        agents told their current state."""
        self._distrust_beats()
        self.hub.relink_connections()
        told = self.hub.state.resend_state(router)
        if told:
            log.info("cluster node %s: router %s resynced; %d sockets told their state",
                     self.node_id, router, told)

    async def _check_router_map(self) -> None:
        """Every node must split the districts the same way: the first node's map is
        kept in Redis (until the cluster's keys are deleted) and any other refused."""
        spec = self.hub.routers.map.spec()
        key = f"{self.ns}:routers"
        await self.redis.set(key, spec, nx=True)
        raw: Any = await self.redis.get(key)
        stored = raw.decode() if isinstance(raw, bytes) else raw
        if stored is not None and stored != spec:
            raise RouterMapMismatch(
                f"routing_partitions of this node ({spec or 'none'}) differ from the "
                f"cluster's ({stored or 'none'}); give every node the same list "
                f"(to change it: stop every node and delete the key {key})")

    async def start(self) -> None:
        await self._check_router_map()
        await self._beat()
        await asyncio.gather(*(log_.start() for log_ in self.logs.values()))
        await self._forget_previous_run()
        self._tasks = [asyncio.create_task(self._heartbeat_loop()),
                       asyncio.create_task(self._relay_loop()),
                       asyncio.create_task(self._leader_loop()),
                       asyncio.create_task(self._balance_loop())]
        log.info("cluster node %s started (leads: %s)", self.node_id,
                 ", ".join(r for r in self.logs if self.leads(r)) or "nothing")

    async def stop(self) -> None:
        for task in [*self._tasks, *self._senders.values()]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._senders.values(), return_exceptions=True)
        try:
            await asyncio.gather(*(log_.stop() for log_ in self.logs.values()))
            await self.redis.delete(f"{self.ns}:node:{self.node_id}")
            await self.redis.zrem(f"{self.ns}:nodes", self.node_id)
        except Exception:
            log.warning("cluster node %s: clean stop failed", self.node_id, exc_info=True)
        await self.redis.aclose()

    # ------------------------------------------------------------ the log

    async def submit(self, entry: dict[str, Any]) -> None:
        """Append to the log and wait until this node applied it."""
        log_ = self.logs[self.hub.state.router_of(entry)]
        try:
            entry_id = await log_.append(entry)
        except (LogUnavailable, RedisError, OSError) as exc:
            raise HubError("service_unavailable", "the service is unavailable for a "
                           "moment; please try again shortly") from exc
        try:
            await asyncio.wait_for(log_.applied(entry_id), APPLY_TIMEOUT)
        except TimeoutError:  # appended, but the log is not coming back: Redis went away
            raise HubError("service_unavailable", "the service is unavailable for a "
                           "moment; please try again shortly") from None

    # ------------------------------------------------------------ relay

    def forward(self, node: str, target: dict[str, str], message: dict[str, Any] | str) -> None:
        """Send ``message`` (or an already serialized frame) to a party (``{"call_id"}``
        or ``{"agent_id"}``) on ``node``."""
        if node == self.node_id:
            self.deliver(target, message)
            return
        queue = self._outgoing.get(node)
        if queue is None:
            queue = self._outgoing[node] = asyncio.Queue(maxsize=RELAY_MAXLEN)
            self._senders[node] = asyncio.create_task(self._send_loop(node, queue))
        text = message if isinstance(message, str) else json.dumps(message, ensure_ascii=False)
        try:
            queue.put_nowait((json.dumps(target), text))
        except asyncio.QueueFull:
            log.warning("relay to node %s is backed up; message dropped", node)

    async def _send_loop(self, node: str, queue: asyncio.Queue[tuple[str, str]]) -> None:
        stream = f"{self.ns}:relay:{node}"
        while True:
            batch = [await queue.get()]
            while not queue.empty() and len(batch) < 100:
                batch.append(queue.get_nowait())
            for attempt in range(3):  # a connection of the pool may predate a Redis restart
                try:
                    async with self.redis.pipeline(transaction=False) as pipe:
                        for target, text in batch:
                            pipe.xadd(stream, {"to": target, "m": text},
                                      maxlen=RELAY_MAXLEN, approximate=True)
                        await pipe.execute()
                    break
                except (RedisError, OSError):
                    if attempt == 2:
                        log.warning("relay to node %s failed; %d message(s) lost", node,
                                    len(batch))
                    else:
                        await asyncio.sleep(0.1)

    def deliver(self, target: dict[str, str], message: dict[str, Any] | str) -> None:
        hub = self.hub
        if isinstance(message, str):
            message = json.loads(message)
            assert isinstance(message, dict)
        if "call_id" in target:
            info = hub.callers.get(target["call_id"])
            if info is not None and info.connection is not None:
                info.connection.send(message)
        elif (conn := hub.agents.get(target.get("agent_id", ""))) is not None:
            conn.send(message)

    async def _relay_loop(self) -> None:
        stream = f"{self.ns}:relay:{self.node_id}"
        newest: Any = await self.redis.xrevrange(stream, count=1)
        last: Any = newest[0][0] if newest else "0-0"
        while True:
            try:
                answer: Any = await self.redis.xread({stream: last}, block=1000, count=500)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("relay read failed; retrying", exc_info=True)
                await asyncio.sleep(0.5)
                continue
            for _, items in answer or []:
                for item_id, fields in items:
                    last = item_id
                    try:
                        self.deliver(json.loads(fields[b"to"]), fields[b"m"].decode())
                    except Exception:
                        log.exception("bad relay item %s", item_id)

    # ------------------------------------------------------------ heartbeat, leader

    async def _beat(self) -> None:
        await self.redis.set(f"{self.ns}:node:{self.node_id}", str(time.time()),
                             px=HEARTBEAT_MS)
        # The same expiry on Redis's clock (as the logs estimate it), for counting nodes.
        await self.redis.zadd(f"{self.ns}:nodes",
                              {self.node_id: self.now() + HEARTBEAT_MS / 1000})

    async def _live_nodes(self) -> int:
        key, now = f"{self.ns}:nodes", self.now()
        await self.redis.zremrangebyscore(key, "-inf", now - 60)
        return int(await self.redis.zcount(key, now, "+inf"))

    async def _balance_loop(self) -> None:
        """Hand one router over while this node leads more than its share of them (the
        lease goes to whichever other node asks first, within half a second)."""
        if len(self.logs) < 2:
            return
        while True:
            await asyncio.sleep(BALANCE_EVERY)
            try:
                share = math.ceil(len(self.logs) / max(1, await self._live_nodes()))
                led = [router for router in self.logs if self.leads(router)]
                if len(led) > share:
                    log.info("cluster node %s leads %d routers (share %d): hands %s over",
                             self.node_id, len(led), share, led[-1])
                    self.logs[led[-1]].step_down(BALANCE_HOLD_OFF)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("balancing leadership failed", exc_info=True)

    def _distrust_beats(self) -> None:
        self._beats_trusted_from = time.monotonic() + HEARTBEAT_MS / 1000 + HEARTBEAT_EVERY

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY)
            try:
                await self._beat()
            except asyncio.CancelledError:
                raise
            except Exception:
                self._distrust_beats()  # others' beats fail too while Redis is away
                log.warning("heartbeat failed", exc_info=True)

    def _nodes_in_state(self, router: str) -> set[str]:
        """Nodes where ``router``'s callers and agents are connected."""
        hub = self.hub
        routers = hub.routers
        nodes = {info.node for info in hub.callers.values()
                 if info.node is not None and routers.router_of(info.partition) == router}
        nodes.update(key.split("/", 1)[0] for agent_id, key in hub.agent_conns.items()
                     if hub.router_of_agent(agent_id) == router)
        return nodes

    async def _leader_loop(self) -> None:
        """Chores once a second for each router this node leads: dead nodes' parties,
        agents' reconnect grace."""
        while True:
            await asyncio.sleep(1.0)
            for router in self.logs:
                if not self.leads(router):
                    self._orphans_checked.pop(router, None)
                    self._gone_asked[router].clear()
                    self._missing[router].clear()
                    continue
                try:
                    await self._sweep_dead_nodes(router)
                    self._sweep_logouts(router)
                    await self._check_orphans(router)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.warning("leader chores of router %s failed", router, exc_info=True)

    async def _sweep_dead_nodes(self, router: str) -> None:
        """A node whose heartbeat is missing at two sweeps in a row (so not merely one
        that has not beaten yet after Redis came back) is gone."""
        if time.monotonic() < self._beats_trusted_from:
            return  # Redis was away: every node gets a heartbeat's life to beat again
        asked = self._gone_asked[router]
        missing = set()
        for node in sorted(self._nodes_in_state(router) - {self.node_id}):
            if await self.redis.exists(f"{self.ns}:node:{node}"):
                asked.discard(node)  # back (restarted under its name): watched again
            elif node not in asked:
                missing.add(node)
        for node in sorted(missing & self._missing[router]):
            asked.add(node)
            log.warning("node %s is gone: router %s detaches its callers and agents",
                        node, router)
            await self.submit(node_gone_entry(node, router))
        self._missing[router] = missing - asked

    async def _forget_previous_run(self) -> None:
        """A node restarted under its old ``node_id`` (after a crash, before the leader
        noticed) finds its previous run's callers and agents in the replicated state:
        their sockets died with that run, so it declares them gone itself, in every
        router's log, before it accepts a socket of its own."""
        for router in self.logs:
            if self.node_id in self._nodes_in_state(router):
                log.warning("node %s: parties of this node's previous run are detached "
                            "(router %s)", self.node_id, router)
                await self.submit(node_gone_entry(self.node_id, router))

    async def _check_orphans(self, router: str) -> None:
        """Now and then (and first right after taking the lease), records the cluster left
        live with no call behind them are closed (``Hub.interrupt_orphaned_records``)."""
        now = time.monotonic()
        if now < self._orphans_checked.get(router, float("-inf")) + ORPHAN_CHECK_EVERY:
            return
        self._orphans_checked[router] = now
        await self.hub.interrupt_orphaned_records(router)

    def _sweep_logouts(self, router: str) -> None:
        hub = self.hub
        for agent_id, detached_at in list(hub.detached_agents.items()):
            if agent_id not in hub.logout_timers and hub.router_of_agent(agent_id) == router:
                hub.schedule_logout(agent_id, detached_at)
