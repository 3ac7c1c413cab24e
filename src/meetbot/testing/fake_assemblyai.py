"""Loopback look-alikes of AssemblyAI, following its documentation.

:class:`AssemblyAIBatch` answers the pre-recorded API inside a
:class:`~meetbot.testing.fakes_transcription.VendorServer`: ``POST /v2/upload`` (a binary
body) → ``upload_url``; ``POST /v2/transcript`` (``audio_url`` of an upload, ``speech_models``)
→ ``queued``;
``GET /v2/transcript/{id}`` → ``processing``, then ``completed`` with ``utterances`` / ``words``
(milliseconds, speakers ``A``, ``B``) or ``error``; errors as ``{"error": ...}``, a wrong
``Authorization`` 401.

:class:`AssemblyAIStreamServer` is a real WebSocket server on 127.0.0.1 (a thread) that follows
the documented protocol: ``/v3/ws`` with ``sample_rate`` (required), ``encoding``
(``pcm_s16le``), ``speech_model`` and ``format_turns`` in the query and the key in the
``Authorization`` header; ``Begin`` first; binary PCM frames of 50 to 1000 ms, no faster than
real time (``rate_slack`` seconds ahead at most) - else it closes with 3007 as AssemblyAI does;
``Turn`` messages (a partial, the ended turn, and its formatted version when ``format_turns`` is
on) once the audio received passes a scripted turn's end plus ``end_silence``; on
``{"type": "Terminate"}`` the remaining turns heard, ``Termination``, and a 1000 close. A wrong
key is closed with 1008 "Unauthorized Connection".
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from meetbot.testing.fakes_transcription import Received, Reply

SAMPLE_RATE = 16_000
SPEECH_MODELS = frozenset(
    {"universal-streaming-english", "universal-streaming-multilingual", "u3-rt-pro", "whisper-rt"}
)


# --- the pre-recorded API ---------------------------------------------------------------

WORDS: list[dict[str, Any]] = [
    {"text": "Hello,", "start": 80, "end": 400, "confidence": 0.99, "speaker": "A"},
    {"text": "everyone.", "start": 400, "end": 900, "confidence": 0.98, "speaker": "A"},
    {"text": "Hi", "start": 1600, "end": 1800, "confidence": 0.97, "speaker": "B"},
    {"text": "Ann.", "start": 1800, "end": 2200, "confidence": 0.96, "speaker": "B"},
]


class AssemblyAIBatch:
    """A :class:`~meetbot.testing.fakes_transcription.VendorServer` handler for the
    pre-recorded API: ``polls`` answers ``processing`` that many times before ``completed`` (or
    ``error`` with ``fail``); the transcript is always :data:`WORDS`."""

    def __init__(
        self, key: str, *, utterances: bool = True, polls: int = 1, fail: str | None = None
    ) -> None:
        self.key = key
        self.utterances = utterances
        self.polls = polls
        self.fail = fail
        self.uploads: dict[str, bytes] = {}
        self.created: list[dict[str, Any]] = []
        self._pending: dict[str, int] = {}

    def __call__(self, req: Received) -> Reply:
        if req.headers.get("authorization") != self.key:
            return Reply(401, {"error": "Authentication error, API token missing/invalid"})
        if (req.method, req.path) == ("POST", "/v2/upload"):
            if req.headers.get("content-type") != "application/octet-stream" or not req.body:
                return Reply(400, {"error": "Upload a binary body"})
            url = f"https://cdn.assemblyai.com/upload/{uuid.uuid4()}"
            self.uploads[url] = req.body
            return Reply(200, {"upload_url": url})
        if (req.method, req.path) == ("POST", "/v2/transcript"):
            params = json.loads(req.body)
            if params.get("audio_url") not in self.uploads:
                return Reply(400, {"error": "Invalid audio_url"})
            if not isinstance(params.get("speech_models"), list):
                return Reply(400, {"error": "speech_models is required"})
            self.created.append(params)
            transcript_id = str(uuid.uuid4())
            self._pending[transcript_id] = self.polls
            return Reply(200, {"id": transcript_id, "status": "queued", **params})
        if req.method == "GET" and req.path.startswith("/v2/transcript/"):
            transcript_id = req.path.rsplit("/", 1)[1]
            if transcript_id not in self._pending:
                return Reply(404, {"error": "Transcript not found"})
            if self._pending[transcript_id] > 0:
                self._pending[transcript_id] -= 1
                return Reply(200, {"id": transcript_id, "status": "processing"})
            if self.fail:
                return Reply(200, {"id": transcript_id, "status": "error", "error": self.fail})
            return Reply(200, self.completed(transcript_id))
        return Reply(404, {"error": "Not found"})

    def completed(self, transcript_id: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": transcript_id,
            "status": "completed",
            "text": "Hello, everyone. Hi Ann.",
            "words": WORDS,
            "audio_duration": 2.5,
            "utterances": None,
        }
        if self.utterances:
            body["utterances"] = [
                {"confidence": 0.98, "start": 80, "end": 900, "text": "Hello, everyone.",
                 "words": WORDS[:2], "speaker": "A", "channel": None},
                {"confidence": 0.96, "start": 1600, "end": 2200, "text": "Hi Ann.",
                 "words": WORDS[2:], "speaker": "B", "channel": None},
            ]  # fmt: skip
        return body


# --- the streaming API -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScriptedTurn:
    """What the fake "hears": words ``(start_s, end_s, text)`` on the stream's timeline."""

    words: tuple[tuple[float, float, str], ...]
    formatted: str

    @property
    def end(self) -> float:
        return self.words[-1][1]


def turn(start: float, formatted: str, *, word: float = 0.4, gap: float = 0.1) -> ScriptedTurn:
    """A turn whose words (from ``formatted``, lower-cased without punctuation) start at
    ``start`` seconds, each ``word`` seconds long and ``gap`` apart."""
    words = []
    t = start
    for token in formatted.split():
        words.append((round(t, 3), round(t + word, 3), token.strip(".,?!").lower()))
        t += word + gap
    return ScriptedTurn(tuple(words), formatted)


@dataclass
class Session:
    """One connection as the server saw it."""

    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    frames_ms: list[float] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    close_code: int | None = None
    terminated: bool = False

    @property
    def audio_seconds(self) -> float:
        return sum(self.frames_ms) / 1000.0


class AssemblyAIStreamServer:
    def __init__(
        self,
        key: str,
        turns: Sequence[ScriptedTurn] = (),
        *,
        end_silence: float = 0.4,
        rate_slack: float = 2.0,
    ) -> None:
        self.key = key
        self.turns = list(turns)
        self.end_silence = end_silence
        self.rate_slack = rate_slack
        self.sessions: list[Session] = []
        self._server = serve(self._handle, "127.0.0.1", 0)
        port = self._server.socket.getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    # --- protocol ------------------------------------------------------------------------

    def _handle(self, ws: ServerConnection) -> None:
        request = ws.request
        assert request is not None
        parts = urlsplit(request.path)
        session = Session(
            parts.path,
            parse_qs(parts.query),
            {k.lower(): v for k, v in request.headers.raw_items()},
        )
        self.sessions.append(session)
        problem = self._refusal(session)
        if problem is not None:
            self._close(ws, session, *problem)
            return
        formatted = session.query.get("format_turns") == ["true"]
        self._send(ws, session, {"type": "Begin", "id": str(uuid.uuid4()), "expires_at": 0})
        started = time.monotonic()
        pending = list(self.turns)
        order = 0
        try:
            for message in ws:
                if isinstance(message, str):
                    kind = _type(message)
                    if kind == "Terminate":
                        session.terminated = True
                        for heard in [t for t in pending if t.end <= session.audio_seconds]:
                            self._emit(ws, session, heard, order, formatted)
                            order += 1
                        end = {
                            "type": "Termination",
                            "audio_duration_seconds": round(session.audio_seconds),
                            "session_duration_seconds": round(time.monotonic() - started),
                        }
                        self._send(ws, session, end)
                        self._close(ws, session, 1000, "")
                        return
                    if kind not in ("KeepAlive", "ForceEndpoint", "UpdateConfiguration"):
                        self._close(ws, session, 3006, f"Invalid Message Type: {kind}")
                        return
                    continue
                ms = len(message) / 2 / SAMPLE_RATE * 1000
                if not 50 <= ms <= 1000:
                    reason = (
                        f"Input duration violation: {ms:.0f} ms. Expected between 50 and 1000 ms"
                    )
                    self._close(ws, session, 3007, reason)
                    return
                session.frames_ms.append(ms)
                elapsed = time.monotonic() - started
                if session.audio_seconds > elapsed + self.rate_slack:
                    reason = (
                        f"Audio Transmission Rate Exceeded: Received {session.audio_seconds:.1f} "
                        f"sec. audio in {elapsed:.1f} sec"
                    )
                    self._close(ws, session, 3007, reason)
                    return
                while pending and pending[0].end + self.end_silence <= session.audio_seconds:
                    self._emit(ws, session, pending.pop(0), order, formatted)
                    order += 1
        except ConnectionClosed:
            return

    def _refusal(self, session: Session) -> tuple[int, str] | None:
        if session.headers.get("authorization") != self.key:
            return 1008, "Unauthorized Connection: Invalid API key"
        if session.path != "/v3/ws":
            return 3006, f"Invalid path {session.path}"
        if session.query.get("sample_rate") != [str(SAMPLE_RATE)]:
            return 3006, "Invalid sample_rate"
        if session.query.get("encoding", ["pcm_s16le"]) != ["pcm_s16le"]:
            return 3006, "Invalid encoding"
        model = session.query.get("speech_model", ["universal-streaming-english"])[0]
        if model not in SPEECH_MODELS:
            return 3006, f"Invalid speech_model {model}"
        return None

    def _emit(
        self, ws: ServerConnection, session: Session, heard: ScriptedTurn, order: int, fmt: bool
    ) -> None:
        words = [
            {"start": round(s * 1000), "end": round(e * 1000), "text": text,
             "confidence": 0.9, "word_is_final": True}
            for s, e, text in heard.words
        ]  # fmt: skip
        plain = " ".join(w[2] for w in heard.words)
        base = {"type": "Turn", "turn_order": order, "end_of_turn_confidence": 0.9,
                "words": words, "utterance": ""}  # fmt: skip
        partial = {**base, "words": words[:1], "transcript": "", "end_of_turn": False,
                   "turn_is_formatted": False, "end_of_turn_confidence": 0.01}  # fmt: skip
        self._send(ws, session, partial)
        ended = {**base, "transcript": plain, "utterance": plain, "end_of_turn": True,
                 "turn_is_formatted": False}  # fmt: skip
        self._send(ws, session, ended)
        if fmt:
            text = heard.formatted
            formatted = {**ended, "transcript": text, "utterance": text, "turn_is_formatted": True}
            self._send(ws, session, formatted)

    def _send(self, ws: ServerConnection, session: Session, message: dict[str, Any]) -> None:
        session.sent.append(message)
        ws.send(json.dumps(message))

    def _close(self, ws: ServerConnection, session: Session, code: int, reason: str) -> None:
        session.close_code = code
        ws.close(code, reason)

    # --- lifetime ------------------------------------------------------------------------

    def close(self) -> None:
        self._server.shutdown()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _type(message: str) -> str:
    try:
        parsed = json.loads(message)
    except ValueError:
        return "<invalid JSON>"
    return str(parsed.get("type")) if isinstance(parsed, dict) else "<not an object>"
