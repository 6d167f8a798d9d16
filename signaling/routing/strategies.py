"""Agent-selection strategies: which of several equally eligible agents gets the call.

The engine first narrows the candidates to the best tier and skill level; a strategy only
breaks the tie. Longest-idle is the default of every anchor (FreeSWITCH
``longest-idle-agent``, Asterisk ``leastrecent``, Twilio, Amazon Connect).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .model import Agent

Strategy = Callable[[Sequence[Agent]], Agent]


def longest_idle(candidates: Sequence[Agent]) -> Agent:
    """The agent idle the longest; ties go to the smaller id, so results are repeatable."""
    return min(candidates, key=lambda agent: (agent.idle_since, agent.id))


def fewest_calls(candidates: Sequence[Agent]) -> Agent:
    """The agent who answered the fewest calls, then the longest idle."""
    return min(candidates, key=lambda a: (a.counters.answered, a.idle_since, a.id))


def least_talk_time(candidates: Sequence[Agent]) -> Agent:
    """The agent with the least talk time so far, then the longest idle."""
    return min(candidates, key=lambda a: (a.counters.talk_time, a.idle_since, a.id))


STRATEGIES: dict[str, Strategy] = {
    "longest-idle": longest_idle,
    "fewest-calls": fewest_calls,
    "least-talk-time": least_talk_time,
}
