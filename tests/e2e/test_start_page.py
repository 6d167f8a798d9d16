"""The start page at ``/`` in a real browser: it leads to the three pages, and is accessible."""

from __future__ import annotations

import pytest

from tests.conftest import StartServer
from tests.e2e.a11y import assert_accessible
from tests.e2e.conftest import NewPage

pytestmark = pytest.mark.browser


async def test_start_page_leads_to_console_kiosk_and_enterprise_page(
        start_server: StartServer, new_page: NewPage) -> None:
    server = await start_server()
    page = await new_page("start")
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    await page.goto(f"{server.http}/")
    await assert_accessible(page, "the start page", frozenset({"minor", "moderate",
                                                               "serious", "critical"}))
    assert errors == []  # no CSP refusals, nothing missing
    await page.get_by_test_id("start-call").click()
    await page.wait_for_url(f"{server.http}/call")
    await page.go_back()
    await page.get_by_test_id("start-console").click()
    await page.wait_for_url(f"{server.http}/console")
    await page.go_back()
    await page.wait_for_url(f"{server.http}/")
