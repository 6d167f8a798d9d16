"""WebSocket transport: read, size-check, rate-limit, validate, hand to the hub, write.

Thin on purpose: every decision is the hub's. Every message gets either its effect or an
``error`` reply with a code; the socket is never dropped without a close code and reason.
Under uvicorn (``uvicorn_ws_options``) relayed SDP/ICE of a live session's parties take a
fast lane (``fast_lane``, ``SocketLane``) with the same checks, in arrival order.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from .. import protocol as p
from ..live.connection import Close, Connection, Role
from ..live.hub import Hub
from ..live.ratelimit import TokenBucket
from ..live.sessions import HubError
from ..relay_frame import RelayFrame, encode, read_relay
from ..routing.model import RoutingError
from ..settings import Settings
from .fast_lane import SCOPE_KEY, FastLaneProtocol

log = logging.getLogger(__name__)

AUTH_TIMEOUT = 15.0
#: a caller socket without a call that stays silent this long is closed (idle sockets are
#: free for a client and not for the server)
CALLER_IDLE_TIMEOUT = 300.0
MAX_AUTH_FAILURES = 3
MAX_RATE_VIOLATIONS = 100
#: frames over the byte budget before the socket is closed: no client of ours sends
#: more than the burst (1 MiB) plus 256 KiB/s, and each over-budget frame already holds
#: the reader back, so a flooder is cut off within seconds
MAX_BYTE_VIOLATIONS = 10

Parser = Callable[[str | bytes, int], p.Message]


def uvicorn_ws_options(max_message_bytes: int) -> dict[str, Any]:
    """uvicorn's options for our sockets (``cloud-agent serve`` and the tests' server).

    Frames up to 4x the message limit reach the reader, which answers an oversize message
    with ``message_too_large`` instead of a dropped socket. No permessage-deflate: our
    messages are a few hundred bytes (an SDP a few KB, once per call), and each deflate
    socket holds ~37 KiB of zlib state and compresses every frame (docs/benchmarks.md).
    The protocol is uvicorn's ``websockets-sansio`` with the relay fast lane.
    """
    return {"ws": FastLaneProtocol, "ws_max_size": 4 * max_message_bytes,
            "ws_per_message_deflate": False}


Handler = Callable[[Connection, p.Message], Awaitable[None]]


async def _write_loop(ws: WebSocket, conn: Connection) -> None:
    """Drain the connection's outbox onto the socket until a Close or a dead socket."""
    while True:
        item = await conn.next_outgoing()
        try:
            if isinstance(item, Close):
                await ws.close(item.code, item.reason)
                return
            await ws.send({"type": "websocket.send",
                           "text": item if type(item) is str else encode(item)})
        except Exception:  # the peer is gone; the reader notices and cleans up
            return
        conn.written()


class Budget:
    """One socket's message and byte token buckets, shared by its reader and its lane."""

    def __init__(self, settings: Settings, now: float) -> None:
        self.messages = TokenBucket(settings.rate_limit_per_second,
                                    settings.rate_limit_burst, now)
        self.bytes = TokenBucket(settings.rate_limit_bytes_per_second,
                                 settings.rate_limit_bytes_burst, now)

    def within(self, size: int, now: float) -> bool:
        """Spend a message and ``size`` bytes if both buckets hold them, else change
        nothing: the reader then charges the frame, counts the violation and answers."""
        messages, bytes_ = self.messages, self.bytes
        message_tokens = min(messages.burst,
                             messages.tokens + (now - messages.updated) * messages.rate)
        byte_tokens = min(bytes_.burst, bytes_.tokens + (now - bytes_.updated) * bytes_.rate)
        if message_tokens < 1.0 or byte_tokens < size:
            return False
        messages.tokens, messages.updated = message_tokens - 1.0, now
        bytes_.tokens, bytes_.updated = byte_tokens - size, now
        return True


class SocketLane:
    """The app's side of a socket's fast lane (``fast_lane.FastLaneProtocol``): it takes
    an SDP/ICE frame from a party of a live session when ``read_relay`` accepts it and the
    budget holds it, and relays it as the reader would; anything else stays the reader's."""

    __slots__ = ("hub", "conn", "budget", "limit", "clock", "idle")

    def __init__(self, hub: Hub, conn: Connection, budget: Budget,
                 clock: Callable[[], float]) -> None:
        self.hub = hub
        self.conn = conn
        self.budget = budget
        self.limit = hub.settings.max_message_bytes
        self.clock = clock
        #: the reader is waiting for a frame and holds none (set and cleared by it)
        self.idle = False

    def take(self, text: str) -> bool:
        conn = self.conn
        if conn.closed or (conn.call_id if conn.role is Role.CALLER
                           else conn.agent_id) is None:
            return False
        frame = read_relay(text, self.limit)
        if frame is None:
            return False
        now = self.clock()
        if not self.budget.within(len(text) if text.isascii() else len(text.encode()), now):
            return False
        conn.received_at = now
        try:
            self.hub.relay_now(conn, frame)
        except HubError as exc:
            conn.send(p.error(exc.code, exc.message, in_reply_to=frame.type, **exc.fields))
        except Exception:
            log.exception("handling %s failed", frame.type)
            conn.send(p.error("internal_error", "the server could not handle this "
                              "message; nothing was changed"))
        return True


def client_address(ws: WebSocket) -> str:
    """The peer's address as uvicorn reports it (the proxy's X-Forwarded-For when the
    connection comes from a trusted proxy: ``--forwarded-allow-ips``, docs/operations.md)."""
    return ws.client.host if ws.client else "unknown"


async def serve_socket(ws: WebSocket, hub: Hub, role: Role) -> None:
    """Run one caller or agent socket from accept to close."""
    loop = asyncio.get_running_loop()
    address = client_address(ws)
    is_caller = role is Role.CALLER
    await ws.accept()
    hub.case_side.learn_base_url(str(ws.base_url))
    admitted = hub.socket_limits.admit(address, is_caller, loop.time())
    shared = ws.app.state.socket_rate  # cluster-wide counts per address (Redis), or None
    if admitted and shared is not None and not await shared.admit(address, is_caller):
        hub.socket_limits.closed(address, is_caller)
        admitted = False
    if not admitted:
        log.warning("refused a %s socket from %s: too many connections", role.value, address)
        await ws.send_text(json.dumps(p.error(
            "too_many_connections", "too many connections from your network; try again "
            "in a minute"), ensure_ascii=False))
        await ws.close(1013, "too many connections")
        return
    try:
        await _serve_admitted(ws, hub, role, address)
    finally:
        hub.socket_limits.closed(address, is_caller)
        if shared is not None:
            shared.closed(address, is_caller)


async def _serve_admitted(ws: WebSocket, hub: Hub, role: Role, address: str) -> None:
    settings = hub.settings
    conn = Connection(role, address=address)
    parse: Parser = p.parse_caller_message if role is Role.CALLER else p.parse_agent_message
    handle: Handler = hub.caller_message if role is Role.CALLER else hub.agent_message
    loop = asyncio.get_running_loop()
    budget = Budget(settings, loop.time())
    bucket, byte_bucket = budget.messages, budget.bytes
    lane = SocketLane(hub, conn, budget, loop.time)
    # Under uvicorn with our protocol class: writes skip the writer task while nothing is
    # queued, and relay frames take the lane (absent under other servers: all as before).
    protocol = (ws.scope.get("extensions") or {}).get(SCOPE_KEY, {}).get("protocol")
    if isinstance(protocol, FastLaneProtocol):
        conn.direct = protocol.write_now
        protocol.lane = lane
    writer = asyncio.create_task(_write_loop(ws, conn))
    violations = byte_violations = 0
    auth_failures = 0
    auth_deadline = loop.time() + AUTH_TIMEOUT
    conn.send(p.outbound("hello", role=role.value, max_message_bytes=settings.max_message_bytes))
    try:
        while not conn.closed:
            timeout = None
            if role is Role.AGENT and conn.agent_id is None:
                timeout = max(0.0, auth_deadline - loop.time())
            elif role is Role.CALLER and conn.call_id is None:
                timeout = CALLER_IDLE_TIMEOUT
            lane.idle = True
            try:
                if timeout is None:
                    frame = await ws.receive()
                else:  # a timeout scope, not wait_for: no extra task per idle socket
                    async with asyncio.timeout(timeout):
                        frame = await ws.receive()
            except TimeoutError:
                if role is Role.AGENT:
                    conn.send(p.error("auth_timeout", "no auth message in time"))
                    conn.close(4401, "authentication timeout")
                else:
                    conn.close(1000, "idle without a call")
                break
            lane.idle = False
            conn.received_at = loop.time()
            if frame["type"] == "websocket.disconnect":
                break
            raw = frame.get("text")
            if raw is None:
                raw = frame.get("bytes") or b""
            size = len(raw) if isinstance(raw, bytes) or raw.isascii() else len(raw.encode())
            debt = byte_bucket.take(size, conn.received_at)
            if debt > 0 or not bucket.allow(conn.received_at):
                violations += 1
                byte_violations += debt > 0
                conn.send(p.error("rate_limited", "too many messages or bytes; slow down",
                                  retry_after_ms=int(debt * 1000)))
                if violations >= MAX_RATE_VIOLATIONS or byte_violations >= MAX_BYTE_VIOLATIONS:
                    conn.close(1008, "rate limit exceeded repeatedly")
                    break
                if debt > 0:
                    # Read nothing more until the budget is back: TCP flow control then
                    # holds the sender to the byte rate, at no cost to anyone else.
                    await asyncio.sleep(debt)
                continue
            # SDP/ICE (most of a call's messages) are checked and serialized once by hand;
            # anything the fast path is not sure of goes through the strict models.
            relay = (read_relay(raw, settings.max_message_bytes)
                     if role is Role.CALLER or conn.agent_id is not None else None)
            try:
                message = relay or parse(raw, settings.max_message_bytes)
            except p.ProtocolError as exc:
                conn.send(p.error(exc.code, exc.message))
                continue
            except Exception as exc:  # a parser bug must not cost the socket or the log
                log.warning("unparseable %s frame from %s: %s", role.value, address,
                            type(exc).__name__)
                conn.send(p.error("invalid_message", "the message could not be read"))
                continue
            try:
                await (hub.relay(conn, message) if isinstance(message, RelayFrame)
                       else handle(conn, message))
            except (HubError, RoutingError) as exc:
                extra = getattr(exc, "fields", None) or {}
                conn.send(p.error(exc.code, exc.message,
                                  in_reply_to=getattr(message, "type", None), **extra))
                if exc.code == "invalid_token":
                    auth_failures += 1
                    if auth_failures >= MAX_AUTH_FAILURES:
                        conn.close(4401, "authentication failed")
            except Exception:
                log.exception("handling %s failed", getattr(message, "type", "?"))
                conn.send(p.error("internal_error", "the server could not handle this "
                                  "message; nothing was changed"))
    except WebSocketDisconnect:
        pass
    finally:
        lane.idle = False
        if isinstance(protocol, FastLaneProtocol):
            protocol.lane = None
            conn.direct = None
        try:
            if role is Role.CALLER:
                hub.caller_disconnected(conn)
            else:
                hub.agent_disconnected(conn)
        except Exception:
            log.exception("disconnect cleanup failed")
        conn.close(1000, "bye")
        try:
            await asyncio.wait_for(writer, 5.0)
        except (TimeoutError, asyncio.CancelledError):
            writer.cancel()
