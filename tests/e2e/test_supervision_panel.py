"""The supervisors' "超时督办 / Overdue" panel in real Chromium against a real server: a call
submits water transfer and gas transfer (``tests/protocol/test_cases_flow.py``), their due
times are moved into the past in the database; ``demo-supervisor`` sees them, how long in
words, in Chinese and English, refreshed on its own; an agent has no such panel."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.conftest import StartServer
from tests.e2e.conftest import LAPTOP, NewPage
from tests.e2e.test_console import accessible, by_id, page_errors, sign_in
from tests.protocol.test_cases_flow import connected_call
from tests.protocol.test_supervision import make_overdue

pytestmark = [pytest.mark.browser]


async def test_a_supervisor_sees_overdue_tasks_and_an_agent_sees_no_panel(
        start_server: StartServer, new_page: NewPage) -> None:
    server = await start_server()
    call = await connected_call(server)
    await call.submit("water-transfer")
    number = (await call.submit("gas-transfer"))["number"]
    await make_overdue(server, number, "water-company", 2 * 3600 + 5 * 60 + 30)

    page = await new_page("supervisor", viewport=LAPTOP)
    await sign_in(page, server, "demo-supervisor")
    panel = by_id(page, "overdue-panel")
    await expect(panel).to_be_visible()
    await expect(by_id(page, "overdue-count")).to_have_text("1 项超时")
    [row] = await panel.get_by_test_id("overdue-task").all()
    await expect(row).to_have_attribute("data-case", number)
    await expect(row).to_contain_text("海盐县水务集团")
    await expect(row).to_contain_text("待审核")
    await expect(row).to_contain_text("已超时 2 小时 5 分钟")

    # The gas task runs out too: the panel picks it up on its 10 s refresh, no click.
    await make_overdue(server, number, "gas-company", 3 * 86400 + 3600)
    await expect(by_id(page, "overdue-count")).to_have_text("2 项超时", timeout=15_000)
    rows = panel.get_by_test_id("overdue-task")
    await expect(rows).to_have_count(2)
    await expect(rows.first).to_have_attribute("data-department", "gas-company")
    await expect(rows.first).to_contain_text("已超时 3 天 1 小时")

    # The refresh button works from the keyboard; English says it in words too.
    refresh = panel.locator('[data-role="overdue-refresh"]')
    await refresh.focus()
    await page.keyboard.press("Enter")
    await by_id(page, "language-switch").click()
    await expect(by_id(page, "overdue-count")).to_have_text("2 overdue")
    await expect(page.locator("#overdue-heading")).to_have_text("Overdue")
    await expect(rows.first).to_contain_text("Overdue by 3 d 1 h")
    await expect(rows.nth(1)).to_contain_text("Awaiting review")
    await accessible(page, "supervisor-overdue")
    assert not page_errors(page), page_errors(page)

    agent = await new_page("agent", viewport=LAPTOP)
    await sign_in(agent, server, "demo-agent-2")
    await expect(by_id(agent, "queue-panel")).to_be_visible()
    await expect(by_id(agent, "overdue-panel")).to_be_hidden()
    await expect(by_id(agent, "overdue-task")).to_have_count(0)
    assert not page_errors(agent), page_errors(agent)
    await call.close()
