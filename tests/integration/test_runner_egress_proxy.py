"""The bot's browser as a deployment runs it (issue 12 §1): real Chromium in its sandbox, as
``nobody`` when this process is root, in the runner's own network namespace. It reaches pages
(loopback ones included) only through the runner's pinning proxy, and the proxy's refusals are
the guard's."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest

from meetbot.egress import HostAllowList
from meetbot.runner.browser import ChromiumBrowser
from meetbot.runner.egress import EgressGuard
from meetbot.runner.sandbox import for_this_process

CHROMIUM = "/usr/bin/chromium"
PAGE = b"""<!doctype html><title>meeting</title><script>
window.results = {};
fetch("/own").then(r => r.text()).then(t => results.own = t, e => results.own = String(e));
</script>"""


@pytest.fixture
async def site() -> AsyncIterator[tuple[int, list[str]]]:
    seen: list[str] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        path = head.split(b" ")[1].decode()
        seen.append(path)
        body = b"own" if path == "/own" else PAGE
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n")
        writer.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1], seen
    server.close()


async def test_the_browser_reaches_pages_only_through_the_proxy(
    site: tuple[int, list[str]],
) -> None:
    port, seen = site
    user = "nobody" if os.geteuid() == 0 else ""
    guard = EgressGuard(HostAllowList.parse(f"127.0.0.1:{port}"))
    browser = await ChromiumBrowser.launch(
        CHROMIUM, egress=guard, sandbox=for_this_process(user, allow_unsandboxed=False)
    )
    try:
        assert browser.proxy is not None
        await browser.page.goto(f"http://127.0.0.1:{port}/room")
        results: dict[str, object] = {}
        for _ in range(100):
            results = await browser.page.evaluate("window.results")
            if results:
                break
            await asyncio.sleep(0.1)
        assert results == {"own": "own"}
        assert browser.proxy.connections >= 2  # loopback too goes through the proxy
        assert {"/room", "/own"} <= set(seen)  # (and /favicon.ico)
        # a port of the same address that is not allowed: the guard refuses it first, ...
        with pytest.raises(Exception, match="ERR_BLOCKED_BY_CLIENT"):
            await browser.page.goto(f"http://127.0.0.1:{port + 1}/")
        assert guard.blocked_navigation is not None
    finally:
        await browser.close()
    # ... and the proxy stops with the browser
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", browser.proxy.port)
