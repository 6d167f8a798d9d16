"""``cloud-agent reader-sim`` over real HTTP: the card API the kiosk page reads."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from kiosk_client.reader_sim import RESIDENTS, ReaderServer, check_character
from signaling.matters.validators import is_valid_resident_id
from tests.conftest import free_port

KIOSK_ORIGIN = "http://127.0.0.1:8080"
CARD_FIELDS = {"name", "id_number", "sex", "nation", "birth", "address", "issuer",
               "valid_from", "valid_to"}


@pytest.fixture
def reader() -> Iterator[ReaderServer]:
    server = ReaderServer("127.0.0.1", 0, origins=frozenset({KIOSK_ORIGIN})).start()
    yield server
    server.stop()


def test_every_resident_has_a_valid_haiyan_id_number() -> None:
    assert len(RESIDENTS) >= 3
    for card in RESIDENTS:
        assert card.id_number.startswith("330424")
        assert is_valid_resident_id(card.id_number), card
        assert card.birth.replace("-", "") == card.id_number[6:14]
        assert card.sex == ("男" if int(card.id_number[16]) % 2 else "女")
    assert any(card.id_number.endswith("X") for card in RESIDENTS)  # the X check character
    assert check_character("11010519491231002") == "X"  # GB 11643's own example


async def test_put_read_and_remove_a_card(reader: ReaderServer) -> None:
    async with httpx.AsyncClient(base_url=reader.url) as client:
        empty = await client.get("/card")
        assert (empty.status_code, empty.json()["code"]) == (404, "no_card")

        put = await client.post("/card", json={"index": 1})
        assert put.status_code == 200
        card = (await client.get("/card")).json()
        assert set(card) == CARD_FIELDS
        assert (card["name"], card["id_number"]) == (RESIDENTS[1].name, RESIDENTS[1].id_number)

        assert (await client.post("/card", json={"index": 99})).status_code == 404
        assert (await client.post("/card", json={"index": "1"})).status_code == 422
        assert (await client.post("/card", content=b"not json")).status_code == 422
        assert (await client.get("/card")).json()["name"] == RESIDENTS[1].name  # unchanged

        assert (await client.delete("/card")).status_code == 200
        assert (await client.get("/card")).status_code == 404


async def test_cors_answers_the_kiosk_origin_only(reader: ReaderServer) -> None:
    reader.reader.put(0)
    async with httpx.AsyncClient(base_url=reader.url) as client:
        ok = await client.get("/card", headers={"Origin": KIOSK_ORIGIN})
        assert ok.headers["access-control-allow-origin"] == KIOSK_ORIGIN
        other = await client.get("/card", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers
        preflight = await client.options("/card", headers={
            "Origin": KIOSK_ORIGIN, "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Private-Network": "true"})
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == KIOSK_ORIGIN
        assert preflight.headers["access-control-allow-private-network"] == "true"


async def test_the_cli_serves_the_reader() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "signaling", "reader-sim", "--port", str(port), "--card", "2",
         "--origin", KIOSK_ORIGIN], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert process.stdout is not None
        first = await asyncio.to_thread(process.stdout.readline)
        assert f"127.0.0.1:{port}".encode() in first, first
        async with httpx.AsyncClient() as client:
            card = (await client.get(f"http://127.0.0.1:{port}/card")).json()
        assert card["id_number"] == RESIDENTS[2].id_number
    finally:
        process.terminate()
        process.wait(10)
