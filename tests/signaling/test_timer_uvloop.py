"""The hub's engine timer under uvloop, which ``cloud-agent serve`` runs on (uvicorn picks it).

uvloop's ``call_at`` of a time already past returns a plain ``Handle`` without ``when()``;
re-arming then failed with AttributeError, and under load (a loop late past a ring
deadline) call requests got ``internal_error`` (found by bench/call_rate.py).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import uvloop

from signaling.live.hub import Hub
from signaling.routing import events as ev
from signaling.settings import Settings
from signaling.store import Database


def test_re_arming_after_a_deadline_already_past_works_under_uvloop(tmp_path: Path) -> None:
    async def scenario() -> bool:
        settings = Settings(data_dir=tmp_path, ring_timeout=0.05)
        hub = Hub(settings, Database(settings.resolved_database_url()), b"secret")
        now = hub.now()
        hub.engine.handle(ev.AgentLogin("agent-1", {"water": 1}), now)
        hub.engine.handle(ev.AgentSetReady("agent-1"), now)
        hub.engine.handle(ev.CallRequested("c-1", "water"), now)  # rings for 50 ms
        time.sleep(0.1)  # the loop is held past the ring deadline
        hub.arm_timer()  # a deadline already past: uvloop gives a plain Handle
        hub.arm_timer()  # any later event re-arms
        armed = hub._timer is not None
        if hub._timer is not None:
            hub._timer.cancel()
        await asyncio.sleep(0)
        return armed

    assert uvloop.run(scenario())
