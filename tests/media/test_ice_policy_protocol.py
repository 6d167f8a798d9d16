"""``ice_transport_policy`` in ``connected``: who is told to relay, and when the server refuses.

Signaling only (no media, no coturn): real server on loopback, real WebSocket clients.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from signaling.settings import Settings
from tests.conftest import StartServer
from tests.protocol.wsclient import agent, caller

TURN = {"turn_urls": ["turn:127.0.0.1:3478?transport=udp"], "turn_secret": "s3cret"}
COMPANY = {"name": "海盐演示企业有限公司", "uscc": "91350100M000100Y43",
           "contact_name": "张三", "contact_phone": "13800138000"}


async def connect_call(server: object, **who: object) -> tuple[dict[str, Any], dict[str, Any]]:
    """Place a call, let demo-agent-1 accept it: both parties' ``connected``."""
    agent1 = await agent(server, "demo-agent-1")
    client, queued = await caller(server, "water", **who)
    call_id = queued["call_id"]
    await agent1.expect("offer", call_id=call_id)
    await agent1.send({"type": "accept", "call_id": call_id})
    for_caller = await client.expect("connected", call_id=call_id)
    for_agent = await agent1.expect("connected", call_id=call_id)
    await agent1.send({"type": "hangup", "call_id": call_id})
    await client.expect("ended")
    await agent1.expect("agent_state", state="wrap_up")
    await agent1.send({"type": "end_wrap_up", "call_id": call_id, "outcome": "other"})
    await agent1.expect("agent_state", state="ready")
    await client.close()
    await agent1.close()
    return for_caller, for_agent


async def test_only_listed_kiosks_are_told_to_relay(start_server: StartServer) -> None:
    server = await start_server(relay_kiosks=["kiosk-demo-2"], **TURN)
    listed = await connect_call(server, kiosk_token="demo-kiosk-2")
    assert [m["ice_transport_policy"] for m in listed] == ["relay", "relay"]
    assert all(m["ice_servers"][0]["username"] for m in listed)  # minted per session
    other = await connect_call(server, kiosk_token="demo-kiosk-3")
    assert [m["ice_transport_policy"] for m in other] == ["all", "all"]


async def test_the_global_policy_relays_every_caller(start_server: StartServer) -> None:
    server = await start_server(ice_transport_policy="relay", **TURN)
    for_caller, for_agent = await connect_call(server, company=COMPANY)
    assert (for_caller["ice_transport_policy"], for_agent["ice_transport_policy"]) == (
        "relay", "relay")


@pytest.mark.parametrize("relay", [{"ice_transport_policy": "relay"},
                                   {"relay_kiosks": ["kiosk-demo"]}])
def test_relay_without_a_turn_server_is_refused_at_start(relay: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="need turn_urls and turn_secret"):
        Settings(**relay)
