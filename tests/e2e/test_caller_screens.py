"""Screens the agent pushes, on the caller's pages in real Chromium (issue 7): a guidance
page, a PDF rendered to page images on the server, a QR code; each is acknowledged with
``screen_status`` only once it really showed, and the caller can hide and show it again.
The kiosk screen is saved as ``kiosk-screen-portrait.png``."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pypdfium2 as pdfium
import pytest
from playwright.async_api import expect

from tests.conftest import StartServer
from tests.e2e.conftest import KIOSK, LAPTOP, NewPage
from tests.e2e.test_caller_forms import kiosk_call
from tests.e2e.test_enterprise import GOOD_USCC, fill_form
from tests.e2e.test_kiosk import assert_quiet, by_id, snap
from tests.protocol.wsclient import JsonClient, agent, login

pytestmark = pytest.mark.browser


def two_page_pdf() -> bytes:
    document = pdfium.PdfDocument.new()
    for _ in range(2):
        document.new_page(595, 842)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


async def push_screen(console: JsonClient, call_id: str, screen: dict[str, Any]
                      ) -> dict[str, Any]:
    await console.send({"type": "push_screen", "call_id": call_id, "screen": screen})
    pushed: dict[str, Any] = (await console.expect("screen_pushed", 15))["screen"]
    return pushed


async def test_kiosk_shows_guidance_a_pdf_and_a_qr_code_and_acknowledges_them(
        start_server: StartServer, new_page: NewPage) -> None:
    server = await start_server()
    page = await new_page("kiosk-screen", viewport=KIOSK, has_touch=True)
    console, call_id = await kiosk_call(server, page)

    guidance = await push_screen(console, call_id, {"kind": "guidance", "matter": "water-transfer"})
    s1 = guidance["screen_id"]
    await console.expect("screen_status", 10, screen_id=s1, status="displayed")
    await expect(by_id(page, f"screen-{s1}")).to_be_visible()
    await expect(by_id(page, f"screen-{s1}-frame")).to_have_attribute("sandbox", "")
    frame = page.frame_locator(f'[data-testid="screen-{s1}-frame"]')
    await expect(frame.locator("h1")).to_have_text("供水过户")
    # Hide and show again: each is reported.
    await by_id(page, f"screen-{s1}-toggle").tap()
    await console.expect("screen_status", 10, screen_id=s1, status="hidden")
    await expect(by_id(page, f"screen-{s1}-body")).to_be_hidden()
    await by_id(page, f"screen-{s1}-toggle").tap()
    await console.expect("screen_status", 10, screen_id=s1, status="displayed")

    # A PDF the agent uploads is shown as the server's page images.
    token = await login(server.http, "demo-agent-1")
    async with httpx.AsyncClient(base_url=server.http) as http:
        uploaded = await http.post(f"/api/calls/{call_id}/materials",
                                   params={"kind": "other", "source": "upload"},
                                   content=two_page_pdf(),
                                   headers={"Authorization": f"Bearer {token}"})
        assert uploaded.status_code == 200, uploaded.text
    material = uploaded.json()["material"]
    document = await push_screen(console, call_id, {"kind": "document",
                                                    "material_id": material["id"]})
    s2 = document["screen_id"]
    assert len(document["pages"]) == 2
    await console.expect("screen_status", 15, screen_id=s2, status="displayed")
    await expect(by_id(page, f"screen-{s2}-page")).to_have_count(2)
    # The new screen came to the front; the guidance folded away (and said so).
    await console.expect("screen_status", 10, screen_id=s1, status="hidden")

    qr = await push_screen(console, call_id, {"kind": "qr", "text": "https://www.zjzwfw.gov.cn/",
                                              "title": "浙江政务服务网"})
    s3 = qr["screen_id"]
    await console.expect("screen_status", 10, screen_id=s3, status="displayed")
    image = by_id(page, f"screen-{s3}-qr")
    await expect(image).to_be_visible()
    assert (await image.get_attribute("src") or "").startswith("data:image/svg+xml")
    box = await image.bounding_box()
    assert box is not None and box["width"] >= 300
    await expect(by_id(page, f"screen-{s3}-text")).to_have_text("https://www.zjzwfw.gov.cn/")
    await snap(page, "kiosk-screen-portrait")

    await console.send({"type": "close_screen", "call_id": call_id, "screen_id": s3})
    await expect(by_id(page, f"screen-{s3}")).to_have_count(0)
    assert_quiet(page)
    await console.close()


async def test_call_page_shows_guidance_in_english(
        start_server: StartServer, new_page: NewPage) -> None:
    server = await start_server()
    console = await agent(server, "demo-agent-1", auto_answer=True)
    page = await new_page("call-screen", viewport=LAPTOP)
    await page.goto(f"{server.http}/call")
    await by_id(page, "language-switch").click()
    await fill_form(page, GOOD_USCC)
    await by_id(page, "matter-water").click()
    await by_id(page, "call-button").click()
    call_id = (await console.expect("connected", 20))["call_id"]
    await expect(by_id(page, "hangup-button")).to_be_visible()
    screen = await push_screen(console, call_id, {"kind": "guidance", "matter": "water-transfer"})
    await console.expect("screen_status", 10, screen_id=screen["screen_id"], status="displayed")
    frame = page.frame_locator(f'[data-testid="screen-{screen["screen_id"]}-frame"]')
    await expect(frame.locator("h1")).to_have_text("Water account transfer of ownership")
    await expect(by_id(page, f'screen-{screen["screen_id"]}-toggle')).to_have_text("Hide")
    assert_quiet(page)
    await console.close()
