"""Server memory per idle WebSocket at 10,000 sockets: ours, a plain echo server, PeerJS.

Each server runs alone in its own process; the sockets are opened by client processes
(``--client-processes``, 2,500 sockets each), which offer permessage-deflate as browsers
do. The figure is the server's resident memory (VmRSS) with all sockets open and idle,
minus its resident memory with one socket open, divided by the sockets.

- ``ours``: ``cloud-agent serve --demo`` with the per-address socket limits lifted (every
  client comes from 127.0.0.1); each socket is an idle caller on ``/ws/caller`` that got
  its ``hello``.
- ``echo``: a plain uvicorn + websockets ASGI echo app with the same uvicorn options as
  ``cloud-agent serve`` (sans-I/O websockets, no permessage-deflate).
- ``echo-deflate``: the same with uvicorn's default (permessage-deflate on).
- ``peerjs``: ``peer@1.0.2`` from the npm registry (``bench/relay_peerjs.py`` installs it),
  each socket a PeerJS client that got ``OPEN``.

The run raises the open-file limit of itself and its children (to 65,536 where allowed).

    python bench/memory_per_socket.py [--sockets 10000] [--servers ours,echo,peerjs] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from relay_peerjs import (  # noqa: E402
    free_port,
    ours_env,
    start_peerjs,
    stop,
    wait_http,
)

ECHO_APP = '''
async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": '{"type":"hello"}'})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await send({"type": "websocket.send", "text": message.get("text") or ""})
'''


def raise_file_limit(wanted: int = 65_536) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for limit in (max(wanted, hard), hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
            return limit
        except (ValueError, OSError):
            continue
    return soft


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


# ---------------------------------------------------------------- client processes


async def hold_sockets(url_template: str, first: int, count: int, expect: str) -> None:
    """Open ``count`` sockets, wait for each one's first message, report, hold them."""
    from websockets.asyncio.client import connect

    sockets = []
    semaphore = asyncio.Semaphore(64)

    async def open_one(number: int) -> None:
        async with semaphore:
            for attempt in range(5):
                try:
                    ws = await connect(url_template.format(n=number), compression="deflate",
                                       open_timeout=60, ping_interval=None)
                    break
                except OSError:
                    await asyncio.sleep(0.5 * (attempt + 1))
            else:
                raise RuntimeError("could not connect")
            first_message = json.loads(await asyncio.wait_for(ws.recv(), 60))
            if first_message.get("type") != expect:
                raise RuntimeError(f"unexpected first message {first_message}")
            sockets.append(ws)

    await asyncio.gather(*(open_one(first + n) for n in range(count)))
    print(json.dumps({"open": len(sockets)}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until closed
    for ws in sockets:
        ws.transport.abort()


def client_main(args: argparse.Namespace) -> None:
    raise_file_limit()
    asyncio.run(hold_sockets(args.url, args.first, args.count, args.expect))


# ---------------------------------------------------------------- the servers


def start_server(kind: str, port: int, work: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    """(process, socket URL template with {n}, first message type) of one server."""
    if kind == "ours":
        server = subprocess.Popen(
            [sys.executable, "-m", "signaling", "serve", "--demo", "--port", str(port),
             "--data-dir", str(work), "--log-level", "warning"],
            env=ours_env("bench-secret-" + os.urandom(8).hex()), cwd=ROOT,
            stdout=subprocess.DEVNULL)
        wait_http(f"http://127.0.0.1:{port}/healthz")
        return server, f"ws://127.0.0.1:{port}/ws/caller", "hello"
    if kind in ("echo", "echo-deflate"):
        (work / "echo_app.py").write_text(ECHO_APP)
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "echo_app:app", "--port", str(port),
             "--host", "127.0.0.1", "--log-level", "warning", "--ws", "websockets-sansio",
             *(["--ws-per-message-deflate", "false"] if kind == "echo" else [])],
            cwd=work, stdout=subprocess.DEVNULL)
        wait_http(f"http://127.0.0.1:{port}/")
        return server, f"ws://127.0.0.1:{port}/", "hello"
    if kind == "peerjs":
        server = start_peerjs(port)
        return (server, f"ws://127.0.0.1:{port}/peerjs?key=peerjs&id=bench-{{n}}&token=t{{n}}",
                "OPEN")
    raise ValueError(f"unknown server {kind!r}")


def measure(kind: str, sockets: int, processes: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="memory-bench-"))
    port = free_port()
    server, url, expect = start_server(kind, port, work)
    clients: list[subprocess.Popen[str]] = []
    try:
        def spawn(first: int, count: int) -> subprocess.Popen[str]:
            return subprocess.Popen(
                [sys.executable, __file__, "--client", "--url", url, "--first", str(first),
                 "--count", str(count), "--expect", expect],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

        def opened(client: subprocess.Popen[str]) -> int:
            assert client.stdout is not None
            line = client.stdout.readline()
            if not line:
                raise RuntimeError(f"a client process of {kind} failed")
            count: int = json.loads(line)["open"]
            return count

        warm = spawn(sockets, 1)  # numbered after the others: ids stay unique
        clients.append(warm)
        opened(warm)
        time.sleep(2)
        before = rss_kib(server.pid)
        per_process = -(-sockets // processes)
        started = time.monotonic()
        batch = [spawn(n * per_process, min(per_process, sockets - n * per_process))
                 for n in range(processes) if n * per_process < sockets]
        clients.extend(batch)
        total = sum(opened(client) for client in batch)
        connect_seconds = time.monotonic() - started
        time.sleep(3)
        after = rss_kib(server.pid)
        return {"server": kind, "sockets": total, "rss_before_mib": round(before / 1024, 1),
                "rss_after_mib": round(after / 1024, 1),
                "kib_per_socket": round((after - before) / total, 1),
                "connect_seconds": round(connect_seconds, 1)}
    finally:
        for client in clients:
            if client.stdin:
                client.stdin.close()
        for client in clients:
            try:
                client.wait(30)
            except subprocess.TimeoutExpired:
                client.kill()
        stop(server)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sockets", type=int, default=10_000)
    parser.add_argument("--servers", default="ours,echo,echo-deflate,peerjs")
    parser.add_argument("--client-processes", type=int, default=4)
    parser.add_argument("--json", action="store_true", help="print only the JSON result")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--expect", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_main(args)
        return
    limit = raise_file_limit()
    results = [measure(kind, args.sockets, args.client_processes)
               for kind in args.servers.split(",")]
    result = {"bench": "memory_per_socket", "open_file_limit": limit, "results": results}
    if args.json:
        print(json.dumps(result))
        return
    print(f"{'server':13} {'sockets':>8} {'RSS before':>11} {'RSS after':>10} {'KiB/socket':>10}")
    for row in results:
        print(f"{row['server']:13} {row['sockets']:>8} {row['rss_before_mib']:>9} M "
              f"{row['rss_after_mib']:>8} M {row['kib_per_socket']:>10}")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
