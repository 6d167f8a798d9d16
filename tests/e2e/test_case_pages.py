"""The pages for case numbers and receipts in real Chromium: ``/verify/<code>`` says plainly
whether a receipt is genuine, ``/case`` shows a case's states for its number and phone (a
wrong phone reads exactly like an unknown case), and the receipt view prints only the
receipt, on A4 and on an 80 mm roll."""

from __future__ import annotations

import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pytest
from playwright.async_api import Page

from signaling.receipts import receipt_code
from tests.conftest import StartServer
from tests.e2e.a11y import ALL_IMPACTS, assert_accessible
from tests.e2e.conftest import ARTIFACTS, KIOSK, NewPage
from tests.signaling.test_receipts import ISSUED, NUMBER, PHONE, store_case

pytestmark = pytest.mark.browser

NOT_GENUINE = "未能验证：此回执不是本中心签发，或已被改动"


def _errors(page: Page) -> list[str]:
    """CSP refusals and failed sub-resources (a not-found page itself is a 404 by design)."""
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" and
            not msg.text.startswith("Failed to load resource") else None)
    page.on("response", lambda response: errors.append(f"{response.status} {response.url}")
            if response.status >= 400 and response.request.resource_type != "document"
            else None)
    return errors


async def test_verify_page_genuine_tampered_and_unknown(
        start_server: StartServer, new_page: NewPage) -> None:
    server = await start_server()
    case = await store_case(server.hub)
    code = case.receipt_code
    assert code is not None
    page = await new_page("verify")
    errors = _errors(page)

    await page.goto(f"{server.http}/verify/{code}")
    genuine = page.get_by_test_id("verify-genuine")
    await genuine.get_by_role("heading", name="回执真实有效").wait_for()
    assert await page.get_by_test_id("verify-number").inner_text() == NUMBER
    assert await page.get_by_test_id("verify-issued").inner_text() == "2026-11-30"
    matters = await page.get_by_test_id("verify-matters").inner_text()
    assert "供水过户" in matters and "燃气过户" in matters
    await assert_accessible(page, "a genuine receipt", ALL_IMPACTS)

    tampered = code[:-2] + ("A" if code[-2] != "A" else "B") + code[-1]
    # signed with the server's key, for a number the centre never gave out
    unknown = receipt_code(server.hub.secret, "HY-20261130-000999", ISSUED)
    for what, url in (("tampered", f"/verify/{tampered}"), ("unknown", f"/verify/{unknown}"),
                      ("garbage", "/verify/not-a-receipt")):
        await page.goto(f"{server.http}{url}")
        verdict = page.get_by_test_id("verify-not-genuine")
        await verdict.get_by_role("heading", name=NOT_GENUINE).wait_for()
        assert await page.get_by_test_id("verify-genuine").count() == 0, what
        assert NUMBER not in await page.content(), what
        await assert_accessible(page, f"a {what} receipt", ALL_IMPACTS)
    assert errors == []  # no CSP refusals, nothing missing


async def _look_up(page: Page, number: str, phone: str) -> None:
    await page.get_by_label("办件编号").fill(number)
    await page.get_by_label("手机号码").fill(phone)
    await page.get_by_test_id("case-submit").click()
    await page.wait_for_load_state()


async def test_case_lookup_right_phone_wrong_phone_and_unknown_number(
        start_server: StartServer, new_page: NewPage) -> None:
    server = await start_server()
    await store_case(server.hub)
    page = await new_page("case", viewport=KIOSK, has_touch=True)
    errors = _errors(page)
    await page.goto(f"{server.http}/case")
    await assert_accessible(page, "the look-up form", ALL_IMPACTS)

    await _look_up(page, NUMBER, PHONE)
    assert await page.get_by_test_id("case-state").inner_text() == "已办结"
    rows = await page.get_by_test_id("case-task").all_inner_texts()
    assert len(rows) == 2
    assert "海盐县水务集团" in rows[0] and "已同意" in rows[0]
    assert "海盐县燃气公司" in rows[1] and "已同意" in rows[1]
    status = await page.get_by_test_id("case-status").inner_text()
    assert "供水过户" not in status and PHONE not in status  # states and times only
    await assert_accessible(page, "a case's status", ALL_IMPACTS)

    await page.get_by_test_id("case-receipt").click()
    await page.get_by_test_id("receipt").wait_for()
    assert await page.get_by_test_id("receipt-number").inner_text() == NUMBER

    await page.goto(f"{server.http}/case")
    await _look_up(page, NUMBER, "13900000000")
    wrong = await page.locator("main").inner_text()
    assert await page.get_by_test_id("case-status").count() == 0
    await page.get_by_test_id("case-not-found").wait_for()
    await _look_up(page, "HY-20261130-000999", PHONE)
    unknown = await page.locator("main").inner_text()
    assert wrong == unknown
    await assert_accessible(page, "not found", ALL_IMPACTS)
    assert errors == []


async def test_receipt_view_prints_only_the_receipt_on_a4_and_on_a_roll(
        start_server: StartServer, new_page: NewPage) -> None:
    server = await start_server()
    case = await store_case(server.hub)
    page = await new_page("receipt", viewport=KIOSK)
    await page.goto(f"{server.http}/case/{NUMBER}/receipt?code={case.receipt_code}")
    await page.get_by_test_id("receipt-qr").wait_for()
    await assert_accessible(page, "the receipt view", ALL_IMPACTS)
    for paper in ("A4", "80mm roll"):
        if paper == "A4":
            printed = await page.pdf(format="A4")
        else:
            printed = await page.pdf(width="80mm", height="300mm")
        document = pdfium.PdfDocument(printed)
        try:
            pages = len(document)
            # a narrow roll wraps inside words: compare without the line breaks
            text = "".join(document[i].get_textpage().get_text_range()
                           for i in range(pages)).replace("\r\n", "")
        finally:
            document.close()
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / f"receipt-print-{paper.replace(' ', '-')}.pdf").write_bytes(printed)
        assert pages == 1, paper
        for expected in ("一次办结回执", NUMBER, "供水过户", "燃气过户", "海盐县水务集团",
                         "海盐县燃气公司", str(case.receipt_code)):
            assert expected in text, (paper, expected)
        for chrome in ("视频办事", "下载 PDF", "Download the PDF"):
            assert chrome not in text, (paper, chrome)
