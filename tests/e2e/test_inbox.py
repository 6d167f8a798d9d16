"""The reviewers' inbox (``/inbox``) in real Chromium against a real server: who may use it,
what a reviewer sees of a task, and the decisions.

Tasks come from real calls: a headless caller and agent over real WebSockets submit a form,
the server opens the case and its department tasks; the inbox page shows and decides them.
"""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.conftest import LiveServer
from tests.e2e.conftest import LAPTOP, NewPage
from tests.e2e.test_console import page_errors
from tests.e2e.test_kiosk import by_id

pytestmark = [pytest.mark.browser]


async def inbox_sign_in(page: Page, server: LiveServer, username: str,
                        password: str = "demo") -> None:
    await page.goto(f"{server.http}/inbox")
    await expect(page.locator("html")).to_have_attribute("data-ready", "true")
    await by_id(page, "login-username").fill(username)
    await by_id(page, "login-password").fill(password)
    await by_id(page, "login-submit").click()


async def test_an_agent_gets_the_plain_refusal(live_server: LiveServer,
                                                new_page: NewPage) -> None:
    page = await new_page("inbox", viewport=LAPTOP)
    response = await page.goto(f"{live_server.http}/inbox")
    assert response is not None and response.ok
    headers = response.headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["cache-control"] == "no-store"
    await inbox_sign_in(page, live_server, "demo-agent-1")
    await expect(by_id(page, "inbox-refused-text")).to_have_text("此页面仅供部门审核人员使用")
    await expect(by_id(page, "inbox-app")).to_be_hidden()
    await expect(by_id(page, "inbox-list")).to_be_hidden()
    await by_id(page, "refused-logout").click()
    await expect(by_id(page, "login-form")).to_be_visible()
    assert not page_errors(page), page_errors(page)
