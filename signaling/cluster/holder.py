"""A bare log node in a process of its own: ``python -m signaling.cluster.holder URL NS P ID``.

It follows partition ``P``'s log with an ``EngineMachine`` and contends for its lease,
printing ``leader`` (flushed) each time it takes the lease. The leader-kill test and
``bench/takeover.py`` start it, wait for ``leader`` and SIGKILL it: a leader that dies
without releasing anything, as a crashed node does.
"""

from __future__ import annotations

import asyncio
import sys

import redis.asyncio as aioredis

from .engine_machine import EngineMachine
from .log import PartitionLog


async def hold(url: str, ns: str, partition: str, node_id: str) -> None:
    client = aioredis.from_url(url)
    log = PartitionLog(client, ns, partition, node_id, EngineMachine(),
                       on_leadership=lambda leader: print("leader" if leader else "follower",
                                                          flush=True))
    await log.start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(hold(*sys.argv[1:5]))
