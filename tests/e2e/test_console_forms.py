"""The console's matters desk in real Chromium against a real server: push a matter's form,
watch the caller's digits arrive one by one, type into the form, check identity, take a
snapshot of the caller's video, and see the caller's submission.

The caller is a real protocol socket (``tests/protocol/wsclient.py``) sending what a caller
page sends; for the snapshot it also sends real video (aiortc, as ``kiosk_client.headless``
does), so the console grabs a real frame.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from kiosk_client.headless import _PeerSession
from kiosk_client.headless_forms import signature_png
from tests.conftest import LiveServer, StartServer
from tests.e2e.conftest import NewPage, screenshot
from tests.e2e.test_console import (
    accessible,
    by_id,
    go_ready,
    page_errors,
    sign_in,
    wait_for_remote_video,
)
from tests.protocol.wsclient import JsonClient, caller

pytestmark = [pytest.mark.browser]

#: a valid resident ID number (GB 11643, check character X)
GOOD_ID = "11010519491231002X"
#: the same with a wrong check character
BAD_ID = "110105194912310021"


async def answer_call(page: Page, server: LiveServer, skill: str = "water"
                      ) -> tuple[JsonClient, str]:
    """A kiosk caller socket rings the signed-in console; the agent answers. The caller
    socket has received `connected` and the first `session_document`."""
    client, queued = await caller(server, skill)
    await expect(by_id(page, "incoming-call")).to_be_visible()
    await by_id(page, "accept-button").click()
    await client.expect("connected", timeout=10)
    document = await client.expect("session_document", timeout=10)
    assert document["document"]["forms"] == []
    await expect(by_id(page, "matter-desk")).to_be_visible()
    return client, queued["call_id"]


async def push_water_transfer(page: Page, client: JsonClient) -> dict[str, Any]:
    """Find "供水过户" in the catalog by searching and push it; the caller gets the form."""
    await by_id(page, "matter-search").fill("过户")
    row = page.locator('[data-testid="catalog-matter"][data-matter="water-transfer"]')
    await row.get_by_test_id("push-form").click()
    pushed = await client.expect("form_pushed")
    assert pushed["form"]["matter"] == "water-transfer"
    await expect(by_id(page, "form-title")).to_have_text("供水过户")
    return pushed["form"]


def field_row(page: Page, name: str) -> Any:
    return page.locator(f'[data-testid="form-field"][data-field="{name}"]')


async def test_push_form_digits_live_agent_typing_and_identity(
        start_server: StartServer, new_page: NewPage) -> None:
    server = await start_server()
    page = await new_page("agent")
    await sign_in(page, server)
    await go_ready(page)
    client, call_id = await answer_call(page, server)

    # The catalog lists the call's category first; pushing sends push_form.
    await expect(page.locator(".catalog-group").first).to_have_attribute("data-category", "water")
    form = await push_water_transfer(page, client)
    form_id = form["form_id"]
    await expect(page.locator('[data-testid="matter-item"][data-matter="water-transfer"]')
                 .get_by_test_id("matter-state")).to_have_text("已推送")

    # The caller keys in the account number: every digit shows at once, highlighted.
    account = field_row(page, "account_no")
    base = 0
    typed = ""
    for digit in "12345678":
        typed += digit
        await client.send({"type": "edit_field", "call_id": call_id, "form_id": form_id,
                           "field": "account_no", "value": typed, "base": base})
        changed = await client.expect("field_changed", field="account_no", value=typed)
        base = changed["version"]
        await expect(by_id(page, "form-input-account_no")).to_have_value(typed)
        await expect(account).to_have_attribute("data-highlight", "caller")
    await expect(account.get_by_test_id("form-field-live")).to_have_text("客户正在填写")
    await expect(page.locator('[data-testid="matter-item"][data-matter="water-transfer"]')
                 .get_by_test_id("matter-state")).to_have_text("填写中")

    # A caller's wrong mobile number: its error shows on the field, in plain words.
    await client.send({"type": "edit_field", "call_id": call_id, "form_id": form_id,
                       "field": "mobile", "value": "123", "base": 0})
    await client.expect("field_changed", field="mobile")
    await expect(field_row(page, "mobile").get_by_test_id("form-field-error")).to_have_text(
        "手机号应为 11 位，以 1 开头")

    # The agent types the owner's name: the caller gets it, as the agent's.
    await by_id(page, "form-input-owner_name").press_sequentially("张三丰", delay=40)
    await asyncio.wait_for(_until_value(client, "owner_name", "张三丰"), 10)
    await screenshot(page, "console-form-live-laptop")

    # Identity: a wrong ID number is explained and nothing is sent; a good one is.
    await by_id(page, "desk-tab-identity").click()
    await by_id(page, "identity-name").fill("张三丰")
    await by_id(page, "identity-id-number").fill(BAD_ID)
    await expect(by_id(page, "identity-error-id-number")).to_have_text(
        "校验码不对，可能有一位输错了")
    await by_id(page, "identity-submit").click()
    await client.silent({"identity_set"}, 0.5)
    await accessible(page, "console identity tab with a wrong ID number")
    await by_id(page, "identity-id-number").fill(GOOD_ID)
    await expect(by_id(page, "identity-error-id-number")).to_be_hidden()
    await by_id(page, "identity-mobile").fill("13800138000")
    await by_id(page, "identity-submit").click()
    identity = await client.expect("identity_set")
    assert identity["identity"]["id_number"] == GOOD_ID
    assert identity["identity"]["source"] == "agent"
    await expect(by_id(page, "identity-source")).to_have_text("已核验 · 来自坐席录入")
    # Every open form is prefilled from it, and the console marks what was prefilled.
    prefilled = await client.expect("field_changed", field="owner_id_number")
    assert prefilled["by"] == "prefill"
    await by_id(page, "desk-tab-form").click()
    await expect(by_id(page, "form-input-owner_id_number")).to_have_value(GOOD_ID)
    await expect(field_row(page, "owner_id_number").get_by_test_id("mark-prefill")).to_be_visible()
    await accessible(page, "console matters desk: identity-prefilled form")

    # English: the desk speaks it too, and the catalog and checklist pass axe.
    await by_id(page, "language-switch").click()
    await expect(by_id(page, "form-title")).to_have_text("Water account transfer of ownership")
    await expect(field_row(page, "owner_id_number").get_by_test_id("mark-prefill")).to_have_text(
        "prefilled from identity")
    await page.keyboard.press("Alt+KeyX")
    await expect(by_id(page, "desk-tab-matters")).to_be_focused()
    await expect(page.locator('[data-testid="matter-item"][data-matter="water-transfer"]')
                 .get_by_test_id("matter-state")).to_have_text("Filling in")
    await accessible(page, "console matters tab in English")
    assert not page_errors(page), page_errors(page)
    await client.close()


async def _until_value(client: JsonClient, field: str, value: str) -> dict[str, Any]:
    """The caller's field_changed messages until ``field`` holds ``value`` (the agent's
    keystrokes arrive as a few debounced edits)."""
    while True:
        message = await client.expect("field_changed", field=field)
        if message["value"] == value:
            assert message["by"] == "agent"
            return message


async def video_caller(page: Page, server: LiveServer
                       ) -> tuple[JsonClient, str, str, _PeerSession]:
    """A caller socket with real video (aiortc's test pattern) answered by the console:
    (socket, call id, resume token, peer session)."""
    client, queued = await caller(server, "water")
    await expect(by_id(page, "incoming-call")).to_be_visible()
    await by_id(page, "accept-button").click()
    connected = await client.expect("connected", timeout=10)
    await client.expect("session_document", timeout=10)
    session = _PeerSession(connected.get("ice_servers"), None, "caller", lambda: None)
    offer = await session.create_offer()
    await client.send({"type": "sdp", "call_id": queued["call_id"], "description": offer})
    answer = await client.expect("sdp", timeout=10)
    await session.apply_answer(answer["description"])
    await wait_for_remote_video(page)
    return client, queued["call_id"], queued["resume_token"], session


async def caller_upload(server: LiveServer, call_id: str, resume_token: str, kind: str,
                        source: str, body: bytes, content_type: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{server.http}/api/calls/{call_id}/materials", params={"kind": kind,
                                                                     "source": source},
            content=body, headers={"X-Resume-Token": resume_token,
                                   "Content-Type": content_type})
    response.raise_for_status()
    material: dict[str, Any] = response.json()["material"]
    return material


async def test_snapshot_submission_and_resume_after_reload(
        start_server: StartServer, new_page: NewPage) -> None:
    server = await start_server()
    page = await new_page("agent")
    await sign_in(page, server)
    await go_ready(page)
    client, call_id, resume_token, peer = await video_caller(page, server)
    try:
        form = await push_water_transfer(page, client)
        form_id = form["form_id"]

        # The agent photographs the caller's document from the video (Alt+P).
        await page.keyboard.press("Alt+KeyP")
        await expect(by_id(page, "snapshot-draft")).to_be_visible()
        await expect(by_id(page, "snapshot-kind")).to_be_focused()
        await accessible(page, "console snapshot draft")
        await by_id(page, "snapshot-kind").select_option("property-deed")
        await by_id(page, "snapshot-upload").click()
        added = await client.expect("material_added", timeout=10)
        material = added["material"]
        assert (material["kind"], material["source"], material["by"]) == (
            "property-deed", "snapshot", "agent")
        assert material["content_type"] == "image/jpeg"
        item = page.locator(f'[data-testid="material-item"][data-material-id="{material["id"]}"]')
        await expect(item).to_be_visible()
        thumb = item.locator("img")
        await expect(thumb).to_have_js_property("complete", True)
        assert await thumb.evaluate("img => img.naturalWidth") > 0
        # Materials once: the form that needs a property deed gets it, marked as reused.
        reused = await client.expect("field_changed", field="property_deed")
        assert (reused["value"], reused["by"]) == (material["id"], "reuse")
        await by_id(page, "desk-tab-form").click()
        await expect(field_row(page, "property_deed").get_by_test_id("mark-reuse")).to_be_visible()

        # Identity by the agent prefills the owner's name and ID number.
        await by_id(page, "desk-tab-identity").click()
        await by_id(page, "identity-name").fill("张三丰")
        await by_id(page, "identity-id-number").fill(GOOD_ID)
        await by_id(page, "identity-submit").click()
        await client.expect("identity_set")

        # The caller fills its fields, signs and submits.
        for name, value in [("account_no", "12345678"), ("mobile", "13800138000"),
                            ("meter_reading", 1234)]:
            await client.send({"type": "edit_field", "call_id": call_id, "form_id": form_id,
                               "field": name, "value": value, "base": 0})
            await client.expect("field_changed", field=name)
        await by_id(page, "desk-tab-form").click()
        await expect(by_id(page, "form-input-meter_reading")).to_have_value("1234")
        await expect(field_row(page, "owner_id_number").get_by_test_id("mark-prefill")
                     ).to_be_visible()
        await screenshot(page, "console-form-laptop")
        signature = await caller_upload(server, call_id, resume_token, "signature",
                                        "signature", signature_png(), "image/png")
        await client.send({"type": "edit_field", "call_id": call_id, "form_id": form_id,
                           "field": "signature", "value": signature["id"], "base": 0})
        await client.expect("field_changed", field="signature")
        await client.send({"type": "submit_form", "call_id": call_id, "form_id": form_id})
        submitted = await client.expect("form_submitted", timeout=10)

        await by_id(page, "desk-tab-matters").click()
        entry = page.locator('[data-testid="matter-item"][data-matter="water-transfer"]')
        await expect(entry.get_by_test_id("matter-state")).to_have_text("已提交")
        await entry.get_by_test_id("show-submission").click()
        dialog = by_id(page, "submission-dialog")
        await expect(dialog).to_be_visible()
        await expect(dialog.get_by_test_id("submission-meta")).to_contain_text(
            submitted["submission_id"])
        values = dialog.get_by_test_id("submission-value")
        await expect(values.filter(has_text="用水户号")).to_contain_text("12345678")
        await expect(values.filter(has_text="新户主身份证号")).to_contain_text(GOOD_ID)
        await expect(dialog.get_by_test_id("submission-signature")).to_be_visible()
        await expect(dialog.get_by_test_id("submission-materials")
                     .get_by_test_id("material-thumb")).to_have_count(1)
        await accessible(page, "console submission dialog")
        await screenshot(page, "console-submission-laptop")
        await page.keyboard.press("Escape")

        # A reload during the call rebuilds the desk from session_document.
        await page.reload()
        await expect(by_id(page, "matter-desk")).to_be_visible(timeout=15_000)
        entry = page.locator('[data-testid="matter-item"][data-matter="water-transfer"]')
        await expect(entry.get_by_test_id("matter-state")).to_have_text("已提交")
        await expect(by_id(page, "materials-list").get_by_test_id("material-item")).to_have_count(2)
        await expect(by_id(page, "identity-source")).to_have_attribute("data-source", "agent")
        await by_id(page, "desk-tab-form").click()
        await expect(by_id(page, "form-input-account_no")).to_have_value("12345678")
        await expect(by_id(page, "form-input-account_no")).to_be_disabled()
        await expect(by_id(page, "form-state")).to_have_text("已提交")
        assert not page_errors(page), page_errors(page)
    finally:
        await peer.close()
        await client.close()
