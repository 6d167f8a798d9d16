"""Indexes of the agents that keep routing's cost per event flat as the floor grows.

Derived state only: everything here follows from the agents' own fields and can be
rebuilt from them at any time (``AgentIndex.build``), e.g. after an engine is restored
from a snapshot. The engine files an agent again after every change it makes to it
(``Engine._agent_changed``), so the index never has to be told *what* changed.

- **Idle agents** (ready, connected, idle: ``Agent.available`` without the reject or
  no-answer delay, which depends on ``now``) per (district, skill, level) and per
  district, each in longest-idle order ``(idle_since, id)``, the order of
  ``strategies.longest_idle``.
- **Staffing**: per (district, skill), how many logged-in agents hold the skill at each
  level; the best level and the staffed count follow without a scan.
- **Possibly delayed**: idle agents whose reject or no-answer delay may still run, so
  the engine knows cheaply how many idle agents can take a call now.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from .model import Activity, Agent, Presence

IdleKey = tuple[float, str]
"""Longest idle first, ties to the smaller id (as ``strategies.longest_idle``)."""


class IdleLine:
    """Idle agents in longest-idle order; adding and removing cost O(log n) compares."""

    __slots__ = ("_keys", "_agents")

    def __init__(self) -> None:
        self._keys: list[IdleKey] = []
        self._agents: dict[str, Agent] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[Agent]:
        """Agents, longest idle first. The line must not change while this runs."""
        agents = self._agents
        return (agents[agent_id] for _, agent_id in self._keys)

    def keys(self) -> list[IdleKey]:
        return list(self._keys)

    @classmethod
    def of_sorted(cls, entries: list[tuple[IdleKey, Agent]]) -> IdleLine:
        """A line of these agents at once (one sort, not one insertion each)."""
        entries.sort(key=lambda entry: entry[0])
        line = cls()
        line._keys = [key for key, _ in entries]
        line._agents = {key[1]: agent for key, agent in entries}
        return line

    def add(self, key: IdleKey, agent: Agent) -> None:
        insort(self._keys, key)
        self._agents[key[1]] = agent

    def remove(self, key: IdleKey) -> None:
        index = bisect_left(self._keys, key)
        if index == len(self._keys) or self._keys[index] != key:
            raise KeyError(key)
        del self._keys[index]
        del self._agents[key[1]]


class Filing(NamedTuple):
    """Where one agent is filed: the fields of the agent the index depends on. A named
    tuple: made and compared after every change to an agent, at C speed."""

    partition: str
    skills: tuple[tuple[str, int], ...]
    staffed: bool
    idle_key: IdleKey | None
    blocked_until: float

    @staticmethod
    def of(agent: Agent) -> Filing:
        idle = (agent.presence is Presence.READY and not agent.detached
                and agent.activity is Activity.IDLE)
        return Filing(agent.partition, tuple(sorted(agent.skills.items())),
                      agent.presence is not Presence.OFFLINE,
                      (agent.idle_since, agent.id) if idle else None, agent.blocked_until)


class AgentIndex:
    """Idle agents by (district, skill, level) and by district; staffing by level."""

    def __init__(self) -> None:
        self._filings: dict[str, Filing] = {}
        self._idle_by_level: dict[tuple[str, str], dict[int, IdleLine]] = {}
        self._idle_by_partition: dict[str, IdleLine] = {}
        self._staffed_levels: dict[tuple[str, str], dict[int, int]] = {}
        self._possibly_delayed: dict[str, Agent] = {}
        self.idle_count = 0

    @classmethod
    def build(cls, agents: Iterable[Agent]) -> AgentIndex:
        """A fresh index of ``agents``, from their fields alone (the live self-check
        builds one every few seconds: each line is sorted once, not grown by insertion)."""
        index = cls()
        by_level: dict[tuple[str, str], dict[int, list[tuple[IdleKey, Agent]]]] = {}
        by_partition: dict[str, list[tuple[IdleKey, Agent]]] = {}
        for agent in agents:
            filing = Filing.of(agent)
            index._filings[agent.id] = filing
            if filing.staffed:
                for skill, level in filing.skills:
                    levels = index._staffed_levels.setdefault((filing.partition, skill), {})
                    levels[level] = levels.get(level, 0) + 1
            key = filing.idle_key
            if key is None:
                continue
            index.idle_count += 1
            for skill, level in filing.skills:
                by_level.setdefault((filing.partition, skill), {}).setdefault(
                    level, []).append((key, agent))
            by_partition.setdefault(filing.partition, []).append((key, agent))
            if filing.blocked_until > 0:
                index._possibly_delayed[agent.id] = agent
        index._idle_by_level = {
            queue: {level: IdleLine.of_sorted(entries) for level, entries in levels.items()}
            for queue, levels in by_level.items()}
        index._idle_by_partition = {partition: IdleLine.of_sorted(entries)
                                    for partition, entries in by_partition.items()}
        return index

    # ------------------------------------------------------------------ upkeep

    def update(self, agent: Agent) -> None:
        """File ``agent`` according to its fields now; a no-op when nothing relevant moved."""
        new = Filing.of(agent)
        old = self._filings.get(agent.id)
        if old == new:
            return
        if old is not None:
            self._unfile(agent.id, old)
        self._file(agent, new)

    def _file(self, agent: Agent, filing: Filing) -> None:
        self._filings[agent.id] = filing
        if filing.staffed:
            for skill, level in filing.skills:
                levels = self._staffed_levels.setdefault((filing.partition, skill), {})
                levels[level] = levels.get(level, 0) + 1
        key = filing.idle_key
        if key is None:
            return
        self.idle_count += 1
        for skill, level in filing.skills:
            lines = self._idle_by_level.setdefault((filing.partition, skill), {})
            line = lines.get(level)
            if line is None:
                line = lines[level] = IdleLine()
            line.add(key, agent)
        line = self._idle_by_partition.get(filing.partition)
        if line is None:
            line = self._idle_by_partition[filing.partition] = IdleLine()
        line.add(key, agent)
        if filing.blocked_until > 0:
            # Pruned by ``idle_unblocked`` once the delay is over.
            self._possibly_delayed[agent.id] = agent

    def _unfile(self, agent_id: str, filing: Filing) -> None:
        del self._filings[agent_id]
        if filing.staffed:
            for skill, level in filing.skills:
                key = (filing.partition, skill)
                levels = self._staffed_levels[key]
                levels[level] -= 1
                if levels[level] == 0:
                    del levels[level]
                    if not levels:
                        del self._staffed_levels[key]
        idle_key = filing.idle_key
        if idle_key is None:
            return
        self.idle_count -= 1
        for skill, level in filing.skills:
            lines = self._idle_by_level[(filing.partition, skill)]
            lines[level].remove(idle_key)
            if not lines[level]:
                del lines[level]
                if not lines:
                    del self._idle_by_level[(filing.partition, skill)]
        line = self._idle_by_partition[filing.partition]
        line.remove(idle_key)
        if not line:
            del self._idle_by_partition[filing.partition]
        self._possibly_delayed.pop(agent_id, None)

    # ------------------------------------------------------------------ questions

    def idle_unblocked(self, now: float) -> int:
        """How many idle agents are past any reject or no-answer delay at ``now``."""
        delayed = self._possibly_delayed
        if delayed:
            for agent_id in [i for i, a in delayed.items() if a.blocked_until <= now]:
                del delayed[agent_id]
        return self.idle_count - len(delayed)

    def idle_by_level(self, partition: str, skill: str) -> dict[int, IdleLine]:
        """Idle holders of ``skill`` in ``partition``, by level (absent: nobody idle)."""
        return self._idle_by_level.get((partition, skill), {})

    def idle_in(self, partition: str) -> IdleLine:
        """Every idle agent of ``partition``, longest idle first."""
        return self._idle_by_partition.get(partition) or IdleLine()

    def staffed(self, partition: str, skill: str) -> int:
        """Logged-in agents of ``partition`` holding ``skill`` (any state but offline)."""
        return sum(self._staffed_levels.get((partition, skill), {}).values())

    def best_level(self, partition: str, skill: str) -> int | None:
        """The best (lowest) level of ``skill`` among ``partition``'s logged-in holders."""
        levels = self._staffed_levels.get((partition, skill))
        return min(levels) if levels else None

    def staffed_queues(self) -> set[tuple[str, str]]:
        """Every (district, skill) with at least one logged-in holder."""
        return set(self._staffed_levels)

    def ready(self, partition: str, skill: str, now: float) -> int:
        """Idle holders of ``skill`` in ``partition`` past any delay at ``now``: the idle
        count less the few still inside a delay (every one of those is possibly delayed),
        not a walk over every idle agent (queue snapshots ask once a second per queue)."""
        lines = self._idle_by_level.get((partition, skill))
        if not lines:
            return 0
        count = sum(len(line) for line in lines.values())
        for agent_id, agent in self._possibly_delayed.items():
            if agent.blocked_until > now:
                filing = self._filings[agent_id]
                if filing.partition == partition and any(s == skill for s, _ in
                                                         filing.skills):
                    count -= 1
        return count

    # ------------------------------------------------------------------ self-check

    def problems(self, agents: Iterable[Agent], now: float) -> list[str]:
        """How this index differs from one rebuilt from ``agents``; empty when in step."""
        agents = list(agents)
        fresh = AgentIndex.build(agents)
        found: list[str] = []
        for agent in agents:
            if self._filings.get(agent.id) != fresh._filings[agent.id]:
                found.append(f"index files agent {agent.id} as "
                             f"{self._filings.get(agent.id)}, not {fresh._filings[agent.id]}")
        for agent_id in self._filings.keys() - fresh._filings.keys():
            found.append(f"index files unknown agent {agent_id}")
        if self.idle_count != fresh.idle_count:
            found.append(f"index counts {self.idle_count} idle agents, not {fresh.idle_count}")
        if _lines(self._idle_by_level) != _lines(fresh._idle_by_level):
            found.append("idle agents by level out of step with the agents")
        if ({p: line.keys() for p, line in self._idle_by_partition.items()}
                != {p: line.keys() for p, line in fresh._idle_by_partition.items()}):
            found.append("idle agents by district out of step with the agents")
        if self._staffed_levels != fresh._staffed_levels:
            found.append("staffing by level out of step with the agents")
        for agent_id in self._possibly_delayed.keys() - fresh._possibly_delayed.keys():
            found.append(f"index holds {agent_id} as delayed but not idle")
        for agent_id, filing in fresh._filings.items():
            if (filing.idle_key is not None and filing.blocked_until > now
                    and agent_id not in self._possibly_delayed):
                found.append(f"index counts {agent_id} as free inside its delay")
        return found


def _lines(by_level: dict[tuple[str, str], dict[int, IdleLine]],
           ) -> dict[tuple[str, str], dict[int, list[IdleKey]]]:
    return {key: {level: line.keys() for level, line in lines.items()}
            for key, lines in by_level.items()}
