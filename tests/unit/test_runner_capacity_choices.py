"""The runner's choices that cut a bot's memory and CPU: Chromium flags, audio-only pages."""

from __future__ import annotations

import dataclasses

import pytest

from meetbot.contract.assignment import Assignment
from meetbot.runner import __main__ as runner_main
from meetbot.runner import session
from meetbot.runner.browser import (
    CHROMIUM_FLAGS,
    DISABLED_FEATURES,
    ENABLED_FEATURES,
    audio_only_script,
    capture_script,
)

BASE = Assignment(
    bot_id="b1",
    meeting_url="http://127.0.1.1:8000/videoroomtest.html?room=1",
    platform="janus",
    bot_name="Notes",
    stop_options={},
    join_at=None,
    token="t",
    control_url="http://127.0.0.1:1",
    recording={"audio_format": "ogg", "video": False},
)


def test_each_feature_switch_appears_once() -> None:
    # Chromium keeps only the last --disable-features / --enable-features switch, so ours
    # carry Playwright's lists too; a second switch of ours would silently drop the first.
    assert sum(f.startswith("--disable-features=") for f in CHROMIUM_FLAGS) == 1
    assert sum(f.startswith("--enable-features=") for f in CHROMIUM_FLAGS) == 1
    assert {"MediaRouter", "OptimizationHints", "site-per-process"} <= set(DISABLED_FEATURES)
    assert "CDPScreenshotNewSurface" in ENABLED_FEATURES


def test_an_audio_only_janus_bot_receives_no_video() -> None:
    assert not runner_main.receives_video(BASE)
    assert not runner_main.receives_video(dataclasses.replace(BASE, recording={}))


@pytest.mark.parametrize(
    "change",
    [
        {"recording": {"audio_format": "ogg", "video": True}},
        # unchecked adapters keep their video whatever the recording asks
        {"platform": "google_meet"},
        {"platform": "teams"},
        {"platform": "zoom"},
    ],
)
def test_video_is_kept_when_recorded_or_unchecked(change: dict[str, object]) -> None:
    assert runner_main.receives_video(dataclasses.replace(BASE, **change))  # type: ignore[arg-type]


def test_runner_exit_code_matches_the_session() -> None:
    assert runner_main.EXIT_FAILED == session.EXIT_FAILED


def test_page_scripts_are_packaged() -> None:
    assert "__meetbotAudioOnly" in audio_only_script()
    assert "__meetbotCapture" in capture_script()
