"""Garbage on the sockets: every frame gets an answer, nothing crashes, the socket stays.

Hypothesis writes frames of every known type with random field values (and some
unknown types, non-objects and non-JSON), sends them on one caller and one agent socket of
a real server process, and checks after each that the server still answers a ping on the
same socket and never reports an internal error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import ClientConnection, connect

from tests.conftest import free_port

# Every message type but "logout", whose valid form rightly closes the socket.
TYPES = ["call_request", "resume", "hangup", "accept_callback", "rating", "sdp", "ice",
         "ping", "auth", "set_status", "set_auto_answer", "accept", "reject", "end_wrap_up",
         "edit_field", "set_identity", "submit_form", "screen_status", "push_form",
         "withdraw_form", "push_screen", "close_screen", "teleport"]
FIELDS = ["skill", "kiosk_token", "company", "invite", "request_id", "resume_token", "phone",
          "call_id", "score", "description", "candidate", "token", "status", "reason",
          "enabled", "outcome", "notes", "v", "priority", "language", "restart_media",
          "form_id", "field", "value", "base", "identity", "source", "screen_id", "screen",
          "matter", "error"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40),
                    st.floats(allow_nan=False), st.text(max_size=40),
                    # types a lax parser would coerce: strict models must refuse them
                    st.sampled_from(["1", "5", "yes", "true", "0", ""]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=3)),
    max_leaves=8)
#: JSON nested far deeper than any message: json.loads alone would raise RecursionError
deep_frames = st.integers(30, 5000).flatmap(lambda depth: st.sampled_from([
    '{"type":"ping","x":' + "[" * depth + "]" * depth + "}",
    '{"type":"rating","call_id":"c1","score":' + '{"a":' * depth + "1" + "}" * depth + "}",
]))
frames = st.one_of(
    deep_frames,
    st.fixed_dictionaries({"type": st.sampled_from(TYPES)},
                          optional={name: values for name in FIELDS}).map(json.dumps),
    values.map(json.dumps),
    st.text(max_size=60),
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``cloud-agent serve --demo`` process, shared by this module's examples."""
    port = free_port()
    data = tmp_path_factory.mktemp("fuzz")
    process = subprocess.Popen(
        [sys.executable, "-m", "signaling", "serve", "--demo", "--port", str(port),
         "--data-dir", str(data), "--log-level", "warning"],
        stdout=subprocess.DEVNULL, env={**os.environ, "CLOUD_AGENT_RATE_LIMIT_BURST": "100000"})
    try:
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


class Socket:
    """A sync JSON socket that remembers every reply."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.replies: list[dict[str, Any]] = []
        assert json.loads(self.ws.recv(timeout=5))["type"] == "hello"

    def send(self, frame: str) -> None:
        self.ws.send(frame)

    def until(self, type_: str) -> dict[str, Any]:
        while True:
            message: dict[str, Any] = json.loads(self.ws.recv(timeout=5))
            self.replies.append(message)
            if message["type"] == type_:
                return message


@pytest.fixture(scope="module")
def sockets(server: str) -> Iterator[tuple[Socket, Socket]]:
    with connect(f"ws://{server}/ws/caller") as caller_ws, \
            connect(f"ws://{server}/ws/agent") as agent_ws:
        caller, agent = Socket(caller_ws), Socket(agent_ws)
        token = httpx.post(f"http://{server}/api/login",
                           json={"username": "demo-agent-5", "password": "demo"}
                           ).json()["token"]
        agent.send(json.dumps({"type": "auth", "token": token}))
        agent.until("authenticated")
        yield caller, agent


@settings(max_examples=200, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(frame=frames)
def test_random_frames_never_break_a_socket(sockets: tuple[Socket, Socket],
                                            frame: str) -> None:
    for socket_ in sockets:
        socket_.send(frame)
        socket_.send(json.dumps({"type": "ping"}))
        socket_.until("pong")  # still open, still answering, in order
        internal = [r for r in socket_.replies if r.get("code") == "internal_error"]
        assert internal == [], frame


def test_fuzzing_got_coded_errors(sockets: tuple[Socket, Socket]) -> None:
    errors = [r for s in sockets for r in s.replies if r["type"] == "error"]
    assert errors, "the fuzz test must have sent something the server refused"
    assert all(isinstance(e["code"], str) and e["message"] for e in errors)
