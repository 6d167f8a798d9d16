"""Ring latency: call request sent -> the agent's ``offer`` received, over real sockets.

Setup: a real server in a subprocess (embedded defaults: memory engine, SQLite), 200
logged-in agents (180 holding only ``tax`` and not ready, 20 holding ``water`` and ready),
and 1,000 callers waiting in the ``tax`` queue. Then one more caller places ``water``
calls one after another; each is offered to a ready water agent and cancelled by the
caller as soon as the offer lands (which frees the agent at once). The figure is the time
from sending ``call_request`` to the agent's socket receiving ``offer``, on one clock.
It also reports hang-up -> ``ended`` on the caller's socket, which includes the wait for
the call's record to be written (``Hub._send_when_recorded``).

    python bench/ring_latency.py [--waiting 1000] [--agents 200] [--samples 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from signaling.matters.validators import uscc_check_character  # noqa: E402
from signaling.store import AccountRepository, Database  # noqa: E402
from signaling.tokens import sign  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def seed(data_dir: Path, agents: int, water_agents: int) -> None:
    db = Database(f"sqlite+aiosqlite:///{data_dir / 'cloud-agent.db'}")
    await db.create_all()
    repo = AccountRepository(db)
    for n in range(agents):
        skills = {"water": 1} if n < water_agents else {"tax": 1}
        await repo.create(f"bench-{n}", "bench", account_id=f"bench-{n}", skills=skills)
    await db.dispose()


async def recv_type(ws: ClientConnection, type_: str) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = json.loads(await ws.recv())
        if message["type"] == type_:
            return message


async def drain(ws: ClientConnection) -> None:
    """Keep reading a socket we don't measure, so the server never sees a slow client."""
    try:
        async for _ in ws:
            pass
    except Exception:
        pass


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="ring-bench-"))
    await seed(data_dir, args.agents, args.water_agents)
    secret = "bench-secret-" + os.urandom(8).hex()
    port = free_port()
    env = {**os.environ, "CLOUD_AGENT_SECRET_KEY": secret, "CLOUD_AGENT_DEMO": "true",
           "CLOUD_AGENT_RATE_LIMIT_BURST": "100000", "CLOUD_AGENT_MAX_WAIT": "100000",
           "CLOUD_AGENT_RESUME_GRACE": "600",
           # every simulated client comes from 127.0.0.1: lift the per-address abuse limits
           "CLOUD_AGENT_MAX_CALLS_PER_ADDRESS": "1000000",
           "CLOUD_AGENT_MAX_CALLER_SOCKETS_PER_ADDRESS": "1000000",
           "CLOUD_AGENT_NEW_SOCKETS_PER_MINUTE": "1000000"}
    server = subprocess.Popen(
        [sys.executable, "-m", "signaling", "serve", "--port", str(port), "--data-dir",
         str(data_dir), "--log-level", "warning"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    base, ws_base = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"
    sockets: list[ClientConnection] = []
    drains: list[asyncio.Task[None]] = []
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(300):
                try:
                    if (await client.get(f"{base}/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        water_agents: list[ClientConnection] = []
        for n in range(args.agents):
            ws = await connect(f"{ws_base}/ws/agent", max_size=1 << 22)
            await recv_type(ws, "hello")
            token = sign(secret.encode(), "agent", f"bench-{n}", time.time(), 3600)
            await ws.send(json.dumps({"type": "auth", "token": token}))
            await recv_type(ws, "authenticated")
            if n < args.water_agents:
                await ws.send(json.dumps({"type": "set_status", "status": "ready"}))
                await recv_type(ws, "agent_state")
                water_agents.append(ws)
            else:
                drains.append(asyncio.create_task(drain(ws)))
            sockets.append(ws)
        for n in range(args.waiting):
            ws = await connect(f"{ws_base}/ws/caller")
            await recv_type(ws, "hello")
            # Enterprise callers, one company each: a kiosk holds one live call at a time.
            first17 = f"91330424MA{n:07d}"
            company = {"name": f"基准测试企业{n}", "uscc": first17 + uscc_check_character(first17),
                       "contact_name": "张三", "contact_phone": "13800138000"}
            await ws.send(json.dumps({"type": "call_request", "skill": "tax",
                                      "company": company}))
            await recv_type(ws, "queued")
            drains.append(asyncio.create_task(drain(ws)))
            sockets.append(ws)

        offers: asyncio.Queue[tuple[float, str]] = asyncio.Queue()

        async def watch(ws: ClientConnection) -> None:
            async for raw in ws:
                received = time.perf_counter()
                message = json.loads(raw)
                if message["type"] == "offer":
                    offers.put_nowait((received, message["call_id"]))
        drains.extend(asyncio.create_task(watch(ws)) for ws in water_agents)

        caller = await connect(f"{ws_base}/ws/caller")
        sockets.append(caller)
        await recv_type(caller, "hello")
        latencies: list[float] = []
        ended_latencies: list[float] = []  # hangup sent -> 'ended' (after its record write)
        outliers: list[tuple[float, float]] = []  # (seconds into the run, ms) over 20 ms
        began = time.perf_counter()
        for n in range(args.samples + args.warmup):
            sent = time.perf_counter()
            await caller.send(json.dumps({"type": "call_request", "skill": "water",
                                          "kiosk_token": "demo-kiosk"}))
            received, call_id = await asyncio.wait_for(offers.get(), 10)
            if n >= args.warmup:
                latencies.append((received - sent) * 1000)
                if latencies[-1] > 20:
                    outliers.append((round(sent - began, 2), round(latencies[-1], 1)))
            await recv_type(caller, "ringing")
            hung_up = time.perf_counter()
            await caller.send(json.dumps({"type": "hangup"}))
            await recv_type(caller, "ended")
            if n >= args.warmup:
                ended_latencies.append((time.perf_counter() - hung_up) * 1000)
        return {
            "waiting_calls": args.waiting, "agents": args.agents,
            "ready_agents": args.water_agents, "samples": len(latencies),
            "p50_ms": round(statistics.median(latencies), 2),
            "p90_ms": round(percentile(latencies, 90), 2),
            "p99_ms": round(percentile(latencies, 99), 2),
            "max_ms": round(max(latencies), 2),
            "over_20ms": outliers,
            "hangup_to_ended_p50_ms": round(statistics.median(ended_latencies), 2),
            "hangup_to_ended_p99_ms": round(percentile(ended_latencies, 99), 2),
        }
    finally:
        for task in drains:
            task.cancel()
        for ws in sockets:
            await ws.close()
        server.terminate()
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--waiting", type=int, default=1000)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--water-agents", type=int, default=20)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=20)
    print(json.dumps(asyncio.run(run(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
