"""The bot's picture on its tile, end to end in the Janus room (issue 16 §4): a real bot
created with a solid red ``bot_image`` publishes it as its camera; a lab participant reads a
frame of the bot's video and finds it red; ``output_video`` with a blue picture turns it blue.
The server is the session's (``server`` in ``conftest.py``)."""

from __future__ import annotations

import base64
import time

import httpx
import pytest
from served import FAST_TIMERS, create_when_pool_ready, wait_until

from meetbot.lab import Lab
from meetbot.lab.participant import Participant
from meetbot.testing.builders import solid_png

pytestmark = pytest.mark.e2e

RED = (230, 20, 20)
BLUE = (20, 20, 230)


def png64(rgb: tuple[int, int, int]) -> str:
    return base64.b64encode(solid_png(64, 64, rgb)).decode()


def near(found: tuple[int, int, int] | None, want: tuple[int, int, int]) -> bool:
    """Video coding moves colours a little; 40 per channel tells red from blue from black."""
    return found is not None and all(abs(a - b) <= 40 for a, b in zip(found, want, strict=True))


def wait_for_colour(viewer: Participant, want: tuple[int, int, int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    seen: list[tuple[int, int, int] | None] = []
    while time.monotonic() < deadline:
        seen = viewer.video_colours()
        if any(near(c, want) for c in seen):
            return
        time.sleep(1.0)
    raise AssertionError(f"no remote video of colour {want}; last seen {seen}")


def test_the_bots_picture_reaches_another_participants_video(lab: Lab, api: httpx.Client) -> None:
    room = lab.new_room()
    bot = create_when_pool_ready(
        api,
        {
            "meeting_url": lab.room_url(room),
            "bot_name": "Face",
            "stop_options": FAST_TIMERS,
            "bot_image": f"data:image/png;base64,{png64(RED)}",
        },
    )
    wait_until(api, bot["id"], lambda b: b["status"] == "recording", 30)
    viewer = lab.add_participant(room, "viewer")
    try:
        viewer.wait_joined()
        wait_for_colour(viewer, RED, 30)

        r = api.post(f"/api/v1/bot/{bot['id']}/output_video/", json={"bot_image": png64(BLUE)})
        assert r.status_code == 200, r.text
        wait_for_colour(viewer, BLUE, 20)
    finally:
        api.post(f"/api/v1/bot/{bot['id']}/leave_call/")
        viewer.close()
    wait_until(api, bot["id"], lambda b: b["status"] in ("finished", "failed"), 60)
