"""One client's outbound side: a bounded outbox drained by the transport's writer task.

The hub only ever calls ``send`` (never awaits a socket), so a slow client cannot stall
routing for everyone else; a client that falls too far behind is closed instead. When the
transport can write at once (nothing queued, the socket not backed up) it gives the
connection a synchronous ``direct`` writer, and a message goes out without waking the
writer task; otherwise it waits in the outbox, in order.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    """Which endpoint a connection came in on."""

    #: a kiosk or enterprise caller
    CALLER = "caller"
    #: an agent console or headless agent
    AGENT = "agent"


@dataclass(frozen=True)
class Close:
    """Ask the writer to close the socket with this code and reason."""

    code: int
    reason: str


_ids = itertools.count(1)


@dataclass(eq=False)
class Connection:
    """A live WebSocket as the hub sees it."""

    role: Role
    #: the peer's network address (abuse limits count per address)
    address: str = "unknown"
    outbox_size: int = 512
    id: int = field(default_factory=lambda: next(_ids))
    #: what waits for the writer, oldest first: messages as dicts, frames already
    #: serialized (relayed SDP/ICE), and a Close last. A list and one future rather than
    #: an asyncio.Queue (four deques, ~3 KiB): an idle socket's outbox is nearly always
    #: empty, and there are 10,000 of them
    outbox: list[dict[str, Any] | str | Close] = field(default_factory=list)
    _ready: asyncio.Future[None] | None = field(default=None, init=False, repr=False)
    #: the transport's synchronous writer: writes a message (or frame) now and returns
    #: True, or returns False when it cannot (socket backed up or closing); used only
    #: while the outbox is empty, so nothing overtakes what is queued
    direct: Callable[[dict[str, Any] | str], bool] | None = field(default=None, repr=False)
    closed: bool = False
    #: caller: the call this socket is bound to, and the last one (for the rating)
    call_id: str | None = None
    last_call_id: str | None = None
    #: agent: the authenticated agent
    agent_id: str | None = None
    #: callers: who is calling, once the call request was accepted
    language: str = "zh-CN"
    #: loop time at which the frame being handled was read off the socket (before any
    #: parsing or look-up): a call's wait is counted from there
    received_at: float = 0.0

    def send(self, message: dict[str, Any] | str) -> None:
        """Queue a message (or a serialized frame); a client too slow to keep up is
        disconnected."""
        if self.closed:
            return
        if not self.outbox and self.direct is not None and self.direct(message):
            return
        if len(self.outbox) >= self.outbox_size:
            self.close(1013, "client too slow")
            return
        self.outbox.append(message)
        self._wake()

    def close(self, code: int, reason: str) -> None:
        """Queue a close after what is already queued; later sends are dropped."""
        if self.closed:
            return
        self.closed = True
        self.outbox.append(Close(code, reason))
        self._wake()

    async def next_outgoing(self) -> dict[str, Any] | str | Close:
        """The oldest item of the outbox, once there is one; it stays there (so no direct
        write overtakes it) until the writer calls ``written``."""
        while not self.outbox:
            self._ready = asyncio.get_running_loop().create_future()
            await self._ready
        return self.outbox[0]

    def written(self) -> None:
        """The writer is done with the oldest item."""
        del self.outbox[0]

    def _wake(self) -> None:
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(None)
