"""Vendor adapters against real local HTTP servers that check requests as the vendors do.

The servers follow the vendors' public documentation: Deepgram's pre-recorded ``/v1/listen``
(``Authorization: Token``, raw audio body, ``results.utterances``) and OpenAI's
``/v1/audio/transcriptions`` (``Authorization: Bearer``, multipart form, ``verbose_json`` for
whisper-1 and ``json`` for the gpt-4o models).
"""

from __future__ import annotations

import email.parser
import email.policy
import io
import itertools
import socket
import wave
from collections.abc import Callable, Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from meetbot.testing.fakes_transcription import Handler, Received, Reply, VendorServer
from meetbot.transcription.audio import SAMPLE_RATE, to_wav_bytes
from meetbot.transcription.factory import build_transcriber
from meetbot.transcription.models import validate_model
from meetbot.transcription.vendors import (
    DeepgramTranscriber,
    OpenAITranscriber,
    RetryPolicy,
    VendorAuthError,
    VendorError,
)
from meetbot.transcription.vendors.base import INVALID_API_KEY, UNAVAILABLE, VENDOR_ERROR

KEY = "sk-test-good-key"
FAST = RetryPolicy(attempts=3, backoff=0.01)


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], VendorServer]]:
    servers: list[VendorServer] = []

    def start(handle: Handler) -> VendorServer:
        servers.append(VendorServer(handle))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def tone(seconds: float) -> np.ndarray[Any, np.dtype[np.float32]]:
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def wav_info(body: bytes) -> tuple[int, int, float]:
    with wave.open(io.BytesIO(body)) as w:
        return w.getframerate(), w.getnchannels(), w.getnframes() / w.getframerate()


# --- a Deepgram look-alike -------------------------------------------------------------------

DG_WORDS = [
    {"word": "hello", "start": 0.08, "end": 0.4, "confidence": 0.99, "speaker": 0,
     "speaker_confidence": 0.8, "punctuated_word": "Hello,"},
    {"word": "everyone", "start": 0.4, "end": 0.9, "confidence": 0.98, "speaker": 0,
     "speaker_confidence": 0.8, "punctuated_word": "everyone."},
    {"word": "hi", "start": 1.6, "end": 1.8, "confidence": 0.97, "speaker": 1,
     "speaker_confidence": 0.7, "punctuated_word": "Hi"},
    {"word": "ann", "start": 1.8, "end": 2.2, "confidence": 0.96, "speaker": 1,
     "speaker_confidence": 0.7, "punctuated_word": "Ann."},
]  # fmt: skip


def deepgram(utterances: bool = True) -> Handler:
    def handle(req: Received) -> Reply:
        if req.path != "/v1/listen":
            return Reply(404, {"err_code": "NOT_FOUND", "err_msg": "Not found."})
        if req.headers.get("authorization") != f"Token {KEY}":
            return Reply(
                401,
                {"err_code": "INVALID_AUTH", "err_msg": "Invalid credentials.", "request_id": "r"},
            )
        if not req.headers.get("content-type", "").startswith("audio/") or not req.body:
            return Reply(400, {"err_code": "Bad Request", "err_msg": "Bad Request: no audio"})
        if req.headers["content-type"] == "audio/wav" and wav_info(req.body)[:2] != (16000, 1):
            return Reply(400, {"err_code": "Bad Request", "err_msg": "corrupt audio"})
        alt = {"transcript": "Hello, everyone. Hi Ann.", "confidence": 0.98, "words": DG_WORDS}
        results: dict[str, Any] = {"channels": [{"alternatives": [alt]}]}
        if utterances and req.query.get("utterances") == ["true"]:
            results["utterances"] = [
                {"start": 0.08, "end": 0.9, "confidence": 0.98, "channel": 0,
                 "transcript": "Hello, everyone.", "words": DG_WORDS[:2], "speaker": 0,
                 "id": "u1"},
                {"start": 1.6, "end": 2.2, "confidence": 0.96, "channel": 0,
                 "transcript": "Hi Ann.", "words": DG_WORDS[2:], "speaker": 1, "id": "u2"},
            ]  # fmt: skip
        metadata = {"request_id": "r", "duration": 2.5, "channels": 1, "models": ["m"]}
        return Reply(200, {"metadata": metadata, "results": results})

    return handle


def test_deepgram_request_and_utterances(serve: Callable[[Handler], VendorServer]) -> None:
    server = serve(deepgram())
    dg = DeepgramTranscriber(KEY, "nova-3", base_url=server.url, retry=FAST)
    segments = dg.transcribe(tone(2.5), offset=10.0)
    (req,) = server.received
    assert req.query == {
        "model": ["nova-3"],
        "smart_format": ["true"],
        "punctuate": ["true"],
        "diarize": ["true"],
        "utterances": ["true"],
    }
    assert req.headers["content-type"] == "audio/wav"
    assert wav_info(req.body) == (16000, 1, 2.5)
    assert [(s.start, s.end, s.text, s.speaker) for s in segments] == [
        (10.08, 10.9, "Hello, everyone.", "Speaker 1"),
        (11.6, 12.2, "Hi Ann.", "Speaker 2"),
    ]
    assert [w.text for w in segments[0].words] == ["Hello,", "everyone."]
    assert segments[1].words[0].start == pytest.approx(11.6)


def test_deepgram_words_without_utterances(serve: Callable[[Handler], VendorServer]) -> None:
    server = serve(deepgram(utterances=False))
    dg = DeepgramTranscriber(KEY, base_url=server.url, retry=FAST, language="en")
    segments = dg.transcribe_bytes(b"OggS" + bytes(100), "audio/ogg")
    assert server.received[0].query["language"] == ["en"]
    assert server.received[0].headers["content-type"] == "audio/ogg"
    assert [(s.text, s.speaker) for s in segments] == [
        ("Hello, everyone.", "Speaker 1"),
        ("Hi Ann.", "Speaker 2"),
    ]


@pytest.mark.parametrize("status", [401, 403])
def test_deepgram_rejected_key_is_an_auth_error(
    serve: Callable[[Handler], VendorServer], status: int
) -> None:
    server = serve(deepgram())
    if status == 403:
        server.script.append(Reply(403, {"err_code": "FORBIDDEN", "err_msg": "No access."}))
    key = "wrong-key" if status == 401 else KEY
    dg = DeepgramTranscriber(key, base_url=server.url, retry=FAST)
    with pytest.raises(VendorAuthError) as caught:
        dg.transcribe(tone(0.5))
    assert caught.value.sub_code == INVALID_API_KEY
    assert caught.value.status_code == status
    assert key not in str(caught.value)
    assert len(server.received) == 1  # never retried


def test_server_errors_are_retried(serve: Callable[[Handler], VendorServer]) -> None:
    server = serve(deepgram())
    server.script += [
        Reply(503, {"err_msg": "busy"}),
        Reply(429, {"err_msg": "slow down"}, {"Retry-After": "0"}),
    ]
    dg = DeepgramTranscriber(KEY, base_url=server.url, retry=FAST)
    assert len(dg.transcribe(tone(0.5))) == 2
    assert len(server.received) == 3
    assert server.received[0].body == server.received[2].body


def test_persistent_outage_is_unavailable(serve: Callable[[Handler], VendorServer]) -> None:
    server = serve(lambda req: Reply(502, b"<html>bad gateway</html>"))
    dg = DeepgramTranscriber(KEY, base_url=server.url, retry=FAST)
    with pytest.raises(VendorError) as caught:
        dg.transcribe(tone(0.5))
    assert caught.value.sub_code == UNAVAILABLE
    assert caught.value.status_code == 502
    assert len(server.received) == 3


def test_unreachable_vendor_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dg = DeepgramTranscriber(KEY, base_url=f"http://127.0.0.1:{port}", retry=FAST)
    with pytest.raises(VendorError) as caught:
        dg.transcribe(tone(0.5))
    assert caught.value.sub_code == UNAVAILABLE
    assert not isinstance(caught.value, VendorAuthError)


@pytest.mark.parametrize(
    "reply",
    [
        Reply(400, {"err_code": "Bad Request", "err_msg": "Bad Request: corrupt audio"}),
        Reply(200, b"not json"),
        Reply(200, {"metadata": {}}),
    ],
)
def test_refusals_and_garbage_are_vendor_errors(
    serve: Callable[[Handler], VendorServer], reply: Reply
) -> None:
    server = serve(lambda req: reply)
    dg = DeepgramTranscriber(KEY, base_url=server.url, retry=FAST)
    with pytest.raises(VendorError) as caught:
        dg.transcribe(tone(0.5))
    assert caught.value.sub_code == VENDOR_ERROR
    assert len(server.received) == 1
    if reply.status == 400:
        assert "corrupt audio" in str(caught.value)


# --- an OpenAI look-alike --------------------------------------------------------------------


def form_fields(req: Received) -> dict[str, list[Message]]:
    """Parse a multipart/form-data body the way a server does."""
    head = f"Content-Type: {req.headers['content-type']}\r\n\r\n".encode()
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + req.body)
    fields: dict[str, list[Message]] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        assert isinstance(name, str)
        fields.setdefault(name, []).append(part)
    return fields


def text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def verbose_segment(i: int, start: float, end: float, text: str) -> dict[str, Any]:
    """One ``segments`` entry of a ``verbose_json`` answer, with every documented field."""
    return {"id": i, "seek": 0, "start": start, "end": end, "text": text, "tokens": [i],
            "temperature": 0.0, "avg_logprob": -0.2, "compression_ratio": 1.0,
            "no_speech_prob": 0.01}  # fmt: skip


def openai() -> Handler:
    def error(status: int, message: str, code: str | None) -> Reply:
        body = {"error": {"message": message, "type": "invalid_request_error", "param": None,
                          "code": code}}  # fmt: skip
        return Reply(status, body)

    def handle(req: Received) -> Reply:
        if req.path != "/v1/audio/transcriptions":
            return error(404, "Invalid URL", None)
        if req.headers.get("authorization") != f"Bearer {KEY}":
            return error(401, "Incorrect API key provided: wr***ey.", "invalid_api_key")
        if not req.headers.get("content-type", "").startswith("multipart/form-data"):
            return error(400, "Expected multipart/form-data", None)
        fields = form_fields(req)
        if "file" not in fields or "model" not in fields:
            return error(400, "Missing required parameter", None)
        upload = fields["file"][0]
        if not (upload.get_filename() or "").endswith((".wav", ".ogg")):
            return error(400, "Unrecognized file format", None)
        audio = upload.get_payload(decode=True)
        assert isinstance(audio, bytes)
        model = text(fields["model"][0])
        fmt = text(fields["response_format"][0]) if "response_format" in fields else "json"
        granularities = {text(p) for p in fields.get("timestamp_granularities[]", [])}
        if model.startswith("gpt-4o"):
            if fmt not in ("json", "text"):
                return error(400, f"response_format '{fmt}' is not compatible", "unsupported_value")
            return Reply(200, {"text": "Hello there.", "usage": {"type": "duration", "seconds": 3}})
        if fmt != "verbose_json" or "word" not in granularities:
            return error(400, "timestamp_granularities needs verbose_json", None)
        duration = wav_info(audio)[2] if audio.startswith(b"RIFF") else 3.0
        return Reply(
            200,
            {
                "task": "transcribe",
                "language": "english",
                "duration": duration,
                "text": "Hello there. How are you?",
                "words": [
                    {"word": "Hello", "start": 0.0, "end": 0.4},
                    {"word": "there", "start": 0.4, "end": 0.9},
                    {"word": "How", "start": 1.5, "end": 1.7},
                    {"word": "are", "start": 1.7, "end": 1.8},
                    {"word": "you", "start": 1.8, "end": 2.1},
                ],
                "segments": [
                    verbose_segment(0, 0.0, 1.2, " Hello there."),
                    verbose_segment(1, 1.2, 2.2, " How are you?"),
                ],
            },
        )

    return handle


def test_openai_whisper_1_verbose_json_with_words(serve: Callable[[Handler], VendorServer]) -> None:
    server = serve(openai())
    oa = OpenAITranscriber(KEY, "whisper-1", base_url=server.url, retry=FAST)
    segments = oa.transcribe(tone(2.5), offset=5.0)
    (req,) = server.received
    fields = form_fields(req)
    assert text(fields["model"][0]) == "whisper-1"
    assert text(fields["response_format"][0]) == "verbose_json"
    assert {text(p) for p in fields["timestamp_granularities[]"]} == {"word", "segment"}
    assert fields["file"][0].get_content_type() == "audio/wav"
    assert [(s.start, s.end, s.text) for s in segments] == [
        (5.0, 6.2, "Hello there."),
        (6.2, 7.2, "How are you?"),
    ]
    assert [w.text for w in segments[0].words] == ["Hello", "there"]
    assert [w.text for w in segments[1].words] == ["How", "are", "you"]


def test_openai_gpt_4o_json_in_short_pieces(serve: Callable[[Handler], VendorServer]) -> None:
    server = serve(openai())
    oa = OpenAITranscriber(KEY, "gpt-4o-transcribe", base_url=server.url, retry=FAST)
    segments = oa.transcribe(tone(70.0))
    assert len(server.received) == 3
    for req in server.received:
        fields = form_fields(req)
        assert text(fields["response_format"][0]) == "json"
        assert "timestamp_granularities[]" not in fields
    assert [s.text for s in segments] == ["Hello there."] * 3
    assert segments[0].start == 0.0
    assert segments[-1].end == pytest.approx(70.0)
    assert all(s.end - s.start <= 30.0 for s in segments)
    assert all(a.end == pytest.approx(b.start) for a, b in itertools.pairwise(segments))


def test_openai_file_upload_as_is(serve: Callable[[Handler], VendorServer]) -> None:
    server = serve(openai())
    oa = OpenAITranscriber(KEY, "whisper-1", base_url=server.url, retry=FAST)
    segments = oa.transcribe_bytes(to_wav_bytes(tone(1.0)), "audio/wav", filename="a.wav")
    assert len(segments) == 2
    assert form_fields(server.received[0])["file"][0].get_filename() == "a.wav"


def test_openai_wrong_key_is_an_auth_error(serve: Callable[[Handler], VendorServer]) -> None:
    server = serve(openai())
    oa = OpenAITranscriber("sk-wrong", "whisper-1", base_url=server.url, retry=FAST)
    with pytest.raises(VendorAuthError, match="Incorrect API key") as caught:
        oa.transcribe(tone(0.5))
    assert caught.value.sub_code == INVALID_API_KEY
    assert "sk-wrong" not in str(caught.value)


def test_factory_builds_vendor_transcribers_with_a_base_url(
    serve: Callable[[Handler], VendorServer], tmp_path: Path
) -> None:
    server = serve(openai())
    built = build_transcriber(
        validate_model("openai/whisper-1"), models_dir=tmp_path, api_key=KEY, base_url=server.url
    )
    assert isinstance(built, OpenAITranscriber)
    assert [s.text for s in built.transcribe(tone(1.0))] == ["Hello there.", "How are you?"]
    with pytest.raises(ValueError, match="needs an api_key"):
        build_transcriber(validate_model("deepgram/nova-3"), models_dir=tmp_path)
    assert build_transcriber(validate_model("none"), models_dir=tmp_path) is None


# --- OpenAI-compatible servers (Groq, self-hosted) -------------------------------------------


def test_any_openai_model_id_asks_for_words(serve: Callable[[Handler], VendorServer]) -> None:
    server = serve(openai())  # answers verbose_json for every model not starting with gpt-4o
    oa = OpenAITranscriber(KEY, "whisper-large-v3", base_url=server.url, retry=FAST)
    segments = oa.transcribe(tone(2.5))
    fields = form_fields(server.received[0])
    assert text(fields["model"][0]) == "whisper-large-v3"
    assert text(fields["response_format"][0]) == "verbose_json"
    assert [w.text for w in segments[1].words] == ["How", "are", "you"]


def test_a_server_refusing_verbose_json_is_asked_for_json(
    serve: Callable[[Handler], VendorServer],
) -> None:
    def text_only(req: Received) -> Reply:
        fmt = text(form_fields(req)["response_format"][0])
        if fmt != "json":
            body = {"error": {"message": f"response_format {fmt} not supported", "code": None}}
            return Reply(400, body)
        return Reply(200, {"text": "Hello there."})

    server = serve(text_only)
    oa = OpenAITranscriber(KEY, "my-local-model", base_url=server.url, retry=FAST)
    assert [s.text for s in oa.transcribe(tone(40.0))] == ["Hello there."] * 2
    formats = [text(form_fields(r)["response_format"][0]) for r in server.received]
    assert formats == ["verbose_json", "json", "json"]
    assert not oa.verbose
