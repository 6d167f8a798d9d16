"""Relay latency and server CPU per message, side by side with PeerJS 1.0.2.

Both servers run on loopback in their own process; the clients run in this one, with the
same code for both. Ours: ``cloud-agent serve --demo``, a real call between the demo kiosk
and demo-agent-1 (log in, ready, call request, offer, accept, ``connected``), then SDP and
ICE messages relayed between the two parties. PeerJS: ``peer@1.0.2`` from the npm registry
(installed by this script into a cache directory), two clients on
``/peerjs?key=peerjs&id=..&token=..`` exchanging ``OFFER`` and ``CANDIDATE`` messages with
the same SDP and candidate texts. Every tenth message is an SDP (about 2.4 KB), the rest
ICE candidates; directions alternate.

Load is open-loop at each rate (messages are sent on schedule, whether or not earlier ones
have arrived; how late the client itself was against that schedule is reported too, as on
a busy machine its delays are in every server's latency). Latency is send -> arrival at
the other party, on one clock. CPU per message is the server process's utime+stime
(``/proc/<pid>/stat``) over the measured window divided by the messages relayed in it (and
each of the two apart: user space and kernel). Our server runs with its abuse limits
raised (the rate limiter still runs on every message), as one pair sends 2,000 messages/s
each way.

    python bench/relay_peerjs.py [--rates 1000,4000] [--seconds 5] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).resolve().parents[1]
PEER_VERSION = "1.0.2"
CACHE = Path(os.environ.get("CLOUD_AGENT_BENCH_CACHE",
                            Path.home() / ".cache" / "cloud-agent-bench"))
CLK_TCK = os.sysconf("SC_CLK_TCK")

#: a Chromium-like offer (audio + video, BUNDLE), with the sequence number as session id
SDP_TEMPLATE = "\r\n".join([
    "v=0", "o=- {seq} 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0 1",
    "a=extmap-allow-mixed", "a=msid-semantic: WMS stream",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126", "c=IN IP4 0.0.0.0",
    "a=rtcp:9 IN IP4 0.0.0.0", "a=ice-ufrag:Qx3N", "a=ice-pwd:8Lq0c0xX3Xk9zJ3d7XzvC0bG",
    "a=ice-options:trickle", "a=fingerprint:sha-256 " + ":".join(["7A"] * 32),
    "a=setup:actpass", "a=mid:0",
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid", "a=sendrecv",
    "a=msid:stream audio0", "a=rtcp-mux", "a=rtpmap:111 opus/48000/2",
    "a=rtcp-fb:111 transport-cc", "a=fmtp:111 minptime=10;useinbandfec=1",
    "a=rtpmap:63 red/48000/2", "a=fmtp:63 111/111", "a=rtpmap:9 G722/8000",
    "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000", "a=rtpmap:13 CN/8000",
    "a=rtpmap:110 telephone-event/48000", "a=rtpmap:126 telephone-event/8000",
    "a=ssrc:1001 cname:bench", "a=ssrc:1001 msid:stream audio0",
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 105", "c=IN IP4 0.0.0.0",
    "a=rtcp:9 IN IP4 0.0.0.0", "a=ice-ufrag:Qx3N", "a=ice-pwd:8Lq0c0xX3Xk9zJ3d7XzvC0bG",
    "a=ice-options:trickle", "a=fingerprint:sha-256 " + ":".join(["7A"] * 32),
    "a=setup:actpass", "a=mid:1", "a=extmap:14 urn:ietf:params:rtp-hdrext:toffset",
    "a=extmap:13 urn:3gpp:video-orientation", "a=sendrecv", "a=msid:stream video0",
    "a=rtcp-mux", "a=rtcp-rsize", "a=rtpmap:96 VP8/90000", "a=rtcp-fb:96 goog-remb",
    "a=rtcp-fb:96 transport-cc", "a=rtcp-fb:96 ccm fir", "a=rtcp-fb:96 nack",
    "a=rtcp-fb:96 nack pli", "a=rtpmap:97 rtx/90000", "a=fmtp:97 apt=96",
    "a=rtpmap:102 H264/90000", "a=rtcp-fb:102 goog-remb", "a=rtcp-fb:102 transport-cc",
    "a=rtcp-fb:102 ccm fir", "a=rtcp-fb:102 nack", "a=rtcp-fb:102 nack pli",
    "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
    "a=rtpmap:103 rtx/90000", "a=fmtp:103 apt=102", "a=rtpmap:104 H264/90000",
    "a=fmtp:104 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f",
    "a=rtpmap:105 rtx/90000", "a=fmtp:105 apt=104", "a=ssrc-group:FID 2001 2002",
    "a=ssrc:2001 cname:bench", "a=ssrc:2001 msid:stream video0", "a=ssrc:2002 cname:bench",
    "a=ssrc:2002 msid:stream video0", "",
])
CANDIDATE_TEMPLATE = ("candidate:{seq} 1 udp 2122260223 192.0.2.10 54321 typ host "
                      "generation 0 ufrag Qx3N network-id 1 network-cost 10")


def sdp_text(seq: int) -> str:
    return SDP_TEMPLATE.format(seq=seq)


def candidate(seq: int) -> dict[str, Any]:
    return {"candidate": CANDIDATE_TEMPLATE.format(seq=seq), "sdpMid": "0",
            "sdpMLineIndex": 0, "usernameFragment": "Qx3N"}


def seq_of_candidate(text: str) -> int:
    return int(text[10:text.index(" ")])


def seq_of_sdp(text: str) -> int:
    return int(text[9:text.index(" ", 9)])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_times(pid: int) -> tuple[float, float]:
    """utime and stime of a process, all its threads (``/proc/<pid>/stat`` fields 14, 15)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, all its threads."""
    return sum(cpu_times(pid))


def wait_http(url: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {seconds:.0f} s")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


# ---------------------------------------------------------------- the two servers


def install_peer() -> Path:
    """``npm install peer@1.0.2`` into the cache (once); the path of its CLI."""
    home = CACHE / f"peerjs-{PEER_VERSION}"
    cli = home / "node_modules" / "peer" / "dist" / "bin" / "peerjs.js"
    if not cli.exists():
        if shutil.which("npm") is None:
            raise RuntimeError("npm is not installed (apt-get install nodejs npm)")
        home.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent",
                        f"peer@{PEER_VERSION}"], cwd=home, check=True,
                       stdout=subprocess.DEVNULL)
    return cli


#: ``taskset`` prefix for both servers (``--pin-server``): the same CPUs for each
PIN: list[str] = []


def start_peerjs(port: int) -> subprocess.Popen[bytes]:
    cli = install_peer()
    # It prints a line per connection: to /dev/null, as ours logs at warning level.
    server = subprocess.Popen([*PIN, "node", str(cli), "--port", str(port), "--host", "127.0.0.1",
                               "--concurrent_limit", "100000"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_http(f"http://127.0.0.1:{port}/")
    return server


def ours_env(secret: str) -> dict[str, str]:
    """Our server's environment for load from one address: abuse limits lifted (they
    still run), everything else at its defaults."""
    return {**os.environ, "CLOUD_AGENT_SECRET_KEY": secret, "CLOUD_AGENT_DEMO": "true",
            "CLOUD_AGENT_RATE_LIMIT_PER_SECOND": "1000000",
            "CLOUD_AGENT_RATE_LIMIT_BURST": "1000000",
            "CLOUD_AGENT_RATE_LIMIT_BYTES_PER_SECOND": "10000000000",
            "CLOUD_AGENT_RATE_LIMIT_BYTES_BURST": "10000000000",
            "CLOUD_AGENT_MAX_CALLS_PER_ADDRESS": "1000000",
            "CLOUD_AGENT_MAX_CALLER_SOCKETS_PER_ADDRESS": "1000000",
            "CLOUD_AGENT_NEW_SOCKETS_PER_MINUTE": "1000000"}


def start_ours(port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [*PIN, sys.executable, "-m", "signaling", "serve", "--demo", "--port", str(port),
         "--data-dir", str(data_dir), "--log-level", "warning"],
        env=ours_env("bench-secret-" + os.urandom(8).hex()), cwd=ROOT,
        stdout=subprocess.DEVNULL)
    wait_http(f"http://127.0.0.1:{port}/healthz")
    return server


def stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


# ---------------------------------------------------------------- the two clients


async def expect(ws: ClientConnection, type_: str) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if message.get("type") == type_:
            return message
        if message.get("type") == "error":
            raise RuntimeError(f"server error while waiting for {type_}: {message}")


@dataclass
class Pair:
    """Two connected parties and how to write and read a relayed message."""

    a: ClientConnection
    b: ClientConnection
    #: (from a?, seq, sdp?) -> the frame to send
    encode: Callable[[bool, int, bool], str]
    #: a received frame -> its sequence number, or None if it is not relayed traffic
    decode: Callable[[str | bytes], int | None]
    close: Callable[[], Awaitable[None]] = field(default=lambda: _nothing())


async def _nothing() -> None:
    return None


async def ours_pair(port: int) -> Pair:
    """A real call: demo-agent-1 logs in and goes ready, the demo kiosk calls, the agent
    accepts; both parties then hold a live session."""
    import httpx

    base, ws_base = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{base}/api/login", json={
            "username": "demo-agent-1", "password": "demo"}, timeout=60)
        response.raise_for_status()
        token = response.json()["token"]
    agent = await connect(f"{ws_base}/ws/agent", max_size=1 << 22)
    await expect(agent, "hello")
    await agent.send(json.dumps({"type": "auth", "token": token}))
    await expect(agent, "authenticated")
    await agent.send(json.dumps({"type": "set_status", "status": "ready"}))
    await expect(agent, "agent_state")
    caller = await connect(f"{ws_base}/ws/caller", max_size=1 << 22)
    await expect(caller, "hello")
    await caller.send(json.dumps({"type": "call_request", "skill": "water",
                                  "kiosk_token": "demo-kiosk"}))
    call_id = (await expect(caller, "queued"))["call_id"]
    offer = await expect(agent, "offer")
    await agent.send(json.dumps({"type": "accept", "call_id": offer["call_id"]}))
    await expect(agent, "connected")
    await expect(caller, "connected")

    def encode(from_a: bool, seq: int, is_sdp: bool) -> str:
        if is_sdp:
            return json.dumps({"type": "sdp", "call_id": call_id, "description": {
                "type": "offer" if from_a else "answer", "sdp": sdp_text(seq)}})
        return json.dumps({"type": "ice", "call_id": call_id, "candidate": candidate(seq)})

    def decode(raw: str | bytes) -> int | None:
        message = json.loads(raw)
        if message["type"] == "ice":
            return seq_of_candidate(message["candidate"]["candidate"])
        if message["type"] == "sdp":
            return seq_of_sdp(message["description"]["sdp"])
        if message["type"] == "error":
            raise RuntimeError(f"server refused a relayed message: {message}")
        return None

    async def close() -> None:
        await caller.send(json.dumps({"type": "hangup"}))
        await caller.close()
        await agent.close()

    return Pair(caller, agent, encode, decode, close)


async def peerjs_pair(port: int) -> Pair:
    """Two PeerJS clients as the peerjs library connects them (id, token, key)."""
    ids = ("bench-a-" + os.urandom(4).hex(), "bench-b-" + os.urandom(4).hex())
    sockets = []
    for peer_id in ids:
        ws = await connect(f"ws://127.0.0.1:{port}/peerjs?key=peerjs&id={peer_id}"
                           f"&token={os.urandom(6).hex()}", max_size=1 << 22)
        await expect(ws, "OPEN")
        sockets.append(ws)

    def encode(from_a: bool, seq: int, is_sdp: bool) -> str:
        dst = ids[1] if from_a else ids[0]
        if is_sdp:
            return json.dumps({"type": "OFFER" if from_a else "ANSWER", "dst": dst, "payload": {
                "sdp": {"type": "offer" if from_a else "answer", "sdp": sdp_text(seq)},
                "type": "media", "connectionId": "mc_bench"}})
        return json.dumps({"type": "CANDIDATE", "dst": dst, "payload": {
            "candidate": candidate(seq), "type": "media", "connectionId": "mc_bench"}})

    def decode(raw: str | bytes) -> int | None:
        message = json.loads(raw)
        if message["type"] == "CANDIDATE":
            return seq_of_candidate(message["payload"]["candidate"]["candidate"])
        if message["type"] in ("OFFER", "ANSWER"):
            return seq_of_sdp(message["payload"]["sdp"]["sdp"])
        return None

    async def close() -> None:
        for ws in sockets:
            await ws.close()

    return Pair(sockets[0], sockets[1], encode, decode, close)


# ---------------------------------------------------------------- the measurement


async def measure(pair: Pair, pid: int, rate: int, seconds: float,
                  warmup: float = 1.0) -> dict[str, Any]:
    """Open-loop relay at ``rate`` messages/s: warm-up, then ``seconds`` measured."""
    warm = int(rate * warmup)
    total = warm + int(rate * seconds)
    sent_at: dict[int, float] = {}
    latencies: list[float] = []
    #: how late the client sent each measured message against its schedule: on a busy
    #: machine the client's own delays show up in both servers' latencies
    late: list[float] = []
    done = asyncio.Event()
    arrived = 0
    cpu: dict[str, tuple[float, float]] = {}
    #: the client's own CPU (this process: both parties' sends and receives)
    client_cpu: dict[str, float] = {}

    async def receive(ws: ClientConnection) -> None:
        nonlocal arrived
        async for raw in ws:
            now = time.perf_counter()
            seq = pair.decode(raw)
            if seq is None:
                continue
            if seq >= warm:
                latencies.append((now - sent_at.pop(seq)) * 1000)
            arrived += 1
            if seq == warm - 1 or (warm == 0 and seq == 0):
                cpu.setdefault("start", cpu_times(pid))
                client_cpu.setdefault("start", time.process_time())
            if arrived == total:
                done.set()

    readers = [asyncio.create_task(receive(ws)) for ws in (pair.a, pair.b)]
    began = window_began = time.perf_counter()
    for seq in range(total):
        due = began + seq / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if seq == warm:
            window_began = time.perf_counter()
        if seq >= warm:
            late.append((time.perf_counter() - due) * 1000)
        from_a = seq % 2 == 0
        frame = pair.encode(from_a, seq, seq % 10 == 0)
        sent_at[seq] = time.perf_counter()
        try:
            await (pair.a if from_a else pair.b).send(frame)
        except ConnectionClosed:  # the server closed a client that fell behind
            break
    failure = None
    try:
        await asyncio.wait_for(done.wait(), 30)
    except TimeoutError:
        errors = [task.exception() for task in readers if task.done()]
        failure = f"{arrived} of {total} arrived" + (f"; {errors[0]}" if errors else "")
    finally:
        cpu_end = cpu_times(pid)
        client_end = time.process_time()
        for task in readers:
            task.cancel()
    if not latencies:
        return {"rate": rate, "messages": 0, "lost": total - arrived, "failed": failure}
    elapsed = time.perf_counter() - window_began
    measured = len(latencies)
    user, system = (end - start for end, start in zip(cpu_end, cpu.get("start", cpu_end),
                                                      strict=True))
    cpu_used = user + system
    return {
        "rate": rate, "messages": measured, "lost": total - arrived,
        "achieved_rate": round(measured / elapsed),
        "p50_ms": round(statistics.median(latencies), 3),
        "p90_ms": round(percentile(latencies, 90), 3),
        "p99_ms": round(percentile(latencies, 99), 3),
        "max_ms": round(max(latencies), 2),
        "cpu_us_per_message": round(cpu_used / measured * 1e6, 1),
        "user_us_per_message": round(user / measured * 1e6, 1),
        "system_us_per_message": round(system / measured * 1e6, 1),
        "server_cpu_share": round(cpu_used / elapsed, 3),
        "client_cpu_us_per_message": round(
            (client_end - client_cpu.get("start", client_end)) / measured * 1e6, 1),
        "client_late_p50_ms": round(statistics.median(late), 3) if late else None,
        "client_late_p90_ms": round(percentile(late, 90), 3) if late else None,
        **({"failed": failure} if failure else {}),
    }


async def run_one(kind: str, rates: list[int], seconds: float) -> list[dict[str, Any]]:
    port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="relay-bench-"))
    server = start_peerjs(port) if kind == "peerjs" else start_ours(port, data_dir)
    try:
        pair = await (peerjs_pair(port) if kind == "peerjs" else ours_pair(port))
        results = []
        for rate in rates:
            result = await measure(pair, server.pid, rate, seconds)
            results.append({"server": kind, **result})
            if "failed" in result:  # e.g. the server closed a client that fell behind
                break
        with contextlib.suppress(ConnectionClosed):
            await pair.close()
        return results
    finally:
        stop(server)
        shutil.rmtree(data_dir, ignore_errors=True)


def versions() -> dict[str, str]:
    found = {"peer": PEER_VERSION}
    try:
        found["node"] = subprocess.run(["node", "--version"], capture_output=True,
                                       text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        found["node"] = "missing"
    return found


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rates = [int(rate) for rate in args.rates.split(",")]
    results: list[dict[str, Any]] = []
    for round_ in range(args.rounds):
        for kind in args.servers.split(","):
            for result in await run_one(kind, rates, args.seconds):
                results.append({"round": round_, **result})
    return {"bench": "relay_peerjs", "seconds": args.seconds, "versions": versions(),
            "pin_server": args.pin_server, "pin_client": args.pin_client,
            "results": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="1000,4000", help="messages/s, comma-separated")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds a rate")
    parser.add_argument("--servers", default="ours,peerjs",
                        help="which servers, in order [ours,peerjs]")
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat the whole comparison (the machine is shared: noise)")
    parser.add_argument("--pin-server", metavar="CPUS",
                        help="run both servers on these CPUs (taskset -c), e.g. 0")
    parser.add_argument("--pin-client", metavar="CPUS",
                        help="run this process (the clients) on these CPUs, e.g. 1")
    parser.add_argument("--json", action="store_true", help="print only the JSON result")
    args = parser.parse_args()
    if args.pin_server:
        PIN[:] = ["taskset", "-c", args.pin_server]
    if args.pin_client:
        os.sched_setaffinity(0, {int(cpu) for cpu in args.pin_client.split(",")})
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(run(args))
    if args.json:
        print(json.dumps(result))
        return
    print(f"{'server':8} {'rate':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
          f"{'CPU us/msg':>10} {'lost':>5}")
    for row in result["results"]:
        if not row["messages"]:
            print(f"{row['server']:8} {row['rate']:>6} failed: {row['failed']}")
            continue
        print(f"{row['server']:8} {row['rate']:>6} {row['p50_ms']:>8} {row['p99_ms']:>8} "
              f"{row['max_ms']:>8} {row['cpu_us_per_message']:>10} {row['lost']:>5}")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
