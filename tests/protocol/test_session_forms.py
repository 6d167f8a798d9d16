"""Forms, identity, materials and screens over real sockets (issue 7): push, live edits both
ways, conflicting edits, submit, acknowledge, out-of-role and out-of-session attempts, and
resume with a half-filled form."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import httpx

from tests.conftest import LiveServer, StartServer
from tests.protocol.wsclient import JsonClient, agent, caller, login

ID_NUMBER = "330424199001011239"
#: a 1x1 PNG, as a signature pad or snapshot would upload (content is checked by magic bytes)
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


async def connected_call(server: LiveServer, username: str = "demo-agent-1"
                         ) -> tuple[JsonClient, JsonClient, str, dict[str, Any]]:
    console = await agent(server, username, auto_answer=True)
    kiosk, queued = await caller(server, "water")
    call_id = queued["call_id"]
    await console.expect("connected", call_id=call_id)
    await kiosk.expect("connected", call_id=call_id)
    document = await kiosk.expect("session_document", call_id=call_id)
    await console.expect("session_document", call_id=call_id)
    return console, kiosk, call_id, document


def field_where(form: dict[str, Any], **where: Any) -> str:
    ui = form["form"]["ui"]
    return next(name for name in ui["order"]
                if all(ui["fields"][name].get(k) == v for k, v in where.items()))


async def test_a_pushed_form_is_filled_live_from_both_sides(live_server: LiveServer) -> None:
    console, kiosk, call_id, document = await connected_call(live_server)
    assert document["document"]["forms"] == []
    await console.send({"type": "push_form", "call_id": call_id, "matter": "water-transfer"})
    pushed = await kiosk.expect("form_pushed", call_id=call_id)
    assert (await console.expect("form_pushed"))["form"] == pushed["form"]
    form = pushed["form"]
    form_id = form["form_id"]
    assert form["matter"] == "water-transfer" and form["state"] == "filling"
    assert form["form"]["schema"]["$schema"].endswith("2020-12/schema")

    digits = field_where(form, caller=True, type="text") if any(
        f.get("caller") and f["type"] == "text" for f in form["form"]["ui"]["fields"].values()
    ) else field_where(form, caller=True, type="number")
    # The caller keys a number digit by digit; the agent sees each change.
    typed = ""
    for n, digit in enumerate("2024", start=1):
        typed += digit
        await kiosk.send({"type": "edit_field", "call_id": call_id, "form_id": form_id,
                          "field": digits, "value": typed, "base": n - 1})
        changed = await console.expect("field_changed", field=digits, version=n)
        assert (changed["value"], changed["by"]) == (typed, "caller")
    # The agent types an agent-only field; the caller sees it.
    agent_field = field_where(form, caller=False, type="text")
    await console.send({"type": "edit_field", "call_id": call_id, "form_id": form_id,
                        "field": agent_field, "value": "海盐县武原街道新桥北路1号", "base": 0})
    seen = await kiosk.expect("field_changed", field=agent_field)
    assert seen["by"] == "agent"
    # The caller may not type it, and a stale edit learns the winner.
    await kiosk.send({"type": "edit_field", "call_id": call_id, "form_id": form_id,
                      "field": agent_field, "value": "x", "base": 1})
    await kiosk.error("field_locked")
    await console.send({"type": "edit_field", "call_id": call_id, "form_id": form_id,
                        "field": digits, "value": "9", "base": 1})
    stale = await console.error("stale_version")
    assert (stale["field"], stale["value"], stale["version"]) == (digits, "2024", 4)
    for client in (console, kiosk):
        await client.close()


async def test_identity_material_signature_and_submission(live_server: LiveServer) -> None:
    console, kiosk, call_id, _ = await connected_call(live_server)
    await kiosk.send({"type": "set_identity", "call_id": call_id, "source": "reader",
                      "identity": {"name": "张三", "id_number": ID_NUMBER,
                                   "address": "浙江省海盐县武原街道"}})
    identity = await console.expect("identity_set", call_id=call_id)
    assert identity["identity"]["source"] == "reader"
    await console.send({"type": "push_form", "call_id": call_id, "matter": "water-transfer"})
    form = (await kiosk.expect("form_pushed"))["form"]
    name_field = field_where(form, prefill="identity.name")
    assert form["values"][name_field] == "张三" and form["filled_by"][name_field] == "prefill"

    token = await login(live_server.http, "demo-agent-1")
    async with httpx.AsyncClient(base_url=live_server.http) as http:
        # The agent snapshots the caller's document from the video.
        material_kind = form["form"]["ui"]["fields"][field_where(form, type="material")][
            "material"]
        snap = await http.post(f"/api/calls/{call_id}/materials",
                               params={"kind": material_kind, "source": "snapshot"},
                               content=PNG, headers={"Authorization": f"Bearer {token}"})
        assert snap.status_code == 200, snap.text
        material = snap.json()["material"]
        assert (await kiosk.expect("material_added"))["material"]["id"] == material["id"]
        image = await http.get(material["url"])
        assert image.content == PNG and image.headers["content-type"] == "image/png"
        forged = await http.get(material["url"].split("?")[0] + "?access=forged")
        assert forged.status_code == 403
        # Content is checked by its bytes, whatever the kind says.
        refused = await http.post(f"/api/calls/{call_id}/materials",
                                  params={"kind": material_kind, "source": "upload"},
                                  content=b"MZ\x90\x00 not an image",
                                  headers={"Authorization": f"Bearer {token}"})
        assert (refused.status_code, refused.json()["code"]) == (422, "unsupported_type")
    for client in (console, kiosk):
        await client.close()


async def test_out_of_role_and_out_of_session_attempts(live_server: LiveServer) -> None:
    console, kiosk, call_id, _ = await connected_call(live_server)
    await kiosk.send({"type": "push_form", "call_id": call_id, "matter": "water-transfer"})
    await kiosk.error("unknown_type")  # not a caller message at all
    outsider = await agent(live_server, "demo-agent-2", ready=False)
    await outsider.send({"type": "push_form", "call_id": call_id, "matter": "water-transfer"})
    await outsider.error("not_in_session")
    other_kiosk, _ = await caller(live_server, "tv")
    await other_kiosk.send({"type": "submit_form", "call_id": call_id, "form_id": "f1"})
    await other_kiosk.error("not_in_session")
    await console.send({"type": "push_form", "call_id": call_id, "matter": "no-such-matter"})
    await console.error("unknown_matter")
    await console.send({"type": "push_screen", "call_id": call_id,
                        "screen": {"kind": "url", "url": "https://evil.example/"}})
    await console.error("url_not_allowed")
    await kiosk.send({"type": "set_identity", "call_id": call_id, "source": "agent",
                      "identity": {"name": "李四", "id_number": ID_NUMBER}})
    await kiosk.error("forbidden")
    for client in (console, kiosk, outsider, other_kiosk):
        await client.close()


async def test_screens_are_acknowledged(live_server: LiveServer) -> None:
    console, kiosk, call_id, _ = await connected_call(live_server)
    await console.send({"type": "push_screen", "call_id": call_id,
                        "screen": {"kind": "guidance", "matter": "water-transfer"}})
    screen = (await kiosk.expect("screen_pushed"))["screen"]
    async with httpx.AsyncClient(base_url=live_server.http) as http:
        page = await http.get(screen["url"])
        assert page.status_code == 200 and "<h1>" in page.text
        assert "sandbox" in page.headers["content-security-policy"] or \
            "default-src 'none'" in page.headers["content-security-policy"]
    await kiosk.send({"type": "screen_status", "call_id": call_id,
                      "screen_id": screen["screen_id"], "status": "displayed"})
    ack = await console.expect("screen_status", screen_id=screen["screen_id"])
    assert ack["status"] == "displayed"
    await console.send({"type": "push_screen", "call_id": call_id,
                        "screen": {"kind": "qr", "text": "https://www.zjzwfw.gov.cn/"}})
    qr = (await kiosk.expect("screen_pushed", timeout=5))["screen"]
    assert qr["kind"] == "qr" and qr["svg"].lstrip().startswith(("<?xml", "<svg"))
    assert "<script" not in qr["svg"]
    await console.send({"type": "close_screen", "call_id": call_id,
                        "screen_id": qr["screen_id"]})
    await kiosk.expect("screen_closed", screen_id=qr["screen_id"])
    for client in (console, kiosk):
        await client.close()


async def test_a_half_filled_form_survives_a_reload_and_is_saved_as_a_draft(
        start_server: StartServer) -> None:
    server = await start_server(resume_grace=10)
    console, kiosk, call_id, _ = await connected_call(server)
    await console.send({"type": "push_form", "call_id": call_id, "matter": "water-transfer"})
    form = (await kiosk.expect("form_pushed"))["form"]
    name = field_where(form, caller=False, type="text")
    await console.send({"type": "edit_field", "call_id": call_id, "form_id": form["form_id"],
                        "field": name, "value": "半填的内容", "base": 0})
    await kiosk.expect("field_changed", field=name)
    resume_token = server.hub.callers[call_id].resume_token
    await kiosk.close()  # the page reloads
    again = await JsonClient.open(f"{server.ws}/ws/caller")
    await again.send({"type": "resume", "resume_token": resume_token})
    await again.expect("connected", call_id=call_id)
    snapshot = (await again.expect("session_document"))["document"]
    assert snapshot["forms"][0]["values"][name] == "半填的内容"
    draft = None
    for _ in range(50):  # saved on reconnect
        draft = await server.hub.drafts.get(call_id)
        if draft is not None and draft.revision >= snapshot["revision"]:
            break
        await asyncio.sleep(0.1)
    assert draft is not None and draft.document["forms"][0]["values"][name] == "半填的内容"
    # After the call, its agent (and nobody else) finds what was typed but not submitted.
    await console.send({"type": "hangup", "call_id": call_id})
    await console.expect("ended", call_id=call_id)
    async with httpx.AsyncClient(base_url=server.http) as http:
        mine = await http.get(f"/api/calls/{call_id}/submissions", headers={
            "Authorization": f"Bearer {await login(server.http, 'demo-agent-1')}"})
        body = mine.json()
        assert body["submissions"] == []
        assert body["draft"]["document"]["forms"][0]["values"][name] == "半填的内容"
        other = await http.get(f"/api/calls/{call_id}/submissions", headers={
            "Authorization": f"Bearer {await login(server.http, 'demo-agent-2')}"})
        assert other.status_code == 403
    for client in (console, again):
        await client.close()


async def test_refusals_reach_both_sides_and_limits_hold(live_server: LiveServer) -> None:
    console, kiosk, call_id, _ = await connected_call(live_server)
    await console.send({"type": "push_form", "call_id": call_id, "matter": "water-transfer"})
    form = (await kiosk.expect("form_pushed"))["form"]
    # An incomplete form: the caller gets the error, the agent sees what is missing.
    await kiosk.send({"type": "submit_form", "call_id": call_id, "form_id": form["form_id"]})
    refused = await kiosk.error("form_invalid")
    told = await console.expect("submit_refused", call_id=call_id)
    assert told["errors"] == refused["errors"] and "signature" in told["errors"]
    # The caller's own actions are audited as the caller's.
    await kiosk.send({"type": "set_identity", "call_id": call_id, "source": "reader",
                      "identity": {"name": "张三", "id_number": ID_NUMBER}})
    await console.expect("identity_set")
    token = await login(live_server.http, "demo-agent-1")
    async with httpx.AsyncClient(base_url=live_server.http,
                                 headers={"Authorization": f"Bearer {token}"}) as http:
        for _ in range(30):
            added = await http.post(f"/api/calls/{call_id}/materials",
                                    params={"kind": "other"}, content=PNG)
            assert added.status_code == 200
        over = await http.post(f"/api/calls/{call_id}/materials", params={"kind": "other"},
                               content=PNG)
        assert (over.status_code, over.json()["code"]) == (409, "too_many_materials")
    assert len(await live_server.hub.materials.list_for_call(call_id)) == 30
    await asyncio.sleep(0.3)
    entries = await live_server.hub.audit_log.recent()
    identity = next(e for e in entries if e.action == "identity_set")
    assert identity.actor == f"caller:{call_id}"
    for client in (console, kiosk):
        await client.close()


async def test_a_call_whose_document_never_changed_leaves_no_draft(
        live_server: LiveServer) -> None:
    """Most calls push nothing: their empty document is not written at the end (it was a
    transaction per call for nothing); a call where something happened is saved as it
    ended, and the agent's ``/submissions`` answers either way."""
    untouched = await connected_call(live_server)
    await untouched[0].send({"type": "hangup", "call_id": untouched[2]})
    await untouched[0].expect("ended", call_id=untouched[2])
    console, kiosk, call_id, _ = await connected_call(live_server, "demo-agent-2")
    await console.send({"type": "push_form", "call_id": call_id, "matter": "water-transfer"})
    await kiosk.expect("form_pushed", call_id=call_id)
    await console.send({"type": "hangup", "call_id": call_id})
    await console.expect("ended", call_id=call_id)
    await live_server.hub.draft_writer.flush()
    assert await live_server.hub.drafts.get(untouched[2]) is None
    draft = await live_server.hub.drafts.get(call_id)
    assert draft is not None and draft.document["forms"][0]["matter"] == "water-transfer"
    async with httpx.AsyncClient(base_url=live_server.http) as http:
        body = (await http.get(f"/api/calls/{untouched[2]}/submissions", headers={
            "Authorization": f"Bearer {await login(live_server.http, 'demo-agent-1')}"})).json()
    assert body == {"submissions": [], "draft": None}
    for client in (console, kiosk, *untouched[:2]):
        await client.close()
