"""A throwaway ``redis-server`` on a free loopback port, for tests and benchmarks.

No persistence (``--save '' --appendonly no``) by default, so a restart loses the data, as
a Redis without persistence would; ``RedisServer(persistent=True)`` runs with
``appendonly yes``, so the data survives a kill and restart.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


class RedisServerMissing(RuntimeError):
    """``redis-server`` is not installed (apt package ``redis-server``)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """``with RedisServer() as server: server.url`` ... ``server.restart()``."""

    def __init__(self, *, persistent: bool = False, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RedisServerMissing("redis-server is not installed (apt: redis-server)")
        self.binary = binary
        self.persistent = persistent
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="ca-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                   "--save", "", "--dir", str(self.dir), "--daemonize", "no",
                   "--appendonly", "yes" if self.persistent else "no",
                   "--maxmemory-policy", "noeviction", "--loglevel", "warning"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start within 10 s")

    def stop(self) -> None:
        """Kill the server at once (SIGKILL: no save on the way out)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def restart(self, *, down_for: float = 0.0) -> None:
        """Kill and start again on the same port, ``down_for`` seconds later."""
        self.stop()
        time.sleep(down_for)
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
