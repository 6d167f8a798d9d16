"""A noisy neighbour must not slow anyone else down (issue 6, item 7).

A real ``cloud-agent serve`` process; a second process floods one caller socket with
60 KB junk frames as fast as TCP lets it (reconnecting when closed); this process measures
another caller's ping round trips before and during the flood. Without a byte budget the
server read ~55 MB/s of junk and the other caller's p99 went up ~30x; with it, the server
stops reading the noisy socket and TCP holds the sender back. Only the ratio is asserted.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.conftest import free_port

FLOODER = textwrap.dedent("""
    import sys
    from websockets.sync.client import ClientConnection, connect
    junk = "x" * 60_000
    while True:
        try:
            with connect(sys.argv[1], max_size=None,
                         additional_headers={"X-Forwarded-For": "203.0.113.66"}) as ws:
                while True:
                    ws.send(junk)
        except Exception:
            pass
""")


def serve(port: int, data: str, **env: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "signaling", "serve", "--demo", "--port", str(port),
         "--data-dir", data, "--log-level", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **env})
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("server did not start")


def ping_p99_ms(ws: ClientConnection, count: int = 200) -> float:
    """p99 of ping round trips, paced under the message rate limit (50/s)."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        ws.send('{"type":"ping"}')
        while '"pong"' not in str(ws.recv(timeout=10)):
            pass
        times.append((time.perf_counter() - started) * 1000)
        time.sleep(0.025)
    times.sort()
    return times[int(len(times) * 0.99) - 1]


@pytest.fixture
def server(tmp_path: object) -> Iterator[str]:
    port = free_port()
    process = serve(port, str(tmp_path))
    try:
        yield f"ws://127.0.0.1:{port}/ws/caller"
    finally:
        process.terminate()
        process.wait(10)


#: rounds of (at rest, during the flood); the best round counts
ROUNDS = 3


def test_a_flooding_socket_does_not_slow_another_callers_pings(server: str) -> None:
    """The best of three rounds must stay under 5x: another process taking the shared CPU
    can spoil one round (seen: 8x with a colleague's media test running), while a server
    that reads the flood unthrottled is 30-55x in every round."""
    rounds: list[tuple[float, float]] = []
    with connect(server, additional_headers={"X-Forwarded-For": "198.51.100.20"}) as victim:
        victim.recv(timeout=5)  # hello
        for _ in range(ROUNDS):
            at_rest = ping_p99_ms(victim)
            flooder = subprocess.Popen([sys.executable, "-c", FLOODER, server])
            try:
                time.sleep(1.0)  # the flood is under way
                during = ping_p99_ms(victim)
            finally:
                flooder.kill()
                flooder.wait(10)
            ratio = during / max(at_rest, 2.0)  # a floor: sub-ms jitter is no regression
            print(f"ping p99 at rest {at_rest:.2f} ms, during the flood {during:.2f} ms "
                  f"({ratio:.1f}x)")
            rounds.append((at_rest, during))
            if ratio < 5:
                break
    best = min(during / max(at_rest, 2.0) for at_rest, during in rounds)
    assert best < 5, rounds
