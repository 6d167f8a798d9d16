"""Events fed into the engine: what agents, callers and the clock did.

Frozen dataclasses, so a log of them replays to the same state (DESIGN.md, scale-out).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .model import Origin


@dataclass(frozen=True)
class AgentLogin:
    """An agent connected; re-sent on reconnect to refresh skills without changing state."""

    agent_id: str
    skills: Mapping[str, int]
    partition: str = "default"
    auto_answer: bool = False


@dataclass(frozen=True)
class AgentLogout:
    """The agent left (or its connection did not come back within its grace)."""

    agent_id: str


@dataclass(frozen=True)
class AgentDetached:
    """The agent's connection dropped: offer nothing until it is back (AgentLogin) or
    logged out, without touching the status it chose."""

    agent_id: str


@dataclass(frozen=True)
class AgentSetReady:
    """The agent chose ready."""

    agent_id: str


@dataclass(frozen=True)
class AgentSetNotReady:
    """The agent chose not-ready with a reason (break, training, ...)."""

    agent_id: str
    reason: str = "break"


@dataclass(frozen=True)
class AgentSetAutoAnswer:
    """Turn auto-answer (the two-second zone) on or off."""

    agent_id: str
    enabled: bool


@dataclass(frozen=True)
class AgentAccept:
    """The agent accepted the call offered to it."""

    agent_id: str
    call_id: str


@dataclass(frozen=True)
class AgentReject:
    """The agent declined the call offered to it."""

    agent_id: str
    call_id: str


@dataclass(frozen=True)
class AgentHangup:
    """The agent ended its call."""

    agent_id: str
    call_id: str


@dataclass(frozen=True)
class AgentEndWrapUp:
    """The agent finished after-call work before the timer."""

    agent_id: str


@dataclass(frozen=True)
class CallRequested:
    """A caller pressed the call button.

    ``arrived_at`` is when the request reached the server (the transport stamps it on the
    engine's clock before any look-up); the call's wait starts then, not when the event is
    handled, so waits, service level, speed of answer, widening, ``max_wait`` and the
    call's turn among equal priorities all count the look-up too. A time after ``now``
    (or none, or not finite) counts as ``now``.
    """

    call_id: str
    skill: str
    origin: Origin = Origin.KIOSK
    partition: str = "default"
    priority: int = 0
    label: str = ""
    target_agent_id: str | None = None
    arrived_at: float | None = None


@dataclass(frozen=True)
class CallerHangup:
    """The caller cancelled while waiting or ringing, or hung up in the call."""

    call_id: str


@dataclass(frozen=True)
class CallerDetached:
    """The caller's connection dropped; its place is kept for the resume grace."""

    call_id: str


@dataclass(frozen=True)
class CallerResumed:
    """The caller came back with its resume token."""

    call_id: str


@dataclass(frozen=True)
class CallbackAccepted:
    """The caller took the callback offer; the call leaves the queue as a callback."""

    call_id: str


@dataclass(frozen=True)
class Tick:
    """The clock moved; due timers fire. Carries nothing: ``now`` is passed to ``handle``."""

    reason: str = field(default="timer")


Event = (
    AgentLogin | AgentLogout | AgentDetached | AgentSetReady | AgentSetNotReady | AgentSetAutoAnswer
    | AgentAccept | AgentReject | AgentHangup | AgentEndWrapUp | CallRequested | CallerHangup
    | CallerDetached | CallerResumed | CallbackAccepted | Tick
)
