"""What ``recording.video`` costs: runner CPU in the call, frames stored, and the MP4 build.

A real ``meetbot serve`` (local launcher, warm pool of 1) and the Janus lab. For each of
``video: false`` then ``video: true`` (``--rounds`` times), one bot joins a room where one
participant publishes Chromium's fake camera (a moving picture, so the screencast never idles)
and a speech file; once the bot is ``recording`` and ``--settle`` s have passed, the CPU time of
the bot's runner process tree (the Python runner + its Chromium processes) is sampled over
``--window`` s and printed as % of one core, with the video chunks stored so far. Then the bot is
told to leave; leave → ``finished`` (which includes the MP4 build for a video bot) and the MP4's
size are printed.

    .venv/bin/python bench/recording_video.py [--window 30] [--settle 5] [--rounds 1]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

from meetbot.lab import MEETING_HOSTS, Lab, make_speech
from meetbot.lab.serve import Server, start_server

TIMERS = {"empty_meeting_timeout": 30, "last_person_detection": 0, "silence_detection": 0}


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def runner_pid(server: Server, bot_id: str) -> int:
    for f in (server.data_dir / "runners").glob("[0-9]*.json"):
        with contextlib.suppress(ValueError, OSError):
            info = json.loads(f.read_text())
            if info.get("bot_id") == bot_id:
                return int(info["pid"])
    raise LookupError(bot_id)


def kind(p: psutil.Process) -> str:
    cmd = p.cmdline()
    if any("--type=" in a for a in cmd):
        return next(a.split("=", 1)[1] for a in cmd if a.startswith("--type="))
    name = Path(cmd[0]).name if cmd else p.name()
    return "browser" if "chrom" in name else name


def tree_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of the runner's process tree, by kind (python, node, renderer, gpu...)."""
    total: dict[str, float] = {}
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return total
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            t = p.cpu_times()
            k = kind(p)
            total[k] = total.get(k, 0.0) + t.user + t.system
    return total


def wait_for(api: httpx.Client, bot_id: str, statuses: set[str], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        bot = api.get(f"/api/v1/bot/{bot_id}/").json()
        if bot["status"] in statuses or time.monotonic() > deadline:
            return bot
        time.sleep(0.2)


def at(bot: dict[str, Any], status: str) -> datetime | None:
    for change in bot["status_changes"]:
        if change["status"] == status:
            return datetime.fromisoformat(change["at"].replace("Z", "+00:00"))
    return None


def one_bot(
    lab: Lab, api: httpx.Client, server: Server, wav: Path, video: bool, args: argparse.Namespace
) -> None:
    room = lab.new_room(audio_active_packets=25, audio_level_average=60)
    alice = lab.add_participant(room, "alice", wav=wav)
    body = {
        "meeting_url": lab.room_url(room),
        "bot_name": "Bench",
        "stop_options": TIMERS,
        "recording": {"audio_format": "ogg", "video": video},
    }
    deadline = time.monotonic() + 60
    while (r := api.post("/api/v1/bot/", json=body)).status_code == 507:
        if time.monotonic() > deadline:
            raise RuntimeError("no warm runner in 60 s")
        time.sleep(0.5)
    bot_id = r.json()["id"]
    wait_for(api, bot_id, {"recording"}, 60)
    time.sleep(args.settle)
    pid = runner_pid(server, bot_id)
    cpu0, t0 = tree_cpu(pid), time.monotonic()
    time.sleep(args.window)
    cpu1, wall = tree_cpu(pid), time.monotonic() - t0
    if not cpu1:
        bot = api.get(f"/api/v1/bot/{bot_id}/").json()
        print(f"video={str(video).lower():<5} the runner went away: {bot['status']}", flush=True)
    by_kind = {k: (v - cpu0.get(k, 0.0)) / wall * 100 for k, v in cpu1.items()}
    cpu = sum(by_kind.values())
    parts = " ".join(f"{k}={v:.1f}" for k, v in sorted(by_kind.items(), key=lambda kv: -kv[1]))
    frames_dir = server.data_dir / "media" / "bots" / bot_id / "video"
    chunks = list(frames_dir.glob("*.frames"))
    stored = sum(f.stat().st_size for f in chunks)
    print(
        f"video={str(video).lower():<5} runner tree CPU={cpu:.1f}% of a core over "
        f"{args.window:.0f}s ({parts}); video chunks={len(chunks)} ({stored / 2**20:.1f} MiB) "
        f"load={load()}",
        flush=True,
    )
    api.post(f"/api/v1/bot/{bot_id}/leave_call/")
    bot = wait_for(api, bot_id, {"finished", "failed"}, 180)
    alice.leave()
    left, done = at(bot, "leaving"), at(bot, "finished")
    took = (done - left).total_seconds() if left and done else float("nan")
    rec = api.get(f"/api/v1/bot/{bot_id}/recording/").json()
    mp4 = rec.get("video") or {}
    print(
        f"video={str(video).lower():<5} status={bot['status']} leave->finished={took:.2f}s "
        f"recording={rec.get('duration_s')}s mp4={mp4.get('size_bytes', 0) / 2**20:.2f}MiB "
        f"({mp4.get('duration_s')}s) load={load()}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    print(f"cpus={os.cpu_count()} load before={load()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="mb-bench-video-") as tmp, Lab.start() as lab:
        wav = make_speech(
            ["This is the weekly planning meeting."] * 6, Path(tmp) / "speech.wav", lead_s=1.0
        ).path
        env = {
            "MEETBOT_LAUNCHER": "local",
            **lab.chromium_settings,
            "MEETBOT_SELF_HOSTED_MEETING_HOSTS": MEETING_HOSTS,
            "MEETBOT_ADHOC_POOL_SIZE": "1",
            "MEETBOT_MAX_CONCURRENT_BOTS": "2",
            "MEETBOT_DEFAULT_TRANSCRIPTION_MODEL": "none",
        }
        server = start_server(Path(tmp) / "data", env)
        try:
            headers = {"Authorization": f"Token {server.first_key()}"}
            with httpx.Client(base_url=server.url, headers=headers, timeout=30) as api:
                for _ in range(args.rounds):
                    for video in (False, True):
                        one_bot(lab, api, server, wav, video, args)
        finally:
            server.stop()
    print(f"load at end={load()}")


if __name__ == "__main__":
    main()
