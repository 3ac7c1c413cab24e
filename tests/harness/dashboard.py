"""Driving the dashboard over HTTP as a browser would: sign in, read a page's CSRF token."""

from __future__ import annotations

import re

import httpx

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, key: str) -> httpx.Response:
    """Sign ``client`` in with ``key``; its cookie jar then holds the session."""
    page = await client.get("/dashboard/signin")
    form = {"csrf": csrf_of(page.text), "api_key": key}
    return await client.post("/dashboard/signin", data=form)


def sign_in_sync(client: httpx.Client, key: str) -> httpx.Response:
    page = client.get("/dashboard/signin")
    return client.post("/dashboard/signin", data={"csrf": csrf_of(page.text), "api_key": key})
