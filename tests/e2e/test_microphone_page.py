"""``js/microphone.js`` in a real Chromium (issue 16 §2): getUserMedia's audio is one WebAudio
track, disabled (silent) until the runner plays a clip, enabled while it plays, disabled again
when it ends or is stopped; the clip that ended is reported once; video still comes along.
Streamed-in PCM (16 kHz) plays back to back, the track on until the stream ends."""

from __future__ import annotations

import asyncio
import math
import struct
from typing import Any

import pytest
from playwright.async_api import Page

from meetbot.runner.voice import PageSpeaker, microphone_script
from meetbot.runner.voice_stream import PageFeeder

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

PAGE = "<html><body>meeting</body></html>"


def tone(seconds: float) -> bytes:
    n = int(48_000 * seconds)
    return b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / 48_000))) for i in range(n)
    )


async def open_mic(page: Page) -> None:
    await page.context.add_init_script(script=microphone_script())
    # a secure context (mediaDevices), served by the page's own route: no server
    await page.route(
        "http://localhost/**", lambda r: r.fulfill(body=PAGE, content_type="text/html")
    )
    await page.goto("http://localhost/meeting")
    await page.evaluate(
        """async () => {
        window.__s = await navigator.mediaDevices.getUserMedia({audio: true, video: true});
        const ctx = new AudioContext();
        const an = ctx.createAnalyser();
        ctx.createMediaStreamSource(window.__s).connect(an);
        window.__level = () => { const d = new Float32Array(an.fftSize);
          an.getFloatTimeDomainData(d); return Math.max(...d.map(Math.abs)); };
      }"""
    )


async def mic(page: Page) -> dict[str, Any]:
    out: dict[str, Any] = await page.evaluate(
        """() => ({ enabled: window.__s.getAudioTracks()[0].enabled,
          audio: window.__s.getAudioTracks().length, video: window.__s.getVideoTracks().length,
          level: window.__level() })"""
    )
    return out


async def test_a_clip_unmutes_the_track_while_it_plays(page: Page) -> None:
    await open_mic(page)
    speaker = PageSpeaker(page)
    before = await mic(page)
    assert (before["audio"], before["video"], before["enabled"]) == (1, 1, False)
    await speaker.play("a", tone(1.0))
    await asyncio.sleep(0.3)
    playing = await mic(page)
    assert playing["enabled"] is True
    assert playing["level"] > 0.05  # the tone is on the track
    ended: list[str] = []
    for _ in range(40):
        ended += await speaker.ended()
        if ended:
            break
        await asyncio.sleep(0.1)
    assert ended == ["a"]
    assert (await mic(page))["enabled"] is False
    assert await speaker.ended() == []


async def test_a_stopped_clip_mutes_and_is_not_reported_ended(page: Page) -> None:
    await open_mic(page)
    speaker = PageSpeaker(page)
    await speaker.play("a", tone(3.0))
    await asyncio.sleep(0.2)
    await speaker.stop()
    assert (await mic(page))["enabled"] is False
    await speaker.play("b", tone(0.3))  # the next one plays
    assert (await mic(page))["enabled"] is True
    await asyncio.sleep(1.0)
    assert await speaker.ended() == ["b"]


def tone16(seconds: float) -> bytes:
    """Streamed-in voice's format: 16 kHz mono s16le."""
    n = int(16_000 * seconds)
    return b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / 16_000))) for i in range(n)
    )


async def test_streamed_pcm_plays_back_to_back_unmuted_then_mutes(page: Page) -> None:
    await open_mic(page)
    feeder = PageFeeder(page)
    pcm = tone16(0.6)
    ahead = 0.0
    for i in range(0, len(pcm), 3200):  # 100 ms frames, fed as fast as they come
        ahead = await feeder.feed(pcm[i : i + 3200])
    assert 0.3 < ahead <= 0.65  # back to back after what was fed before (less what played)
    await asyncio.sleep(0.2)
    playing = await mic(page)
    assert playing["enabled"] is True
    assert playing["level"] > 0.05
    await asyncio.sleep(0.6)
    assert (await mic(page))["level"] < 0.01  # played out: silence, the track still on
    await feeder.end()
    assert (await mic(page))["enabled"] is False
    assert await feeder.feed(tone16(0.1)) <= 0.15  # after an underrun: at once (+ 40 ms)
