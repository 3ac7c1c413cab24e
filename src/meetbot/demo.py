"""``meetbot demo``: a bot at work on this machine, offline.

Starts a local Janus room (the lab: needs root for its network namespace) with a participant
speaking generated sentences (espeak-ng), starts ``meetbot serve`` in a temporary data dir,
sends a bot into the room through the API and prints its statuses live, then its transcript.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from meetbot.lab import MEETING_HOSTS, Lab, make_speech, problems
from meetbot.lab.serve import start_server

SENTENCES = (
    "Good morning everyone, thanks for joining the weekly planning meeting.",
    "The release is on track for Thursday and the tests are green.",
    "Please send your notes to the team before the end of the day.",
)


def run_demo(*, model: str = "whisper-tiny.en", echo: Callable[[str], None] = print) -> int:
    """Run the demo; returns a process exit code."""
    if os.geteuid() != 0:
        echo("meetbot demo needs root: the local meeting room runs in a network namespace.")
        return 2
    if found := problems():
        echo("meetbot demo cannot start its meeting room: " + "; ".join(found))
        return 2
    with tempfile.TemporaryDirectory(prefix="meetbot-demo-") as tmp, Lab.start() as lab:
        workdir = Path(tmp)
        env = {
            "MEETBOT_LAUNCHER": "local",
            **lab.chromium_settings,
            "MEETBOT_SELF_HOSTED_MEETING_HOSTS": MEETING_HOSTS,
            "MEETBOT_ADHOC_POOL_SIZE": "1",
            "MEETBOT_TIMER_UNIT_SECONDS": "1",
            "MEETBOT_LOG_LEVEL": "warning",
        }
        echo("starting meetbot serve and a local Janus meeting room ...")
        server = start_server(workdir / "data", env)
        try:
            return _drive(lab, server.url, server.first_key(), workdir, model, echo)
        finally:
            server.stop()


def _drive(
    lab: Lab, url: str, key: str, workdir: Path, model: str, echo: Callable[[str], None]
) -> int:
    room = lab.new_room(audio_active_packets=25, audio_level_average=60)
    speech = make_speech(list(SENTENCES), workdir / "alice.wav", lead_s=2.0)
    headers = {"Authorization": f"Token {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as api:
        body = {
            "meeting_url": lab.room_url(room),
            "bot_name": "Demo Notetaker",
            "transcription_model": model,
            "stop_options": {"last_person_detection": 3, "silence_detection": 0},
        }
        bot = _create(api, body, echo)
        echo(f"bot {bot['id']} created ({bot['kind']}) for {body['meeting_url']}")
        _, seen = _follow(api, bot["id"], echo, until=lambda b: b["status"] == "recording")
        echo("alice joins and speaks ...")
        alice = lab.add_participant(room, "alice", wav=speech.path)
        time.sleep(speech.duration_s + 1)
        alice.leave()
        echo("alice left; the bot leaves after 3 s alone")
        final, _ = _follow(api, bot["id"], echo, until=_ended, seen=seen)
        if final["status"] != "finished":
            return 1
        transcript = api.get(f"/api/v1/bot/{bot['id']}/transcript/", params={"format": "txt"})
        if transcript.status_code == 200:
            echo("\ntranscript:\n" + transcript.text)
    return 0


def _ended(bot: dict[str, Any]) -> bool:
    return bot["status"] in (
        "finished",
        "failed",
        "not_admitted",
        "invalid_api_key",
        "auth_required",
    )


def _create(api: httpx.Client, body: dict[str, Any], echo: Callable[[str], None]) -> Any:
    for _ in range(120):
        r = api.post("/api/v1/bot/", json=body)
        if r.status_code != 507:
            r.raise_for_status()
            return r.json()
        time.sleep(0.5)
    raise RuntimeError("the warm pool never became ready")


def _follow(
    api: httpx.Client,
    bot_id: str,
    echo: Callable[[str], None],
    until: Callable[[dict[str, Any]], bool],
    seen: int = 0,
    timeout: float = 180,
) -> tuple[Any, int]:
    deadline = time.monotonic() + timeout
    while True:
        bot = api.get(f"/api/v1/bot/{bot_id}/").json()
        for change in bot["status_changes"][seen:]:
            extra = " ".join(
                f"{k}={change[k]}" for k in ("sub_status", "stop_reason", "sub_code") if change[k]
            )
            echo(f"  {change['at']}  {change['status']} {extra}".rstrip())
        seen = len(bot["status_changes"])
        if until(bot) or _ended(bot) or time.monotonic() > deadline:
            return bot, seen
        time.sleep(0.2)
