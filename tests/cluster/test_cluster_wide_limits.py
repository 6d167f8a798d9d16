"""The abuse limits other than sockets and logins hold for the cluster as a whole, not per
node: case look-ups per address (a Redis sorted set per address), live calls per kiosk
(the replicated state) and callbacks per district and day (rows in the shared database).
An address that spreads its requests over two nodes gets one allowance, not two. Real
``redis-server`` and ``cloud-agent serve`` processes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.cluster.nodes import cluster
from tests.protocol.wsclient import JsonClient

#: the nodes share a throwaway PostgreSQL database (tests/cluster/nodes.py)
pytestmark = pytest.mark.postgres


async def test_case_lookups_on_two_nodes_add_up(tmp_path: Path) -> None:
    async with cluster(tmp_path, ["a", "b"], case_lookups_per_minute="3") as (_, (a, b)):
        async with httpx.AsyncClient() as client:
            for node in (a, b, a):  # three in the minute, none three on one node
                missed = await client.get(f"{node.http}/api/cases/NOSUCHCASE",
                                          params={"phone": "13912345678"})
                assert missed.status_code == 404, missed.text
            refused = await client.get(f"{b.http}/api/cases/NOSUCHCASE",
                                       params={"phone": "13912345678"})
            assert refused.status_code == 429 and refused.json()["code"] == "too_many_lookups"
            assert 0 < int(refused.headers["Retry-After"]) <= 60
            # The /case page and the receipt routes share the allowance, on either node.
            page = await client.post(f"{a.http}/case",
                                     data={"number": "NOSUCHCASE", "phone": "13912345678"})
            assert page.status_code == 429 and int(page.headers["Retry-After"]) > 0
            receipt = await client.get(f"{b.http}/case/NOSUCHCASE/receipt",
                                       params={"phone": "13912345678"})
            assert receipt.status_code == 429


async def test_live_calls_and_callbacks_are_limited_over_the_cluster(tmp_path: Path) -> None:
    async with cluster(tmp_path, ["a", "b"], max_callbacks_per_day="1") as (_, (a, b)):
        # A kiosk holds one live call: its second press on another node is refused.
        kiosk = await JsonClient.open(f"{a.ws}/ws/caller")
        await kiosk.send({"type": "call_request", "skill": "water",
                          "kiosk_token": "demo-kiosk"})
        await kiosk.expect("queued", timeout=10)
        again = await JsonClient.open(f"{b.ws}/ws/caller")
        await again.send({"type": "call_request", "skill": "water",
                          "kiosk_token": "demo-kiosk"})
        refused = await again.error("too_many_calls", timeout=10)
        assert refused["scope"] == "kiosk"

        # The district's one callback of the day, taken on a, leaves none for b.
        await kiosk.send({"type": "accept_callback", "phone": "13912345678"})
        await kiosk.expect("callback_registered", timeout=10)
        other = await JsonClient.open(f"{b.ws}/ws/caller")
        await other.send({"type": "call_request", "skill": "water",
                          "kiosk_token": "demo-kiosk-2"})
        await other.expect("queued", timeout=10)
        await other.send({"type": "accept_callback", "phone": "13812345678"})
        full = await other.error("too_many_callbacks", timeout=10)
        assert full["scope"] == "day"
        for client in (kiosk, again, other):
            await client.close()


async def test_the_last_callback_place_goes_once_when_nodes_race(tmp_path: Path) -> None:
    """Eight waiting callers, four on each node, ask for a callback at the same moment
    while the district has one place left: one gets it, seven are refused."""
    async with cluster(tmp_path, ["a", "b"], max_callbacks_per_day="1") as (_, (a, b)):
        callers = []
        for number in range(8):
            node = (a, b)[number % 2]
            token = "demo-kiosk" if number == 0 else f"demo-kiosk-{number + 1}"
            client = await JsonClient.open(f"{node.ws}/ws/caller")
            await client.send({"type": "call_request", "skill": "water", "kiosk_token": token})
            await client.expect("queued", timeout=10)
            callers.append(client)
        await asyncio.gather(*(client.send({"type": "accept_callback",
                                            "phone": f"1391234567{number}"})
                               for number, client in enumerate(callers)))
        answers = []
        for client in callers:
            async with asyncio.timeout(10):
                while True:
                    message = await client.recv(timeout=10)
                    if message["type"] == "callback_registered" or (
                            message["type"] == "error"
                            and message["code"] == "too_many_callbacks"):
                        answers.append(message["type"])
                        break
        assert sorted(answers) == ["callback_registered"] + ["error"] * 7
        for client in callers:
            await client.close()
