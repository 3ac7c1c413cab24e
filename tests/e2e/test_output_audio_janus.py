"""The bot speaks, end to end in the Janus room (issue 16 §2): one bot says a sentence by
``output_audio`` (espeak-ng), a second bot in the same room records and transcribes it
(whisper-tiny.en). The speaking bot does not hear itself: its own transcript has none of it.
A server of its own: a warm pool of two, and transcription on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from served import FAST_TIMERS, api_client, create_when_pool_ready, serve_with_lab, wait_until

from meetbot.lab import Lab
from meetbot.lab.serve import Server

pytestmark = pytest.mark.e2e

SENTENCE = "Welcome to the planning meeting. We will talk about the budget first."
WORDS = ("welcome", "planning", "meeting", "talk", "budget", "first")


@pytest.fixture
def voiced(lab: Lab, tmp_path: Path) -> Iterator[Server]:
    srv = serve_with_lab(
        lab,
        tmp_path / "data",
        MEETBOT_ADHOC_POOL_SIZE="2",
        MEETBOT_DEFAULT_TRANSCRIPTION_MODEL="whisper-tiny.en",
    )
    yield srv
    srv.stop()


def _events(api: httpx.Client, bot_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    after = None
    while True:
        params: dict[str, Any] = {"limit": 500, **({"after": after} if after else {})}
        page = api.get("/api/v1/events/", params=params).json()
        found += [e for e in page["results"] if e["data"].get("bot_id") == bot_id]
        if not page["results"]:
            return found
        after = page["next"]


def _text(api: httpx.Client, bot_id: str) -> str:
    transcript = api.get(f"/api/v1/bot/{bot_id}/transcript/").json()
    return " ".join(s["text"] for s in transcript["segments"]).lower()


def test_a_bot_speaks_and_another_bot_transcribes_it(lab: Lab, voiced: Server) -> None:
    room = lab.new_room()
    with api_client(voiced) as api:
        url = lab.room_url(room)
        listener = create_when_pool_ready(
            api, {"meeting_url": url, "bot_name": "Listener", "stop_options": FAST_TIMERS}
        )
        speaker = create_when_pool_ready(
            api, {"meeting_url": url, "bot_name": "Speaker", "stop_options": FAST_TIMERS}
        )
        try:
            for bot in (listener, speaker):
                wait_until(api, bot["id"], lambda b: b["status"] == "recording", 60)
            r = api.post(
                f"/api/v1/bot/{speaker['id']}/output_audio/",
                json={"text": SENTENCE, "voice": "en-us"},
            )
            assert r.status_code == 202, r.text
            clip = r.json()["id"]
            wait_until(
                api,
                speaker["id"],
                lambda _: any(
                    e["type"] == "output_audio.finished" for e in _events(api, speaker["id"])
                ),
                60,
            )
        finally:
            for bot in (listener, speaker):
                api.post(f"/api/v1/bot/{bot['id']}/leave_call/")
        for bot in (listener, speaker):
            done = wait_until(api, bot["id"], lambda b: b["status"] in ("finished", "failed"), 240)
            assert done["status"] == "finished", done["status_changes"]

        said = [
            (e["type"], e["data"]["id"])
            for e in _events(api, speaker["id"])
            if e["type"].startswith("output_audio.")
        ]
        assert said == [("output_audio.started", clip), ("output_audio.finished", clip)]
        heard = _text(api, listener["id"])
        assert len([w for w in WORDS if w in heard]) >= len(WORDS) - 2, heard
        own = _text(api, speaker["id"])
        assert not [w for w in WORDS if w in own], own
