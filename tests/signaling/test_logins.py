"""Logins on a real server: bounded password checking, throttles, and the audit trail."""

from __future__ import annotations

import asyncio
import json

import httpx

from tests.conftest import StartServer
from tests.protocol.wsclient import login


async def _bad_login(client: httpx.AsyncClient, http: str, username: str) -> httpx.Response:
    return await client.post(f"{http}/api/login",
                             json={"username": username, "password": "not-the-password"})


async def test_too_many_waiting_logins_are_told_busy_with_retry_after(
        start_server: StartServer) -> None:
    server = await start_server(password_hash_concurrency=1, login_queue_limit=1)
    async with httpx.AsyncClient(timeout=60) as client:
        answers = await asyncio.gather(*(_bad_login(client, server.http, f"nobody-{n}")
                                         for n in range(8)))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses.count(401) >= 2, statuses  # one checking, one waiting
    busy = [answer for answer in answers if answer.status_code == 503]
    assert busy, statuses
    assert busy[0].json()["code"] == "busy"
    assert int(busy[0].headers["retry-after"]) >= 1


async def test_one_address_trying_many_usernames_is_throttled(
        start_server: StartServer) -> None:
    server = await start_server(login_max_failures_per_address=3)
    async with httpx.AsyncClient(timeout=60) as client:
        for n in range(3):
            assert (await _bad_login(client, server.http, f"guess-{n}")).status_code == 401
        refused = await _bad_login(client, server.http, "guess-4")
        assert refused.status_code == 429 and refused.json()["code"] == "too_many_attempts"
        assert 0 < int(refused.headers["retry-after"]) <= 300
        # the address is refused whatever the name, before any password is checked
        right = await client.post(f"{server.http}/api/login",
                                  json={"username": "demo-agent-1", "password": "demo"})
        assert right.status_code == 429


async def test_logins_are_audited_and_supervisors_read_the_trail(
        start_server: StartServer) -> None:
    server = await start_server()
    async with httpx.AsyncClient(timeout=60) as client:
        await _bad_login(client, server.http, "mallory")
        agent_token = await login(server.http, "demo-agent-2")
        supervisor_token = await login(server.http, "demo-supervisor")
        trail = await client.get(f"{server.http}/api/audit",
                                 headers={"Authorization": f"Bearer {supervisor_token}"})
        assert trail.status_code == 200
        entries = trail.json()["entries"]
        newest_first = [(e["action"], e["actor"]) for e in entries[:3]]
        assert newest_first == [("login", "demo-supervisor"), ("login", "demo-agent-2"),
                                ("login_failed", "mallory")]
        assert entries[2]["detail"] == {"address": "127.0.0.1"}
        assert entries[1]["detail"] == {"username": "demo-agent-2", "address": "127.0.0.1"}
        assert "not-the-password" not in trail.text and '"demo"' not in json.dumps(
            [e["detail"] for e in entries])

        one = await client.get(f"{server.http}/api/audit?limit=1",
                               headers={"Authorization": f"Bearer {supervisor_token}"})
        assert [e["id"] for e in one.json()["entries"]] == [entries[0]["id"]]
        too_many = await client.get(f"{server.http}/api/audit?limit=201",
                                    headers={"Authorization": f"Bearer {supervisor_token}"})
        assert too_many.status_code == 422
        as_agent = await client.get(f"{server.http}/api/audit",
                                    headers={"Authorization": f"Bearer {agent_token}"})
        assert as_agent.status_code == 403
        anonymous = await client.get(f"{server.http}/api/audit")
        assert anonymous.status_code == 401
