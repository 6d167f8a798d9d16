"""A caller away when its call ended learns so on resume (issue 10's outage follow-up).

The kiosk's socket drops mid-call, the agent hangs up during the resume grace; the page
reconnects with its resume token and gets ``ended`` (as the call's record has it, with a
rating token it can rate with) instead of ``invalid_resume_token``. A token that never
belonged to a call, or one of a call ended long ago, is still refused.
"""

from __future__ import annotations

import asyncio

from tests.conftest import StartServer
from tests.protocol.wsclient import JsonClient, agent, caller


async def test_resume_after_the_call_ended_gets_ended_and_can_rate(
        start_server: StartServer) -> None:
    server = await start_server(resume_grace=30, wrap_up_outcome_required=False)
    desk = await agent(server, "demo-agent-1")
    kiosk, queued = await caller(server, "water")
    call_id = queued["call_id"]
    offer = await desk.expect("offer", call_id=call_id)
    await desk.send({"type": "accept", "call_id": offer["call_id"]})
    await kiosk.expect("connected")

    await kiosk.close()  # the kiosk's network drops
    await desk.expect("peer_status", status="reconnecting")
    await desk.send({"type": "hangup", "call_id": call_id})
    await desk.expect("ended", call_id=call_id)
    await asyncio.sleep(0.2)

    back = await JsonClient.open(f"{server.ws}/ws/caller")
    await back.send({"type": "resume", "resume_token": queued["resume_token"]})
    ended = await back.expect("ended", timeout=10)
    assert (ended["call_id"], ended["reason"], ended["disposition"]) == (
        call_id, "agent_hangup", "completed")
    await back.send({"type": "rating", "call_id": call_id, "score": 5,
                     "rating_token": ended["rating_token"]})
    await back.expect("rating_saved", call_id=call_id)
    # The socket holds no call: it may place a new one.
    await back.send({"type": "call_request", "skill": "water", "kiosk_token": "demo-kiosk"})
    assert (await back.expect("queued"))["call_id"] != call_id

    stranger = await JsonClient.open(f"{server.ws}/ws/caller")
    await stranger.send({"type": "resume", "resume_token": "x" * 32})
    await stranger.error("invalid_resume_token")
    for client in (back, stranger, desk):
        await client.close()


async def test_a_token_of_a_call_ended_long_ago_is_refused(start_server: StartServer) -> None:
    server = await start_server()
    kiosk, queued = await caller(server, "water")
    await kiosk.send({"type": "hangup"})
    await kiosk.expect("ended")
    hub = server.hub
    # Age the ended call's token past its keeping time (the hub prunes by entry time).
    router = hub.routers.router_of("default")
    call, _ = hub.ended_tokens[router][queued["resume_token"]]
    hub.ended_tokens[router][queued["resume_token"]] = (call, hub.now() - 1000)
    other, _ = await caller(server, "water")  # a later call ends: the old token is pruned
    await other.send({"type": "hangup"})
    await other.expect("ended")
    assert queued["resume_token"] not in hub.ended_tokens[router]
    back = await JsonClient.open(f"{server.ws}/ws/caller")
    await back.send({"type": "resume", "resume_token": queued["resume_token"]})
    await back.error("invalid_resume_token")
    await back.close()
