"""Real cluster parts for tests: a throwaway ``redis-server``, a throwaway PostgreSQL
database the nodes share, and ``cloud-agent serve --redis`` processes.

Nothing is faked: each node is the real command in a child process, killed with SIGKILL
where a test says so.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import IN_CI, free_port

CLI = [sys.executable, "-m", "signaling"]
PG_SERVER = "postgres@127.0.0.1:5432"


def _missing(what: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} is needed")
    pytest.skip(f"{what} is not available")


@asynccontextmanager
async def redis_server(tmp_path: Path) -> AsyncIterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        _missing("redis-server")
    server = RedisServer(str(binary), free_port(), tmp_path)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


class RedisServer:
    """``redis-server`` on a free loopback port, no persistence."""

    def __init__(self, binary: str, port: int, workdir: Path) -> None:
        self.binary, self.port, self.workdir = binary, port, workdir
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(self.workdir),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        for _ in range(200):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.02)
        raise AssertionError("redis-server did not start")

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()


@asynccontextmanager
async def shared_database() -> AsyncIterator[str]:
    """A new PostgreSQL database for the nodes to share; dropped afterwards."""
    import asyncpg  # type: ignore[import-untyped]

    name = f"cloud_agent_cluster_{os.getpid()}_{secrets.token_hex(4)}"

    async def admin(statement: str) -> None:
        connection = await asyncpg.connect(f"postgresql://{PG_SERVER}/postgres", timeout=5)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()
    try:
        await admin(f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError, TimeoutError):
        _missing(f"PostgreSQL at {PG_SERVER}")
    try:
        yield f"postgresql+asyncpg://{PG_SERVER}/{name}"
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Node:
    """One ``cloud-agent serve --demo --redis URL`` process."""

    def __init__(self, name: str, redis_url: str, database_url: str, secret: str,
                 workdir: Path, **settings: str) -> None:
        self.name = name
        self.redis_url, self.database_url, self.secret = redis_url, database_url, secret
        self.workdir = workdir
        self.settings = settings
        self.port = free_port()
        self.http, self.ws = f"http://127.0.0.1:{self.port}", f"ws://127.0.0.1:{self.port}"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        env = {**os.environ, "CLOUD_AGENT_DATABASE_URL": self.database_url,
               "CLOUD_AGENT_SECRET_KEY": self.secret,
               **{f"CLOUD_AGENT_{k.upper()}": v for k, v in self.settings.items()}}
        env.pop("CLOUD_AGENT_CONFIG_FILE", None)
        data_dir = self.workdir / f"data-{self.name}"
        log = (self.workdir / f"{self.name}.log").open("ab")
        cluster = ["--redis", self.redis_url] if self.redis_url else []  # "": one process
        self.process = await asyncio.create_subprocess_exec(
            *CLI, "serve", "--demo", "--port", str(self.port), "--data-dir", str(data_dir),
            *cluster, "--node-id", self.name, "--log-level", "info",
            stdout=asyncio.subprocess.DEVNULL, stderr=log, env=env)
        log.close()
        async with httpx.AsyncClient() as client:
            for _ in range(600):
                if self.process.returncode is not None:
                    raise AssertionError(f"node {self.name} exited: {self.log_tail()}")
                try:
                    if (await client.get(f"{self.http}/healthz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError(f"node {self.name} did not become healthy: {self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, the lease and heartbeat just expire."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)

    async def stop(self) -> None:
        if self.process is None:
            return
        if self.process.returncode is None:
            self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), 20)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()

    def log_tail(self) -> str:
        path = self.workdir / f"{self.name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


@asynccontextmanager
async def cluster(tmp_path: Path, names: list[str],
                  per_node: dict[str, dict[str, str]] | None = None,
                  **settings: str) -> AsyncIterator[tuple[RedisServer, list[Node]]]:
    """A throwaway Redis and database and one node per name, started one after the other
    (the first seeds the demo data and migrates the database, and leads); ``per_node``
    adds settings of single nodes."""
    async with redis_server(tmp_path) as redis, shared_database() as database:
        secret = secrets.token_hex(32)
        nodes = [Node(name, redis.url, database, secret, tmp_path,
                      **{**settings, **(per_node or {}).get(name, {})})
                 for name in names]
        try:
            for node in nodes:
                await node.start()
            yield redis, nodes
        finally:
            await asyncio.gather(*(node.stop() for node in nodes))


async def call_record(database_url: str, call_id: str) -> tuple[str, str | None] | None:
    """A call's record in the nodes' shared database: (phase, end reason), or None while
    it has none."""
    import asyncpg  # type: ignore[import-untyped]

    connection = await asyncpg.connect(database_url.replace("+asyncpg", ""), timeout=5)
    try:
        row = await connection.fetchrow("SELECT phase, end_reason FROM calls WHERE id = $1",
                                        call_id)
    finally:
        await connection.close()
    return None if row is None else (row["phase"], row["end_reason"])
