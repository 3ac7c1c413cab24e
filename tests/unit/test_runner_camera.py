"""The runner's side of the bot's picture (``runner/camera.py``): the init script carries the
assignment's picture, a picture that cannot be read leaves the camera off, and a new key from
the control plane is shown on the page."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from meetbot.runner.camera import PLACEHOLDER, Camera, camera_script, data_url
from meetbot.testing.builders import solid_png
from meetbot.testing.fakes_runner import MemoryStorage

RED = solid_png(4, 4, (255, 0, 0))


def test_the_script_carries_the_picture_once_and_no_placeholder() -> None:
    url = data_url("bots/b/camera/x.png", RED)
    script = camera_script(url)
    assert PLACEHOLDER not in script
    assert script.count(json.dumps(url)) == 1
    assert "src: null" in camera_script(None)
    assert data_url("k.jpeg", b"\xff").startswith("data:image/jpeg;base64,")


async def test_the_assignments_picture_is_read_from_storage() -> None:
    storage = MemoryStorage()
    await storage.put("bots/b/camera/x.png", RED)
    camera = Camera(storage.get, "bots/b/camera/x.png")
    assert json.dumps(data_url("x.png", RED)) in await camera.script()
    assert camera.key == "bots/b/camera/x.png"


async def test_a_picture_that_cannot_be_read_leaves_the_camera_off() -> None:
    camera = Camera(MemoryStorage().get, "bots/b/camera/missing.png")
    assert "src: null" in await camera.script()
    assert camera.key is None


class FakePage:
    def __init__(self) -> None:
        self.shown: list[Any] = []

    async def evaluate(self, expression: str, arg: Any = None) -> Any:
        self.shown.append(arg)
        return True


async def test_a_new_key_from_the_control_plane_is_shown_once() -> None:
    storage = MemoryStorage()
    await storage.put("bots/b/camera/blue.png", RED)
    camera = Camera(storage.get, None)
    page = FakePage()
    wanted: list[str | None] = [None]
    follow = asyncio.create_task(camera.follow(lambda: wanted[0], lambda: page))  # type: ignore[arg-type,return-value]
    try:
        await asyncio.sleep(0.6)
        assert page.shown == []
        wanted[0] = "bots/b/camera/blue.png"
        for _ in range(30):
            if page.shown:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.6)
        assert page.shown == [data_url("blue.png", RED)]
        assert camera.key == "bots/b/camera/blue.png"
    finally:
        follow.cancel()
