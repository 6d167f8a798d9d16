"""What the HTTP surface shows a stranger: the start page, no API docs, nosniff everywhere,
and no admin account on a demo server."""

from __future__ import annotations

from html.parser import HTMLParser

import httpx

from signaling.store.models import Role
from tests.conftest import StartServer
from tests.protocol.wsclient import JsonClient


class _Outline(HTMLParser):
    """Tags, the html lang, and link targets of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.lang: str | None = None
        self.links: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = dict(attrs)
        if tag == "html":
            self.lang = values.get("lang")
        if tag == "a" and values.get("href"):
            self.links.append(str(values["href"]))
        for name in ("href", "src"):
            url = values.get(name) or ""
            if url.startswith(("http:", "https:", "//")):
                self.external.append(url)


async def test_start_page_links_console_kiosk_and_enterprise_page(
        start_server: StartServer) -> None:
    server = await start_server()
    async with httpx.AsyncClient() as client:
        page = await client.get(f"{server.http}/")
        console = await client.get(f"{server.http}/console")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    outline = _Outline()
    outline.feed(page.text)
    assert outline.lang == "zh-CN"
    assert {"h1", "header", "main", "nav", "footer"} <= set(outline.tags)
    assert outline.tags.count("h1") == 1
    assert {"/console", "/kiosk", "/call"} <= set(outline.links)
    assert outline.external == []  # no CDN
    assert "坐席工作台" in page.text and "Agent console" in page.text
    for header in ("content-security-policy", "referrer-policy", "x-content-type-options",
                   "permissions-policy", "cache-control"):
        assert header in page.headers and header in console.headers, header
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


async def test_api_docs_are_off_unless_enabled(start_server: StartServer) -> None:
    default = await start_server()
    enabled = await start_server(api_docs=True)
    async with httpx.AsyncClient() as client:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert (await client.get(default.http + path)).status_code == 404, path
            assert (await client.get(enabled.http + path)).status_code == 200, path


async def test_every_http_response_says_nosniff_and_sockets_still_work(
        start_server: StartServer) -> None:
    server = await start_server()
    async with httpx.AsyncClient() as client:
        responses = [
            await client.get(f"{server.http}/healthz"),
            await client.get(f"{server.http}/api/skills"),
            await client.get(f"{server.http}/no-such-route"),
            await client.post(f"{server.http}/api/login", json={"username": "x"}),
            await client.get(f"{server.http}/metrics"),
            await client.get(f"{server.http}/static/kiosk/css/theme.css"),
        ]
    for response in responses:
        assert response.headers.get("x-content-type-options") == "nosniff", response.url
        assert response.headers.get_list("x-content-type-options") == ["nosniff"]
    caller = await JsonClient.open(f"{server.ws}/ws/caller")
    await caller.send({"type": "ping"})
    await caller.expect("pong")
    await caller.close()


async def test_demo_server_creates_no_admin_but_a_plain_one_does(
        start_server: StartServer) -> None:
    demo = await start_server()
    plain = await start_server(demo=False)
    assert demo.app.state.admin_password is None
    assert await demo.hub.accounts.list(role=Role.ADMIN.value) == []
    assert plain.app.state.admin_password is not None
    admins = await plain.hub.accounts.list(role=Role.ADMIN.value)
    assert [account.username for account in admins] == ["admin"]
    trail = await plain.hub.audit_log.recent()
    assert [(e.actor, e.action, e.detail["username"]) for e in trail] == [
        ("system", "account_created", "admin")]
