"""The SDP/ICE fast path (signaling/relay_frame.py) refuses everything the strict models
refuse, and what it forwards means exactly what the model path forwarded."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signaling import protocol as p
from signaling.relay_frame import RelayFrame, read_relay
from tests.conftest import LiveServer
from tests.protocol.wsclient import JsonClient, agent, caller

LIMIT = 64 * 1024
SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=会话\r\nt=0 0\r\n"
CANDIDATE = {"candidate": "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host",
             "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": "abcd"}


def sdp(**changes: Any) -> dict[str, Any]:
    return {"type": "sdp", "call_id": "c-1", "description": {"type": "offer", "sdp": SDP},
            **changes}


def ice(**changes: Any) -> dict[str, Any]:
    return {"type": "ice", "call_id": "c-1", "candidate": dict(CANDIDATE), **changes}


def model_path_frame(raw: str) -> str:
    """What the server forwarded before the fast path: strict models, then model_dump."""
    message = p.parse_caller_message(raw, LIMIT)
    assert isinstance(message, p.Sdp | p.Ice)
    return RelayFrame.from_model(message).text


ACCEPTED = [
    sdp(), sdp(v=1), sdp(description={"type": "answer", "sdp": "x"}),
    sdp(description={"type": "offer", "sdp": "s" * 60_000}),
    ice(), ice(v=1), ice(candidate=None), {"type": "ice", "call_id": "c-1"},
    ice(candidate={"candidate": ""}), ice(candidate={**CANDIDATE, "sdpMLineIndex": 64}),
    ice(candidate={**CANDIDATE, "sdpMid": None, "usernameFragment": None}),
    sdp(call_id="A" * 64), sdp(call_id="a_b-C9"),
]

REFUSED = [
    # wrong types (strict: no coercion of strings, booleans or floats)
    sdp(call_id=7), sdp(call_id=None), sdp(description="v=0"), sdp(description=[SDP]),
    sdp(description={"type": "offer", "sdp": 5}), sdp(description={"type": 1, "sdp": SDP}),
    sdp(v=True), sdp(v="1"), sdp(v=1.0), sdp(v=2),
    ice(candidate="candidate:1"), ice(candidate=[CANDIDATE]),
    ice(candidate={**CANDIDATE, "sdpMLineIndex": "0"}),
    ice(candidate={**CANDIDATE, "sdpMLineIndex": True}),
    ice(candidate={**CANDIDATE, "sdpMLineIndex": 0.0}),
    ice(candidate={**CANDIDATE, "sdpMid": 0}), ice(candidate={**CANDIDATE, "candidate": None}),
    ice(candidate={"sdpMid": "0"}),
    # extra fields, at every level
    sdp(extra=1), ice(extra=None), sdp(description={"type": "offer", "sdp": SDP, "x": 1}),
    ice(candidate={**CANDIDATE, "foundation": "1"}),
    # limits and shapes
    sdp(description={"type": "pranswer", "sdp": SDP}),
    sdp(description={"type": "offer", "sdp": ""}),
    sdp(description={"type": "offer", "sdp": "s" * 60_001}),
    sdp(description={"type": "offer"}), {"type": "sdp", "call_id": "c-1"},
    ice(candidate={**CANDIDATE, "candidate": "c" * 2049}),
    ice(candidate={**CANDIDATE, "sdpMid": "m" * 65}),
    ice(candidate={**CANDIDATE, "usernameFragment": "u" * 257}),
    ice(candidate={**CANDIDATE, "sdpMLineIndex": 65}),
    ice(candidate={**CANDIDATE, "sdpMLineIndex": -1}),
    sdp(call_id=""), sdp(call_id="a b"), sdp(call_id="A" * 65), sdp(call_id="c/1"),
    sdp(call_id="c-1\n"), {"call_id": "c-1", "description": {"type": "offer", "sdp": SDP}},
]


@pytest.mark.parametrize("message", ACCEPTED, ids=range(len(ACCEPTED)))
def test_fast_path_forwards_what_the_models_forwarded(message: dict[str, Any]) -> None:
    raw = json.dumps(message, ensure_ascii=False)
    frame = read_relay(raw, LIMIT)
    assert frame is not None
    assert (frame.type, frame.call_id) == (message["type"], message["call_id"])
    assert frame.text == model_path_frame(raw)  # byte for byte, key order included


def test_forwarded_frame_is_the_documented_shape() -> None:
    frame = read_relay(json.dumps(ice(candidate={"candidate": "candidate:2"})), LIMIT)
    assert frame is not None and json.loads(frame.text) == {
        "type": "ice", "v": 1, "call_id": "c-1",
        "candidate": {"candidate": "candidate:2", "sdpMid": None, "sdpMLineIndex": None,
                      "usernameFragment": None}}
    frame = read_relay(json.dumps(sdp(v=1), ensure_ascii=False), LIMIT)
    assert frame is not None and json.loads(frame.text) == {
        "type": "sdp", "v": 1, "call_id": "c-1", "description": {"type": "offer", "sdp": SDP}}


@pytest.mark.parametrize("message", REFUSED, ids=range(len(REFUSED)))
def test_fast_path_refuses_what_the_models_refuse(message: dict[str, Any]) -> None:
    raw = json.dumps(message)
    assert read_relay(raw, LIMIT) is None
    with pytest.raises(p.ProtocolError):
        p.parse_caller_message(raw, LIMIT)


def test_oversize_bytes_and_odd_encodings_go_to_the_strict_parser() -> None:
    big = json.dumps(sdp(description={"type": "offer", "sdp": "会" * 30_000}),
                     ensure_ascii=False)  # 30,000 characters, 90,000 bytes
    assert read_relay(big, LIMIT) is None
    with pytest.raises(p.ProtocolError) as refused:
        p.parse_caller_message(big, LIMIT)
    assert refused.value.code == "message_too_large"
    # Binary frames, escapes (which could hide lone surrogates), deep nesting: not taken.
    assert read_relay(json.dumps(sdp()).encode(), LIMIT) is None
    assert read_relay(json.dumps(sdp()), LIMIT) is None  # ensure_ascii escapes 会
    assert read_relay('{"type": "ice", "call_id": "c-1", "x": ' + "[" * 40 + "]" * 40 + "}",
                      LIMIT) is None
    assert read_relay('{"type": "ice", "call_id": "c-1"', LIMIT) is None
    assert read_relay('["ice"]', LIMIT) is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 70) | st.floats(allow_nan=False)
    | st.sampled_from(["", "0", "offer", "answer", "c-1", "a b", SDP, "x" * 65]),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["type", "sdp", "candidate", "sdpMid", "x"]), inner,
                      max_size=3), max_leaves=6)
candidates = st.none() | json_values | st.fixed_dictionaries(
    {"candidate": st.text(max_size=5) | json_values},
    optional={"sdpMid": json_values, "sdpMLineIndex": json_values,
              "usernameFragment": json_values, "extra": json_values})
descriptions = json_values | st.fixed_dictionaries(
    {"type": st.sampled_from(["offer", "answer", "rollback"]) | json_values,
     "sdp": st.text(max_size=8) | json_values}, optional={"x": json_values})
envelopes = st.fixed_dictionaries(
    {"type": st.sampled_from(["sdp", "ice"]),
     "call_id": st.sampled_from(["c-1", "", "a b", "x" * 65]) | json_values},
    optional={"v": json_values | st.just(1), "description": descriptions,
              "candidate": candidates, "extra": json_values})


@settings(max_examples=400, deadline=None)
@given(envelopes)
def test_fast_path_never_accepts_more_than_the_models(message: dict[str, Any]) -> None:
    raw = json.dumps(message, ensure_ascii=False)
    frame = read_relay(raw, LIMIT)
    if frame is not None:
        assert frame.text == model_path_frame(raw)


async def test_relay_over_a_real_server_is_exact_and_stays_in_its_session(
        live_server: LiveServer) -> None:
    agent1 = await agent(live_server, "demo-agent-1", auto_answer=True)
    kiosk1, first = await caller(live_server, "water")
    await kiosk1.expect("connected")
    await agent1.expect("connected")
    agent2 = await agent(live_server, "demo-agent-2", auto_answer=True)
    kiosk2, second = await caller(live_server, "water")
    await kiosk2.expect("connected")
    await agent2.expect("connected")
    call_id = first["call_id"]

    sent = [sdp(call_id=call_id, v=1), ice(call_id=call_id),
            ice(call_id=call_id, candidate={"candidate": "candidate:9", "sdpMid": "1"})]
    for message in sent:
        await kiosk1.send(json.dumps(message, ensure_ascii=False))
    for message in sent:
        raw = json.dumps(message, ensure_ascii=False)
        received = await agent1.expect(message["type"])
        assert received == json.loads(model_path_frame(raw))
    await agent1.send({"type": "ice", "call_id": call_id, "candidate": None})
    assert await kiosk1.expect("ice") == {"type": "ice", "v": 1, "call_id": call_id,
                                          "candidate": None}

    # The other session's parties, and a stranger, cannot reach this one.
    await kiosk2.send(ice(call_id=call_id))
    await kiosk2.error("not_in_session")
    await agent2.send(sdp(call_id=call_id))
    await agent2.error("not_in_session")
    await agent2.send(ice(call_id="no-such-call"))
    await agent2.error("not_in_session")
    stranger = await JsonClient.open(f"{live_server.ws}/ws/agent")
    await stranger.send(sdp(call_id=call_id))
    await stranger.error("not_authenticated")
    # What the fast path leaves alone still gets the strict parser's coded errors.
    await kiosk1.send(sdp(call_id=call_id, extra=1))
    await kiosk1.error("invalid_message")
    await agent1.silent({"sdp", "ice"})
    await kiosk1.silent({"sdp", "ice"})
    assert second["call_id"] != call_id
    for client in (agent1, kiosk1, agent2, kiosk2, stranger):
        await client.close()
