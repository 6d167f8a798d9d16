"""Queue and agent statistics, with the anchors' exact definitions (DESIGN.md).

- SL  = answered within T / answered x 100 (Asterisk ``servicelevel``)
- SL2 = (answered within T + abandoned within T) / (answered + abandoned) x 100
- abandonment rate = abandoned while queued / queued x 100 (Amazon Connect), abandons
  shorter than the short-abandon threshold excluded from both sides; callbacks are not
  abandons
- ASA = mean wait of answered calls; abandoned waits are reported separately
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class QueueCounters:
    """Running totals for one queue (a skill of a district)."""

    entered: int = 0
    answered: int = 0
    answered_within_sl: int = 0
    abandoned: int = 0
    abandoned_short: int = 0
    abandoned_within_sl: int = 0
    callbacks: int = 0
    wait_answered: float = 0.0
    wait_abandoned: float = 0.0
    handle_times: deque[float] = field(default_factory=lambda: deque(maxlen=50))
    handle_time_total: float = 0.0
    handled: int = 0


@dataclass(frozen=True)
class QueueStats:
    """A snapshot of one queue, as shown on the wallboard and in /metrics."""

    partition: str
    skill: str
    waiting: int
    longest_wait: float
    staffed_agents: int
    ready_agents: int
    entered: int
    answered: int
    abandoned: int
    abandoned_short: int
    callbacks: int
    service_level: float | None
    service_level_2: float | None
    abandonment_rate: float | None
    average_speed_of_answer: float | None
    average_abandon_wait: float | None
    average_handle_time: float | None


@dataclass(frozen=True)
class AgentStats:
    """A snapshot of one agent."""

    agent_id: str
    state: str
    reason: str | None
    partition: str
    skills: dict[str, int]
    auto_answer: bool
    offered: int
    answered: int
    rejected: int
    missed: int
    average_handle_time: float | None
    talk_time: float


def percentage(part: int, whole: int) -> float | None:
    """``part / whole x 100``, or None when there is nothing to divide by."""
    return None if whole == 0 else 100.0 * part / whole


def queue_snapshot(
    partition: str,
    skill: str,
    counters: QueueCounters,
    *,
    waiting: int,
    longest_wait: float,
    staffed_agents: int,
    ready_agents: int,
) -> QueueStats:
    """Derive the rates from the running totals."""
    abandoned_all = counters.abandoned + counters.abandoned_short
    return QueueStats(
        partition=partition,
        skill=skill,
        waiting=waiting,
        longest_wait=longest_wait,
        staffed_agents=staffed_agents,
        ready_agents=ready_agents,
        entered=counters.entered,
        answered=counters.answered,
        abandoned=counters.abandoned,
        abandoned_short=counters.abandoned_short,
        callbacks=counters.callbacks,
        service_level=percentage(counters.answered_within_sl, counters.answered),
        service_level_2=percentage(
            counters.answered_within_sl + counters.abandoned_within_sl,
            counters.answered + abandoned_all,
        ),
        abandonment_rate=percentage(
            counters.abandoned, counters.entered - counters.abandoned_short
        ),
        average_speed_of_answer=(
            None if counters.answered == 0 else counters.wait_answered / counters.answered
        ),
        average_abandon_wait=(
            None if abandoned_all == 0 else counters.wait_abandoned / abandoned_all
        ),
        average_handle_time=(
            None if counters.handled == 0 else counters.handle_time_total / counters.handled
        ),
    )
