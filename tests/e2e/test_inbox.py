"""The reviewers' inbox (``/inbox``) in real Chromium against a real server: who may use it,
what a reviewer sees of a task, and the decisions.

Tasks come from a real call: a headless caller and agent over real WebSockets submit
water-transfer and gas-transfer (``tests/protocol/test_cases_flow.py``), so the case has a
water-company task and a gas-company task; reviewers are made with ``cloud-agent admin
add-reviewer`` (a separate process on the server's data directory).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.conftest import LiveServer, StartServer
from tests.e2e.conftest import LAPTOP, NewPage, screenshot
from tests.e2e.test_console import page_errors
from tests.e2e.test_kiosk import by_id
from tests.protocol.test_cases_flow import ID_NUMBER, PHONE, connected_call

pytestmark = [pytest.mark.browser]

PASSWORD = "reviewer-pass-1"


async def add_reviewer(data_dir: Path, username: str, department: str) -> None:
    """``cloud-agent admin add-reviewer`` as a newcomer runs it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "signaling", "admin", "--data-dir", str(data_dir),
        "add-reviewer", username, "--department", department, "--password", PASSWORD,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await process.communicate()
    assert process.returncode == 0, output.decode()
    assert f"created reviewer {username} of {department}" in output.decode()


async def inbox_sign_in(page: Page, server: LiveServer, username: str,
                        password: str = "demo") -> None:
    await page.goto(f"{server.http}/inbox")
    await expect(page.locator("html")).to_have_attribute("data-ready", "true")
    await by_id(page, "login-username").fill(username)
    await by_id(page, "login-password").fill(password)
    await by_id(page, "login-submit").click()


def item(page: Page, number: str) -> Any:
    return page.locator(f'[data-testid="inbox-item"][data-case-number="{number}"]')


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


async def test_each_reviewer_sees_and_decides_only_their_departments_tasks(
        start_server: StartServer, tmp_path: Path, new_page: NewPage) -> None:
    data_dir = tmp_path / "data"
    server = await start_server(data_dir=data_dir)
    await add_reviewer(data_dir, "water-reviewer", "water-company")
    await add_reviewer(data_dir, "gas-reviewer", "gas-company")
    call = await connected_call(server)
    await call.kiosk.send({"type": "set_identity", "call_id": call.call_id, "source": "reader",
                           "identity": {"name": "张三", "id_number": ID_NUMBER,
                                        "mobile": PHONE}})
    await call.console.expect("identity_set")
    await call.submit("water-transfer")
    case = await call.submit("gas-transfer")
    number = case["number"]
    tasks = {t["department"]: t["id"] for t in case["tasks"]}

    # The water company's reviewer: only the water task, with the values and materials.
    water = await new_page("water", viewport=LAPTOP)
    await inbox_sign_in(water, server, "water-reviewer", PASSWORD)
    await expect(by_id(water, "inbox-app")).to_be_visible()
    await expect(by_id(water, "inbox-who")).to_contain_text("海盐县水务集团")
    await expect(by_id(water, "inbox-item")).to_have_count(1)
    await expect(item(water, number)).to_have_attribute("data-task-id", tasks["water-company"])
    await expect(item(water, number)).to_contain_text("供水过户")
    await expect(item(water, number)).to_have_attribute("data-overdue", "false")
    await item(water, number).focus()
    await water.keyboard.press("Enter")
    await expect(by_id(water, "task-heading")).to_have_text(f"{number} · 供水过户")
    await expect(by_id(water, "task-state")).to_have_text("待审核")
    value = water.locator('[data-testid="task-value"][data-field="account_no"]')
    await expect(value).to_contain_text("用水户号")
    await expect(value).to_contain_text("3304240012")
    await expect(value.get_by_test_id("task-filled-by")).to_have_text("客户填写")
    deed = water.locator('[data-testid="task-value"][data-field="property_deed"]'
                         ).get_by_test_id("task-material").locator("img")
    await expect(deed).to_have_js_property("complete", True)
    assert await deed.evaluate("img => img.naturalWidth") > 0
    await screenshot(water, "inbox-task")

    # A correction without a reason is refused on the page; nothing is sent.
    await by_id(water, "decision-correction").click()
    await expect(by_id(water, "decision-error")).to_have_text("请填写原因，客户会看到它。")
    await expect(by_id(water, "decision-reason")).to_be_focused()
    await expect(by_id(water, "decision-reason")).to_have_attribute("aria-invalid", "true")

    # An agent cannot decide (the server refuses), the reviewer can.
    async with httpx.AsyncClient(base_url=server.http) as http:
        refused = await http.post(f"/api/tasks/{tasks['water-company']}/decision",
                                  json={"decision": "approve"},
                                  headers={"Authorization": f"Bearer {call.agent_token}"})
    assert refused.status_code == 403, refused.text
    await by_id(water, "decision-approve").click()
    await expect(by_id(water, "decision-feedback")).to_have_text(f"已通过：{number} 供水过户")
    await expect(by_id(water, "task-state")).to_have_text("已通过")
    await expect(by_id(water, "decision-form")).to_be_hidden()
    await expect(by_id(water, "inbox-empty")).to_be_visible()
    update = await call.kiosk.expect("case_updated", call_id=call.call_id, timeout=10)
    states = {t["department"]: t["state"] for t in update["case"]["tasks"]}
    assert states == {"water-company": "approved", "gas-company": "pending"}

    # The gas company's reviewer sees only the gas task and rejects it with a reason.
    gas = await new_page("gas", viewport=LAPTOP)
    await inbox_sign_in(gas, server, "gas-reviewer", PASSWORD)
    await expect(by_id(gas, "inbox-item")).to_have_count(1)
    await expect(item(gas, number)).to_have_attribute("data-task-id", tasks["gas-company"])
    await item(gas, number).click()
    await by_id(gas, "decision-reason").fill("燃气表读数与系统记录不符")
    await by_id(gas, "decision-reject").click()
    await expect(by_id(gas, "decision-feedback")).to_have_text(f"已不予通过：{number} 燃气过户")
    await expect(by_id(gas, "task-reason")).to_have_text("燃气表读数与系统记录不符")
    update = await call.kiosk.expect("case_updated", call_id=call.call_id, timeout=10)
    assert update["case"]["state"] == "rejected"

    # In English, and the list keeps refreshing by itself.
    await by_id(gas, "language-switch").click()
    await expect(gas.locator("#inbox-heading")).to_have_text("Open tasks")
    await expect(by_id(gas, "task-state")).to_have_text("Rejected")
    assert not page_errors(water), page_errors(water)
    assert not page_errors(gas), page_errors(gas)
    await call.close()
