"""Chromium offers permessage-deflate on every WebSocket; our signaling sockets decline it."""

from __future__ import annotations

import pytest

from tests.conftest import LiveServer
from tests.e2e.conftest import NewPage

pytestmark = pytest.mark.browser

OPEN_SOCKET = """async (url) => {
    const ws = new WebSocket(url);
    const hello = await new Promise((resolve, reject) => {
        ws.onmessage = (event) => resolve(JSON.parse(event.data));
        ws.onerror = () => reject(new Error("socket failed"));
    });
    const extensions = ws.extensions;
    ws.close();
    return {hello, extensions};
}"""


async def test_chromium_sockets_negotiate_no_deflate(live_server: LiveServer,
                                                     new_page: NewPage) -> None:
    page = await new_page("chromium-ws")
    await page.goto(f"{live_server.http}/call")  # its policy lets pages open our sockets
    for role in ("caller", "agent"):
        result = await page.evaluate(OPEN_SOCKET, f"{live_server.ws}/ws/{role}")
        assert result["hello"]["type"] == "hello" and result["hello"]["role"] == role
        assert result["extensions"] == ""
