"""Data of the routing core: agents, calls, their states and the rules' parameters.

Plain dataclasses owned by the engine. Only ``engine.py`` changes them, so every state
change happens in one place (see the transition table at the top of ``engine.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class RoutingError(Exception):
    """An event that is illegal in the current state; the event changed nothing.

    ``code`` is the wire error code (docs/protocol.md) the transport reports. Timers that
    were due at ``now`` still fired before the event was judged (time passed either way);
    their actions are in ``actions`` and must be carried out like any others.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.actions: list[object] = []


class Presence(StrEnum):
    """What the agent chose (FreeSWITCH's *status*); the system may only lower it."""

    #: not logged in; never offered anything
    OFFLINE = "offline"
    #: wants calls
    READY = "ready"
    #: logged in but away; ``Agent.not_ready_reason`` says why
    NOT_READY = "not_ready"


class Activity(StrEnum):
    """What the agent is doing (FreeSWITCH's *state*); driven by calls and timers."""

    #: no call at hand
    IDLE = "idle"
    #: an offer is ringing on the console
    RESERVED = "reserved"
    #: in a call
    BUSY = "busy"
    #: after-call work; ends by timer or by the agent
    WRAP_UP = "wrap_up"


class AgentState(StrEnum):
    """The one state shown on consoles and wallboards, derived from presence and activity."""

    #: logged out
    OFFLINE = "offline"
    #: idle and wanting calls
    READY = "ready"
    #: ringing
    RESERVED = "reserved"
    #: in a call
    BUSY = "busy"
    #: after-call work
    WRAP_UP = "wrap_up"
    #: idle and away
    NOT_READY = "not_ready"


class CallStatus(StrEnum):
    """Where a call is in its life."""

    #: in the queue, keeping its place
    WAITING = "waiting"
    #: offered to one agent; that agent is reserved
    RINGING = "ringing"
    #: caller and agent are in a session
    CONNECTED = "connected"
    #: over: completed, abandoned or converted to a callback
    ENDED = "ended"


class Origin(StrEnum):
    """Where a call comes from; shown to the agent and used in statistics."""

    #: a touch-screen kiosk at a town service centre
    KIOSK = "kiosk"
    #: an enterprise clerk's browser (guest form)
    ENTERPRISE = "enterprise"
    #: a signed invite link straight to one agent
    INVITE = "invite"


class Disposition(StrEnum):
    """How a call ended, for statistics and the call record."""

    #: answered and hung up
    COMPLETED = "completed"
    #: the caller left (or was lost) before an agent answered
    ABANDONED = "abandoned"
    #: the caller chose to be called back instead of waiting
    CALLBACK = "callback"


@dataclass(frozen=True)
class RoutingConfig:
    """The queue rules' parameters; seconds unless named otherwise."""

    ring_timeout: float = 15.0
    max_no_answer: int = 3
    reject_delay: float = 5.0
    no_answer_delay: float = 0.0
    wrap_up_time: float = 30.0  # 0 = until the agent ends it
    widen_to_all_levels_after: float = 10.0
    widen_to_partition_after: float = 60.0
    resume_grace: float = 30.0
    max_wait: float = 120.0
    service_level_threshold: float = 2.0
    short_abandon_threshold: float = 5.0
    default_handle_time: float = 180.0
    handle_time_window: int = 50

    def __post_init__(self) -> None:
        if self.ring_timeout <= 0 or self.max_wait <= 0 or self.service_level_threshold <= 0:
            raise ValueError("ring_timeout, max_wait and service_level_threshold must be > 0")
        if self.max_no_answer < 1 or self.handle_time_window < 1:
            raise ValueError("max_no_answer and handle_time_window must be >= 1")
        for name in ("reject_delay", "no_answer_delay", "wrap_up_time", "resume_grace",
                     "widen_to_all_levels_after", "widen_to_partition_after",
                     "short_abandon_threshold"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.default_handle_time <= 0:
            raise ValueError("default_handle_time must be > 0")


@dataclass
class AgentCounters:
    """Per-agent statistics since the engine started."""

    offered: int = 0
    answered: int = 0
    rejected: int = 0
    missed: int = 0
    talk_time: float = 0.0
    handle_time: float = 0.0
    handled: int = 0


@dataclass(eq=False)
class Agent:
    """A logged-in (or known) agent; ``skills`` maps skill code to level, 1 = best.

    An entity: equal only to itself.
    """

    id: str
    skills: dict[str, int]
    partition: str
    auto_answer: bool = False
    detached: bool = False
    presence: Presence = Presence.OFFLINE
    not_ready_reason: str | None = None
    activity: Activity = Activity.IDLE
    call_id: str | None = None
    idle_since: float = 0.0
    blocked_until: float = 0.0
    missed_in_row: int = 0
    wrap_up_until: float | None = None
    wrap_up_queue: tuple[str, str] | None = None
    answered_at: float | None = None
    counters: AgentCounters = field(default_factory=AgentCounters)

    @property
    def state(self) -> AgentState:
        if self.presence is Presence.OFFLINE:
            return AgentState.OFFLINE
        if self.activity is Activity.RESERVED:
            return AgentState.RESERVED
        if self.activity is Activity.BUSY:
            return AgentState.BUSY
        if self.activity is Activity.WRAP_UP:
            return AgentState.WRAP_UP
        return AgentState.READY if self.presence is Presence.READY else AgentState.NOT_READY

    def available(self, now: float) -> bool:
        """Ready, connected, idle and not inside a reject or no-answer delay."""
        return (
            self.presence is Presence.READY
            and not self.detached
            and self.activity is Activity.IDLE
            and self.blocked_until <= now
        )


@dataclass(eq=False)
class Call:
    """A caller's request for an agent, from the call button to the end (an entity:
    equal only to itself, so finding it in a long queue compares no fields)."""

    id: str
    skill: str
    partition: str
    origin: Origin
    priority: int
    enqueued_at: float
    seq: int
    label: str = ""
    target_agent_id: str | None = None
    status: CallStatus = CallStatus.WAITING
    agent_id: str | None = None
    offer_expires_at: float | None = None
    answered_at: float | None = None
    detached_at: float | None = None
    callback_offered: bool = False
    last_position: int | None = None
    last_estimate: int | None = None

    @property
    def queue_key(self) -> tuple[str, str]:
        """Calls compete for agents within a queue: a skill of a district, or one agent."""
        if self.target_agent_id is not None:
            return (self.partition, "@" + self.target_agent_id)
        return (self.partition, self.skill)

    @property
    def order_key(self) -> tuple[int, float, int]:
        """Higher priority first, then first come (to the server) first served."""
        return (-self.priority, self.enqueued_at, self.seq)
