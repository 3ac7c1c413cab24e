"""``meetbot bots ...``: the real CLI as a subprocess, against a real ``meetbot serve``."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path

import pytest
from client_server import MEET, RECORDING_BYTES, api_key, seed_media, served

from meetbot.client import Meetbot
from meetbot.lab.serve import MEETBOT, Server, free_port

__all__ = ["api_key", "served"]  # fixtures


@pytest.fixture
def env(served: Server, api_key: str) -> dict[str, str]:
    return {**served.env, "MEETBOT_SERVER": served.url, "MEETBOT_API_KEY": api_key}


def meetbot(
    env: dict[str, str], *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MEETBOT, "bots", *args], env=env, capture_output=True, text=True, timeout=60, cwd=cwd
    )


def created_id(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    bot_id, status = result.stdout.split()
    assert status == "booting"
    return bot_id


def test_create_list_show_leave(env: dict[str, str]) -> None:
    bot_id = created_id(meetbot(env, "create", MEET, "--name", "CLI notes"))
    listed = meetbot(env, "list", "--limit", "5")
    assert listed.returncode == 0
    assert bot_id in listed.stdout
    as_json = json.loads(meetbot(env, "list", "--json", "--limit", "1").stdout)
    assert [b["id"] for b in as_json] == [bot_id]
    shown = meetbot(env, "show", bot_id)
    assert "CLI notes" in shown.stdout
    assert "booting" in shown.stdout
    assert json.loads(meetbot(env, "show", bot_id, "--json").stdout)["bot_name"] == "CLI notes"

    left = meetbot(env, "leave", bot_id)
    assert left.stdout.split() == [bot_id, "not_admitted"]
    again = meetbot(env, "leave", bot_id)
    assert again.returncode == 1
    assert "400 bot_completed" in again.stderr


def test_scheduled_create_with_join_at(env: dict[str, str]) -> None:
    result = meetbot(env, "create", MEET, "--join-at", "2099-01-01T10:00:00Z", "--json")
    bot = json.loads(result.stdout)
    assert (bot["status"], bot["join_at"]) == ("scheduled", "2099-01-01T10:00:00.000Z")


def test_transcript_formats_and_download(
    env: dict[str, str], served: Server, tmp_path: Path
) -> None:
    bot_id = created_id(meetbot(env, "create", MEET))
    asyncio.run(seed_media(served, bot_id))
    srt = meetbot(env, "transcript", bot_id, "--format", "srt").stdout
    assert "00:00:00,000 --> 00:00:01,500" in srt
    assert "Hello everyone." in meetbot(env, "transcript", bot_id).stdout
    doc = json.loads(meetbot(env, "transcript", bot_id, "--format", "json").stdout)
    assert [s["speaker"] for s in doc["segments"]] == ["Ada", "Grace"]

    saved = meetbot(env, "download", bot_id, cwd=tmp_path)
    assert saved.returncode == 0, saved.stderr
    assert (tmp_path / f"{bot_id}.ogg").read_bytes() == RECORDING_BYTES
    assert f"saved {bot_id}.ogg ({len(RECORDING_BYTES)} bytes)" in saved.stdout
    assert "262.1/262.1 kB" in saved.stderr  # the progress bar, finished
    to = tmp_path / "out.ogg"
    assert meetbot(env, "download", bot_id, "-o", str(to)).returncode == 0
    assert to.read_bytes() == RECORDING_BYTES
    no_video = meetbot(env, "download", bot_id, "--video")
    assert no_video.returncode == 1
    meetbot(env, "leave", bot_id)


def _leave_soon(env: dict[str, str], bot_id: str) -> None:
    with Meetbot(env["MEETBOT_SERVER"], env["MEETBOT_API_KEY"]) as client:
        time.sleep(0.5)  # not a timing assumption: the watch prints the same either way
        client.bots.leave(bot_id)


def test_watch_prints_statuses_and_transcript_until_the_bot_ends(
    env: dict[str, str], served: Server
) -> None:
    bot_id = created_id(meetbot(env, "create", MEET))
    asyncio.run(seed_media(served, bot_id))
    watching = subprocess.Popen(
        [*MEETBOT, "bots", "watch", bot_id, "--interval", "0.2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    _leave_soon(env, bot_id)
    stdout, stderr = watching.communicate(timeout=60)
    assert watching.returncode == 0, stderr
    lines = stdout.splitlines()
    assert any(line.endswith("booting") for line in lines)
    assert any("not_admitted (manually_stopped)" in line for line in lines)
    assert "[00:00:00] Ada: Hello everyone." in lines
    assert "[00:00:02] Grace: Let us start." in lines


def test_create_wait_follows_the_bot_until_it_ends(env: dict[str, str]) -> None:
    creating = subprocess.Popen(
        [*MEETBOT, "bots", "create", MEET, "--name", "waiter", "--wait"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    with Meetbot(env["MEETBOT_SERVER"], env["MEETBOT_API_KEY"]) as client:
        deadline = time.monotonic() + 30
        while not [b for b in client.bots.list(status="booting") if b.bot_name == "waiter"]:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        waiter = next(b for b in client.bots.list(status="booting") if b.bot_name == "waiter")
        client.bots.leave(waiter.id)
    stdout, stderr = creating.communicate(timeout=60)
    assert creating.returncode == 0, stderr
    assert stdout.splitlines()[0] == f"{waiter.id} booting"
    assert "not_admitted (manually_stopped)" in stdout


def test_errors_exit_with_the_code_and_detail(env: dict[str, str]) -> None:
    bad = meetbot(env, "show", "no-such-bot")
    assert bad.returncode == 1
    assert "404 not_found" in bad.stderr
    no_key = meetbot({k: v for k, v in env.items() if k != "MEETBOT_API_KEY"}, "list")
    assert no_key.returncode == 2
    assert "MEETBOT_API_KEY" in no_key.stderr
    nowhere = meetbot({**env, "MEETBOT_SERVER": f"http://127.0.0.1:{free_port()}"}, "list")
    assert nowhere.returncode == 2
    assert "cannot reach the server" in nowhere.stderr
