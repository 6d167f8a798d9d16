"""A flood of bad logins must not slow down signaling for the people already in calls.

Each login costs a 64 MiB argon2 hash. The flood runs in a separate process (an attacker is
not inside the server): 32 concurrent clients with random usernames, each sending its next
attempt as soon as the previous one is answered, or after ``Retry-After`` when told to
wait. (A client that ignores ``Retry-After`` is a flood of cheap requests like any other:
that is the reverse proxy's ``limit_req``, docs/operations.md.) The test compares a
caller's ``ping`` → ``pong`` round trips at rest, before and after, with those during the
flood.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time

import httpx

from tests.conftest import StartServer
from tests.protocol.wsclient import JsonClient

FLOOD_CLIENTS = 32

#: the attacker: N concurrent loops of bad logins; prints one line per answer status
FLOOD = r"""
import asyncio, secrets, sys
import httpx

async def attacker(client, url, counts):
    while True:
        response = await client.post(url, json={
            "username": "u-" + secrets.token_hex(6), "password": secrets.token_hex(8)})
        counts[response.status_code] = counts.get(response.status_code, 0) + 1
        if response.status_code == 401 and counts[401] == 1:
            print("hashing", flush=True)
        if response.status_code in (429, 503):
            await asyncio.sleep(float(response.headers.get("retry-after", "1")))

async def main():
    url, clients = sys.argv[1], int(sys.argv[2])
    counts = {}
    limits = httpx.Limits(max_connections=clients + 4)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        tasks = [asyncio.create_task(attacker(client, url, counts)) for _ in range(clients)]
        try:
            await asyncio.sleep(3600)
        finally:
            print("answers", counts, flush=True)

try:
    asyncio.run(main())
except KeyboardInterrupt:
    pass
"""


async def _round_trips(client: JsonClient, count: int, budget: float) -> list[float]:
    """``count`` sequential ping round trips (fewer if ``budget`` seconds run out)."""
    times: list[float] = []
    deadline = time.perf_counter() + budget
    while len(times) < count and time.perf_counter() < deadline:
        started = time.perf_counter()
        await client.send({"type": "ping"})
        await client.expect("pong", timeout=30)
        times.append(time.perf_counter() - started)
    return times


async def _log_in_when_allowed(http: str) -> None:
    """Log in as a real agent, waiting as the server asks (``Retry-After``)."""
    async with httpx.AsyncClient(timeout=120) as client:
        for _ in range(60):
            response = await client.post(f"{http}/api/login",
                                         json={"username": "demo-agent-1", "password": "demo"})
            if response.status_code == 200:
                return
            assert response.status_code in (429, 503), response.text
            await asyncio.sleep(float(response.headers["retry-after"]))
    raise AssertionError("the agent could not log in after the flood")


def _p99(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def test_signaling_latency_does_not_move_while_logins_are_hammered(
        start_server: StartServer) -> None:
    # The per-address throttle would stop this flood early; turn it off here so that the
    # bound on concurrent hashing has to carry the load on its own. The message rate limit
    # is raised so that back-to-back pings are answered, not refused.
    server = await start_server(login_max_failures_per_address=1_000_000,
                                rate_limit_per_second=10_000, rate_limit_burst=10_000)
    caller = await JsonClient.open(f"{server.ws}/ws/caller")
    await _round_trips(caller, 50, 10)  # warm up
    at_rest = await _round_trips(caller, 200, 20)

    flood = await asyncio.create_subprocess_exec(
        sys.executable, "-c", FLOOD, f"{server.http}/api/login", str(FLOOD_CLIENTS),
        stdout=asyncio.subprocess.PIPE)
    assert flood.stdout is not None
    try:
        assert await asyncio.wait_for(flood.stdout.readline(), 60) == b"hashing\n"
        under_flood = await _round_trips(caller, 300, 20)
    finally:
        flood.send_signal(signal.SIGINT)
        report = (await flood.communicate())[0].decode()
    await _log_in_when_allowed(server.http)  # also: the server has drained the flood
    at_rest += await _round_trips(caller, 200, 20)
    await caller.close()

    # A 5 ms floor under the baseline: on a shared 2-core machine a quiet p99 of 1 ms
    # doubles by chance; the old code's flood took it past 200 ms.
    ratio = _p99(under_flood) / max(_p99(at_rest), 0.005)
    print(f"ping p99 at rest {_p99(at_rest) * 1000:.2f} ms, under login flood "
          f"{_p99(under_flood) * 1000:.2f} ms (x{ratio:.1f}); {report.strip()}")
    assert len(under_flood) >= 100, report
    assert ratio < 5, (ratio, report)
