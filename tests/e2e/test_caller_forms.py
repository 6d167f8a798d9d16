"""Forms pushed into a call, on the caller's pages in real Chromium (issue 7).

The agent is a real WebSocket client (tests/protocol/wsclient.py) on a real server; the
kiosk reads a card from a real ``reader-sim`` on loopback. The screens are saved to
artifacts/ (``kiosk-form-portrait.png``, ``call-form-laptop.png``) and checked with axe.
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Page, WebSocketRoute, expect

from kiosk_client.reader_sim import RESIDENTS, ReaderServer
from tests.conftest import LiveServer, StartServer
from tests.e2e.conftest import KIOSK, LAPTOP, NewPage
from tests.e2e.test_enterprise import GOOD_USCC, fill_form
from tests.e2e.test_kiosk import assert_quiet, by_id, eventually, snap
from tests.protocol.wsclient import JsonClient, agent

pytestmark = pytest.mark.browser

#: a 1x1 PNG (the server checks content by its magic bytes)
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


@pytest.fixture
async def reader() -> AsyncIterator[ReaderServer]:
    server = ReaderServer("127.0.0.1", 0).start()
    server.reader.put(0)
    yield server
    await asyncio.to_thread(server.stop)


async def kiosk_call(server: LiveServer, page: Page) -> tuple[JsonClient, str]:
    """A kiosk call answered by demo-agent-1's socket; returns (agent socket, call id)."""
    console = await agent(server, "demo-agent-1", auto_answer=True)
    await page.goto(f"{server.http}/kiosk?token=demo-kiosk")
    await by_id(page, "attract-screen").tap()
    await by_id(page, "call-button").tap()
    await by_id(page, "matter-water").tap()
    connected = await console.expect("connected", 20)
    await console.expect("session_document", 10, call_id=connected["call_id"])
    await expect(by_id(page, "hangup-button")).to_be_visible()
    return console, connected["call_id"]


async def push(console: JsonClient, call_id: str, matter: str) -> dict[str, Any]:
    await console.send({"type": "push_form", "call_id": call_id, "matter": matter})
    form: dict[str, Any] = (await console.expect("form_pushed", 10))["form"]
    return form


async def agent_edit(console: JsonClient, call_id: str, form: dict[str, Any], field: str,
                     value: Any, base: int) -> dict[str, Any]:
    await console.send({"type": "edit_field", "call_id": call_id, "form_id": form["form_id"],
                        "field": field, "value": value, "base": base})
    changed: dict[str, Any] = await console.expect("field_changed", 10, field=field, by="agent")
    return changed


async def test_kiosk_reads_the_card_keys_signs_and_submits(
        start_server: StartServer, new_page: NewPage, reader: ReaderServer) -> None:
    server = await start_server(card_reader_url=reader.url)
    page = await new_page("kiosk-form", viewport=KIOSK, has_touch=True)
    held: list[str] = []
    holding = asyncio.Event()
    routes: list[tuple[WebSocketRoute, Any]] = []

    async def through(ws: WebSocketRoute) -> None:
        """Pass every frame through; while ``holding`` is set, the server's frames wait
        (the kiosk has not seen them yet: its next edit is made on an old version)."""
        upstream = ws.connect_to_server()

        def down(message: str | bytes) -> None:
            if holding.is_set():
                held.append(str(message))
            else:
                ws.send(message)
        upstream.on_message(down)
        routes.append((ws, upstream))
    await page.route_web_socket(re.compile(r"/ws/caller$"), through)

    console, call_id = await kiosk_call(server, page)
    resident = RESIDENTS[0]

    # Identity once: the kiosk reads the card from the reader service.
    await expect(by_id(page, "read-card")).to_be_visible()
    await by_id(page, "read-card").tap()
    identity = await console.expect("identity_set", 10)
    assert (identity["identity"]["name"], identity["identity"]["id_number"],
            identity["identity"]["source"]) == (resident.name, resident.id_number, "reader")
    await expect(by_id(page, "identity-verified")).to_contain_text(resident.name)

    # The agent pushes the water transfer: prefilled from the card, and marked so.
    form = await push(console, call_id, "water-transfer")
    f = form["form_id"]
    await expect(by_id(page, f"form-{f}")).to_be_visible()
    await expect(by_id(page, "checklist-item")).to_have_attribute("data-state", "filling")
    await expect(by_id(page, f"form-{f}-owner_name-input")).to_have_value(resident.name)
    await expect(by_id(page, f"form-{f}-owner_name")).to_have_attribute("data-prefilled", "true")
    await expect(by_id(page, f"form-{f}-owner_name-badge")).to_have_text("已从身份证读取")
    await expect(by_id(page, f"form-{f}-owner_id_number-input")).to_have_value(resident.id_number)
    # The agent's text fields are read-only on the kiosk (it has no keyboard).
    await expect(by_id(page, f"form-{f}-owner_name-input")).to_have_attribute("readonly", "")

    # The caller keys the account number on the on-screen keypad; each digit reaches the
    # agent at once.
    await by_id(page, f"form-{f}-account_no-input").tap()
    await expect(by_id(page, "form-keypad-5")).to_be_visible()
    box = await by_id(page, "form-keypad-5").bounding_box()
    assert box is not None and box["height"] >= 48 and box["width"] >= 48
    typed = ""
    for digit in "33012345":
        typed += digit
        await by_id(page, f"form-keypad-{digit}").tap()
        changed = await console.expect("field_changed", 10, field="account_no", value=typed)
        assert changed["by"] == "caller"
    await by_id(page, "form-keypad-delete").tap()
    await console.expect("field_changed", 10, field="account_no", value=typed[:-1])
    await by_id(page, "form-keypad-5").tap()
    last = await console.expect("field_changed", 10, field="account_no", value=typed)
    assert last["version"] == len(typed) + 2

    # The agent fills a field: the kiosk shows it highlighted ("坐席已填写").
    await agent_edit(console, call_id, form, "mobile", "13857312345", 0)
    await expect(by_id(page, f"form-{f}-mobile-input")).to_have_value("13857312345")
    await expect(by_id(page, f"form-{f}-mobile")).to_have_attribute("data-highlight", "true")
    await expect(by_id(page, f"form-{f}-mobile-badge")).to_have_text("坐席已填写")
    await snap(page, "kiosk-form-portrait")

    # Both type the meter reading at once: the kiosk's edit is stale, it adopts the
    # agent's value and both sides end with the same value and version.
    await by_id(page, f"form-{f}-meter_reading-input").tap()
    await by_id(page, "form-keypad-7").tap()
    first = await console.expect("field_changed", 10, field="meter_reading", by="caller")
    holding.set()
    await agent_edit(console, call_id, form, "meter_reading", 1234, first["version"])
    await by_id(page, "form-keypad-8").tap()  # built on the version the kiosk last saw
    await eventually(_has(held, "stale_version"), 10, "the stale_version error")
    holding.clear()
    for message in held:
        routes[-1][0].send(message)
    held.clear()
    await expect(by_id(page, f"form-{f}-meter_reading-input")).to_have_value("1234")
    session = server.hub.sessions[call_id]
    assert session.document.form(f).values["meter_reading"] == 1234
    await console.silent({"field_changed"}, 0.3)  # the lost keystroke changed nothing

    # A reload in the middle keeps everything (session_document after connected).
    await page.reload()
    await expect(by_id(page, f"form-{f}-account_no-input")).to_have_value(typed, timeout=20_000)
    await expect(by_id(page, f"form-{f}-meter_reading-input")).to_have_value("1234")
    await expect(by_id(page, f"form-{f}-owner_name")).to_have_attribute("data-prefilled", "true")
    await expect(by_id(page, "identity-verified")).to_contain_text(resident.name)

    # Submitting too early names what is missing.
    await by_id(page, f"form-{f}-submit").tap()
    await expect(by_id(page, f"form-{f}-summary")).to_be_visible()
    await expect(by_id(page, f"form-{f}-signature-error")).to_have_text("这一项必须填写")

    # The agent snapshots the deed; the caller signs on the pad; then submits.
    token = await _login_token(server)
    import httpx
    async with httpx.AsyncClient(base_url=server.http) as http:
        stored = await http.post(f"/api/calls/{call_id}/materials",
                                 params={"kind": "property-deed", "source": "snapshot"},
                                 content=PNG, headers={"Authorization": f"Bearer {token}"})
        assert stored.status_code == 200, stored.text
    await expect(by_id(page, f"form-{f}-property_deed-thumbs").locator("img")).to_have_count(1)
    await by_id(page, f"form-{f}-signature-sign").tap()
    canvas = by_id(page, "signature-canvas")
    await expect(canvas).to_be_visible()
    area = await canvas.bounding_box()
    assert area is not None
    await page.mouse.move(area["x"] + 40, area["y"] + area["height"] / 2)
    await page.mouse.down()
    for step in range(1, 12):
        await page.mouse.move(area["x"] + 40 + step * 40, area["y"] + area["height"] / 2
                              + (25 if step % 2 else -25))
    await page.mouse.up()
    await by_id(page, "signature-done").tap()
    signed = await console.expect("field_changed", 10, field="signature", by="caller")
    assert re.fullmatch(r"m-[0-9a-f]{16}", signed["value"])
    await expect(by_id(page, f"form-{f}-signature-image")).to_be_visible()
    await by_id(page, f"form-{f}-submit").tap()
    submitted = await console.expect("form_submitted", 10, form_id=f)
    await expect(by_id(page, f"form-{f}-submitted")).to_contain_text(submitted["submission_id"])
    await expect(by_id(page, "checklist-item")).to_have_attribute("data-state", "submitted")
    stored_submissions = await server.hub.submissions.list_for_call(call_id)
    assert [s.id for s in stored_submissions] == [submitted["submission_id"]]
    assert stored_submissions[0].values["account_no"] == typed
    assert stored_submissions[0].signature == signed["value"]
    assert stored_submissions[0].filled_by["owner_name"] == "prefill"
    assert_quiet(page)
    await console.close()


def _has(held: list[str], text: str) -> Any:
    async def check() -> bool:
        return any(text in message for message in held)
    return check


async def _login_token(server: LiveServer) -> str:
    from tests.protocol.wsclient import login
    return await login(server.http, "demo-agent-1")


async def test_enterprise_fills_side_by_side_and_uploads_a_material(
        start_server: StartServer, new_page: NewPage, tmp_path: Any) -> None:
    server = await start_server()
    console = await agent(server, "demo-agent-1", auto_answer=True)
    page = await new_page("call-form", viewport=LAPTOP)
    await page.goto(f"{server.http}/call")
    await fill_form(page, GOOD_USCC)
    await by_id(page, "matter-water").click()
    await by_id(page, "call-button").click()
    connected = await console.expect("connected", 20)
    call_id = connected["call_id"]
    await expect(by_id(page, "hangup-button")).to_be_visible()

    form = await push(console, call_id, "water-transfer")
    f = form["form_id"]
    await expect(by_id(page, f"form-{f}")).to_be_visible()
    # Side by side: the form is right of the video, not under it.
    video = await by_id(page, "remote-video").bounding_box()
    card = await by_id(page, f"form-{f}").bounding_box()
    assert video is not None and card is not None and card["x"] >= video["x"] + video["width"] - 1

    # Normal inputs: typing is sent (debounced) as the caller's edit.
    await by_id(page, f"form-{f}-account_no-input").fill("12345678")
    changed = await console.expect("field_changed", 10, field="account_no")
    assert (changed["value"], changed["by"]) == ("12345678", "caller")

    # A file for the material field: checked for size first, then uploaded.
    big = tmp_path / "too-big.pdf"
    big.write_bytes(b"%PDF-1.4\n" + b"0" * (10 * 1024 * 1024 + 1))
    await by_id(page, f"form-{f}-property_deed-file").set_input_files(str(big))
    await expect(by_id(page, f"form-{f}-property_deed-error")).to_contain_text("文件太大")
    deed = tmp_path / "deed.png"
    deed.write_bytes(PNG)
    # By keyboard: the page's own button (the native input, with the browser's English
    # "Choose File", is visually hidden) opens the file picker.
    chosen: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    page.once("filechooser", lambda chooser: chosen.set_result(chooser))
    upload = by_id(page, f"form-{f}-property_deed-upload")
    await expect(upload).to_have_text("上传文件")
    hidden = await by_id(page, f"form-{f}-property_deed-file").bounding_box()
    assert hidden is None or hidden["width"] <= 1, hidden
    await upload.focus()
    await page.keyboard.press("Enter")
    await (await asyncio.wait_for(chosen, 15)).set_files(str(deed))
    added = await console.expect("material_added", 10)
    material = added["material"]
    assert (material["kind"], material["source"], material["by"]) == (
        "property-deed", "upload", "caller")
    filled = await console.expect("field_changed", 10, field="property_deed")
    assert filled["value"] == material["id"]
    await expect(by_id(page, f"form-{f}-property_deed-thumbs").locator("img")).to_have_count(1)
    await expect(by_id(page, f"form-{f}-property_deed-error")).to_be_hidden()

    # The agent's change shows highlighted; errors are explained in plain words.
    await agent_edit(console, call_id, form, "owner_id_number", "330424199001011230", 0)
    await expect(by_id(page, f"form-{f}-owner_id_number")).to_have_attribute(
        "data-highlight", "true")
    await expect(by_id(page, f"form-{f}-owner_id_number-error")).to_have_text(
        "身份证号码不正确，请核对")
    await snap(page, "call-form-laptop")
    assert_quiet(page)
    await console.close()


async def test_kiosk_document_camera_takes_a_photo_for_a_material_field(
        start_server: StartServer, new_page: NewPage) -> None:
    # Chromium's fake capture device is labelled "fake_device_0".
    server = await start_server(kiosk_document_camera="fake")
    page = await new_page("kiosk-camera", viewport=KIOSK, has_touch=True)
    console, call_id = await kiosk_call(server, page)
    form = await push(console, call_id, "water-transfer")
    f = form["form_id"]
    photo = by_id(page, f"form-{f}-property_deed-photo")
    await expect(photo).to_be_visible()
    await photo.tap()
    added = await console.expect("material_added", 15)
    material = added["material"]
    assert (material["kind"], material["source"], material["by"]) == (
        "property-deed", "document_camera", "caller")
    assert material["content_type"] in ("image/jpeg", "image/png")
    await expect(by_id(page, f"form-{f}-property_deed-thumbs").locator("img")).to_have_count(1)
    assert_quiet(page)
    await console.close()


def _overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (a["x"] + a["width"] <= b["x"] + 0.5 or b["x"] + b["width"] <= a["x"] + 0.5
                or a["y"] + a["height"] <= b["y"] + 0.5 or b["y"] + b["height"] <= a["y"] + 0.5)


async def test_kiosk_identity_bar_sits_beside_the_agents_video_not_on_it(
        start_server: StartServer, new_page: NewPage, reader: ReaderServer) -> None:
    server = await start_server(card_reader_url=reader.url)
    page = await new_page("kiosk-identity", viewport=KIOSK, has_touch=True)
    console, call_id = await kiosk_call(server, page)
    form = await push(console, call_id, "water-transfer")
    await expect(by_id(page, f"form-{form['form_id']}")).to_be_visible()
    await by_id(page, "read-card").tap()
    await console.expect("identity_set", 10)
    await expect(by_id(page, "identity-verified")).to_contain_text(RESIDENTS[0].name)
    await snap(page, "kiosk-identity-portrait")
    video = await by_id(page, "remote-video").bounding_box()
    assert video is not None and video["height"] >= 200, video
    for name in ("read-card", "identity-verified"):
        box = await by_id(page, name).bounding_box()
        assert box is not None, name
        assert not _overlap(box, video), f"{name} covers the agent's video: {box} over {video}"
    button = await by_id(page, "read-card").bounding_box()
    assert button is not None and button["height"] >= 48 and button["width"] >= 48, button
    assert_quiet(page)
    await console.close()


async def _agent_snapshot(server: LiveServer, call_id: str, kind: str) -> dict[str, Any]:
    import httpx
    token = await _login_token(server)
    async with httpx.AsyncClient(base_url=server.http) as http:
        stored = await http.post(f"/api/calls/{call_id}/materials",
                                 params={"kind": kind, "source": "snapshot"},
                                 content=PNG, headers={"Authorization": f"Bearer {token}"})
        assert stored.status_code == 200, stored.text
    material: dict[str, Any] = stored.json()["material"]
    return material


async def test_kiosk_says_when_the_agent_takes_a_photo(
        start_server: StartServer, new_page: NewPage) -> None:
    server = await start_server()
    page = await new_page("kiosk-snapshot", viewport=KIOSK, has_touch=True)
    console, call_id = await kiosk_call(server, page)
    form = await push(console, call_id, "water-transfer")
    await expect(by_id(page, f"form-{form['form_id']}")).to_be_visible()
    notice = by_id(page, "snapshot-notice")
    await expect(notice).to_be_hidden()
    # The caller's own upload is no news to the caller; the agent's snapshot is.
    await _agent_snapshot(server, call_id, "property-deed")
    await expect(notice).to_be_visible()
    await expect(notice).to_have_text("坐席已拍照：不动产权证书（房产证）")
    live = page.locator("[data-snapshot-live]")
    await expect(live).to_have_attribute("aria-live", "polite")
    await expect(live).to_have_attribute("role", "status")
    await snap(page, "kiosk-snapshot-notice-portrait")
    # It goes away by itself after a few seconds.
    await expect(notice).to_be_hidden(timeout=15_000)
    assert_quiet(page)
    await console.close()


async def test_call_page_says_when_the_agent_takes_a_photo_in_english(
        start_server: StartServer, new_page: NewPage) -> None:
    server = await start_server()
    console = await agent(server, "demo-agent-1", auto_answer=True)
    page = await new_page("call-snapshot", viewport=LAPTOP)
    await page.goto(f"{server.http}/call")
    await by_id(page, "language-switch").click()
    await fill_form(page, GOOD_USCC)
    await by_id(page, "matter-water").click()
    await by_id(page, "call-button").click()
    call_id = (await console.expect("connected", 20))["call_id"]
    await expect(by_id(page, "hangup-button")).to_be_visible()
    await _agent_snapshot(server, call_id, "id-card")
    notice = by_id(page, "snapshot-notice")
    await expect(notice).to_have_text("The agent took a photo: Resident identity card")
    await snap(page, "call-snapshot-notice-laptop")
    assert_quiet(page)
    await console.close()
