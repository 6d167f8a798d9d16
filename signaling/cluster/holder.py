"""A bare log node in a process of its own:
``python -m signaling.cluster.holder URL NS PARTITION NODE_ID [RING_TIMEOUT]``.

It follows the partition's log with an ``EngineMachine`` (ring timeout in seconds,
default 15) and contends for its lease. It prints ``ready`` once caught up, then
``leader <epoch seconds>`` / ``follower <epoch seconds>`` (flushed) each time it takes or
loses the lease. The leader-kill test and ``bench/takeover.py`` start it, wait for
``leader`` and SIGKILL it: a leader that dies without releasing anything, as a crashed
node does.
"""

from __future__ import annotations

import asyncio
import sys
import time

import redis.asyncio as aioredis

from ..routing.model import RoutingConfig
from .engine_machine import EngineMachine
from .log import PartitionLog


def announce(leader: bool) -> None:
    print("leader" if leader else "follower", f"{time.time():.6f}", flush=True)


async def hold(url: str, ns: str, partition: str, node_id: str,
               ring_timeout: float = 15.0) -> None:
    client = aioredis.from_url(url)
    machine = EngineMachine(RoutingConfig(ring_timeout=ring_timeout, max_no_answer=10**9))
    log = PartitionLog(client, ns, partition, node_id, machine, on_leadership=announce)
    await log.start()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    url, ns, partition, node_id, *rest = sys.argv[1:]
    asyncio.run(hold(url, ns, partition, node_id, *(float(x) for x in rest)))
