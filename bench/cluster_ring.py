"""Ring latency through Redis: one embedded node vs a cluster of one and of three nodes.

Each configuration runs real ``cloud-agent serve`` processes on one throwaway PostgreSQL
database (and a throwaway ``redis-server`` for the clusters). ``--agents`` load agents sign
in, ready, on the *last* node; a caller on the *first* node places calls one after another
(each from its own load kiosk) and hangs up as soon as the agent's ``offer`` lands, which
frees the agent. The figure is ``call_request`` sent -> ``offer`` received, one clock. In
the three-node cluster the request, the entries and the offer cross nodes: the caller's
node appends, every node applies, the agent's node delivers.

    python bench/cluster_ring.py [--samples 300] [--agents 10] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.cluster.nodes import Node, redis_server, shared_database  # noqa: E402
from tests.protocol.wsclient import JsonClient, agent  # noqa: E402


async def run(config: str, samples: int, agents: int, workdir: Path) -> dict[str, Any]:
    count = {"embedded": 1, "cluster-1": 1, "cluster-3": 3}[config]
    settings = {"demo_load_agents": str(agents), "demo_load_kiosks": str(samples + 20),
                "max_calls_per_address": "1000"}
    async with AsyncExitStack() as stack:
        database = await stack.enter_async_context(shared_database())
        redis_url = ""
        if config != "embedded":
            redis = await stack.enter_async_context(redis_server(workdir))
            redis_url = redis.url
        secret = secrets.token_hex(32)
        nodes = [Node(name, redis_url, database, secret, workdir, **settings)
                 for name in "abc"[:count]]
        for node in nodes:
            await node.start()
            stack.push_async_callback(node.stop)
        desks = [await agent(nodes[-1], f"load-agent-{n}") for n in range(1, agents + 1)]
        ms: list[float] = []
        offers: asyncio.Queue[tuple[float, str]] = asyncio.Queue()

        async def watch(desk: JsonClient) -> None:
            while True:
                message = await desk.recv(120)
                if message["type"] == "offer":
                    offers.put_nowait((time.perf_counter(), message["call_id"]))
        watchers = [asyncio.create_task(watch(d)) for d in desks]
        caller = await JsonClient.open(f"{nodes[0].ws}/ws/caller")
        for number in range(1, samples + 21):
            sent = time.perf_counter()
            await caller.send({"type": "call_request", "skill": "water",
                               "kiosk_token": f"load-kiosk-{number}"})
            queued = await caller.expect("queued", timeout=30)
            offered_at, call_id = await asyncio.wait_for(offers.get(), 30)
            assert call_id == queued["call_id"]
            if number > 20:  # warm-up
                ms.append((offered_at - sent) * 1000)
            await caller.send({"type": "hangup"})
            await caller.expect("ended", timeout=30, call_id=call_id)
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
    ms.sort()
    return {"config": config, "nodes": count, "samples": len(ms),
            "p50_ms": round(statistics.median(ms), 2),
            "p99_ms": round(ms[int(0.99 * (len(ms) - 1))], 2), "max_ms": round(ms[-1], 2)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = []
    for config in ("embedded", "cluster-1", "cluster-3"):
        with TemporaryDirectory() as tmp:
            results.append(await run(config, args.samples, args.agents, Path(tmp)))
    if args.json:
        print(json.dumps(results))
        return
    print(f"{'config':<10} {'nodes':>5} {'samples':>7} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'max ms':>8}")
    for r in results:
        print(f"{r['config']:<10} {r['nodes']:>5} {r['samples']:>7} {r['p50_ms']:>8} "
              f"{r['p99_ms']:>8} {r['max_ms']:>8}")


if __name__ == "__main__":
    asyncio.run(main())
