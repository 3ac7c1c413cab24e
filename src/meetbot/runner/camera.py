"""The bot's picture as its camera, on the runner's side (issue 16 §4).

The control plane names the picture by its storage key: in the assignment (``bot_image``, shown
from admission on) and in every commands answer (``camera``, changed by ``output_video``).
:class:`Camera` reads it through the control plane (``GET /internal/bots/{id}/camera``: a
runner may hold no storage credentials) and hands it to the page: first inside the init
script ``js/camera.js`` (so the picture is there before the page's first ``getUserMedia``,
on a pre-join screen), then, when the wanted key changes, through
``window.__meetbotCamera.show``. A picture that cannot be read leaves the camera as it was;
the bot goes on.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from playwright.async_api import Page

log = logging.getLogger(__name__)

FOLLOW_INTERVAL: Final = 0.5
RETRY_AFTER: Final = 5.0
"""After a picture could not be shown (not readable, the page not ready), wait this long."""
PLACEHOLDER: Final = "__MEETBOT_CAMERA_IMAGE__"


def camera_script(data_url: str | None) -> str:
    """``js/camera.js`` with the picture (a data URL) in it; ``None``: none yet."""
    text = (resources.files("meetbot.runner") / "js" / "camera.js").read_text(encoding="utf-8")
    return text.replace(PLACEHOLDER, json.dumps(data_url), 1)


def data_url(key: str, data: bytes) -> str:
    kind = "jpeg" if key.endswith((".jpeg", ".jpg")) else "png"
    return f"data:image/{kind};base64,{base64.b64encode(data).decode()}"


class Camera:
    """Which picture the page shows, and the way a new one gets there."""

    def __init__(self, read: Callable[[str], Awaitable[bytes]], key: str | None) -> None:
        self._read_bytes = read
        self.key = key
        """The picture the page was given (or will get with its init script)."""
        self._script: str | None = None

    async def _read(self, key: str) -> str | None:
        try:
            return data_url(key, await self._read_bytes(key))
        except Exception as exc:
            log.warning("the bot's picture %s could not be read: %r", key, exc)
            return None

    async def script(self) -> str:
        """The init script, with the assignment's picture (read from storage once)."""
        if self._script is None:
            url = await self._read(self.key) if self.key else None
            if url is None:
                self.key = None
            self._script = camera_script(url)
        return self._script

    async def show(self, page: Page, key: str) -> bool:
        """Put the picture ``key`` on every camera track of the page."""
        url = await self._read(key)
        if url is None:
            return False
        try:
            await page.evaluate("(src) => window.__meetbotCamera.show(src)", url)
        except Exception as exc:
            log.warning("the page did not take the picture %s: %r", key, exc)
            return False
        log.info("camera: showing %s", key)
        self.key = key
        return True

    async def follow(
        self, wanted: Callable[[], str | None], page: Callable[[], Page | None]
    ) -> None:
        """Show each new picture the control plane names, until cancelled."""
        while True:
            await asyncio.sleep(FOLLOW_INTERVAL)
            key, current = wanted(), page()
            if key is None or key == self.key or current is None:
                continue
            if not await self.show(current, key):
                await asyncio.sleep(RETRY_AFTER)  # not every half second
