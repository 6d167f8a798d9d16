"""The headless clients survive the death of their node: given several ``--server`` URLs,
``cloud-agent answer`` reconnects to a surviving node and logs in again, ``cloud-agent
call`` reconnects and resumes with its token; each keeps its call and its peer connection,
and the media (peer to peer) never stops.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.nodes import CLI, cluster
from tests.cluster.test_live_cluster import wait_ready

#: the nodes share a throwaway PostgreSQL database (tests/cluster/nodes.py)
pytestmark = pytest.mark.postgres

#: frames per second of the synthetic video source (media/stamped.py)
SOURCE_FPS = 15


class Cli:
    """One headless client process whose ``--json`` events are read as they come."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.events: list[dict[str, Any]] = []

    @classmethod
    async def start(cls, *args: str) -> Cli:
        return cls(await asyncio.create_subprocess_exec(
            *CLI, *args, "--json", stdout=asyncio.subprocess.PIPE))

    async def until(self, name: str, timeout: float) -> dict[str, Any]:
        """The first event called ``name``, reading more lines as needed."""
        assert self.process.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                for event in self.events:
                    if event["event"] == name:
                        return event
                line = await self.process.stdout.readline()
                if not line:
                    raise AssertionError(f"exited without {name!r}: {self.events}")
                self.events.append(json.loads(line))

    async def finish(self, timeout: float) -> int:
        assert self.process.stdout is not None
        rest, _ = await asyncio.wait_for(self.process.communicate(), timeout)
        self.events += [json.loads(line) for line in rest.decode().splitlines()]
        return self.process.returncode if self.process.returncode is not None else -1

    def named(self, name: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["event"] == name]

    def stop(self) -> None:
        if self.process.returncode is None:
            self.process.kill()


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("victim", ["agent", "caller"])
async def test_headless_clients_survive_the_death_of_their_node(
        tmp_path: Path, victim: str) -> None:
    """The agent on B, the caller on A; ``victim``'s node is killed mid-call and that
    client resumes on the other node while the media goes on."""
    async with cluster(tmp_path, ["a", "b"], wrap_up_outcome_required="false") as (_, (a, b)):
        answer = await Cli.start(
            "answer", "--server", f"{b.http},{a.http}", "--user", "demo-agent-1",
            "--password", "demo", "--calls", "1", "--hold", "20")
        call: Cli | None = None
        try:
            await wait_ready(b)
            call = await Cli.start(
                "call", "--server", f"{a.http},{b.http}", "--skill", "water",
                "--kiosk-token", "demo-kiosk", "--hold", "12")
            connected = await call.until("connected", 60)
            await call.until("first_remote_frame", 60)
            await answer.until("first_remote_frame", 60)

            dead, survivor, moved = (b, a, answer) if victim == "agent" else (a, b, call)
            dead.kill()  # its socket drops mid-call
            killed_at = time.time()
            resumed = await moved.until("resumed", 40)
            assert resumed["server"] == survivor.http
            assert resumed["call_id"] == connected["call_id"]
            assert moved.named("reconnecting")[0]["server"] == dead.http

            assert await call.finish(60) == 0
            assert await answer.finish(60) == 0
        finally:
            for client in (answer, call):
                if client is not None:
                    client.stop()

        # Both saw far more frames than the seconds before the kill could give.
        ended = call.named("ended")[0]
        before_kill = SOURCE_FPS * (killed_at - connected["t"])
        print(f"{victim}'s node killed: caller {ended['frames_received']} frames, "
              f"{before_kill:.0f} at most before the kill; resumed "
              f"{resumed['t'] - killed_at:.2f} s after it")
        assert ended["reason"] in ("caller_hangup", "agent_hangup"), ended
        assert ended["frames_received"] > before_kill + 3 * SOURCE_FPS, (ended, before_kill)
        assert call.named("connected") == [connected]  # no second negotiation
        agent_ended = answer.named("ended")[0]
        assert agent_ended["call_id"] == connected["call_id"]
        assert agent_ended["reason"] != "ended_while_away"
        assert agent_ended["frames_received"] > before_kill + 3 * SOURCE_FPS
        assert len(answer.named("connected")) == 1
