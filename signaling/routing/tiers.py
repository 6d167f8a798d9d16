"""Who may serve a call now: the widening tiers (DESIGN.md, 'Widening').

1. Agents holding the skill at the best level among the district's logged-in holders
   (a tier nobody is logged in to is skipped at once: Twilio ``skip_if``).
2. After ``widen_to_all_levels_after``: every holder of the skill, best level first.
3. After ``widen_to_partition_after``: any agent of the district, holders first.

An invite (a call with a target agent) goes to that agent only, in any district. The
caller keeps its place throughout: widening changes who may serve it, never its order.
"""

from __future__ import annotations

from collections.abc import Collection

from .model import Agent, Call, RoutingConfig


def may_serve(agent: Agent, call: Call, now: float, config: RoutingConfig,
              best_level: int | None) -> bool:
    """Whether ``agent``'s skills and district let it take ``call`` at ``now``.

    ``best_level`` is the best level of the skill among the district's logged-in agents
    (None when nobody holds it). Availability (ready, idle, not blocked) is the caller's
    business, so this stays a rule about skills and waiting time alone.
    """
    if call.target_agent_id is not None:
        return agent.id == call.target_agent_id
    if agent.partition != call.partition:
        return False
    waited = now - call.enqueued_at
    level = agent.skills.get(call.skill)
    if level is None:
        return waited >= config.widen_to_partition_after
    if waited >= config.widen_to_all_levels_after:
        return True
    return best_level is not None and level <= best_level


def serving_levels(call: Call, now: float, config: RoutingConfig, best_level: int | None,
                   idle_levels: Collection[int]) -> list[int]:
    """Of ``idle_levels``, the levels of ``call.skill`` whose holders may take ``call`` at
    ``now``, best first: ``may_serve`` asked of a whole level at once (not for invites)."""
    if now - call.enqueued_at >= config.widen_to_all_levels_after:
        return sorted(idle_levels)
    if best_level is None:
        return []
    return sorted(level for level in idle_levels if level <= best_level)


def widened_to_partition(call: Call, now: float, config: RoutingConfig) -> bool:
    """Whether ``call`` may go to agents of its district without the skill."""
    return now - call.enqueued_at >= config.widen_to_partition_after


def preference(agent: Agent, call: Call) -> tuple[int, int]:
    """Sort key among eligible agents: holders of the skill first, best level first."""
    level = agent.skills.get(call.skill)
    return (0, level) if level is not None else (1, 0)


def queue_may_match(partition: str, skill: str, oldest_enqueued_at: float,
                    free: list[Agent], now: float, config: RoutingConfig) -> bool:
    """Cheap pre-filter: could any free agent serve any call of this queue at all?

    ``skill`` is ``"@<agent id>"`` for a queue of invites to one agent.
    """
    if skill.startswith("@"):
        return any(a.id == skill[1:] for a in free)
    partition_wide = now - oldest_enqueued_at >= config.widen_to_partition_after
    return any(a.partition == partition and (partition_wide or skill in a.skills)
               for a in free)
