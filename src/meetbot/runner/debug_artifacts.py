"""Debug artifacts: a screenshot and the HTML of an unexpected page, for the tenant to look at.

Never of a page the egress rules refused (the session checks): that page is not the tenant's
to see.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol

from meetbot.contract.reports import DebugArtifact, Report
from meetbot.ports import Clock, Storage

log = logging.getLogger(__name__)

ArtifactKind = Literal["screenshot", "html"]
GRAB_TIMEOUT = 15.0


class PageGrabs(Protocol):
    async def screenshot(self) -> bytes: ...

    async def html(self) -> str: ...


async def save_debug_artifacts(
    browser: PageGrabs,
    storage: Storage,
    emit: Callable[[Report], None],
    clock: Clock,
    bot_id: str,
    reason: str,
) -> None:
    """Screenshot + HTML to ``bots/<id>/debug/``, each reported as a DebugArtifact."""
    stamp = clock.now().strftime("%Y%m%dT%H%M%S")
    base = f"bots/{bot_id}/debug/{stamp}-{_slug(reason)}"
    grabs: list[tuple[ArtifactKind, str, Callable[[], Awaitable[Any]], str]] = [
        ("screenshot", f"{base}.png", browser.screenshot, "image/png"),
        ("html", f"{base}.html", browser.html, "text/html; charset=utf-8"),
    ]
    for kind, key, grab, content_type in grabs:
        try:
            async with asyncio.timeout(GRAB_TIMEOUT):
                data = await grab()
            body = data.encode() if isinstance(data, str) else bytes(data)
            await storage.put(key, body, content_type)
        except Exception as exc:
            log.warning("debug %s not saved: %r", kind, exc)
            continue
        emit(DebugArtifact(at=clock.now(), key=key, kind=kind, reason=reason))


def report_reason(report: Report) -> str:
    """What an ending report is about: its sub_code, else its stop_reason, else its type."""
    for field in ("sub_code", "stop_reason"):
        value = getattr(report, field, None)
        if value:
            return str(value)
    return report.type


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-")[:40] or "debug"
