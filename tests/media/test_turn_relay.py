"""TURN made real: a relay-only call through a real coturn, and the credentials it refuses.

coturn runs on loopback with ``use-auth-secret`` (``media.turnserver``); credentials are
minted by the server's own ``signaling.live.ice`` code. aiortc's ``iceTransportPolicy =
relay`` makes aioice gather only relayed candidates, so media can only flow through coturn;
the nominated pairs are checked to be ``relay`` on both sides, and coturn's log to show
the allocations.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

import pytest
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media.latency import measure_latency, relay_configuration
from media.stamped import StampedVideoTrack
from media.turnserver import LoopbackTurnServer
from signaling.live.ice import ice_servers_for, turn_rest_credential
from tests.media.turn_fixture import running_turn_server

SECRET = "turn-test-secret"
OLD_SECRET = "turn-old-secret"


@pytest.fixture
def turn() -> Iterator[LoopbackTurnServer]:
    yield from running_turn_server(SECRET, OLD_SECRET)


def minted(turn: LoopbackTurnServer, user: str, *, secret: str = SECRET,
           now: float | None = None, ttl: int = 600) -> tuple[str, str]:
    servers = ice_servers_for(stun_urls=[], turn_urls=[turn.url], turn_secret=secret,
                              user_id=user, now=time.time() if now is None else now, ttl=ttl)
    (server,) = servers
    assert server.username is not None and server.credential is not None
    return server.username, server.credential


async def test_relay_only_call_through_coturn_connects(turn: LoopbackTurnServer) -> None:
    caller = relay_configuration(turn.url, *minted(turn, "call-1-c"))
    agent = relay_configuration(turn.url, *minted(turn, "agent-1"))
    run = await measure_latency(caller, agent, frames=20)
    summary = run.probe.summary()
    print(f"aiortc -> coturn -> aiortc glass-to-glass: {summary}")
    assert run.sender_paths == {"relay"} and run.receiver_paths == {"relay"}
    assert summary is not None and summary["samples"] == 20
    assert 0 < summary["p50"] < 5000
    log = turn.log_text()
    assert ":call-1-c>: incoming packet ALLOCATE processed, success" in log
    assert ":agent-1>: incoming packet ALLOCATE processed, success" in log


async def test_a_credential_minted_with_the_previous_secret_still_relays(
        turn: LoopbackTurnServer) -> None:
    """Rotation: coturn holds both secrets while clients still carry old credentials."""
    caller = relay_configuration(turn.url, *minted(turn, "old-c", secret=OLD_SECRET))
    agent = relay_configuration(turn.url, *minted(turn, "new-a"))
    run = await measure_latency(caller, agent, frames=5)
    assert run.sender_paths == {"relay"} and len(run.probe.samples_ms) == 5


async def _refused_side(turn: LoopbackTurnServer, username: str,
                        credential: str) -> tuple[RTCPeerConnection, int]:
    """Offer relay-only media with these credentials to a peer with good ones; give a few
    seconds for frames to arrive. The refused side and the frames the good side got."""
    refused = RTCPeerConnection(relay_configuration(turn.url, username, credential))
    good = RTCPeerConnection(relay_configuration(turn.url, *minted(turn, "good-peer")))
    track = StampedVideoTrack(fps=5)
    refused.addTrack(track)
    frames = 0

    async def count(incoming: MediaStreamTrack) -> None:
        nonlocal frames
        with contextlib.suppress(MediaStreamError):
            while True:
                await incoming.recv()
                frames += 1

    readers: list[asyncio.Task[None]] = []
    good.on("track", lambda incoming: readers.append(asyncio.create_task(count(incoming))))
    try:
        await refused.setLocalDescription(await refused.createOffer())
        await good.setRemoteDescription(refused.localDescription)
        await good.setLocalDescription(await good.createAnswer())
        await refused.setRemoteDescription(good.localDescription)
        await asyncio.sleep(3)  # long enough for a relayed call here to carry frames
        return refused, frames
    finally:
        track.stop()
        await refused.close()
        await good.close()
        for reader in readers:
            reader.cancel()


def assert_refused(turn: LoopbackTurnServer, refused: RTCPeerConnection, frames: int,
                   username: str) -> None:
    assert "typ relay" not in refused.localDescription.sdp  # no allocation, nothing to offer
    assert frames == 0
    log = turn.log_text()
    assert f"user <{username}>: incoming packet message processed, error 401" in log
    assert f"user <{username}>: incoming packet ALLOCATE processed, success" not in log


async def test_an_expired_credential_is_refused_and_the_relay_only_call_fails(
        turn: LoopbackTurnServer) -> None:
    username, credential = minted(turn, "expired-c", now=time.time() - 7200, ttl=3600)
    refused, frames = await _refused_side(turn, username, credential)
    assert_refused(turn, refused, frames, username)


async def test_a_forged_credential_is_refused(turn: LoopbackTurnServer) -> None:
    username, credential = turn_rest_credential("not-the-secret", "forged-c",
                                                time.time(), 600)
    refused, frames = await _refused_side(turn, username, credential)
    assert_refused(turn, refused, frames, username)


async def test_secrets_in_coturns_database_rotate_without_a_restart() -> None:
    """The rotation of docs/operations.md: add the new secret, let the server mint with it,
    delete the old one once no credential minted with it is alive."""
    for turn in running_turn_server(OLD_SECRET, in_database=True):
        old = relay_configuration(turn.url, *minted(turn, "before-c", secret=OLD_SECRET))
        turn.add_secret(SECRET)  # coturn now accepts both
        new = relay_configuration(turn.url, *minted(turn, "after-a"))
        run = await measure_latency(old, new, frames=3)
        assert run.sender_paths == {"relay"} and run.receiver_paths == {"relay"}

        turn.delete_secret(OLD_SECRET)
        username, credential = minted(turn, "late-c", secret=OLD_SECRET)
        refused, frames = await _refused_side(turn, username, credential)
        assert_refused(turn, refused, frames, username)
