"""An audio-only bot receives no video from a real Janus room, and still captures the audio.

The browser is the runner's (:class:`meetbot.runner.browser.ChromiumBrowser`, its flags and its
capture script) with the Janus adapter's page, both in a room where a participant publishes
audio and video (the lab's fake camera). A test-only init script keeps the page's
PeerConnections so the test can read their ``inbound-rtp`` byte counts.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from meetbot.lab import Lab, make_speech
from meetbot.runner.browser import ChromiumBrowser, audio_only_script
from meetbot.runner.platforms.base import Phase
from meetbot.runner.platforms.janus import JanusPage

pytestmark = pytest.mark.e2e

KEEP_PCS = """(() => {
  const Base = window.RTCPeerConnection;
  window.__testPCs = [];
  window.RTCPeerConnection = class extends Base {
    constructor(...args) { super(...args); window.__testPCs.push(this); }
  };
})();"""

INBOUND_BYTES = """async () => {
  const out = { audio: 0, video: 0 };
  for (const pc of window.__testPCs) {
    (await pc.getStats()).forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind in out) out[s.kind] += s.bytesReceived || 0;
    });
  }
  return out;
}"""


async def _listen(
    lab: Lab, room: int, *, audio_only: bool, multi: bool = False
) -> tuple[dict[str, Any], float, int]:
    """Join ``room`` as a bot for ~6 s of the call: (inbound bytes, seconds of audio heard,
    refused); audio from either capture path (WebAudio pieces or decoded RTP runs)."""
    browser = await ChromiumBrowser.launch(str(lab.chromium_executable))
    chunks: list[bytes] = []
    browser.on_audio = chunks.append
    browser.on_frames = lambda _stream, _rtp, _arrived, pcm: chunks.append(pcm)
    try:
        await browser.add_init_scripts([*([audio_only_script()] if audio_only else []), KEEP_PCS])
        janus = JanusPage()
        await browser.add_init_scripts(janus.init_scripts())
        await janus.join(browser.page, lab.room_url(room, multi=multi), "AudioOnly")
        deadline = time.monotonic() + 20
        while (await janus.poll(browser.page)).phase is not Phase.IN_CALL:
            assert time.monotonic() < deadline, "not in the call"
            await asyncio.sleep(0.2)
        assert await browser.start_capture()
        await asyncio.sleep(6)
        inbound: dict[str, Any] = await browser.page.evaluate(INBOUND_BYTES)
        refused = int(
            await browser.page.evaluate(
                "() => window.__meetbotAudioOnly ? window.__meetbotAudioOnly.stats().refused : -1"
            )
        )
        await browser.stop_capture()
        return inbound, sum(len(c) for c in chunks) / 32_000, refused
    finally:
        await browser.close()


async def test_audio_only_bot_refuses_video_and_still_hears(lab: Lab, tmp_path: Path) -> None:
    speech = make_speech(
        ["Good morning everyone, the numbers look strong this quarter."] * 4,
        tmp_path / "alice.wav",
        lead_s=0.5,
    )
    room = await asyncio.to_thread(lab.new_room)
    await asyncio.to_thread(lab.add_participant, room, "alice", wav=speech.path)

    inbound, heard, refused = await _listen(lab, room, audio_only=True)
    assert refused >= 1
    assert inbound["video"] == 0, inbound
    assert inbound["audio"] > 10_000, inbound  # Opus at ~32 kbit/s for a few seconds
    assert heard >= 4.0  # seconds of audio over ~6 s

    # the control: without the script the same page receives the video
    inbound, heard, refused = await _listen(lab, room, audio_only=False)
    assert refused == -1
    assert inbound["video"] > 10_000, inbound
    assert heard >= 4.0


async def test_audio_only_on_the_multistream_page(lab: Lab, tmp_path: Path) -> None:
    """One PeerConnection, many tracks: each publisher joining is a new offer to answer."""
    speech = make_speech(
        ["Please send the report to the finance team before Friday."] * 4,
        tmp_path / "bob.wav",
        lead_s=0.5,
    )
    room = await asyncio.to_thread(lab.new_room)
    await asyncio.to_thread(lab.add_participant, room, "alice", multi=True)
    await asyncio.to_thread(lab.add_participant, room, "bob", wav=speech.path, multi=True)

    inbound, heard, refused = await _listen(lab, room, audio_only=True, multi=True)
    assert refused >= 2
    assert inbound["video"] == 0, inbound
    assert inbound["audio"] > 10_000, inbound
    assert heard >= 4.0
