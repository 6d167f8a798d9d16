"""Issue 7 end to end with both real pages: the agent's console and the kiosk, each in its
own Chromium context, against one real server and a real ``cloud-agent reader-sim``.

The agent takes a kiosk call, pushes "供水过户" (water-transfer); the kiosk reads the
simulated ID card (prefilled and marked on both pages), keys the meter reading digit by
digit (the console shows every digit), sees what the agent types highlighted, gets the
agent's snapshot of its own (fake) camera as the property deed, signs and submits. Then
"用电更名" (electricity-name-change) reuses the identity and the deed. Last, a guidance
screen and the agent's shared screen are shown and acknowledged on the kiosk.

Screenshots: ``e2e-*.png`` in artifacts/.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Page, expect

from kiosk_client.reader_sim import RESIDENTS
from tests.conftest import LiveServer, StartServer, free_port
from tests.e2e.conftest import KIOSK, LAPTOP, NewPage, screenshot
from tests.e2e.test_console import go_ready, page_errors, sign_in, wait_for_remote_video
from tests.e2e.test_kiosk import assert_quiet, by_id, video_playing

pytestmark = [pytest.mark.browser, pytest.mark.slow]

RESIDENT = RESIDENTS[0]


@pytest.fixture
async def reader_server(start_server: StartServer) -> AsyncIterator[LiveServer]:
    """A real server whose kiosk reads cards from ``cloud-agent reader-sim`` (a separate
    process, card 0 on the reader, answering the server's origin only)."""
    port, reader_port = free_port(), free_port()
    origin = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "signaling", "reader-sim", "--port", str(reader_port),
         "--card", "0", "--origin", origin],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert process.stdout is not None
        first = await asyncio.to_thread(process.stdout.readline)
        assert f"127.0.0.1:{reader_port}".encode() in first, first
        yield await start_server(port=port,
                                 card_reader_url=f"http://127.0.0.1:{reader_port}")
    finally:
        process.terminate()
        process.wait(10)


def field_row(console: Page, name: str) -> Any:
    return console.locator(f'[data-testid="form-field"][data-field="{name}"]')


def matter_item(console: Page, matter: str) -> Any:
    return console.locator(f'[data-testid="matter-item"][data-matter="{matter}"]')


def screen_status(console: Page, screen_id: str) -> Any:
    return console.locator(f'[data-testid="screen-item"][data-screen-id="{screen_id}"]'
                           ).get_by_test_id("screen-status")


async def push_from_catalog(console: Page, search: str, matter: str, title: str) -> None:
    await by_id(console, "desk-tab-matters").click()
    await by_id(console, "matter-search").fill(search)
    row = console.locator(f'[data-testid="catalog-matter"][data-matter="{matter}"]')
    await row.get_by_test_id("push-form").click()
    await expect(by_id(console, "form-title")).to_have_text(title)


async def sign(kiosk: Page, form_id: str) -> None:
    """Draw a zigzag on the kiosk's signature pad and confirm it."""
    await by_id(kiosk, f"form-{form_id}-signature-sign").tap()
    canvas = by_id(kiosk, "signature-canvas")
    await expect(canvas).to_be_visible()
    area = await canvas.bounding_box()
    assert area is not None
    middle = area["y"] + area["height"] / 2
    await kiosk.mouse.move(area["x"] + 40, middle)
    await kiosk.mouse.down()
    for step in range(1, 12):
        await kiosk.mouse.move(area["x"] + 40 + step * 40, middle + (30 if step % 2 else -30))
    await kiosk.mouse.up()
    await by_id(kiosk, "signature-done").tap()
    await expect(by_id(kiosk, f"form-{form_id}-signature-image")).to_be_visible()


async def key_in(kiosk: Page, console: Page, form_id: str, field: str, digits: str) -> None:
    """The caller keys ``digits`` on the kiosk's keypad; the console shows every digit."""
    await by_id(kiosk, f"form-{form_id}-{field}-input").tap()
    await expect(by_id(kiosk, "form-keypad")).to_be_visible()
    typed = ""
    for digit in digits:
        typed += digit
        await by_id(kiosk, f"form-keypad-{digit}").tap()
        await expect(by_id(console, f"form-input-{field}")).to_have_value(typed)
        await expect(field_row(console, field)).to_have_attribute("data-highlight", "caller")


async def test_console_and_kiosk_handle_two_matters_and_two_screens(
        reader_server: LiveServer, new_page: NewPage) -> None:
    server = reader_server
    console = await new_page("console", viewport=LAPTOP)
    await sign_in(console, server)
    await go_ready(console)
    kiosk = await new_page("kiosk", viewport=KIOSK, has_touch=True)
    await kiosk.goto(f"{server.http}/kiosk?token=demo-kiosk")

    # 1. The kiosk calls water; the agent accepts; both see video.
    await by_id(kiosk, "attract-screen").tap()
    await by_id(kiosk, "call-button").tap()
    await by_id(kiosk, "matter-water").tap()
    await expect(by_id(console, "incoming-call")).to_be_visible()
    await by_id(console, "accept-button").click()
    await expect(by_id(console, "matter-desk")).to_be_visible()
    await video_playing(kiosk)
    await wait_for_remote_video(console)
    call_id = next(iter(server.hub.sessions))

    # 2. The agent pushes the water transfer; the kiosk shows it; the kiosk reads the card.
    await push_from_catalog(console, "过户", "water-transfer", "供水过户")
    await expect(kiosk.locator('[data-testid^="form-f"][data-matter="water-transfer"]')
                 ).to_be_visible()
    f1 = await kiosk.locator('[data-testid^="form-f"][data-matter="water-transfer"]'
                             ).get_attribute("data-testid")
    assert f1 is not None and re.fullmatch(r"form-f\d+", f1), f1
    f1 = f1.removeprefix("form-")
    await by_id(kiosk, "read-card").tap()
    await expect(by_id(kiosk, "identity-verified")).to_contain_text(RESIDENT.name)
    await expect(by_id(kiosk, f"form-{f1}-owner_name-input")).to_have_value(RESIDENT.name)
    await expect(by_id(kiosk, f"form-{f1}-owner_id_number-input")).to_have_value(
        RESIDENT.id_number)
    await expect(by_id(kiosk, f"form-{f1}-owner_name")).to_have_attribute("data-prefilled",
                                                                          "true")
    await expect(by_id(kiosk, f"form-{f1}-owner_id_number-badge")).to_have_text("已从身份证读取")
    await expect(by_id(console, "form-input-owner_name")).to_have_value(RESIDENT.name)
    await expect(by_id(console, "form-input-owner_id_number")).to_have_value(RESIDENT.id_number)
    await expect(field_row(console, "owner_id_number").get_by_test_id("mark-prefill")
                 ).to_be_visible()
    await expect(by_id(console, "identity-source")).to_have_attribute("data-source", "reader")

    # 3. The caller keys the meter reading; the console shows each digit as it comes.
    await key_in(kiosk, console, f1, "meter_reading", "1234")

    # 4. The agent types the account number and the mobile; the kiosk highlights them.
    await by_id(console, "form-input-account_no").press_sequentially("33012345", delay=30)
    await expect(by_id(kiosk, f"form-{f1}-account_no-input")).to_have_value("33012345")
    await expect(by_id(kiosk, f"form-{f1}-account_no")).to_have_attribute("data-highlight",
                                                                          "true")
    await expect(by_id(kiosk, f"form-{f1}-account_no-badge")).to_have_text("坐席已填写")
    await by_id(console, "form-input-mobile").press_sequentially("13857312345", delay=30)
    await expect(by_id(kiosk, f"form-{f1}-mobile-input")).to_have_value("13857312345")
    await screenshot(console, "e2e-console-form-live")
    await screenshot(kiosk, "e2e-kiosk-form-live")

    # 5. The agent photographs the kiosk's (fake) camera as the property deed.
    await by_id(console, "desk-tab-materials").click()
    await by_id(console, "snapshot-button").click()
    await expect(by_id(console, "snapshot-draft")).to_be_visible()
    await by_id(console, "snapshot-kind").select_option("property-deed")
    await by_id(console, "snapshot-upload").click()
    snapshot = console.locator('[data-testid="material-item"][data-source="snapshot"]')
    await expect(snapshot).to_have_count(1)
    snapshot_id = await snapshot.get_attribute("data-material-id")
    assert snapshot_id is not None
    thumb = by_id(kiosk, f"form-{f1}-property_deed-thumbs").locator("img")
    await expect(thumb).to_have_count(1)
    await expect(thumb).to_have_attribute("data-material-id", snapshot_id)
    await expect(thumb).to_have_js_property("complete", True)
    assert await thumb.evaluate("img => img.naturalWidth") > 0

    # 6. The caller signs and submits; both pages say so; the server stored it.
    await sign(kiosk, f1)
    await by_id(kiosk, f"form-{f1}-submit").tap()
    await expect(by_id(kiosk, f"form-{f1}-submitted")).to_contain_text("已提交")
    # A submitted form is read-only on both pages: no keypad, no signing again.
    await expect(by_id(console, "form-state")).to_have_text("已提交")
    await expect(by_id(console, "form-input-account_no")).to_be_disabled()
    await expect(by_id(kiosk, f"form-{f1}-meter_reading")).to_have_attribute("data-editable",
                                                                             "false")
    await expect(by_id(kiosk, f"form-{f1}-signature-sign")).to_have_count(0)
    await by_id(console, "desk-tab-matters").click()
    await expect(matter_item(console, "water-transfer").get_by_test_id("matter-state")
                 ).to_have_text("已提交")
    await screenshot(kiosk, "e2e-kiosk-submitted")
    stored = await server.hub.submissions.list_for_call(call_id)
    assert len(stored) == 1
    first = stored[0]
    assert first.matter == "water-transfer"
    await expect(by_id(kiosk, f"form-{f1}-submitted")).to_contain_text(first.id)
    assert first.values["meter_reading"] == 1234
    assert first.values["account_no"] == "33012345"
    assert first.values["owner_id_number"] == RESIDENT.id_number
    assert first.values["property_deed"] == snapshot_id
    assert (first.filled_by["owner_name"], first.filled_by["meter_reading"],
            first.filled_by["account_no"]) == ("prefill", "caller", "agent")
    assert first.signature is not None and snapshot_id in first.materials
    deed = await server.hub.materials.get(snapshot_id)
    assert (deed.kind, deed.source, deed.by_role) == ("property-deed", "snapshot", "agent")
    assert deed.content_type == "image/jpeg" and deed.size > 1000
    signature = await server.hub.materials.get(first.signature)
    assert (signature.kind, signature.source, signature.by_role, signature.content_type) == (
        "signature", "signature", "caller", "image/png")

    # 7. Electricity account name change: identity and deed reused, no second card read.
    await push_from_catalog(console, "用电更名", "electricity-name-change", "用电更名")
    form2 = kiosk.locator('[data-testid^="form-f"][data-matter="electricity-name-change"]')
    await expect(form2).to_be_visible()
    f2 = (await form2.get_attribute("data-testid") or "").removeprefix("form-")
    await expect(by_id(kiosk, f"form-{f2}-new_name-input")).to_have_value(RESIDENT.name)
    await expect(by_id(kiosk, f"form-{f2}-id_number-input")).to_have_value(RESIDENT.id_number)
    await expect(by_id(kiosk, f"form-{f2}-id_number")).to_have_attribute("data-prefilled",
                                                                         "true")
    await expect(by_id(kiosk, f"form-{f2}-property_deed-thumbs").locator("img")
                 ).to_have_attribute("data-material-id", snapshot_id)
    await expect(by_id(kiosk, f"form-{f2}-property_deed-badge")).to_have_text(
        "已使用本次通话中提供的材料")
    await expect(field_row(console, "property_deed").get_by_test_id("mark-reuse")).to_be_visible()
    await expect(field_row(console, "new_name").get_by_test_id("mark-prefill")).to_be_visible()
    await key_in(kiosk, console, f2, "account_no", "3301234567")
    await by_id(console, "form-input-mobile").press_sequentially("13857312345", delay=30)
    await expect(by_id(kiosk, f"form-{f2}-mobile-input")).to_have_value("13857312345")
    await sign(kiosk, f2)
    await by_id(kiosk, f"form-{f2}-submit").tap()
    await expect(by_id(kiosk, f"form-{f2}-submitted")).to_contain_text("已提交")
    await expect(kiosk.locator('[data-testid="checklist-item"][data-state="submitted"]')
                 ).to_have_count(2)
    await by_id(console, "desk-tab-matters").click()
    await expect(matter_item(console, "electricity-name-change").get_by_test_id("matter-state")
                 ).to_have_text("已提交")
    stored = await server.hub.submissions.list_for_call(call_id)
    assert [s.matter for s in stored] == ["water-transfer", "electricity-name-change"]
    second = stored[1]
    assert second.values["property_deed"] == snapshot_id
    assert second.values["new_name"] == RESIDENT.name
    assert second.filled_by["id_number"] == "prefill"
    assert second.signature not in (None, first.signature)
    assert server.hub.sessions[call_id].document.identity["source"] == "reader"

    # 8. A guidance screen, hidden and shown again by the caller; then the agent's screen.
    await by_id(console, "desk-tab-screens").click()
    await by_id(console, "screen-guidance-matter").select_option("electricity-name-change")
    await by_id(console, "push-guidance").click()
    item = console.locator('[data-testid="screen-item"][data-kind="guidance"]')
    await expect(item).to_have_count(1)
    s1 = await item.get_attribute("data-screen-id")
    assert s1 is not None
    await expect(screen_status(console, s1)).to_have_text("已显示")
    await expect(kiosk.frame_locator(f'[data-testid="screen-{s1}-frame"]').locator("h1")
                 ).to_have_text("用电更名")
    await screenshot(kiosk, "e2e-kiosk-guidance")
    await by_id(kiosk, f"screen-{s1}-toggle").tap()
    await expect(by_id(kiosk, f"screen-{s1}-body")).to_be_hidden()
    await expect(screen_status(console, s1)).to_have_text("客户已隐藏")
    await by_id(kiosk, f"screen-{s1}-toggle").tap()
    await expect(by_id(kiosk, f"screen-{s1}-body")).to_be_visible()
    await expect(screen_status(console, s1)).to_have_text("已显示")

    await by_id(console, "screen-share-start").click()
    share = console.locator('[data-testid="screen-item"][data-kind="screen_share"]')
    await expect(share).to_have_count(1)
    s2 = await share.get_attribute("data-screen-id")
    assert s2 is not None
    await expect(screen_status(console, s2)).to_have_text("已显示", timeout=20_000)
    shared = by_id(kiosk, f"screen-{s2}-video")
    await expect(shared).to_be_visible()
    assert await shared.evaluate("video => video.videoWidth") > 0
    await screenshot(kiosk, "e2e-kiosk-screen-share")
    await screenshot(console, "e2e-console-screen-share")
    await by_id(console, "screen-share-stop").click()
    await expect(screen_status(console, s2)).to_have_text("已关闭")
    await expect(by_id(kiosk, f"screen-{s2}")).to_have_count(0)
    await expect(by_id(console, "screen-share-start")).to_be_visible()
    # The call goes on: the agent's camera still reaches the kiosk.
    await video_playing(kiosk)
    assert not page_errors(console), page_errors(console)
    assert_quiet(kiosk)
