"""Issue 16 on Meet, Teams, Zoom and Webex: the real adapters in headless Chromium against the
local fixtures (``harness.platform_fixtures``), with the runner's own voice and camera code
and init scripts. FIXTURES ONLY: the pages reproduce what public bots' code says of the real
ones (docs/platforms.md, "Chat, voice and camera"); the live services were not tried.

- chat: the adapter opens the chat panel once admitted, reads others' messages (a run of
  messages under one sender header included) into ``Snapshot.chat`` once each, never its own,
  and sends one to everyone (the fixture's server receives it);
- voice: ``runner.voice.Voice`` plays a clip through ``js/microphone.js``; the adapter unmutes
  the call's microphone before and mutes it after; the fixture page hears the tone on the
  track it got from ``getUserMedia`` while unmuted, and nothing while muted;
- camera: with ``bot_image`` the page's own video shows the picture from admission on;
  without, ``output_video`` (``runner.camera.Camera.show``) mid-call makes the adapter turn
  the camera on, and the page's video shows the new picture.
"""

from __future__ import annotations

import asyncio
import base64
import math
import struct
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.async_api import Page

from harness.platform_fixtures import FixtureMeeting, PlatformFixtures
from meetbot.contract.reports import AudioOut, OutputAudioFinished, Report
from meetbot.runner.camera import Camera, camera_script
from meetbot.runner.humanize import Humanizer
from meetbot.runner.platforms.base import MeetingPage, Phase, Snapshot
from meetbot.runner.platforms.driver import Timings
from meetbot.runner.platforms.registry import page_for
from meetbot.runner.voice import PageSpeaker, Voice
from meetbot.testing.builders import solid_png
from meetbot.testing.fakes import FixedClock

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

FAST = Timings(join_window=20.0, unknown_page=3.0, action_timeout=5.0, sign_in_step=10.0)
BOT = "Notetaker"
RED = solid_png(8, 8, (255, 0, 0))
BLUE = solid_png(8, 8, (0, 0, 255))

MEETINGS = [
    ("google_meet", "tak-ing0-part"),
    ("teams", "19:meeting_takingpart@thread.v2"),
    ("zoom", "81200000016"),
    ("webex", "takingpart"),
]


@pytest.fixture(scope="module")
def fx() -> Iterator[PlatformFixtures]:
    with PlatformFixtures.running() as server:
        yield server


def adapter(fx: PlatformFixtures, platform: str) -> Any:
    return page_for(platform, None, Humanizer(False), origins=fx.origins, timings=FAST)


async def until(
    bot: MeetingPage, page: Page, check: Callable[[Snapshot], bool], timeout: float = 20.0
) -> list[Snapshot]:
    """Poll like the session until ``check``; every snapshot seen."""
    seen: list[Snapshot] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        seen.append(await bot.poll(page))
        if check(seen[-1]):
            return seen
        await asyncio.sleep(0.1)
    raise AssertionError(f"never reached; last: {seen[-3:]}")


async def polled_until(
    bot: MeetingPage, page: Page, meeting: FixtureMeeting, key: str, want: Callable[[Any], bool],
    timeout: float = 20.0,
) -> list[Snapshot]:  # fmt: skip
    """Poll like the session until the fixture's ``state[key]`` passes ``want``."""
    seen: list[Snapshot] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        seen.append(await bot.poll(page))
        if want(meeting.state[key]):
            return seen
        await asyncio.sleep(0.1)
    raise AssertionError(f"{key} never right: {meeting.state[key]!r}; last: {seen[-2:]}")


async def in_call(
    fx: PlatformFixtures, page: Page, platform: str, meeting_id: str, picture: bytes | None = None
) -> tuple[Any, FixtureMeeting]:
    """A bot admitted at once (no lobby), with the runner's camera script in the page."""
    url = "data:image/png;base64," + base64.b64encode(picture).decode() if picture else None
    bot = adapter(fx, platform)
    for script in [*bot.init_scripts(), camera_script(url)]:  # as the session adds them
        await page.context.add_init_script(script=script)
    meeting = fx.meeting(
        platform, meeting_id, lobby=False, participants=[{"id": "alice", "name": "Alice"}]
    )
    await bot.join(page, meeting.url, BOT)
    await until(bot, page, lambda s: s.phase is Phase.IN_CALL)
    return bot, meeting


def near(pixel: list[int] | None, rgb: tuple[int, int, int]) -> bool:
    return pixel is not None and all(abs(a - b) <= 40 for a, b in zip(pixel, rgb, strict=True))


@pytest.mark.parametrize(("platform", "meeting_id"), MEETINGS)
async def test_chat_is_read_once_and_sent_to_everyone(
    fx: PlatformFixtures, page: Page, platform: str, meeting_id: str
) -> None:
    bot, meeting = await in_call(fx, page, platform, "chat" + meeting_id)
    await polled_until(bot, page, meeting, "chat_open", bool)  # the panel opened by itself
    meeting.post_chat("Alice", "Hello bot, are you recording?")
    meeting.post_chat("Alice", "Second line")  # a run: one sender header on most pages
    meeting.post_chat("Bob", "I am here too")
    lines: list[tuple[str, str, str]] = []
    alice_ids: set[str] = set()

    def collected(snapshot: Snapshot) -> bool:
        lines.extend((c.sender_name, c.text, c.to) for c in snapshot.chat)
        alice_ids.update(c.sender_id for c in snapshot.chat if c.sender_name == "Alice")
        alice_ids.update(p.id for p in snapshot.participants if p.name == "Alice")
        return len(lines) >= 3

    await until(bot, page, collected)
    assert lines == [
        ("Alice", "Hello bot, are you recording?", "everyone"),
        ("Alice", "Second line", "everyone"),
        ("Bob", "I am here too", "everyone"),
    ]
    assert len(alice_ids) == 1, alice_ids  # the sender's id is the participant's id in the call

    assert await bot.send_chat(page, "Yes: this meeting is recorded.", "everyone")
    assert meeting.state["chat_sent"] == ["Yes: this meeting is recorded."]
    assert not await bot.send_chat(page, "psst", "alice")  # to everyone only
    meeting.post_chat("Alice", "Thanks")
    later: list[str] = []

    def thanked(snapshot: Snapshot) -> bool:
        later.extend(c.text for c in snapshot.chat)
        return "Thanks" in later

    await until(bot, page, thanked)
    for _ in range(5):  # nothing more: the bot's own message and the old ones are not news
        later.extend(c.text for c in (await bot.poll(page)).chat)
        await asyncio.sleep(0.1)
    assert later == ["Thanks"]
    assert meeting.state["chat_sent"] == ["Yes: this meeting is recorded."]


def tone(seconds: float = 0.8, rate: int = 48_000) -> bytes:
    """A 440 Hz tone, 48 kHz mono s16le (what ``output_audio`` hands the runner)."""
    n = int(seconds * rate)
    return struct.pack(
        f"<{n}h", *(int(9000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(n))
    )


@pytest.mark.parametrize(("platform", "meeting_id"), MEETINGS)
async def test_the_bot_unmutes_to_speak_and_mutes_after(
    fx: PlatformFixtures, page: Page, platform: str, meeting_id: str
) -> None:
    bot, meeting = await in_call(fx, page, platform, "voice" + meeting_id)
    if platform == "zoom":  # the microphone button comes with computer audio (a chore)
        await polled_until(bot, page, meeting, "audio_joined", bool)
    assert meeting.state["mic"] is False
    reports: list[Report] = []

    async def read(key: str) -> bytes:
        return tone()

    voice = Voice(read, reports.append, FixedClock())
    clip = AudioOut(id="clip-1", key="output_audio/clip-1.pcm", duration_s=0.8)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while loop.time() < deadline:
        done = any(isinstance(r, OutputAudioFinished) for r in reports)
        await voice.step(
            [] if done else [clip], PageSpeaker(page),
            lambda: bot.unmute(page), lambda: bot.mute(page),
        )  # fmt: skip
        await bot.poll(page)
        if done and not voice.unmuted:
            break
        await asyncio.sleep(0.1)
    finished = [r for r in reports if isinstance(r, OutputAudioFinished)]
    assert [(r.id, r.stopped) for r in finished] == [("clip-1", False)]
    await polled_until(bot, page, meeting, "mic_changes", lambda c: c == [True, False])
    state = meeting.state
    assert state["voice_heard"], state  # the page's microphone track carried the clip
    assert not state["voice_while_muted"]
    assert state["media_error"] is None


@pytest.mark.parametrize(("platform", "meeting_id"), MEETINGS)
async def test_a_bot_with_a_picture_shows_it_from_admission(
    fx: PlatformFixtures, page: Page, platform: str, meeting_id: str
) -> None:
    bot, meeting = await in_call(fx, page, platform, "pic" + meeting_id, picture=RED)
    await polled_until(bot, page, meeting, "camera_pixel", lambda p: near(p, (255, 0, 0)))
    assert meeting.state["camera"] is True


@pytest.mark.parametrize(("platform", "meeting_id"), MEETINGS)
async def test_output_video_mid_call_turns_the_camera_on(
    fx: PlatformFixtures, page: Page, platform: str, meeting_id: str
) -> None:
    bot, meeting = await in_call(fx, page, platform, "vid" + meeting_id)
    for _ in range(5):
        await bot.poll(page)
    assert meeting.state["camera"] is False  # no picture: joined and stays with it off

    async def read(key: str) -> bytes:
        return BLUE

    assert await Camera(read, None).show(page, "bot_image/blue.png")  # what output_video does
    await polled_until(bot, page, meeting, "camera_pixel", lambda p: near(p, (0, 0, 255)))
    assert meeting.state["camera"] is True
