"""The console's layout at the smallest supported desk screen (1366×768), measured with
element bounding boxes in real Chromium: every queue row in view, no cut skill names in
either language, and notices that never cover the invite panel's buttons."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.conftest import LiveServer, StartServer
from tests.e2e.conftest import LAPTOP, NewPage, screenshot
from tests.e2e.test_console import accessible, by_id, sign_in
from tests.e2e.test_console_forms import answer_call

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


async def name_lines(page: Page, selector: str) -> list[dict[str, Any]]:
    """Each element's text, how many lines it is drawn on, and its scroll/client widths."""
    found: list[dict[str, Any]] = await page.evaluate("""(selector) =>
        [...document.querySelectorAll(selector)].map((el) => {
            const range = document.createRange();
            range.selectNodeContents(el);
            const tops = new Set([...range.getClientRects()].filter((r) => r.width > 0)
                                 .map((r) => Math.round(r.top)));
            return {text: el.textContent, lines: tops.size, scrollWidth: el.scrollWidth,
                    clientWidth: el.clientWidth};
        })""", selector)
    return found


async def test_in_a_call_queue_names_and_the_caller_label_are_whole(
        start_server: StartServer, new_page: NewPage) -> None:
    server = await start_server()
    page = await new_page("agent", viewport=LAPTOP)
    await sign_in(page, server)
    await by_id(page, "state-ready").click()
    await expect(by_id(page, "agent-state")).to_have_attribute("data-state", "ready")
    client, _ = await answer_call(page, server)
    try:
        await expect(by_id(page, "queue-panel").get_by_test_id("queue-row")).to_have_count(
            ALL_MATTERS)
        # Chinese names are never broken inside a word ("公共交/通"), nor cut.
        names = await name_lines(page, '[data-testid="queue-row"] .queue-name')
        assert len(names) == ALL_MATTERS
        broken = [n for n in names if n["lines"] != 1 or n["scrollWidth"] > n["clientWidth"]]
        assert not broken, f"queue names broken or cut in a call: {broken}"
        geometry = await queue_geometry(page)
        assert_rows_in_view(geometry)
        # The caller card shows the whole label (town, company or invite label).
        label = page.locator('[data-role="caller-label"]')
        await expect(label).to_have_text("海盐县武原街道")
        shown = (await name_lines(page, '[data-role="caller-label"]'))[0]
        assert shown["scrollWidth"] <= shown["clientWidth"], shown
        card = await by_id(page, "caller-card").bounding_box()
        box = await label.bounding_box()
        meta = await page.locator(".call-meta").bounding_box()
        assert card is not None and box is not None and meta is not None
        assert box["x"] + box["width"] <= meta["x"] + 1, (box, meta)
        assert box["x"] + box["width"] <= card["x"] + card["width"], (box, card)
        await screenshot(page, "console-in-call-queues-laptop")

        # English names wrap between words only, never cut.
        await by_id(page, "language-switch").click()
        await expect(by_id(page, "queue-panel").locator('[data-skill="electricity"]')
                     ).to_contain_text("Electricity")
        names = await name_lines(page, '[data-testid="queue-row"] .queue-name')
        cut = [n for n in names if n["scrollWidth"] > n["clientWidth"]]
        assert not cut, f"English queue names cut in a call: {cut}"
        assert_rows_in_view(await queue_geometry(page))
        await accessible(page, "console in a call, English")
    finally:
        await client.close()
