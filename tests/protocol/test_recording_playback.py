"""Who may play a recording, how (HTTP ranges), the retention purge, and the kiosk policy.

One real recorded call (headless caller and agent, the agent's copy to the recorder) is
made; then supervisors list and play it, everybody else is refused, and the purge removes
file and rows.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import httpx
import pytest

from kiosk_client.headless import CallFailed, answer_calls, login, place_call
from signaling.matters import SHIPPED_CATALOG
from signaling.matters.catalog import load_catalog_files
from signaling.store import RecordingRepository
from tests.conftest import LiveServer, StartServer

pytestmark = pytest.mark.slow

COMPANY = {"name": "海盐演示企业有限公司", "uscc": "91350100M000100Y43",
           "contact_name": "张三", "contact_phone": "13800138000"}


async def _recorded_call(live: LiveServer) -> str:
    async with asyncio.TaskGroup() as group:
        group.create_task(answer_calls(live.http, "demo-agent-1", "demo", auto_answer=True,
                                       calls=1, hold=8, timeout=30))
        caller = group.create_task(place_call(live.http, "water", kiosk_token="demo-kiosk",
                                              hold=4, timeout=30, recording_consent=True))
    call_id = caller.result().call_id
    assert call_id is not None
    repository = RecordingRepository(live.hub.db)
    async with asyncio.timeout(30):
        while not (rows := await repository.for_call(call_id)) or rows[0].state == "recording":
            await asyncio.sleep(0.2)
    assert rows[0].state == "complete", rows[0].failure
    return call_id


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_supervisors_play_recordings_others_cannot_and_the_purge_removes_them(
        start_server: StartServer) -> None:
    live = await start_server(recording_policy="consent", recording_retention_days=30)
    call_id = await _recorded_call(live)
    supervisor = await login(live.http, "demo-supervisor", "demo")
    agent = await login(live.http, "demo-agent-1", "demo")

    async with httpx.AsyncClient(base_url=live.http, timeout=10) as http:
        listing = await http.get(f"/api/calls/{call_id}/recordings", headers=bearer(supervisor))
        assert listing.status_code == 200
        body = listing.json()
        assert body["consent"]["consent"] == "granted"
        [recording] = body["recordings"]
        assert recording["state"] == "complete" and recording["media_url"]
        recent = (await http.get("/api/recordings", headers=bearer(supervisor))).json()
        assert [r["call_id"] for r in recent["recordings"]] == [call_id]
        assert recent["recordings"][0]["call"]["caller_label"] == "海盐县武原街道"

        path = Path(live.hub.settings.data_dir) / "recordings" / (
            await RecordingRepository(live.hub.db).for_call(call_id))[0].path
        whole = path.read_bytes()
        full = await http.get(recording["media_url"])
        assert full.status_code == 200 and full.content == whole
        assert full.headers["content-type"] == "video/webm"
        part = await http.get(recording["media_url"], headers={"Range": "bytes=100-1099"})
        assert part.status_code == 206
        assert part.headers["content-range"] == f"bytes 100-1099/{len(whole)}"
        assert part.content == whole[100:1100]

        # Agents (this call's own included), callers and forged or borrowed links: no.
        assert (await http.get(f"/api/calls/{call_id}/recordings",
                               headers=bearer(agent))).status_code == 403
        assert (await http.get("/api/recordings", headers=bearer(agent))).status_code == 403
        assert (await http.get(f"/api/calls/{call_id}/recordings")).status_code == 401
        media = f"/api/recordings/{recording['id']}/media"
        assert (await http.get(media)).status_code == 403
        assert (await http.get(media, params={"token": agent})).status_code == 403
        other = recording["media_url"].replace(recording["id"], "r-0000000000000000")
        assert (await http.get(other)).status_code == 403
        played = [e for e in await live.hub.audit_log.recent(100)
                  if e.action == "recording_played"]
        assert played and played[0].actor == "demo-supervisor"

        # Retention: nothing younger than 30 days goes; then the file and the row do.
        assert await live.hub.recording_side.purge(time.time()) == 0
        assert path.exists()
        assert await live.hub.recording_side.purge(time.time() + 31 * 86400) == 1
        assert not path.exists()
        assert await RecordingRepository(live.hub.db).for_call(call_id) == []
        assert (await http.get(recording["media_url"])).status_code == 404
        listing = (await http.get(f"/api/calls/{call_id}/recordings",
                                  headers=bearer(supervisor))).json()
        assert listing["recordings"] == [] and listing["consent"]["consent"] == "granted"


async def test_a_kiosk_policy_set_by_an_admin_asks_that_kiosk_only(
        start_server: StartServer) -> None:
    live = await start_server()  # the server itself records nothing
    await live.hub.accounts.create("chief", "chief-pass-12", role="admin",
                                   display_name="Chief")
    admin = await login(live.http, "chief", "chief-pass-12")
    agent = await login(live.http, "demo-agent-1", "demo")
    async with httpx.AsyncClient(base_url=live.http, timeout=10) as http:
        url = "/api/kiosks/kiosk-demo/recording"
        assert (await http.put(url, json={"policy": "consent"},
                               headers=bearer(agent))).status_code == 403
        assert (await http.put(url, json={"policy": "always"},
                               headers=bearer(admin))).status_code == 422
        assert (await http.put("/api/kiosks/kiosk-nope/recording", json={"policy": "consent"},
                               headers=bearer(admin))).status_code == 404
        answer = await http.put(url, json={"policy": "consent"}, headers=bearer(admin))
        assert answer.status_code == 200

    with pytest.raises(CallFailed) as asked:  # the kiosk's calls now ask first
        await place_call(live.http, "water", kiosk_token="demo-kiosk", hold=1, timeout=10,
                         recording_consent=None)
    assert asked.value.code == "consent_required"
    assert live.hub.engine.calls == {}
    decision = live.hub.recording_side.decision_for("water", None)  # not from that kiosk
    assert decision.policy.value == "none"


async def test_a_matter_that_demands_recording_asks_every_call_to_its_category(
        start_server: StartServer) -> None:
    live = await start_server()
    files = {path.name: path.read_text(encoding="utf-8")
             for path in sorted(SHIPPED_CATALOG.glob("*.toml"))}
    files["water.toml"] = files["water.toml"].replace(
        'code = "water-transfer"\n', 'code = "water-transfer"\nrecording = "consent_or_callback"\n',
        1)
    live.hub.matter_side.start(load_catalog_files(files))  # as after an import and restart

    with pytest.raises(CallFailed) as asked:  # an enterprise caller: no kiosk involved
        await place_call(live.http, "water", company=COMPANY, hold=1, timeout=10,
                         recording_consent=None)
    assert asked.value.code == "consent_required"
    decision = live.hub.recording_side.decision_for("water", None)
    assert (decision.policy.value, decision.sources) == (
        "consent_or_callback", ("matter:water-transfer",))
    assert live.hub.recording_side.decision_for("gas", None).policy.value == "none"


async def _cli_call(live: LiveServer, *args: str) -> tuple[int, list[dict[str, object]]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "signaling", "call", "--server", live.http, "--skill", "water",
        "--kiosk-token", "demo-kiosk", "--hold", "1", "--timeout", "15", "--json", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    lines = [json.loads(line) for line in (out + err).decode().splitlines()
             if line.startswith("{")]
    return process.returncode or 0, lines


async def test_the_cli_caller_answers_the_prompt_as_told(start_server: StartServer) -> None:
    live = await start_server(recording_policy="consent_or_callback")
    code, lines = await _cli_call(live, "--recording-consent", "fail")
    assert code == 1 and lines[-1]["code"] == "consent_required"

    code, lines = await _cli_call(live, "--recording-consent", "no",
                                  "--callback-phone", "13800138000")
    assert [line.get("reason") for line in lines
            if line.get("event") == "callback_registered"] == ["recording_refused"]
    assert [c.phone for c in await live.hub.callbacks.list_pending("default")] == [
        "13800138000"]
