"""The meeting lab itself: a real Janus room, real Chromium participants, clean teardown."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from harness.waiting import wait_until
from meetbot.lab import (
    FLAGS,
    MEDIA_STATS_JS,
    PC_TRACKER_JS,
    Lab,
    MediaStats,
    ParticipantError,
    make_speech,
)
from meetbot.lab.browser import join
from meetbot.lab.netns import PREFIX, cleanup_stale, list_namespaces

pytestmark = pytest.mark.e2e

SENTENCES = ["Good morning everyone.", "The quarterly numbers look strong."]


def test_participant_joins_is_listed_kicked_then_room_destroyed(lab: Lab, tmp_path: Path) -> None:
    room = lab.new_room()
    speech = make_speech(SENTENCES, tmp_path / "alice.wav")
    assert [s.text for s in speech.sentences] == SENTENCES
    assert speech.duration_s > speech.sentences[-1].end_s > speech.sentences[0].start_s > 0

    alice = lab.add_participant(room, "alice", wav=speech.path)

    listed = lab.host.list_participants(room)
    assert [(p.id, p.display, p.publisher) for p in listed] == [(alice.id, "alice", True)]
    assert alice.id is not None
    lab.host.kick(room, alice.id)
    wait_until(lambda: lab.host.list_participants(room) == [])
    lab.host.destroy(room)
    assert not lab.host.exists(room)


def test_admission_follows_the_rooms_acl(lab: Lab) -> None:
    room = lab.new_room(allowed=["host-token"])
    with pytest.raises(ParticipantError, match="not in the allowed list"):
        lab.add_participant(room, "gatecrasher")
    assert lab.host.set_acl(room, enabled=False) == []
    guest = lab.add_participant(room, "guest")
    assert [p.display for p in lab.host.list_participants(room)] == ["guest"]
    guest.leave()
    wait_until(lambda: lab.host.list_participants(room) == [])
    lab.host.destroy(room)


async def test_bot_browser_in_host_process_hears_the_speaker(lab: Lab, tmp_path: Path) -> None:
    """The runner's way in: Playwright in this (host-namespace) process, only Chromium in the lab
    through ``lab.chromium_executable``; it hears the participant's audio."""
    room = lab.new_room()
    speech = make_speech(SENTENCES, tmp_path / "speaker.wav", lead_s=2.0)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(lab.chromium_executable), args=list(FLAGS)
        )
        try:
            page = await browser.new_page()
            await page.add_init_script(PC_TRACKER_JS)
            bot_id = await join(page, lab.room_url(room, subscriber=True), "bot", 20_000)
            assert isinstance(bot_id, int), bot_id
            speaker = lab.add_participant(room, "speaker", wav=speech.path)
            stats = MediaStats.from_json(await page.evaluate(MEDIA_STATS_JS))
            deadline = time.monotonic() + speech.duration_s + 10
            while stats.inbound_audio_energy < 0.005 and time.monotonic() < deadline:
                await page.wait_for_timeout(250)
                stats = MediaStats.from_json(await page.evaluate(MEDIA_STATS_JS))
            assert stats.inbound_audio_tracks >= 1, stats
            assert stats.audio_bytes_received > 1000, stats
            assert stats.inbound_audio_energy >= 0.005, stats  # speech (silence: ~1e-9/s)
            names = {p.display for p in lab.host.list_participants(room)}
            assert names == {"bot", "speaker"}

            def speaker_talking() -> bool:
                return any(p.talking for p in lab.host.list_participants(room))

            wait_until(speaker_talking, timeout=speech.duration_s)  # audiolevel_event
            speaker.close()
        finally:
            await browser.close()
    lab.host.destroy(room)


@pytest.mark.usefixtures("lab_required")
def test_lab_leaves_nothing_behind() -> None:
    with Lab.start() as own:
        name, workdir = own.netns.name, own.workdir
        janus = own.janus.process.pid
        assert name in list_namespaces()
        assert own.netns.pids()
    assert name not in list_namespaces()
    assert not workdir.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(janus, 0)


@pytest.mark.usefixtures("lab_required")
def test_stale_namespaces_of_dead_processes_are_removed() -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    stale = f"{PREFIX}-{gone.pid}-0"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    orphan = subprocess.Popen(["ip", "netns", "exec", stale, "sleep", "60"])
    try:
        assert stale in cleanup_stale()
        assert orphan.wait(timeout=5) != 0
        assert stale not in list_namespaces()
    finally:
        orphan.kill()
        orphan.wait()
        subprocess.run(["ip", "netns", "delete", stale], check=False, capture_output=True)
