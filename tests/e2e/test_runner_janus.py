"""The real runner process against a real Janus room (the lab), reporting to a fake control plane.

The runner runs in the host namespace (like a real deployment) with only its Chromium inside
the lab (``MEETBOT_CHROMIUM_PATH = lab.chromium_executable``). The control plane is a tiny
Starlette app in a thread of this test process: it records the reports per bot and hands out
commands. Audio goes to a local storage directory per test. Timer unit: 1 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import wave
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harness.waiting import wait_until
from meetbot.agent.processes import ProcessHost
from meetbot.contract.assignment import Assignment, dump_assignment
from meetbot.contract.lifecycle import StopReason, SubStatus
from meetbot.contract.reports import (
    AudioChunk,
    Joining,
    JoinRequest,
    Leaving,
    NotAdmitted,
    ParticipantJoined,
    ParticipantLeft,
    ReportBatch,
    Speaking,
    Waiting,
)
from meetbot.lab import MEETING_HOSTS, Lab, make_speech
from meetbot.runner.capture import speech_seconds

pytestmark = pytest.mark.e2e

TOKEN = "runner-token"
# Janus's talking detection, tuned for espeak-ng speech: level 60 dBov over 0.5 s
TALKATIVE = {"audio_active_packets": 25, "audio_level_average": 60}


# --- a fake control plane ---------------------------------------------------------------------


@dataclass
class _Bot:
    reports: list[Any] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    heartbeats: int = 0


class FakeControlPlane:
    """``POST /internal/bots/{id}/events``, ``GET .../commands`` and ``POST .../join`` of
    :mod:`meetbot.contract.reports` (``join`` is recorded as a ``joining`` report and answered with
    no change to the assignment)."""

    def __init__(self) -> None:
        self.bots: dict[str, _Bot] = defaultdict(_Bot)
        self.lock = threading.Lock()
        app = Starlette(
            routes=[
                Route("/internal/bots/{bot_id}/events", self._events, methods=["POST"]),
                Route("/internal/bots/{bot_id}/commands", self._commands, methods=["GET"]),
                Route("/internal/bots/{bot_id}/join", self._join, methods=["POST"]),
            ]
        )
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", lifespan="off", ws="none")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self) -> None:
        self._server.should_exit = True
        self._thread.join(5)
        self._sock.close()

    def _take(self, bot_id: str) -> dict[str, Any]:
        with self.lock:
            bot = self.bots[bot_id]
            commands, bot.commands = bot.commands, []
        return {"commands": [{"type": c} for c in commands]}

    async def _events(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return Response(status_code=401)
        bot_id = request.path_params["bot_id"]
        try:
            batch = ReportBatch.model_validate_json(await request.body())
        except ClientDisconnect:  # a runner killed mid-request
            return Response(status_code=499)
        with self.lock:
            bot = self.bots[bot_id]
            bot.reports.extend(batch.events)
            bot.heartbeats += not batch.events
        return JSONResponse(self._take(bot_id))

    async def _join(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return Response(status_code=401)
        bot_id = request.path_params["bot_id"]
        asked = JoinRequest.model_validate_json(await request.body())
        with self.lock:
            self.bots[bot_id].reports.append(Joining(at=asked.at))
        return JSONResponse(self._take(bot_id))

    async def _commands(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return Response(status_code=401)
        bot_id = request.path_params["bot_id"]
        deadline = time.monotonic() + float(request.query_params.get("wait", "0"))
        while time.monotonic() < deadline and not self.bots[bot_id].commands:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        return JSONResponse(self._take(bot_id))

    def command(self, bot_id: str, type_: str) -> None:
        with self.lock:
            self.bots[bot_id].commands.append(type_)

    def reports(self, bot_id: str) -> list[Any]:
        with self.lock:
            return list(self.bots[bot_id].reports)

    def types(self, bot_id: str) -> list[str]:
        return [r.type for r in self.reports(bot_id) if r.type != "audio_chunk"]

    def wait_for(self, bot_id: str, type_: str, timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [r for r in self.reports(bot_id) if r.type == type_]
            if found:
                return found[0]
            time.sleep(0.05)
        raise AssertionError(f"bot {bot_id}: no {type_!r} in {self.types(bot_id)}")


@pytest.fixture(scope="module")
def control_plane() -> Iterator[FakeControlPlane]:
    server = FakeControlPlane()
    yield server
    server.close()


# --- runners --------------------------------------------------------------------------------


@dataclass
class Runner:
    process: subprocess.Popen[str]
    log: Path
    ready_s: float

    def assign(self, assignment: Assignment) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(dump_assignment(assignment) + "\n")
        self.process.stdin.flush()
        self.process.stdin.close()

    def wait(self, timeout: float = 30.0) -> int:
        return self.process.wait(timeout)

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])

    def kill(self) -> None:
        """SIGKILL the runner's whole process group (its Playwright driver and Chromium too)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(5)


def runner_env(lab: Lab) -> dict[str, str]:
    return {
        **os.environ,
        **lab.chromium_settings,
        "MEETBOT_LOG_LEVEL": "info",
    }


class RunnerSupply:
    """Runner processes started one ahead, so a test finds one READY (a tiny warm pool)."""

    def __init__(self, lab: Lab, logs: Path) -> None:
        self._env = runner_env(lab)
        self._logs = logs
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="runner-supply")
        self._started: list[Runner] = []
        self._next: Future[Runner] = self._executor.submit(self._start)

    def _start(self) -> Runner:
        log = self._logs / f"runner-{len(self._started)}.log"
        t0 = time.monotonic()
        with log.open("w") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "meetbot.runner"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=err, text=True, env=self._env,
                start_new_session=True,
            )  # fmt: skip
        runner = Runner(process, log, 0.0)
        self._started.append(runner)
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "READY", runner.tail()
        runner.ready_s = time.monotonic() - t0
        return runner

    def take(self) -> Runner:
        runner = self._next.result(timeout=60)
        self._next = self._executor.submit(self._start)
        return runner

    def close(self) -> None:
        with contextlib.suppress(Exception):
            spare = self._next.result(timeout=60)
            assert spare.process.stdin is not None
            spare.process.stdin.close()  # no assignment: exits 0
            assert spare.wait(10) == 0
        self._executor.shutdown()
        for runner in self._started:
            runner.kill()


@pytest.fixture(scope="module")
def runners(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunnerSupply]:
    supply = RunnerSupply(lab, tmp_path_factory.mktemp("runner-logs"))
    yield supply
    supply.close()


@pytest.fixture
def start_runner(runners: RunnerSupply) -> Callable[[], Runner]:
    return runners.take


def assignment(
    control_plane: FakeControlPlane, url: str, media: Path, bot_id: str, **stop: int
) -> Assignment:
    options = {
        "waiting_room_timeout": 30,
        "empty_meeting_timeout": 60,
        "last_person_detection": 2,
        "silence_detection": 0,
        **stop,
    }
    return Assignment(
        bot_id=bot_id,
        meeting_url=url,
        platform="janus",
        bot_name="Meetbot Notes",
        stop_options=options,
        join_at=None,
        token=TOKEN,
        control_url=control_plane.url,
        timer_unit_seconds=1.0,
        heartbeat_interval=1.0,
        control_plane_grace=15.0,
        storage={"kind": "local", "root": str(media)},
        egress_allowed_hosts=tuple(MEETING_HOSTS.split(",")),
    )


def chunk_files(media: Path, bot_id: str) -> list[Path]:
    return sorted((media / "bots" / bot_id / "chunks").glob("*.pcm"))


def wav_speech_seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        rate = w.getframerate()
    return speech_seconds(samples[:: rate // 16_000].tobytes())  # 48 kHz -> 16 kHz


# --- scenarios ------------------------------------------------------------------------------


def test_records_a_speaker_and_leaves_after_the_last_person(
    lab: Lab, control_plane: FakeControlPlane, start_runner: Callable[[], Runner], tmp_path: Path
) -> None:
    room = lab.new_room(**TALKATIVE)
    speech = make_speech(
        ["Good morning everyone.", "The quarterly numbers look strong."],
        tmp_path / "alice.wav",
        lead_s=2.5,
    )
    runner = start_runner()
    bot = "speaker-bot"
    runner.assign(assignment(control_plane, lab.room_url(room), tmp_path / "media", bot))
    control_plane.wait_for(bot, "in_call", 20)
    assert [p.display for p in lab.host.list_participants(room)] == ["Meetbot Notes"]

    alice = lab.add_participant(room, "alice", wav=speech.path)
    joined = control_plane.wait_for(bot, "participant_joined", 10)
    assert isinstance(joined, ParticipantJoined)
    assert (joined.participant_id, joined.name) == (str(alice.id), "alice")
    spoke = control_plane.wait_for(bot, "speaking", speech.duration_s + 5)
    assert isinstance(spoke, Speaking)
    assert (spoke.name, spoke.speaking) == ("alice", True)
    time.sleep(max(0.0, speech.duration_s - 2.0))
    alice.leave()

    assert runner.wait(30) == 0, runner.tail()
    types = control_plane.types(bot)
    assert types[:3] == ["joining", "in_call", "participant_joined"], types
    # Audio chunks trail real time by the recording's holdback (2 s): alice's own track may
    # still give one after she left, so the order is checked without them.
    lifecycle = [t for t in types if t not in ("audio_chunk", "participant_audio_chunk")]
    assert lifecycle[-3:] == ["participant_left", "leaving", "left"], types
    leaving = control_plane.wait_for(bot, "leaving")
    assert isinstance(leaving, Leaving)
    assert leaving.stop_reason is StopReason.LAST_PERSON_DETECTED
    left = control_plane.wait_for(bot, "participant_left")
    assert isinstance(left, ParticipantLeft)
    assert 1.5 <= (leaving.at - left.at).total_seconds() <= 3.5  # 2 units of 1 s

    chunks = [r for r in control_plane.reports(bot) if isinstance(r, AudioChunk)]
    files = chunk_files(tmp_path / "media", bot)
    assert [c.seq for c in chunks] == list(range(len(files)))
    assert [c.key for c in chunks] == [f"bots/{bot}/chunks/{c.seq:08d}.pcm" for c in chunks]
    pcm = b"".join(f.read_bytes() for f in files)
    assert sum(c.duration_s for c in chunks) == pytest.approx(len(pcm) / 32_000)
    assert all(1.0 <= c.duration_s <= 2.0 for c in chunks[:-1])
    captured, spoken = speech_seconds(pcm), wav_speech_seconds(speech.path)
    assert spoken > 2.0
    assert captured == pytest.approx(spoken, rel=0.25), (captured, spoken)


def test_not_admitted_while_the_room_is_absent_then_admitted_then_leave_command(
    lab: Lab, control_plane: FakeControlPlane, start_runner: Callable[[], Runner], tmp_path: Path
) -> None:
    room = lab.new_room()
    lab.host.destroy(room)  # a fresh number nobody uses: "No such room"
    runner = start_runner()
    bot = "early-bot"
    runner.assign(assignment(control_plane, lab.room_url(room), tmp_path / "media", bot))
    waiting = control_plane.wait_for(bot, "waiting", 20)
    assert isinstance(waiting, Waiting)
    assert waiting.sub_status is SubStatus.WAITING_FOR_HOST
    time.sleep(1.0)
    assert "in_call" not in control_plane.types(bot)

    lab.host.create_room(room)
    control_plane.wait_for(bot, "in_call", 10)  # the next join retry (every 2 s) gets in
    control_plane.command(bot, "leave")
    assert runner.wait(20) == 0, runner.tail()
    assert control_plane.types(bot) == ["joining", "waiting", "in_call", "leaving", "left"]
    leaving = control_plane.wait_for(bot, "leaving")
    assert isinstance(leaving, Leaving)
    assert leaving.stop_reason is StopReason.MANUALLY_STOPPED
    wait_until(lambda: lab.host.list_participants(room) == [], 5)


def test_a_closed_room_times_out_in_the_waiting_room(
    lab: Lab, control_plane: FakeControlPlane, start_runner: Callable[[], Runner], tmp_path: Path
) -> None:
    room = lab.new_room(allowed=["host-only"])
    runner = start_runner()
    bot = "locked-out-bot"
    media = tmp_path / "media"
    runner.assign(assignment(control_plane, lab.room_url(room), media, bot, waiting_room_timeout=4))
    assert runner.wait(30) == 0, runner.tail()
    assert control_plane.types(bot) == ["joining", "waiting", "not_admitted"]
    waiting, refused = control_plane.reports(bot)[1:]
    assert isinstance(waiting, Waiting)
    assert waiting.sub_status is SubStatus.WAITING_ROOM
    assert isinstance(refused, NotAdmitted)
    assert refused.stop_reason is StopReason.WAITING_ROOM_TIMEOUT
    assert 3.5 <= (refused.at - control_plane.reports(bot)[0].at).total_seconds() <= 5.5
    assert chunk_files(media, bot) == []


def test_destroyed_room_ends_the_meeting(
    lab: Lab, control_plane: FakeControlPlane, start_runner: Callable[[], Runner], tmp_path: Path
) -> None:
    """On ``mvideoroomtest.html`` (one PeerConnection, many tracks) for once."""
    room = lab.new_room()
    runner = start_runner()
    bot = "ended-bot"
    url = lab.room_url(room, multi=True)
    runner.assign(assignment(control_plane, url, tmp_path / "media", bot))
    control_plane.wait_for(bot, "in_call", 20)
    lab.host.destroy(room)
    assert runner.wait(20) == 0, runner.tail()
    assert control_plane.types(bot) == ["joining", "in_call", "leaving", "left"]
    leaving = control_plane.wait_for(bot, "leaving")
    assert isinstance(leaving, Leaving)
    assert leaving.stop_reason is StopReason.MEETING_ENDED


def test_an_unreachable_meeting_url_is_invalid(
    lab: Lab, control_plane: FakeControlPlane, start_runner: Callable[[], Runner], tmp_path: Path
) -> None:
    runner = start_runner()
    bot = "nowhere-bot"
    url = "http://127.0.0.1:9/videoroomtest.html?room=1"  # discard port: nothing answers
    runner.assign(assignment(control_plane, url, tmp_path / "media", bot))
    assert runner.wait(20) == 0, runner.tail()
    assert control_plane.types(bot) == ["joining", "not_admitted"]
    refused = control_plane.wait_for(bot, "not_admitted")
    assert isinstance(refused, NotAdmitted)
    assert refused.stop_reason is StopReason.INVALID_MEETING_URL


def test_killed_runner_leaves_the_chunks_written_so_far(
    lab: Lab, control_plane: FakeControlPlane, start_runner: Callable[[], Runner], tmp_path: Path
) -> None:
    room = lab.new_room()
    runner = start_runner()
    bot = "killed-bot"
    media = tmp_path / "media"
    runner.assign(assignment(control_plane, lab.room_url(room), media, bot))
    control_plane.wait_for(bot, "in_call", 20)
    wait_until(lambda: sum(r.type == "audio_chunk" for r in control_plane.reports(bot)) >= 2, 10)
    runner.process.kill()  # SIGKILL to the runner alone
    assert runner.wait(5) == -signal.SIGKILL
    reported = [r for r in control_plane.reports(bot) if isinstance(r, AudioChunk)]
    files = chunk_files(media, bot)
    assert len(files) >= len(reported) >= 2
    for chunk in reported:
        data = (media / chunk.key).read_bytes()
        assert len(data) == round(chunk.duration_s * 32_000)
    assert [f.name for f in files] == [f"{i:08d}.pcm" for i in range(len(files))]
    assert "left" not in control_plane.types(bot)
    runner.kill()  # what the runner left behind: its browser


async def test_launcher_pool_runner_is_kicked(
    lab: Lab, control_plane: FakeControlPlane, tmp_path: Path
) -> None:
    """The real protocol through the local launcher's runner host (``meetbot serve``'s agent):
    warm runner, warm hand-off; then a kick, and the runner's exit reported."""
    exits: list[tuple[str, int]] = []
    launcher = ProcessHost(
        data_dir=tmp_path / "data", runners_dir=tmp_path / "data" / "runners", servers=(),
        slots=2, warm=1, on_exit=lambda bot, rc: exits.append((bot, rc)),
        env=lab.chromium_settings,
    )  # fmt: skip
    started = time.monotonic()
    await launcher.start()
    try:
        async with asyncio.timeout(30):
            while launcher.warm_idle() < 1:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        ready_s = time.monotonic() - started
        room = await asyncio.to_thread(lab.new_room)
        bot = "kicked-bot"
        assigned = time.monotonic()
        launcher.take(assignment(control_plane, lab.room_url(room), tmp_path, bot), warm=True)
        await asyncio.to_thread(control_plane.wait_for, bot, "in_call", 20)
        in_call_s = time.monotonic() - assigned
        print(f"\nlaunch→READY {ready_s:.2f} s; assignment→in_call {in_call_s:.2f} s")
        (me,) = await asyncio.to_thread(lab.host.list_participants, room)
        assert me.display == "Meetbot Notes"
        await asyncio.to_thread(lab.host.kick, room, me.id)
        async with asyncio.timeout(20):
            while not exits:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        assert exits == [(bot, 0)]
        assert control_plane.types(bot) == ["joining", "in_call", "leaving", "left"]
        leaving = control_plane.wait_for(bot, "leaving")
        assert isinstance(leaving, Leaving)
        assert leaving.stop_reason is StopReason.KICKED
        record_dir = tmp_path / "data" / "runners"
        assert not any(
            json.loads(p.read_text()).get("bot_id") == bot for p in record_dir.glob("*.json")
        )
    finally:
        await launcher.close()
