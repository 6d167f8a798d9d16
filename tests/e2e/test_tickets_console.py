"""Tickets end to end with real pages: in a kiosk call the agent turns a complaint into a
ticket from the matters desk ("转工单"), the kiosk shows its number to note down, and the
agent works it through to resolved from "我的工单" with a note. Both final pages pass axe
(the ``new_page`` fixture)."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.conftest import LiveServer
from tests.e2e.conftest import KIOSK, LAPTOP, NewPage, screenshot
from tests.e2e.test_console import by_id, go_ready, page_errors, sign_in

pytestmark = [pytest.mark.browser]

PHONE = "13800138000"


async def test_the_console_makes_a_ticket_in_a_call_and_resolves_it(
        live_server: LiveServer, new_page: NewPage) -> None:
    server = live_server
    console = await new_page("console", viewport=LAPTOP)
    errors = page_errors(console)
    await sign_in(console, server)
    await go_ready(console)
    kiosk = await new_page("kiosk", viewport=KIOSK, has_touch=True)
    await kiosk.goto(f"{server.http}/kiosk?token=demo-kiosk")
    await by_id(kiosk, "attract-screen").tap()
    await by_id(kiosk, "call-button").tap()
    await by_id(kiosk, "matter-water").tap()
    await expect(by_id(console, "incoming-call")).to_be_visible()
    await by_id(console, "accept-button").click()
    await expect(by_id(console, "matter-desk")).to_be_visible()
    await expect(by_id(console, "ticket-empty")).to_be_visible()

    # 转工单: a complaint owned by me, with the caller's mobile.
    await by_id(console, "ticket-new").click()
    await by_id(console, "ticket-kind").select_option("complaint")
    await by_id(console, "ticket-subject").fill("抄表读数有误")
    await by_id(console, "ticket-description").fill("连续两个月读数偏高")
    await by_id(console, "ticket-phone").fill(PHONE)
    await by_id(console, "ticket-submit").click()
    item = console.get_by_test_id("ticket")
    await expect(item).to_have_count(1)
    number = await item.get_attribute("data-number") or ""
    assert re.fullmatch(r"HY-T-\d{8}-\d{6}", number), number
    await expect(item.get_by_test_id("ticket-state")).to_have_text("已受理")
    await expect(item).to_have_attribute("data-overdue", "false")

    # The kiosk shows the number to note down.
    notice = by_id(kiosk, "ticket-notice")
    await expect(notice).to_be_visible()
    await expect(notice).to_contain_text(number)
    await expect(notice).to_contain_text("投诉")

    # 我的工单: start, then resolve with a note.
    await item.get_by_test_id("ticket-move-in_progress").click()
    await expect(item.get_by_test_id("ticket-state")).to_have_text("处理中")
    await item.get_by_test_id("ticket-note").fill("已联系水务复核，读数已更正")
    await item.get_by_test_id("ticket-move-resolved").click()
    await expect(item.get_by_test_id("ticket-state")).to_have_text("已办结")
    await expect(item.get_by_test_id("ticket-move-closed")).to_be_visible()
    await screenshot(console, "tickets-console")
    await screenshot(kiosk, "tickets-kiosk")
    assert errors == []
