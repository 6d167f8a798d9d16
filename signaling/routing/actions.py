"""Actions the engine asks the outside world to carry out (deliver, record, ring).

The hub turns them into WebSocket messages and store writes; the engine never does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import AgentState, Disposition, Origin


@dataclass(frozen=True)
class CallQueued:
    """The call entered the queue (first position and estimate follow as PositionChanged)."""

    call_id: str


@dataclass(frozen=True, init=False)
class PositionChanged:
    """A waiting caller's place (1 = next) or estimated wait (whole seconds) changed."""

    call_id: str
    position: int
    estimated_wait: int

    def __init__(self, call_id: str, position: int, estimated_wait: int) -> None:
        # The engine makes dozens per event when a long queue moves; filling the instance
        # dict directly is ~3x cheaper than frozen's per-field object.__setattr__.
        fields = self.__dict__
        fields["call_id"] = call_id
        fields["position"] = position
        fields["estimated_wait"] = estimated_wait


@dataclass(frozen=True)
class OfferCall:
    """Ring the agent. With ``auto_answer`` a CallConnected follows at once."""

    agent_id: str
    call_id: str
    skill: str
    origin: Origin
    label: str
    waited: float
    expires_at: float
    auto_answer: bool


@dataclass(frozen=True)
class OfferCancelled:
    """Stop the agent's ring now (timeout, rejected, caller gone, agent away)."""

    agent_id: str
    call_id: str
    reason: str


@dataclass(frozen=True)
class CallRinging:
    """Tell the caller an agent is being rung."""

    call_id: str
    agent_id: str


@dataclass(frozen=True)
class CallRequeued:
    """The offer ended without an answer; the caller is back in the queue, same place."""

    call_id: str
    reason: str


@dataclass(frozen=True)
class CallConnected:
    """Caller and agent now form a session; the hub sends roles and ICE servers."""

    call_id: str
    agent_id: str
    waited: float


@dataclass(frozen=True)
class CallEnded:
    """The call is over; ``agent_id`` is None when no agent ever answered."""

    call_id: str
    agent_id: str | None
    reason: str
    disposition: Disposition
    enqueued_at: float
    answered_at: float | None
    ended_at: float


@dataclass(frozen=True)
class CallbackOffered:
    """Offer the waiting caller a callback instead of waiting (no agent, or waited too long)."""

    call_id: str
    reason: str


@dataclass(frozen=True)
class AgentStateChanged:
    """The agent's displayed state changed."""

    agent_id: str
    state: AgentState
    reason: str | None
    auto_answer: bool


Action = (
    CallQueued | PositionChanged | OfferCall | OfferCancelled | CallRinging | CallRequeued
    | CallConnected | CallEnded | CallbackOffered | AgentStateChanged
)
