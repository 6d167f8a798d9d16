"""Live state the engine does not own: who is behind a call, and connected sessions.

Shared by the hub and its caller and agent sides; records in the store are written from
these when a call ends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .connection import Connection
from .routing.model import Origin


@dataclass
class CallerInfo:
    """Who is behind a call, kept for the call's life (and shown to the agent)."""

    call_id: str
    skill: str
    origin: Origin
    label: str
    partition: str
    resume_token: str
    kiosk_id: str | None = None
    company: dict[str, str] | None = None
    language: str = "zh-CN"
    request_id: str | None = None
    connection: Connection | None = None


@dataclass
class LiveSession:
    """A connected call: exactly two parties, the only ones allowed to relay to each other."""

    call_id: str
    agent_id: str
    started_at: float
    ice_servers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


class HubError(Exception):
    """A request refused by the hub; ``code`` goes on the wire."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
