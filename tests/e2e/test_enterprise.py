"""The enterprise call page in real headless Chromium: the guest form, the device check,
a call to a headless agent, and invite links that reach one named agent.

Screenshots land in artifacts/ as ``enterprise-<screen>-laptop.png``.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from playwright.async_api import Page, expect

from kiosk_client.headless import answer_calls
from signaling.matters.validators import uscc_check_character
from tests.conftest import LiveServer, StartServer
from tests.e2e.conftest import LAPTOP, NewPage
from tests.e2e.test_kiosk import (
    agent_ready,
    assert_quiet,
    background,
    by_id,
    call_record,
    eventually,
    snap,
    video_playing,
)

pytestmark = pytest.mark.browser

GOOD_USCC = "91330424MA2B3C4D5" + uscc_check_character("91330424MA2B3C4D5")
BAD_USCC = GOOD_USCC[:17] + ("0" if GOOD_USCC[17] != "0" else "1")


async def open_call_page(new_page: NewPage, server: LiveServer, query: str = "") -> Page:
    page = await new_page("enterprise", viewport=LAPTOP)
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.sockets = sockets  # type: ignore[attr-defined]
    await page.goto(f"{server.http}/call{query}")
    await expect(by_id(page, "call-button")).to_be_visible()
    return page


async def fill_form(page: Page, uscc: str) -> None:
    await by_id(page, "company-name").fill("海盐县武原食品有限公司")
    await by_id(page, "uscc").fill(uscc.lower())  # typed in lower case: the page upper-cases
    await by_id(page, "contact-name").fill("张敏")
    await by_id(page, "contact-phone").fill("13912345678")


async def test_bad_credit_code_is_explained_and_nothing_is_sent(
        live_server: LiveServer, new_page: NewPage) -> None:
    page = await open_call_page(new_page, live_server)
    await fill_form(page, BAD_USCC)
    await by_id(page, "uscc").blur()
    await expect(by_id(page, "uscc-error")).to_be_visible()
    await expect(by_id(page, "uscc-error")).to_contain_text("校验")
    await expect(by_id(page, "uscc")).to_have_value(BAD_USCC)

    await by_id(page, "uscc").fill(GOOD_USCC[:10])
    await expect(by_id(page, "uscc-error")).to_contain_text("18 位")
    await by_id(page, "uscc").fill(BAD_USCC)
    await by_id(page, "matter-water").click()
    await by_id(page, "call-button").click()
    await expect(by_id(page, "form-error")).to_be_visible()
    await expect(by_id(page, "uscc")).to_be_focused()
    await snap(page, "enterprise-form-error-laptop")
    await asyncio.sleep(0.3)  # give a wrongly sent request time to show up
    assert page.sockets == []  # type: ignore[attr-defined]
    assert live_server.hub.callers == {}


async def test_error_summary_follows_the_fields_after_a_failed_submit(
        live_server: LiveServer, new_page: NewPage) -> None:
    page = await open_call_page(new_page, live_server)
    await by_id(page, "call-button").click()
    summary = by_id(page, "form-error")
    await expect(summary).to_have_text("还有信息需要修改，请查看标红的地方")
    await expect(by_id(page, "matter-error")).to_be_visible()

    await fill_form(page, GOOD_USCC)  # every field fixed: only the matter is missing now
    await expect(page.locator("[aria-invalid=true]")).to_have_count(0)
    await expect(summary).to_have_text("请选择要办理的事项")
    await by_id(page, "uscc").fill(BAD_USCC)  # a field goes wrong again
    await expect(summary).to_have_text("还有信息需要修改，请查看标红的地方")
    await by_id(page, "uscc").fill(GOOD_USCC)
    await by_id(page, "matter-water").click()
    await expect(summary).to_be_hidden()
    await expect(page.get_by_role("alert").filter(has_text="标红")).to_have_count(0)
    await snap(page, "enterprise-form-fixed-laptop")
    assert live_server.hub.callers == {}


async def test_company_calls_an_agent_and_rates_the_call(
        start_server: StartServer, new_page: NewPage) -> None:
    server = await start_server()
    async with background(answer_calls(server.http, "demo-agent-1", "demo", auto_answer=True,
                                       calls=1, hold=30)) as agent:
        await agent_ready(server, "demo-agent-1")
        page = await open_call_page(new_page, server)
        await fill_form(page, GOOD_USCC)
        await by_id(page, "device-check-button").click()
        await eventually(lambda: page.evaluate(
            "document.querySelector('[data-testid=device-preview]').videoWidth > 0"),
            10, "device preview")
        await expect(by_id(page, "device-status")).to_have_attribute("data-state", "ok")
        await by_id(page, "matter-business-licence").click()
        await expect(by_id(page, "matter-business-licence")).to_have_attribute(
            "aria-pressed", "true")
        await snap(page, "enterprise-form-laptop")

        await by_id(page, "call-button").click()
        await expect(by_id(page, "remote-video")).to_be_visible()
        await video_playing(page)
        await snap(page, "enterprise-in-call-laptop")
        await by_id(page, "mute-button").click()
        await expect(by_id(page, "mute-button")).to_have_attribute("aria-pressed", "true")
        assert await page.evaluate(
            "document.querySelector('[data-testid=local-video]').srcObject"
            ".getAudioTracks().every(t => !t.enabled)")
        await by_id(page, "hangup-button").click()

        await expect(by_id(page, "rating-4")).to_be_visible()
        await snap(page, "enterprise-rating-laptop")
        await by_id(page, "rating-4").click()
        await expect(by_id(page, "thanks")).to_be_visible()
        timings = await asyncio.wait_for(agent, 20)
        await by_id(page, "new-call-button").click()
        await expect(by_id(page, "company-name")).to_have_value("海盐县武原食品有限公司")
        assert await page.evaluate("sessionStorage.length") == 0
        assert_quiet(page)

    record = await call_record(server, timings[0].call_id)
    assert (record.origin, record.skill, record.caller_label, record.rating) == (
        "enterprise", "business-licence", "海盐县武原食品有限公司", 4)


async def test_invite_link_reaches_the_inviting_agent(
        start_server: StartServer, new_page: NewPage) -> None:
    server = await start_server()
    async with httpx.AsyncClient(base_url=server.http) as client:
        login = await client.post("/api/login", json={"username": "demo-agent-3",
                                                      "password": "demo"})
        token = login.json()["token"]
        created = await client.post("/api/invites", json={"skill": "tax", "label": "年报咨询"},
                                    headers={"Authorization": f"Bearer {token}"})
        assert created.status_code == 200, created.text
        invite = created.json()["token"]

    async with (
        background(answer_calls(server.http, "demo-agent-1", "demo", auto_answer=True,
                                calls=1, hold=30)),
        background(answer_calls(server.http, "demo-agent-3", "demo", auto_answer=True,
                                calls=1, hold=3)) as invited,
    ):
        await agent_ready(server, "demo-agent-1")
        await agent_ready(server, "demo-agent-3")
        page = await open_call_page(new_page, server, f"?invite={invite}")
        await expect(by_id(page, "invite-agent")).to_have_text("演示坐席 3")
        await expect(by_id(page, "invite-matter")).to_contain_text("税务")
        await expect(by_id(page, "company-name")).to_be_hidden()
        await snap(page, "enterprise-invite-laptop")

        await by_id(page, "call-button").click()
        await video_playing(page)
        await expect(by_id(page, "rating-5")).to_be_visible(timeout=20_000)
        timings = await asyncio.wait_for(invited, 20)

    record = await call_record(server, timings[0].call_id)
    assert record.agent_id == "demo-agent-3"
    assert record.origin == "invite"


async def test_broken_invite_link_says_so_and_offers_the_form(
        live_server: LiveServer, new_page: NewPage) -> None:
    page = await open_call_page(new_page, live_server, "?invite=not-a-real-invite")
    await expect(by_id(page, "invite-error")).to_be_visible()
    await expect(by_id(page, "invite-error")).to_contain_text("邀请链接已失效")
    await expect(by_id(page, "company-name")).to_be_visible()
    await expect(by_id(page, "invite-panel")).to_be_hidden()
    await snap(page, "enterprise-invite-invalid-laptop")


async def test_call_page_fits_a_phone(live_server: LiveServer, new_page: NewPage) -> None:
    page = await new_page("enterprise-phone", viewport={"width": 390, "height": 844},
                          has_touch=True)
    await page.goto(f"{live_server.http}/call")
    await expect(by_id(page, "matter-water")).to_be_visible()
    await by_id(page, "language-switch").tap()
    await expect(by_id(page, "matter-water")).to_contain_text("Water")
    await snap(page, "enterprise-form-phone")
