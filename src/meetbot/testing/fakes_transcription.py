"""Fakes for transcription: a scripted transcriber and a loopback server for vendor look-alikes.

A scripted :class:`meetbot.ports.Transcriber`: it "hears" words from a script by their times.

``FakeTranscriber(script)`` takes the words spoken over the whole call, with absolute times.
``transcribe(samples, offset=t)`` treats the samples as the audio of ``[t, t + len/16000)`` and
returns the script's words that lie fully inside that span, grouped into segments at pauses of
``pause`` seconds or more - like Whisper with voice-activity detection. The samples' content is
ignored. With ``unstable_tail`` it garbles the words ending that close to the window end, as a
real decoder revises its last words when more audio arrives.

:class:`VendorServer` is a real HTTP server on 127.0.0.1 (a thread) whose answers come from a
handler function, for testing the "bring your own key" adapters the way the vendors see them.
AssemblyAI's look-alikes (its pre-recorded API, its streaming WebSocket) are in
:mod:`meetbot.testing.fake_assemblyai`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import numpy as np

from meetbot.contract.models import Segment, Word

SAMPLE_RATE = 16_000


def words_from_text(
    text: str, *, start: float = 0.0, word: float = 0.4, gap: float = 0.1
) -> list[Word]:
    """Evenly timed words for ``text``: each ``word`` seconds long, ``gap`` seconds apart."""
    out: list[Word] = []
    t = start
    for token in text.split():
        out.append(Word(round(t, 3), round(t + word, 3), token))
        t += word + gap
    return out


def script(*utterances: tuple[float, str], word: float = 0.4, gap: float = 0.1) -> list[Word]:
    """Words for several ``(start_seconds, text)`` utterances."""
    out: list[Word] = []
    for start, text in utterances:
        out.extend(words_from_text(text, start=start, word=word, gap=gap))
    return out


@dataclass(frozen=True, slots=True)
class Call:
    offset: float
    duration: float


@dataclass
class FakeTranscriber:
    words: Sequence[Word]
    pause: float = 0.5
    unstable_tail: float = 0.0
    calls: list[Call] = field(default_factory=list)

    def transcribe(self, pcm16k: Sequence[float] | Any, *, offset: float = 0.0) -> list[Segment]:
        duration = len(np.asarray(pcm16k)) / SAMPLE_RATE
        self.calls.append(Call(offset, duration))
        end = offset + duration
        heard = [w for w in self.words if w.start >= offset - 1e-9 and w.end <= end + 1e-9]
        heard = [
            Word(w.start, w.end, f"{w.text}~") if end - w.end < self.unstable_tail else w
            for w in heard
        ]
        return list(group_words(heard, self.pause))

    @property
    def audio_decoded(self) -> float:
        return sum(c.duration for c in self.calls)


def group_words(words: Iterable[Word], pause: float) -> Iterable[Segment]:
    """Segments from words split where the gap between two words is at least ``pause``."""
    run: list[Word] = []
    for word in words:
        if run and word.start - run[-1].end >= pause:
            yield _segment(run)
            run = []
        run.append(word)
    if run:
        yield _segment(run)


def _segment(words: list[Word]) -> Segment:
    return Segment(words[0].start, words[-1].end, " ".join(w.text for w in words), tuple(words))


def silence(seconds: float) -> bytes:
    """``seconds`` of int16 silence at 16 kHz (what a fake call feeds)."""
    return b"\x00\x00" * round(seconds * SAMPLE_RATE)


# --- vendor look-alikes ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Received:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    """Lower-case names."""
    body: bytes
    method: str = "POST"


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: Any
    """JSON-able, or raw ``bytes``."""
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Received], Reply]


class VendorServer:
    """Answers POSTs, GETs and DELETEs with ``handle(request)``; ``script`` replies (e.g.
    injected failures) go first, in order. Every request is kept in ``received``. Use as a
    context manager."""

    def __init__(self, handle: Handler) -> None:
        self.handle = handle
        self.received: list[Received] = []
        self.script: list[Reply] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True).start()

    def _answer(self, request: Received) -> Reply:
        self.received.append(request)
        return self.script.pop(0) if self.script else self.handle(request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handle(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length", "0"))
                headers = {k.lower(): v for k, v in self.headers.items()}
                request = Received(
                    parts.path,
                    parse_qs(parts.query),
                    headers,
                    self.rfile.read(length),
                    self.command,
                )
                reply = server._answer(request)
                body = reply.body
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST
            do_DELETE = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handle

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
