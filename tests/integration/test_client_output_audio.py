"""``bots.output_audio`` / ``stop_output_audio`` of both clients (issue 16 §2 through the SDK):
against a real ``meetbot serve`` (fake launcher: its bots stay ``booting``), a file, a path,
an open file and a text are sent and answered 409 ``bot_not_in_call``; against the app served
on loopback with a bot in the call (the runner's reports applied), clips are queued,
interrupted and stopped, and bad ones refused."""

from __future__ import annotations

import asyncio
import io
import math
import struct
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from client_server import JANUS, api_key, served

from harness.live_server import serving
from harness.plane import TestPlane, build_test_plane
from meetbot.client import AsyncMeetbot, AudioQueued, Conflict, InvalidRequest, Meetbot
from meetbot.contract.reports import InCall, Joining, ReportBatch
from meetbot.control.ports import Store
from meetbot.control.service.runners import handle_reports, heartbeat_commands
from meetbot.lab.serve import Server

__all__ = ["api_key", "served"]  # fixtures


def tone_wav(seconds: float = 0.5, rate: int = 16_000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        samples = (
            int(8000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(int(seconds * rate))
        )
        w.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return out.getvalue()


@pytest.fixture
def client(served: Server, api_key: str) -> Iterator[Meetbot]:
    with Meetbot(served.url, api_key) as c:
        yield c


def test_a_file_and_a_text_reach_the_server_then_409_out_of_the_call(
    client: Meetbot, tmp_path: Path
) -> None:
    bot = client.bots.create(JANUS)
    assert bot.status == "booting"
    wav = tmp_path / "hello.wav"
    wav.write_bytes(tone_wav())
    for audio in (wav.read_bytes(), wav, io.BytesIO(wav.read_bytes())):
        with pytest.raises(Conflict) as not_in_call:
            client.bots.output_audio(bot.id, audio, interrupt=True)
        assert not_in_call.value.code == "bot_not_in_call"
    with pytest.raises(Conflict) as text_not_in_call:
        client.bots.output_audio(bot.id, text="Hello, I take notes.", voice="en-gb")
    assert text_not_in_call.value.code == "bot_not_in_call"
    with pytest.raises(Conflict):
        client.bots.stop_output_audio(bot.id)
    client.bots.leave(bot.id)


def test_a_file_or_a_text_exactly(client: Meetbot) -> None:
    with pytest.raises(ValueError, match="either"):
        client.bots.output_audio("bot_x")
    with pytest.raises(ValueError, match="either"):
        client.bots.output_audio("bot_x", b"RIFF", text="hello")
    with pytest.raises(ValueError, match="voice"):
        client.bots.output_audio("bot_x", b"RIFF", voice="en-us")


@pytest.fixture
async def plane(any_store: Store) -> TestPlane:
    return await build_test_plane(any_store, self_hosted_meeting_hosts="janus.example.com:8000")


async def test_both_clients_queue_clips_and_stop_them_for_a_bot_in_the_call(
    plane: TestPlane,
) -> None:
    async with serving(plane.app) as host, AsyncMeetbot(f"http://{host}", plane.key) as aclient:
        bot = await aclient.bots.create(JANUS)
        token = plane.launcher.assigned(bot.id)
        assert token is not None
        now = plane.clock.now()
        batch = ReportBatch(events=[Joining(at=now), InCall(at=now)])
        await handle_reports(plane.services, bot.id, token.token, batch)

        clip = await aclient.bots.output_audio(bot.id, tone_wav(0.5))
        assert isinstance(clip, AudioQueued)
        assert (clip.status, clip.duration_s) == ("queued", pytest.approx(0.5, abs=0.01))
        said = await aclient.bots.output_audio(bot.id, text="Hello.", voice="en-us")
        assert said.duration_s > 0.2
        with pytest.raises(InvalidRequest) as not_audio:
            await aclient.bots.output_audio(bot.id, io.BytesIO(b"GIF89a not a sound"))
        assert not_audio.value.code == "invalid_audio"
        with pytest.raises(InvalidRequest) as no_voice:
            await aclient.bots.output_audio(bot.id, text="Hello", voice="klingon")
        assert no_voice.value.code == "invalid_voice"

        def blocking() -> AudioQueued:
            with Meetbot(f"http://{host}", plane.key) as client:
                return client.bots.output_audio(bot.id, text="Me too.", interrupt=True)

        cut_in = await asyncio.to_thread(blocking)
        queue = (await heartbeat_commands(plane.services, bot.id, token.token)).output_audio
        assert [c.id for c in queue] == [cut_in.id]  # the interrupt dropped the other two

        await aclient.bots.stop_output_audio(bot.id)
        queue = (await heartbeat_commands(plane.services, bot.id, token.token)).output_audio
        assert queue == []
