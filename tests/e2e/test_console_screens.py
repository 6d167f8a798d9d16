"""Screens the agent pushes from the console, in real Chromium against a real server: a
matter's guidance, a PDF the agent uploads (rendered to pages on the server), a QR code, a
web address (one refused: not on the allow-list) and the agent's own screen.

The caller is a real protocol socket with real media (aiortc, as the headless caller): it
acknowledges each screen with `screen_status` as a caller page does, and answers the
agent's renegotiation when the shared screen's track is added and removed. Chromium's
getDisplayMedia works headless here (the fake media UI picks the whole screen).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiortc import RTCSessionDescription
from playwright.async_api import FileChooser, Page, expect

from kiosk_client.headless import _PeerSession
from tests.conftest import LiveServer, StartServer
from tests.e2e.conftest import LAPTOP, NewPage, screenshot
from tests.e2e.test_console import (
    accessible,
    by_id,
    go_ready,
    page_errors,
    sign_in,
    wait_for_remote_video,
)
from tests.e2e.test_console_forms import push_water_transfer, video_caller
from tests.e2e.test_enterprise import GOOD_USCC, fill_form
from tests.e2e.test_kiosk import video_playing
from tests.protocol.wsclient import JsonClient

pytestmark = [pytest.mark.browser]

ALLOWED = "https://www.zjzwfw.gov.cn/"


def one_page_pdf(text: str) -> bytes:
    """A small valid PDF: one A5 page with a line of text (Helvetica)."""
    stream = f"BT /F1 28 Tf 60 500 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 420 595] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


async def choose_document(page: Page, path: Path) -> None:
    """Pick a file with the keyboard: the page's own button (in the page's language) opens
    the visually hidden file input; the chosen name is shown beside it."""
    # Listen before anything else: Chromium intercepts the picker only once Playwright
    # has asked it to, which a listener added just before the key press may not yet have.
    chosen: asyncio.Future[FileChooser] = asyncio.get_running_loop().create_future()
    page.once("filechooser", lambda chooser: chosen.set_result(chooser))
    choose = by_id(page, "screen-document-choose")
    name = by_id(page, "screen-document-name")
    await expect(choose).to_have_text("选择文件…")
    await expect(name).to_have_text("未选择文件")
    box = await by_id(page, "screen-document-file").bounding_box()
    assert box is None or (box["width"] <= 1 and box["height"] <= 1), box
    size = await choose.bounding_box()
    assert size is not None and size["height"] >= 24, size
    await choose.focus()
    await page.keyboard.press("Enter")
    await (await asyncio.wait_for(chosen, 15)).set_files(str(path))
    await expect(name).to_have_text(path.name)


def screen_item(page: Page, screen_id: str) -> Any:
    return page.locator(f'[data-testid="screen-item"][data-screen-id="{screen_id}"]')


async def acknowledge(page: Page, client: JsonClient, call_id: str, kind: str,
                      status: str = "displayed") -> dict[str, Any]:
    """The caller shows the next pushed screen of `kind`; the console says so."""
    pushed = await client.expect("screen_pushed", timeout=15)
    screen: dict[str, Any] = pushed["screen"]
    assert screen["kind"] == kind, screen
    item = screen_item(page, screen["screen_id"])
    await expect(item.get_by_test_id("screen-status")).to_have_text("已推送")
    await client.send({"type": "screen_status", "call_id": call_id,
                       "screen_id": screen["screen_id"], "status": status})
    await client.expect("screen_status", screen_id=screen["screen_id"])
    await expect(item.get_by_test_id("screen-status")).to_have_text(
        {"displayed": "已显示", "hidden": "客户已隐藏"}[status])
    return screen


async def answer_renegotiation(client: JsonClient, peer: _PeerSession,
                               call_id: str) -> str:
    """The caller answers the agent's new offer (the agent is the offerer now)."""
    message = await client.expect("sdp", timeout=15)
    description = message["description"]
    assert description["type"] == "offer", description["type"]
    await peer.pc.setRemoteDescription(RTCSessionDescription(sdp=description["sdp"],
                                                             type="offer"))
    await peer.pc.setLocalDescription(await peer.pc.createAnswer())
    await client.send({"type": "sdp", "call_id": call_id,
                       "description": {"type": "answer",
                                       "sdp": peer.pc.localDescription.sdp}})
    sdp: str = description["sdp"]
    return sdp


async def test_guidance_pdf_qr_url_and_screen_share_are_acknowledged(
        start_server: StartServer, new_page: NewPage, tmp_path: Path) -> None:
    server: LiveServer = await start_server(screen_url_allowlist=[ALLOWED])
    page = await new_page("agent")
    await sign_in(page, server)
    await go_ready(page)
    client, call_id, _, peer = await video_caller(page, server)
    try:
        await push_water_transfer(page, client)
        await page.keyboard.press("Alt+KeyS")
        await expect(by_id(page, "desk-tab-screens")).to_be_focused()
        await expect(by_id(page, "desk-panel-screens")).to_be_visible()

        # The guidance of the call's matter.
        await by_id(page, "screen-guidance-matter").select_option("water-transfer")
        await by_id(page, "push-guidance").click()
        guidance = await acknowledge(page, client, call_id, "guidance")
        assert guidance["url"].startswith(f"/api/calls/{call_id}/guidance/water-transfer")

        # A PDF the agent uploads: stored as a material, rendered to PNG pages.
        pdf = tmp_path / "notice.pdf"
        pdf.write_bytes(one_page_pdf("Water transfer notice"))
        await choose_document(page, pdf)
        await by_id(page, "push-document").click()
        added = await client.expect("material_added", timeout=15)
        assert (added["material"]["kind"], added["material"]["source"],
                added["material"]["content_type"]) == ("other", "upload", "application/pdf")
        document = await acknowledge(page, client, call_id, "document")
        assert document["material_id"] == added["material"]["id"]
        assert len(document["pages"]) == 1 and ".png" in document["pages"][0]

        # A QR code to take away.
        await by_id(page, "screen-qr-text").fill("https://www.zjzwfw.gov.cn/water")
        await by_id(page, "screen-qr-title").fill("扫码查看办理进度")
        await by_id(page, "push-qr").click()
        qr = await acknowledge(page, client, call_id, "qr", status="hidden")
        assert qr["svg"].lstrip().startswith("<") and "svg" in qr["svg"]

        # An address off the allow-list is refused and explained; an allowed one is shown.
        await by_id(page, "screen-url").fill("https://evil.example.com/")
        await by_id(page, "push-url").click()
        await expect(by_id(page, "screen-url-error")).to_contain_text("不在中心允许的列表内")
        await expect(by_id(page, "screen-url")).to_have_attribute("aria-invalid", "true")
        await client.silent({"screen_pushed"}, 0.3)
        await by_id(page, "screen-url").fill(ALLOWED + "guide")
        await expect(by_id(page, "screen-url-error")).to_be_hidden()
        await by_id(page, "push-url").click()
        url = await acknowledge(page, client, call_id, "url")
        assert url["url"] == ALLOWED + "guide"

        # The agent's own screen: a second video track by renegotiation, the agent offering.
        tracks: list[str] = []
        peer.pc.on("track", lambda track: tracks.append(track.kind))
        await by_id(page, "screen-share-start").click()
        offer = await answer_renegotiation(client, peer, call_id)
        assert offer.count("m=video") == 2, offer
        assert tracks == ["video"]
        share = await acknowledge(page, client, call_id, "screen_share")
        await expect(by_id(page, "screen-share-stop")).to_be_visible()
        await expect(by_id(page, "call-panel")).to_have_attribute("data-sharing", "true")
        await expect(by_id(page, "screens-panel")).to_have_attribute("data-sharing", "true")
        await expect(by_id(page, "screens-list").get_by_test_id("screen-item")).to_have_count(5)
        await accessible(page, "console screens panel")
        await screenshot(page, "console-screens-laptop")

        # Stopping takes the track out (a second renegotiation) and closes the screen.
        await by_id(page, "screen-share-stop").click()
        await client.expect("screen_closed", screen_id=share["screen_id"], timeout=10)
        offer = await answer_renegotiation(client, peer, call_id)
        video_sections = offer.split("m=video")[1:]
        assert len(video_sections) == 2
        assert any(direction in video_sections[1] for direction in
                   ("a=recvonly", "a=inactive")), video_sections[1]
        await expect(screen_item(page, share["screen_id"]).get_by_test_id("screen-status")
                     ).to_have_text("已关闭")
        await expect(by_id(page, "screen-share-start")).to_be_visible()
        await expect(by_id(page, "call-panel")).not_to_have_attribute("data-sharing", "true")

        # The agent closes a screen by its button.
        await screen_item(page, guidance["screen_id"]).get_by_test_id("screen-close").click()
        await client.expect("screen_closed", screen_id=guidance["screen_id"])
        await expect(screen_item(page, guidance["screen_id"]).get_by_test_id("screen-status")
                     ).to_have_text("已关闭")
        assert not page_errors(page), page_errors(page)
    finally:
        await peer.close()
        await client.close()


async def test_the_call_page_shows_the_agents_screen_and_a_pdf(
        start_server: StartServer, new_page: NewPage, tmp_path: Path) -> None:
    """Both real pages: the console shares its screen (getDisplayMedia, headless) and an
    uploaded PDF to an enterprise caller on /call, which shows and acknowledges them."""
    server: LiveServer = await start_server()
    console = await new_page("console", viewport=LAPTOP)
    await sign_in(console, server)
    await go_ready(console)
    caller = await new_page("call", viewport=LAPTOP)
    await caller.goto(f"{server.http}/call")
    await fill_form(caller, GOOD_USCC)
    await by_id(caller, "matter-water").click()
    await by_id(caller, "call-button").click()
    await expect(by_id(console, "incoming-call")).to_be_visible()
    await by_id(console, "accept-button").click()
    await expect(by_id(console, "matter-desk")).to_be_visible()
    await video_playing(caller)
    await wait_for_remote_video(console)
    await by_id(console, "desk-tab-screens").click()

    # The agent's screen: a second video track, shown full size on /call, acknowledged.
    await by_id(console, "screen-share-start").click()
    share = console.locator('[data-testid="screen-item"][data-kind="screen_share"]')
    await expect(share).to_have_count(1)
    s1 = await share.get_attribute("data-screen-id")
    assert s1 is not None
    await expect(share.get_by_test_id("screen-status")).to_have_text("已显示", timeout=20_000)
    video = by_id(caller, f"screen-{s1}-video")
    await expect(video).to_be_visible()
    await expect(by_id(caller, f"screen-{s1}")).to_have_attribute("data-status", "displayed")
    shown = await video.evaluate("""video => ({
        width: video.videoWidth, camera: document.querySelector('[data-testid="remote-video"]')
            .srcObject.getVideoTracks()[0].id,
        track: video.srcObject.getVideoTracks()[0].id})""")
    assert shown["width"] > 0 and shown["track"] != shown["camera"], shown
    work = await by_id(caller, "work-area").bounding_box()
    box = await video.bounding_box()
    assert work is not None and box is not None
    assert box["width"] >= work["width"] * 0.8, (box, work)
    await screenshot(caller, "call-screen-share-laptop")

    # A PDF the agent picks with the keyboard and pushes: the page images on /call.
    pdf = tmp_path / "form-guide.pdf"
    pdf.write_bytes(one_page_pdf("Business licence guide"))
    await choose_document(console, pdf)
    await by_id(console, "push-document").click()
    document = console.locator('[data-testid="screen-item"][data-kind="document"]')
    await expect(document).to_have_count(1)
    s2 = await document.get_attribute("data-screen-id")
    assert s2 is not None
    await expect(document.get_by_test_id("screen-status")).to_have_text("已显示", timeout=20_000)
    page_image = by_id(caller, f"screen-{s2}-page")
    await expect(page_image).to_have_count(1)
    assert await page_image.evaluate("img => img.naturalWidth") > 0
    await expect(by_id(console, "screen-document-name")).to_have_text("未选择文件")
    # The share folded away behind the newer screen, and said so.
    await expect(share.get_by_test_id("screen-status")).to_have_text("客户已隐藏")
    await screenshot(caller, "call-screen-document-laptop")
    await accessible(console, "console screens tab, file chosen and pushed")

    await by_id(console, "screen-share-stop").click()
    await expect(share.get_by_test_id("screen-status")).to_have_text("已关闭")
    await expect(by_id(caller, f"screen-{s1}")).to_have_count(0)
    assert not page_errors(console), page_errors(console)
    assert not page_errors(caller), page_errors(caller)
