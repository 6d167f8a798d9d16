"""``MemoryLog``: the partition log of a single node, in one process, no Redis.

The same interface as ``PartitionLog`` so the hub runs one code path: ``append`` applies
the entry to the machine synchronously (before it returns, with nothing awaited in
between), ``now`` is the event loop's clock, and this node is always the leader, which
appends a ``Tick`` entry whenever the machine's next deadline passes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from .codec import check_entry, tick_entry
from .machine import LogUnavailable, StateMachine, format_id, parse_id

log = logging.getLogger(__name__)

STUCK_DEADLINE_RETRY = 0.05
"""Seconds before ticking again for a deadline that a tick at or after it left in place
(the machine's business; this only keeps such a deadline from spinning the loop)."""


class MemoryLog:
    """One process's log: apply at once, tick on the loop's clock."""

    def __init__(self, machine: StateMachine, *,
                 clock: Callable[[], float] | None = None) -> None:
        self.machine = machine
        self._clock = clock
        self._count = 0
        self._last_now = float("-inf")
        self._last_tick = float("-inf")
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._running = False

    @property
    def is_leader(self) -> bool:
        return self._running

    def now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    async def start(self) -> None:
        self._running = True
        self._arm()

    async def stop(self) -> None:
        self._running = False
        self._disarm()

    async def append(self, entry: dict[str, Any]) -> str:
        """Apply ``entry`` now; its id (``"0-<n>"``). Raises LogUnavailable once stopped."""
        if not self._running:
            raise LogUnavailable("the log is stopped")
        check_entry(entry)
        return self._apply(entry)

    async def applied(self, entry_id: str) -> None:
        """Entries are applied inside ``append``: nothing to wait for."""
        if parse_id(entry_id) > (0, self._count):
            raise ValueError(f"entry {entry_id} was never appended here")

    def _apply(self, entry: dict[str, Any]) -> str:
        self._count += 1
        now = max(self.now(), self._last_now)  # never backwards, as stream ids
        self._last_now = now
        try:
            self.machine.apply(entry, now, deliver=True)
        except Exception:
            log.exception("applying a %s entry failed", entry.get("kind"))
        self._arm()
        return format_id((0, self._count))

    # ------------------------------------------------------------------ ticks

    def _arm(self) -> None:
        if not self._running:
            return
        deadline = self.machine.next_deadline()
        if deadline == self._timer_at:
            return
        self._disarm()
        if deadline is not None:
            delay = max(0.0, deadline - self.now())
            if deadline <= self._last_tick:
                delay = max(delay, STUCK_DEADLINE_RETRY)  # a tick did not clear it
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(delay, self._tick)
            self._timer_at = deadline

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = None, None

    def _tick(self) -> None:
        self._timer, self._timer_at = None, None
        if self._running:
            self._apply(tick_entry())
            self._last_tick = self._last_now
