"""Call button -> first remote video frame, with the real CLI on loopback.

Starts ``cloud-agent serve --demo``, one ``cloud-agent answer --auto-answer`` taking N
calls, and N sequential ``cloud-agent call --json`` runs; reads the callers' JSON lines and
reports percentiles of queued, connected and first-remote-frame times (ms since the call
button), as a user of the CLI sees them.

    python bench/first_frame.py [--calls 10]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "signaling"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_healthy(url: str) -> None:
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not come up")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--hold", type=float, default=1.0)
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data_dir = tempfile.mkdtemp(prefix="first-frame-")
    server = subprocess.Popen([*CLI, "serve", "--demo", "--port", str(port), "--data-dir",
                               data_dir, "--log-level", "warning"], cwd=ROOT,
                              stdout=subprocess.DEVNULL)
    agent = None
    try:
        wait_healthy(url)
        agent = subprocess.Popen([*CLI, "answer", "--server", url, "--user", "demo-agent-1",
                                  "--password", "demo", "--auto-answer", "--calls",
                                  str(args.calls), "--hold", "30", "--json"], cwd=ROOT,
                                 stdout=subprocess.DEVNULL)
        time.sleep(2.0)  # the agent logs in and goes ready
        figures: dict[str, list[float]] = {"queued": [], "connected": [],
                                           "first_remote_frame": []}
        for _ in range(args.calls):
            output = subprocess.run(
                [*CLI, "call", "--server", url, "--skill", "water", "--kiosk-token",
                 "demo-kiosk", "--hold", str(args.hold), "--json"],
                cwd=ROOT, capture_output=True, text=True, timeout=60, check=True).stdout
            for line in output.splitlines():
                event = json.loads(line)
                if event["event"] in figures:
                    figures[event["event"]].append(float(event["ms"]))
        report: dict[str, object] = {"calls": args.calls}
        for name, values in figures.items():
            ordered = sorted(values)
            report[f"{name}_p50_ms"] = round(statistics.median(ordered), 1)
            report[f"{name}_max_ms"] = round(ordered[-1], 1)
        print(json.dumps(report, indent=2))
    finally:
        if agent is not None:
            agent.terminate()
            agent.wait(10)
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
