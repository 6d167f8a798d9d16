"""Live state the engine does not own: who is behind a call, and connected sessions.

Shared by the hub and its caller and agent sides; records in the store are written from
these when a call ends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..matters.document import SessionDocument
from ..routing.model import Origin
from .connection import Connection


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
    #: who placed the call (kiosk id, or company and address): a repeated request id
    #: only returns the call to the same identity
    identity: str = ""
    #: the node and connection (``state.connection_key``) the caller's socket is on;
    #: None while it is away (replicated: every node knows where a caller is)
    node: str | None = None
    conn: str | None = None
    #: the recording decision, replicated with the call so that the agent's node (which
    #: runs the recorder) knows it: ``{"policy": ..., "consent": "granted" | "refused"}``;
    #: None when nothing was asked (``recording_side.CallRecording.replicated``)
    recording: dict[str, str] | None = None
    #: the caller's socket when it is connected to this node (never replicated)
    connection: Connection | None = None


@dataclass
class LiveSession:
    """A connected call: exactly two parties, the only ones allowed to relay to each other."""

    call_id: str
    agent_id: str
    started_at: float
    ice_servers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: forms, identity, materials and screens pushed into the call
    document: SessionDocument = field(init=False)

    def __post_init__(self) -> None:
        self.document = SessionDocument(self.call_id)


class HubError(Exception):
    """A request refused by the hub; ``code`` and any ``fields`` go on the wire."""

    def __init__(self, code: str, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields
