"""Issue 8 end to end with real pages: a kiosk call submits 供水过户 (water-transfer) and
燃气过户 (gas-transfer); the call's case gets one task per department; the water company's
reviewer approves in ``/inbox`` while the gas company's own system (``cloud-agent
webhook-sim``, a separate process, registered with ``cloud-agent admin set-webhook``)
approves by its signed callback; the kiosk's checklist turns green department by
department, then shows the receipt, whose QR code's ``/verify/<code>`` says genuine and a
tampered copy does not. The agent's console shows the same case live.

Screenshots: ``case-*.png`` in artifacts/; ``case-inbox.png`` and ``case-kiosk-receipt.png``
are docs/images/inbox.png and kiosk-receipt.png (the kiosk's reduced to 540 px wide).
"""

from __future__ import annotations

import asyncio
import io
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import zxingcpp
from PIL import Image
from playwright.async_api import Page, expect

from kiosk_client.reader_sim import RESIDENTS
from tests.conftest import LiveServer, StartServer, free_port
from tests.e2e.conftest import KIOSK, LAPTOP, NewPage, screenshot
from tests.e2e.test_console import go_ready, page_errors, sign_in, wait_for_remote_video
from tests.e2e.test_inbox import PASSWORD, add_reviewer, inbox_sign_in
from tests.e2e.test_kiosk import assert_quiet, by_id, eventually, video_playing
from tests.e2e.test_matters_end_to_end import push_from_catalog, sign

pytestmark = [pytest.mark.browser, pytest.mark.slow]

RESIDENT = RESIDENTS[0]
MOBILE = "13857312345"
GAS_SECRET = "gas-company-shared-secret"
#: counts window.print() in every frame of the kiosk (headless Chromium prints nothing)
COUNT_PRINTS = """window.print = () => {
  window.top.__prints = (window.top.__prints || 0) + 1;
};"""


@dataclass
class CaseWorld:
    server: LiveServer
    data_dir: Path
    gas_sim: str


async def admin(data_dir: Path, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "signaling", "admin", "--data-dir", str(data_dir), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await process.communicate()
    assert process.returncode == 0, output.decode()
    return output.decode()


@pytest.fixture
async def case_world(start_server: StartServer, tmp_path: Path) -> AsyncIterator[CaseWorld]:
    """A real server whose kiosk reads cards from ``cloud-agent reader-sim``, with the water
    company's reviewer (``admin add-reviewer``) and the gas company's own system: ``cloud-agent
    webhook-sim`` approving 6 s after a task arrives, registered by ``admin set-webhook``."""
    port, reader_port, sim_port = free_port(), free_port(), free_port()
    origin = f"http://127.0.0.1:{port}"
    reader = subprocess.Popen(
        [sys.executable, "-m", "signaling", "reader-sim", "--port", str(reader_port),
         "--card", "0", "--origin", origin],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    sim = subprocess.Popen(
        [sys.executable, "-m", "signaling", "webhook-sim", "--port", str(sim_port),
         "--secret", GAS_SECRET, "--delay", "6", "--decision", "approve"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert reader.stdout is not None and sim.stdout is not None
        first = await asyncio.to_thread(reader.stdout.readline)
        assert f"127.0.0.1:{reader_port}".encode() in first, first
        first = await asyncio.to_thread(sim.stdout.readline)
        assert b"listening" in first, first
        data_dir = tmp_path / "data"
        server = await start_server(port=port, data_dir=data_dir,
                                    card_reader_url=f"http://127.0.0.1:{reader_port}")
        await add_reviewer(data_dir, "water-reviewer", "water-company")
        said = await admin(data_dir, "set-webhook", "gas-company",
                           f"http://127.0.0.1:{sim_port}/hook", "--secret", GAS_SECRET)
        assert "webhook of gas-company set" in said, said
        yield CaseWorld(server, data_dir, f"http://127.0.0.1:{sim_port}")
    finally:
        for process in (reader, sim):
            process.terminate()
            process.wait(10)


def kiosk_form(kiosk: Page, matter: str) -> Any:
    return kiosk.locator(f'[data-testid^="form-f"][data-matter="{matter}"]')


def case_task(page: Page, department: str) -> Any:
    return page.locator(f'[data-testid="case-task"][data-department="{department}"]')


async def fill_transfer(kiosk: Page, console: Page, matter: str, search: str, title: str,
                        account_no: str, first: bool) -> None:
    """The agent pushes a transfer form and types the account, reading and mobile; the
    first time the kiosk reads the ID card and the agent photographs the deed (the second
    form reuses both); the caller signs and submits on the kiosk."""
    await push_from_catalog(console, search, matter, title)
    form = kiosk_form(kiosk, matter)
    await expect(form).to_be_visible()
    form_id = (await form.get_attribute("data-testid") or "").removeprefix("form-")
    if first:
        await by_id(kiosk, "read-card").tap()
        await expect(by_id(kiosk, "identity-verified")).to_contain_text(RESIDENT.name)
    for field, value in (("account_no", account_no), ("meter_reading", "1234"),
                         ("mobile", MOBILE)):
        await by_id(console, f"form-input-{field}").press_sequentially(value, delay=10)
        await expect(by_id(kiosk, f"form-{form_id}-{field}-input")).to_have_value(value)
    if first:
        await by_id(console, "desk-tab-materials").click()
        await by_id(console, "snapshot-button").click()
        await by_id(console, "snapshot-kind").select_option("property-deed")
        await by_id(console, "snapshot-upload").click()
    await expect(by_id(kiosk, f"form-{form_id}-property_deed-thumbs").locator("img")
                 ).to_have_count(1)
    await sign(kiosk, form_id)
    await by_id(kiosk, f"form-{form_id}-submit").tap()
    await expect(by_id(kiosk, f"form-{form_id}-submitted")).to_contain_text("已提交")


async def test_two_departments_approve_in_parallel_and_the_kiosk_prints_one_receipt(
        case_world: CaseWorld, new_page: NewPage) -> None:
    server = case_world.server
    console = await new_page("console", viewport=LAPTOP)
    await sign_in(console, server)
    await go_ready(console)
    kiosk = await new_page("kiosk", viewport=KIOSK, has_touch=True)
    await kiosk.add_init_script(COUNT_PRINTS)
    await kiosk.goto(f"{server.http}/kiosk?token=demo-kiosk")
    await by_id(kiosk, "attract-screen").tap()
    await by_id(kiosk, "call-button").tap()
    await by_id(kiosk, "matter-water").tap()
    await expect(by_id(console, "incoming-call")).to_be_visible()
    await by_id(console, "accept-button").click()
    await video_playing(kiosk)
    await wait_for_remote_video(console)

    # 1. Two matters submitted: one case, one task per department, all pending.
    await fill_transfer(kiosk, console, "water-transfer", "供水过户", "供水过户", "33012345",
                        first=True)
    await expect(case_task(kiosk, "water-company")).to_have_attribute("data-state", "pending")
    number = await by_id(kiosk, "case-number").text_content() or ""
    assert re.fullmatch(r"HY-\d{8}-\d{6}", number), number
    await fill_transfer(kiosk, console, "gas-transfer", "燃气过户", "燃气过户", "3301234567",
                        first=False)
    await expect(case_task(kiosk, "gas-company")).to_have_attribute("data-state", "pending")
    await expect(by_id(kiosk, "case-number")).to_have_text(number)
    await by_id(console, "desk-tab-matters").click()
    await expect(by_id(console, "case-number")).to_have_text(number)
    await expect(case_task(console, "water-company").get_by_test_id("case-task-state")
                 ).to_have_text("待审核")
    await expect(case_task(console, "gas-company").get_by_test_id("case-task-state")
                 ).to_have_text("待审核")
    await screenshot(kiosk, "case-kiosk-pending")

    # 2. The water company's reviewer approves in /inbox, while the gas company's system
    #    got the task by its webhook and approves by its signed callback (either first).
    inbox = await new_page("inbox", viewport=LAPTOP)
    await inbox_sign_in(inbox, server, "water-reviewer", PASSWORD)
    row = inbox.locator(f'[data-testid="inbox-item"][data-case-number="{number}"]')
    await row.click()
    await expect(by_id(inbox, "task-heading")).to_have_text(f"{number} · 供水过户")
    deed = inbox.locator('[data-testid="task-value"][data-field="property_deed"] img')
    await expect(deed).to_have_js_property("complete", True)
    await inbox.mouse.move(0, 0)
    await screenshot(inbox, "case-inbox")
    await by_id(inbox, "decision-approve").click()
    await expect(by_id(inbox, "decision-feedback")).to_have_text(f"已通过：{number} 供水过户")
    await expect(case_task(kiosk, "water-company")).to_have_attribute("data-state", "approved")
    await expect(case_task(kiosk, "water-company").get_by_test_id("case-task-state")
                 ).to_have_text("已通过")
    await expect(case_task(console, "water-company").get_by_test_id("case-task-state")
                 ).to_have_text("已通过")
    await expect(case_task(kiosk, "gas-company")).to_have_attribute("data-state", "approved",
                                                                    timeout=30_000)
    await expect(case_task(console, "gas-company").get_by_test_id("case-task-state")
                 ).to_have_text("已通过")
    async with httpx.AsyncClient(base_url=case_world.gas_sim) as http:
        deliveries = (await http.get("/deliveries")).json()["deliveries"]
    call_id = next(iter(server.hub.sessions))
    gas_task = next(t.id for t in server.hub.case_side.live[call_id].tasks
                    if t.department == "gas-company")
    assert [(d["type"], d["task_id"]) for d in deliveries] == [("task.created", gas_task)]

    # 3. One receipt: on the kiosk (the server's receipt page, printed from its frame) …
    panel = by_id(kiosk, "receipt-panel")
    await expect(panel).to_be_visible()
    await expect(by_id(kiosk, "case-status")).to_have_attribute("data-state", "approved")
    receipt = kiosk.frame_locator('[data-testid="receipt-frame"]')
    await expect(receipt.get_by_test_id("receipt-qr").locator("svg")).to_be_visible()
    await expect(receipt.locator("body")).to_contain_text(number)
    await expect(receipt.locator("body")).to_contain_text("海盐县燃气公司")
    await screenshot(kiosk, "case-kiosk-receipt")
    await by_id(kiosk, "receipt-print").tap()
    async def printed() -> bool:
        return bool(await kiosk.evaluate("window.__prints === 1"))
    await eventually(printed, what="the receipt frame's print()")

    # … whose QR code opens /verify/<code>: genuine; a tampered copy is not.
    qr = await receipt.get_by_test_id("receipt-qr").locator("svg").screenshot()
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr)))
    assert len(found) == 1, found
    verify_url = found[0].text
    code = verify_url.rsplit("/verify/", 1)[1]
    assert verify_url == f"{server.http}/verify/{code}", verify_url
    phone = await new_page("phone", viewport={"width": 390, "height": 800})
    await phone.goto(verify_url)
    await expect(by_id(phone, "verify-genuine")).to_be_visible()
    await expect(by_id(phone, "verify-number")).to_have_text(number)
    await expect(by_id(phone, "verify-matters")).to_contain_text("供水过户")
    await expect(by_id(phone, "verify-matters")).to_contain_text("燃气过户")
    tampered = code[:-1] + ("A" if code[-1] != "A" else "B")
    await phone.goto(f"{server.http}/verify/{tampered}")
    await expect(by_id(phone, "verify-not-genuine")).to_be_visible()
    await expect(by_id(phone, "verify-genuine")).to_have_count(0)

    # 4. The agent sees the receipt too and can put it on the caller's screen again.
    await expect(by_id(console, "case-state")).to_have_text("已办结")
    await by_id(console, "case-receipt-send").click()
    await expect(by_id(console, "toast").filter(has_text="回执已推送到客户屏幕")).to_be_visible()
    shown = kiosk.locator('[data-testid^="screen-s"][data-kind="document"]')
    await expect(shown).to_have_count(1)
    await expect(shown.locator('[data-testid$="-page"]').first).to_be_visible()
    assert not page_errors(console), page_errors(console)
    assert not page_errors(inbox), page_errors(inbox)
    assert_quiet(kiosk)
