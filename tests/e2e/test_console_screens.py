"""Screens the agent pushes from the console, in real Chromium against a real server: a
matter's guidance, a PDF the agent uploads (rendered to pages on the server), a QR code, a
web address (one refused: not on the allow-list) and the agent's own screen.

The caller is a real protocol socket with real media (aiortc, as the headless caller): it
acknowledges each screen with `screen_status` as a caller page does, and answers the
agent's renegotiation when the shared screen's track is added and removed. Chromium's
getDisplayMedia works headless here (the fake media UI picks the whole screen).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiortc import RTCSessionDescription
from playwright.async_api import Page, expect

from kiosk_client.headless import _PeerSession
from tests.conftest import LiveServer, StartServer
from tests.e2e.conftest import NewPage, screenshot
from tests.e2e.test_console import accessible, by_id, go_ready, page_errors, sign_in
from tests.e2e.test_console_forms import push_water_transfer, video_caller
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
        await by_id(page, "screen-document-file").set_input_files(str(pdf))
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
