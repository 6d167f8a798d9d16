"""The hub as one node of a cluster on Redis (``cloud-agent serve --redis URL``).

Live state is replicated by the partition's log (``signaling.cluster.log.PartitionLog``):
every node appends entries and applies every entry in order (``state.LiveState``), so
each node can answer for any caller or agent and delivers what concerns its own sockets.
What never goes through the log lives here:

- **relay**: SDP/ICE (and anything else sent to one party outside an entry) for a party
  on another node goes to that node's stream ``{ns}:relay:{node}``, which it reads with
  ``XREAD BLOCK`` and hands to the socket. One sender task per destination keeps the
  order (an answer before its candidates).
- **heartbeats**: ``{ns}:node:{id}`` with an expiry, refreshed every second; the leader
  appends ``node_gone`` for a node whose heartbeat expired while parties were on it, so
  the engine treats them as disconnected (resume grace, agent reconnect grace).
- **leader chores** the log does not do: the agents' reconnect grace and the live
  invariant self-check.

Where a caller or agent is connected (presence) is part of the replicated state itself
(``CallerInfo.node``, ``Hub.agent_conns``), so no separate presence keys are needed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ..cluster.log import PartitionLog
from ..cluster.machine import LogUnavailable
from .sessions import HubError
from .state import node_gone_entry

if TYPE_CHECKING:
    from .hub import Hub

log = logging.getLogger(__name__)

#: a node's heartbeat lives this long without refresh (ms), refreshed every second: a
#: loaded node whose loop stalls for a few seconds must not be taken for dead
HEARTBEAT_MS = 6000
HEARTBEAT_EVERY = 1.0
#: relay stream length kept per node (approximate trim)
RELAY_MAXLEN = 10_000
#: longest wait for an appended entry to come back from the log (seconds)
APPLY_TIMEOUT = 5.0
#: the log group every call and agent belongs to (one Engine; see docs/operations.md)
LOG_GROUP = "default"


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
        self.redis = aioredis.from_url(settings.redis_url, socket_connect_timeout=2,
                                       socket_timeout=10)
        self.log = PartitionLog(self.redis, self.ns, LOG_GROUP, self.node_id, hub.state,
                                clock=self._local_clock, on_leadership=self._on_leadership,
                                on_resync=self._on_resync)
        self._tasks: list[asyncio.Task[None]] = []
        self._outgoing: dict[str, asyncio.Queue[tuple[str, str]]] = {}
        self._senders: dict[str, asyncio.Task[None]] = {}
        self._gone_asked: set[str] = set()
        self._missing: set[str] = set()

    @property
    def is_leader(self) -> bool:
        return bool(self.log.is_leader)

    def now(self) -> float:
        """Redis's clock as this node estimates it (engine time in a cluster is epoch
        seconds stamped by Redis; a node's own skew cancels out)."""
        return self.log.now()

    def _local_clock(self) -> float:
        return time.time() + self.hub.settings.clock_offset

    def _on_leadership(self, leader: bool) -> None:
        """A new leader writes the record of every live call once more (the last leader
        may have died with writes in flight; the upserts are idempotent)."""
        if leader:
            self.hub.rewrite_live_records()

    def _on_resync(self) -> None:
        """The state was reloaded from a snapshot (start, or after a Redis outage): the
        sockets of this node are linked again and told their current state."""
        self.hub.relink_connections()
        told = self.hub.state.resend_state()
        if told:
            log.info("cluster node %s: resynced; %d sockets told their state",
                     self.node_id, told)

    async def start(self) -> None:
        await self._beat()
        await self.log.start()
        self._tasks = [asyncio.create_task(self._heartbeat_loop()),
                       asyncio.create_task(self._relay_loop()),
                       asyncio.create_task(self._leader_loop())]
        log.info("cluster node %s started (leader: %s)", self.node_id, self.is_leader)

    async def stop(self) -> None:
        for task in [*self._tasks, *self._senders.values()]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._senders.values(), return_exceptions=True)
        try:
            await self.log.stop()
            await self.redis.delete(f"{self.ns}:node:{self.node_id}")
        except Exception:
            log.warning("cluster node %s: clean stop failed", self.node_id, exc_info=True)
        await self.redis.aclose()

    # ------------------------------------------------------------ the log

    async def submit(self, entry: dict[str, Any]) -> None:
        """Append to the log and wait until this node applied it."""
        try:
            entry_id = await self.log.append(entry)
        except (LogUnavailable, RedisError, OSError) as exc:
            raise HubError("service_unavailable", "the service is unavailable for a "
                           "moment; please try again shortly") from exc
        try:
            await asyncio.wait_for(self.log.applied(entry_id), APPLY_TIMEOUT)
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

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY)
            try:
                await self._beat()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("heartbeat failed", exc_info=True)

    def _nodes_in_state(self) -> set[str]:
        hub = self.hub
        nodes = {info.node for info in hub.callers.values() if info.node is not None}
        nodes.update(key.split("/", 1)[0] for key in hub.agent_conns.values())
        return nodes

    async def _leader_loop(self) -> None:
        """Leader chores once a second: dead nodes' parties, agents' reconnect grace."""
        while True:
            await asyncio.sleep(1.0)
            if not self.is_leader:
                self._gone_asked.clear()
                self._missing.clear()
                continue
            try:
                await self._sweep_dead_nodes()
                self._sweep_logouts()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("leader chores failed", exc_info=True)

    async def _sweep_dead_nodes(self) -> None:
        """A node whose heartbeat is missing at two sweeps in a row (so not merely one
        that has not beaten yet after Redis came back) is gone."""
        missing = set()
        for node in sorted(self._nodes_in_state() - {self.node_id} - self._gone_asked):
            if not await self.redis.exists(f"{self.ns}:node:{node}"):
                missing.add(node)
        for node in sorted(missing & self._missing):
            self._gone_asked.add(node)
            log.warning("node %s is gone: its callers and agents are detached", node)
            await self.submit(node_gone_entry(node))
        self._missing = missing - self._gone_asked

    def _sweep_logouts(self) -> None:
        hub = self.hub
        for agent_id, detached_at in list(hub.detached_agents.items()):
            if agent_id not in hub.logout_timers:
                hub.schedule_logout(agent_id, detached_at)
