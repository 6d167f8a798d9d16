"""A throwaway coturn on loopback, for tests, benchmarks and demos of relayed calls.

It runs the real ``turnserver`` (Debian package ``coturn``) with the TURN REST scheme the
server mints credentials for (``use-auth-secret``), listening and relaying on 127.0.0.1
only. ``--allow-loopback-peers`` is what lets two peers on one machine meet through it;
production never sets it (docs/operations.md "TURN with coturn").
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

TURNSERVER = "turnserver"
TURNADMIN = "turnadmin"


class TurnServerMissing(RuntimeError):
    """``turnserver`` is not installed (apt-get install coturn)."""


def _free_udp_tcp_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1 (coturn listens on both)."""
    for _ in range(50):
        with socket.socket() as tcp:
            tcp.bind(("127.0.0.1", 0))
            port: int = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port for coturn")


@dataclass
class LoopbackTurnServer:
    """One coturn process; ``secrets`` are the shared secrets it accepts (rotation).

    With ``secrets_in_database`` they live in coturn's SQLite database instead of its
    command line (``static-auth-secret``): coturn reads them on every check, so
    :meth:`add_secret` and :meth:`delete_secret` rotate them while it runs.
    """

    secrets: tuple[str, ...] = ("turn-test-secret",)
    secrets_in_database: bool = False
    realm: str = "cloud-agent.test"
    port: int = field(default_factory=_free_udp_tcp_port)
    min_relay_port: int = 49152
    max_relay_port: int = 65535
    process: subprocess.Popen[bytes] | None = None
    workdir: Path | None = None

    @property
    def url(self) -> str:
        """The TURN URL clients get (UDP)."""
        return f"turn:127.0.0.1:{self.port}?transport=udp"

    @property
    def log_path(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "turnserver.log"

    def command(self) -> list[str]:
        assert self.workdir is not None
        command = [
            TURNSERVER, "-n", "--no-cli", "--no-tls", "--no-dtls", "--fingerprint",
            "-L", "127.0.0.1", "-E", "127.0.0.1", "--listening-port", str(self.port),
            "-r", self.realm, "--use-auth-secret",
            "--allow-loopback-peers", "--min-port", str(self.min_relay_port),
            "--max-port", str(self.max_relay_port),
            "--pidfile", str(self.workdir / "turnserver.pid"),
            "--db", str(self.workdir / "turndb"),
            "--log-file", str(self.log_path), "--simple-log", "--verbose",
        ]
        if not self.secrets_in_database:
            command += [f"--static-auth-secret={secret}" for secret in self.secrets]
        return command

    def _turnadmin(self, *arguments: str) -> None:
        assert self.workdir is not None
        subprocess.run([TURNADMIN, *arguments, "-r", self.realm,
                        "-b", str(self.workdir / "turndb")],
                       check=True, capture_output=True, timeout=30)

    def add_secret(self, secret: str) -> None:
        """Add a shared secret to the database (``turnadmin --set-secret``); no restart."""
        self._turnadmin("--set-secret", secret)

    def delete_secret(self, secret: str) -> None:
        """Remove a shared secret from the database (``turnadmin --delete-secret``)."""
        self._turnadmin("--delete-secret", secret)

    def start(self, timeout: float = 10.0) -> None:
        """Start coturn and wait until it answers on its TCP listener."""
        if shutil.which(TURNSERVER) is None:
            raise TurnServerMissing("turnserver not found (apt-get install coturn)")
        self.workdir = Path(tempfile.mkdtemp(prefix="coturn-"))
        if self.secrets_in_database:
            for secret in self.secrets:
                self.add_secret(secret)
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"turnserver exited with {self.process.returncode}: "
                                   f"{self.log_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"turnserver did not listen on {self.port} within {timeout:g} s")

    def log_text(self) -> str:
        """Everything coturn logged so far (allocations, auth refusals)."""
        if self.workdir is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LoopbackTurnServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
