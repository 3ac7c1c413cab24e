"""AssemblyAI against local servers that follow its documentation: the pre-recorded API
(``/v2/upload``, ``/v2/transcript``, polling ``/v2/transcript/{id}``, ``Authorization: <key>``,
times in ms, speakers ``A``/``B``) and the streaming API (v3 WebSocket: ``Begin``, binary PCM
frames of 50-1000 ms at most real time, ``Turn``, ``Terminate`` → ``Termination``)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from meetbot.testing.fake_assemblyai import AssemblyAIBatch, AssemblyAIStreamServer, turn
from meetbot.testing.fakes_transcription import Handler, Reply, VendorServer
from meetbot.transcription.audio import SAMPLE_RATE
from meetbot.transcription.factory import build_stream, build_transcriber
from meetbot.transcription.models import validate_model
from meetbot.transcription.vendors import (
    AssemblyAIStream,
    AssemblyAITranscriber,
    RetryPolicy,
    VendorAuthError,
    VendorError,
)
from meetbot.transcription.vendors.assemblyai_stream import (
    streaming_model,
    streaming_url,
    turn_segment,
)
from meetbot.transcription.vendors.base import INVALID_API_KEY, VENDOR_ERROR

KEY = "aai-test-good-key"
FAST = RetryPolicy(attempts=3, backoff=0.01)


def tone(seconds: float) -> np.ndarray[Any, np.dtype[np.float32]]:
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def pcm(seconds: float) -> bytes:
    return (tone(seconds) * 32767).astype("<i2").tobytes()


# --- the pre-recorded API -------------------------------------------------------------------


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], VendorServer]]:
    servers: list[VendorServer] = []

    def start(handle: Handler) -> VendorServer:
        servers.append(VendorServer(handle))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def batch(server: VendorServer, model: str = "universal-2", **kw: Any) -> AssemblyAITranscriber:
    return AssemblyAITranscriber(
        KEY, model, base_url=server.url, retry=FAST, poll_interval=0.01, **kw
    )


def test_upload_create_poll_and_utterances(serve: Callable[[Handler], VendorServer]) -> None:
    vendor = AssemblyAIBatch(KEY, polls=2)
    server = serve(vendor)
    segments = batch(server).transcribe(tone(2.5), offset=10.0)
    assert [(r.method, r.path) for r in server.received] == [
        ("POST", "/v2/upload"),
        ("POST", "/v2/transcript"),
        ("GET", server.received[2].path),
        ("GET", server.received[2].path),
        ("GET", server.received[2].path),
    ]
    (audio,) = vendor.uploads.values()
    assert audio[:4] == b"RIFF"
    (params,) = vendor.created
    assert params["speech_models"] == ["universal-2"]
    assert params["speaker_labels"] is True
    assert params["language_detection"] is True
    assert [(s.start, s.end, s.text, s.speaker) for s in segments] == [
        (10.08, 10.9, "Hello, everyone.", "Speaker 1"),
        (11.6, 12.2, "Hi Ann.", "Speaker 2"),
    ]
    assert [w.text for w in segments[0].words] == ["Hello,", "everyone."]
    assert segments[1].words[0].start == pytest.approx(11.6)


def test_words_without_utterances_and_a_fixed_language(
    serve: Callable[[Handler], VendorServer],
) -> None:
    vendor = AssemblyAIBatch(KEY, utterances=False, polls=0)
    server = serve(vendor)
    segments = batch(server, language="en").transcribe_bytes(b"OggS" + bytes(100))
    assert vendor.created[0]["language_code"] == "en"
    assert "language_detection" not in vendor.created[0]
    assert [(s.text, s.speaker) for s in segments] == [
        ("Hello, everyone.", "Speaker 1"),
        ("Hi Ann.", "Speaker 2"),
    ]


def test_a_streaming_model_transcribes_after_the_call_with_the_default_batch_model(
    serve: Callable[[Handler], VendorServer],
) -> None:
    vendor = AssemblyAIBatch(KEY, polls=0)
    server = serve(vendor)
    assert len(batch(server, "universal-streaming").transcribe(tone(1.0))) == 2
    assert vendor.created[0]["speech_models"] == ["universal-2"]


def test_a_failed_transcript_is_a_vendor_error(serve: Callable[[Handler], VendorServer]) -> None:
    server = serve(
        AssemblyAIBatch(KEY, fail="Transcoding failed. File does not appear to contain audio.")
    )
    with pytest.raises(VendorError, match="does not appear to contain audio") as caught:
        batch(server).transcribe(tone(0.5))
    assert caught.value.sub_code == VENDOR_ERROR


def test_a_wrong_key_is_an_auth_error(serve: Callable[[Handler], VendorServer]) -> None:
    server = serve(AssemblyAIBatch(KEY))
    aai = AssemblyAITranscriber("aai-wrong", base_url=server.url, retry=FAST)
    with pytest.raises(VendorAuthError, match="API token missing/invalid") as caught:
        aai.transcribe(tone(0.5))
    assert caught.value.sub_code == INVALID_API_KEY
    assert "aai-wrong" not in str(caught.value)
    assert len(server.received) == 1


def test_server_errors_while_polling_are_retried(
    serve: Callable[[Handler], VendorServer],
) -> None:
    server = serve(AssemblyAIBatch(KEY, polls=0))
    server.script.append(Reply(503, {"error": "Service unavailable"}))
    assert len(batch(server).transcribe(tone(0.5))) == 2


def test_factory_builds_assemblyai(
    serve: Callable[[Handler], VendorServer], tmp_path: Path
) -> None:
    server = serve(AssemblyAIBatch(KEY, polls=0))
    built = build_transcriber(
        validate_model("assemblyai/universal-2"),
        models_dir=tmp_path,
        api_key=KEY,
        base_url=server.url,
    )
    assert isinstance(built, AssemblyAITranscriber)
    assert built.base_url == server.url
    stream = build_stream(validate_model("assemblyai/u3-rt-pro"), api_key=KEY, base_url=server.url)
    assert isinstance(stream, AssemblyAIStream)
    assert stream.url == server.url.replace("http://", "ws://")
    assert stream.model == "u3-rt-pro"
    assert build_stream(validate_model("openai/whisper-1"), api_key=KEY) is None


# --- the streaming API ----------------------------------------------------------------------


def test_streaming_endpoint_and_model_follow_the_rest_host() -> None:
    assert streaming_url(None) == "wss://streaming.assemblyai.com"
    assert streaming_url("https://api.eu.assemblyai.com/") == "wss://streaming.eu.assemblyai.com"
    assert streaming_url("http://127.0.0.1:8123") == "ws://127.0.0.1:8123"
    assert streaming_model("universal-streaming") == "universal-streaming-english"
    assert streaming_model("u3-rt-pro") == "u3-rt-pro"
    assert streaming_model("universal-2") == "universal-streaming-multilingual"


TURNS = [turn(0.2, "Hello everyone and welcome."), turn(3.2, "Thanks, Alice.")]


@pytest.fixture
def live_server() -> Iterator[AssemblyAIStreamServer]:
    with AssemblyAIStreamServer(KEY, TURNS, rate_slack=60.0) as server:  # pacing: see below
        yield server


async def test_stream_commits_formatted_turns_and_terminates(
    live_server: AssemblyAIStreamServer,
) -> None:
    stream = AssemblyAIStream(
        KEY, "universal-2", url=live_server.url, start_time=0.0, max_lead=None
    )
    committed = []
    audio = pcm(6.0)
    step = 2 * round(1.5 * SAMPLE_RATE)
    for begin in range(0, len(audio), step):
        committed += await stream.feed(audio[begin : begin + step])
        await asyncio.sleep(0.05)  # let the server's answers arrive, as chunks come 1.5 s apart
    committed += await stream.feed(b"")
    assert stream.window_end == pytest.approx(6.0)
    await stream.aclose()
    (session,) = live_server.sessions
    assert session.query == {
        "sample_rate": ["16000"],
        "encoding": ["pcm_s16le"],
        "speech_model": ["universal-streaming-multilingual"],
        "format_turns": ["true"],
        "language_detection": ["true"],
    }
    assert all(50 <= ms <= 1000 for ms in session.frames_ms)
    assert session.audio_seconds == pytest.approx(6.0)
    assert session.terminated
    assert session.close_code == 1000
    assert session.sent[-1]["type"] == "Termination"
    assert [s.text for s in committed] == ["Hello everyone and welcome.", "Thanks, Alice."]
    first = committed[0]
    assert (first.start, first.end) == (pytest.approx(0.2), pytest.approx(2.1))
    assert [w.text for w in first.words] == ["hello", "everyone", "and", "welcome"]
    assert stream.committed_until == pytest.approx(committed[-1].end)
    assert all(a.end <= b.start for a, b in itertools.pairwise(committed))


async def test_stream_with_a_wrong_key_is_an_auth_error(
    live_server: AssemblyAIStreamServer,
) -> None:
    stream = AssemblyAIStream("aai-wrong", url=live_server.url, max_lead=None)
    with pytest.raises(VendorAuthError, match="Unauthorized Connection") as caught:
        await stream.feed(pcm(0.5))
    assert caught.value.sub_code == INVALID_API_KEY
    assert live_server.sessions[0].close_code == 1008
    await stream.aclose()


async def test_stream_never_sends_faster_than_real_time() -> None:
    with AssemblyAIStreamServer(KEY, TURNS, rate_slack=1.0) as server:
        paced = AssemblyAIStream(KEY, url=server.url, max_lead=0.5)
        await paced.feed(pcm(2.0))  # a burst: paced to about 1.5 s of wall time
        await asyncio.sleep(0.1)
        assert await paced.feed(pcm(0.5)) == []
        await paced.aclose()
        assert server.sessions[0].close_code == 1000
        eager = AssemblyAIStream(KEY, url=server.url, max_lead=None)
        await eager.feed(pcm(3.0))
        await asyncio.sleep(0.2)
        with pytest.raises(VendorError, match="3007: Audio Transmission Rate Exceeded"):
            await eager.feed(pcm(0.5))
        await eager.aclose()


def test_turn_segments() -> None:
    words = [{"start": 1920, "end": 2000, "text": "hi", "confidence": 0.9, "word_is_final": True}]
    ended = {"type": "Turn", "turn_order": 0, "end_of_turn": True, "transcript": "Hi.",
             "turn_is_formatted": True, "words": words}  # fmt: skip
    segment = turn_segment(ended, 10.0)
    assert segment is not None
    assert (segment.start, segment.end, segment.text) == (11.92, 12.0, "Hi.")
    assert turn_segment({**ended, "transcript": " "}) is None
    bare = turn_segment({**ended, "words": []}, 0.0, (3.0, 4.5))
    assert bare is not None
    assert (bare.start, bare.end) == (3.0, 4.5)
    with pytest.raises(VendorError, match="not a number"):
        turn_segment({**ended, "words": [{**words[0], "start": "soon"}]})
