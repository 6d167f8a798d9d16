"""The console's layout at the smallest supported desk screen (1366×768), measured with
element bounding boxes in real Chromium: every queue row in view, no cut skill names in
either language, and notices that never cover the invite panel's buttons."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.conftest import LiveServer
from tests.e2e.conftest import LAPTOP, NewPage, screenshot
from tests.e2e.test_console import accessible, by_id, sign_in

pytestmark = pytest.mark.browser

ALL_MATTERS = 10  # demo-agent-1 holds every skill of the demo catalog


async def queue_geometry(page: Page) -> dict[str, Any]:
    geometry: dict[str, Any] = await page.evaluate("""() => {
        const list = document.querySelector('[data-role="queue-list"]');
        const rows = [...list.querySelectorAll('[data-testid="queue-row"]')];
        const box = list.getBoundingClientRect();
        return {
            list: {top: box.top, bottom: box.bottom, scrollHeight: list.scrollHeight,
                   clientHeight: list.clientHeight},
            viewport: window.innerHeight,
            rows: rows.map((row) => {
                const r = row.getBoundingClientRect();
                const name = row.querySelector('.queue-name');
                return {skill: row.dataset.skill, top: r.top, bottom: r.bottom,
                        text: name.textContent, scrollWidth: name.scrollWidth,
                        clientWidth: name.clientWidth};
            }),
        };
    }""")
    return geometry


def assert_rows_in_view(geometry: dict[str, Any]) -> None:
    rows, box = geometry["rows"], geometry["list"]
    assert len(rows) == ALL_MATTERS, rows
    assert box["scrollHeight"] <= box["clientHeight"] + 1, f"queue list scrolls: {box}"
    for row in rows:
        assert row["top"] >= box["top"] - 1 and row["bottom"] <= box["bottom"] + 1, (row, box)
        assert row["bottom"] <= geometry["viewport"], (row, geometry["viewport"])


def assert_names_whole(geometry: dict[str, Any]) -> None:
    cut = [row for row in geometry["rows"] if row["scrollWidth"] > row["clientWidth"]]
    assert not cut, f"skill names cut: {cut}"


async def test_every_queue_row_and_skill_name_fits_at_1366x768(
        live_server: LiveServer, new_page: NewPage) -> None:
    page = await new_page("agent", viewport=LAPTOP)
    await sign_in(page, live_server)
    await expect(by_id(page, "queue-panel").get_by_test_id("queue-row")).to_have_count(
        ALL_MATTERS)
    geometry = await queue_geometry(page)
    assert_rows_in_view(geometry)
    assert_names_whole(geometry)

    await by_id(page, "language-switch").click()
    await expect(by_id(page, "queue-panel").locator('[data-skill="electricity"]')).to_contain_text(
        "Electricity")
    geometry = await queue_geometry(page)
    assert_names_whole(geometry)
    assert_rows_in_view(geometry)
    names = {row["skill"]: row["text"] for row in geometry["rows"]}
    assert names["business-licence"] == "Business licence", names
    await screenshot(page, "console-english-queues-laptop")
    await accessible(page, "console in English, all queues")


async def test_notices_do_not_cover_the_invite_panel(live_server: LiveServer,
                                                    new_page: NewPage) -> None:
    page = await new_page("agent", viewport=LAPTOP)
    await sign_in(page, live_server)
    await by_id(page, "invite-create").click()
    await expect(by_id(page, "invite-url")).to_be_visible()
    for _ in range(4):  # the most notices shown at once
        await by_id(page, "invite-copy").click()
    await expect(by_id(page, "toast")).to_have_count(4)
    toasts = [await toast.bounding_box() for toast in await by_id(page, "toast").all()]

    async def assert_uncovered(name: str) -> None:
        control = await by_id(page, name).bounding_box()
        assert control is not None, name
        for toast in toasts:
            assert toast is not None
            apart = (toast["x"] + toast["width"] <= control["x"]
                     or control["x"] + control["width"] <= toast["x"]
                     or toast["y"] + toast["height"] <= control["y"]
                     or control["y"] + control["height"] <= toast["y"])
            assert apart, f"a notice covers {name}: {toast} over {control}"

    for name in ["invite-create", "invite-copy", "invite-url", "invite-skill", "invite-label"]:
        await assert_uncovered(name)
    await expect(by_id(page, "invite-list").get_by_test_id("invite-item")).to_have_count(1)
    for name in ["invite-uses", "invite-lifetime", "invite-revoke"]:
        await assert_uncovered(name)
    await screenshot(page, "console-toasts-laptop")
