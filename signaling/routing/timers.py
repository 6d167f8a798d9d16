"""The engine's timers: a heap of (when, why, whom), checked for staleness when due.

Timers are never cancelled; when one falls due the engine asks whether it still means
something (the offer may have been answered, the caller may be back). That keeps every
state change free of timer bookkeeping.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from enum import StrEnum


class TimerKind(StrEnum):
    """Why the engine wants to be woken."""

    #: an offer stops ringing
    OFFER_EXPIRES = "offer_expires"
    #: an agent's wrap-up ends
    WRAP_UP_ENDS = "wrap_up_ends"
    #: an agent's reject/no-answer delay ends
    AGENT_UNBLOCKED = "agent_unblocked"
    #: a waiting call reaches a wider tier
    TIER_WIDENS = "tier_widens"
    #: a detached caller's grace ends
    GRACE_ENDS = "grace_ends"
    #: a waiting call reaches max_wait
    MAX_WAIT = "max_wait"


@dataclass(order=True, frozen=True)
class Timer:
    """One wake-up; ``key`` is an agent id or a call id depending on ``kind``."""

    at: float
    seq: int
    kind: TimerKind
    key: str


class TimerHeap:
    """Timers in due order; ties keep the order they were set in."""

    def __init__(self) -> None:
        self._heap: list[Timer] = []
        self._seq = 0

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, at: float, kind: TimerKind, key: str) -> None:
        self._seq += 1
        heapq.heappush(self._heap, Timer(at, self._seq, kind, key))

    def peek(self) -> Timer | None:
        return self._heap[0] if self._heap else None

    def pop(self) -> Timer:
        return heapq.heappop(self._heap)

    def pop_due(self, now: float) -> Timer | None:
        """The earliest timer due at ``now``, removed; None when none is due."""
        if self._heap and self._heap[0].at <= now:
            return heapq.heappop(self._heap)
        return None
