"""A small JSON WebSocket client for protocol tests: send dicts, wait for message types."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect


class JsonClient:
    """One socket; ``expect(type)`` skips unrelated messages but remembers them."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []
        self.backlog: list[dict[str, Any]] = []

    @classmethod
    async def open(cls, url: str, address: str | None = None) -> JsonClient:
        """Connect; ``address`` poses as that client address (X-Forwarded-For, which the
        test server trusts from loopback as uvicorn does behind a local proxy)."""
        headers = {"X-Forwarded-For": address} if address else None
        client = cls(await connect(url, max_size=1 << 20, additional_headers=headers))
        hello = await client.expect("hello")
        assert hello["v"] == 1
        return client

    async def send(self, message: dict[str, Any] | str) -> None:
        await self.ws.send(message if isinstance(message, str) else json.dumps(message))

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        self.seen.append(message)
        return message

    async def expect(self, type_: str, timeout: float = 5.0, **fields: Any) -> dict[str, Any]:
        """The first unconsumed message of ``type_`` (with these field values).

        Messages that do not match stay in the backlog for later ``expect`` calls.
        """
        def matches(message: dict[str, Any]) -> bool:
            return message["type"] == type_ and all(message.get(k) == v
                                                    for k, v in fields.items())
        for message in self.backlog:
            if matches(message):
                self.backlog.remove(message)
                return message

        async def wait() -> dict[str, Any]:
            while True:
                message = await self.recv(timeout)
                if matches(message):
                    return message
                self.backlog.append(message)
        return await asyncio.wait_for(wait(), timeout)

    async def error(self, code: str, timeout: float = 5.0) -> dict[str, Any]:
        return await self.expect("error", timeout, code=code)

    async def silent(self, types: set[str], seconds: float = 0.3) -> None:
        """Assert no message of these types arrived or arrives within ``seconds``."""
        assert not [m for m in self.backlog if m["type"] in types], self.backlog
        try:
            while True:
                message = await self.recv(seconds)
                assert message["type"] not in types, message
        except TimeoutError:
            pass

    async def close(self) -> None:
        await self.ws.close()


async def login(http: str, username: str, password: str = "demo") -> str:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{http}/api/login",
                                     json={"username": username, "password": password})
        response.raise_for_status()
        token: str = response.json()["token"]
        return token


async def agent(server: Any, username: str, *, ready: bool = True,
                auto_answer: bool = False) -> JsonClient:
    """An authenticated agent socket, optionally ready."""
    client = await JsonClient.open(f"{server.ws}/ws/agent")
    await client.send({"type": "auth", "token": await login(server.http, username)})
    await client.expect("authenticated")
    if auto_answer:
        await client.send({"type": "set_auto_answer", "enabled": True})
        await client.expect("agent_state", auto_answer=True)
    if ready:
        await client.send({"type": "set_status", "status": "ready"})
        await client.expect("agent_state", state="ready")
    return client


def next_kiosk_token(server: Any) -> str:
    """The demo kiosks in turn (a kiosk holds one live call): the first call of a server
    comes from ``demo-kiosk``, the next from ``demo-kiosk-2`` and so on, round the eight."""
    number = getattr(server, "_kiosks_used", 0)
    server._kiosks_used = number + 1
    return "demo-kiosk" if number % 8 == 0 else f"demo-kiosk-{number % 8 + 1}"


async def caller(server: Any, skill: str = "water", **extra: Any) -> tuple[JsonClient,
                                                                          dict[str, Any]]:
    """A kiosk caller socket with a call request sent; returns (client, queued message)."""
    client = await JsonClient.open(f"{server.ws}/ws/caller")
    if not {"kiosk_token", "company", "invite"} & extra.keys():
        extra["kiosk_token"] = next_kiosk_token(server)
    await client.send({"type": "call_request", "skill": skill, **extra})
    queued = await client.expect("queued")
    return client, queued
