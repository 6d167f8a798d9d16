"""The routing engine alone as a ``StateMachine``: the smallest replica a log can drive.

Used by the cluster tests and ``bench/takeover.py``, and the reference for how the hub's
live state treats ``{"kind": "event"}`` entries: decode, ``Engine.handle(event, now)``,
and a refusal is an outcome like any other (the same on every node), not an error.
"""

from __future__ import annotations

from typing import Any

from ..routing.actions import Action
from ..routing.engine import Engine
from ..routing.model import RoutingConfig, RoutingError
from .codec import EVENT_KIND, decode_event

Outcome = tuple[float, str, list[Action]]
"""(now, "ok" or the refusal's code, the actions) of one applied event."""


class EngineMachine:
    """A partition's ``Engine`` fed by the log; remembers what each entry produced."""

    def __init__(self, config: RoutingConfig | None = None) -> None:
        self.config = config
        self.engine = Engine(config)
        self.applied = 0
        self.outcomes: list[Outcome] = []
        self.delivered: list[Action] = []
        self.resyncs = 0

    def apply(self, entry: dict[str, Any], now: float, *, deliver: bool) -> None:
        self.applied += 1
        if entry["kind"] != EVENT_KIND:
            return
        event = decode_event(entry["event"])
        try:
            outcome: Outcome = (now, "ok", self.engine.handle(event, now))
        except RoutingError as error:
            outcome = (now, error.code, list(error.actions))  # type: ignore[arg-type]
        self.outcomes.append(outcome)
        if deliver:
            self.delivered.extend(outcome[2])

    def snapshot(self) -> dict[str, Any]:
        return {"engine": self.engine.snapshot(), "applied": self.applied}

    def restore(self, state: dict[str, Any]) -> None:
        self.engine = Engine(self.config)
        self.engine.restore(state["engine"])
        self.applied = int(state["applied"])
        self.resyncs += 1

    def next_deadline(self) -> float | None:
        return self.engine.next_deadline()
