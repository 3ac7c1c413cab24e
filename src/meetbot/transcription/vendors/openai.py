"""OpenAI audio transcription with the user's own key.

``POST {base}/v1/audio/transcriptions`` (multipart: ``file``, ``model``, ``response_format``),
``Authorization: Bearer <key>``.

Any model id is passed on, so any OpenAI-compatible server works (``base_url``: Groq's
``https://api.groq.com/openai`` with ``whisper-large-v3``, a self-hosted faster-whisper server).

- ``whisper-1`` and every other id not starting with ``gpt-``: ``response_format=verbose_json``
  with ``timestamp_granularities[]=word`` and ``=segment``; the answer has ``segments`` (start,
  end, text) and ``words`` (word, start, end). A server that refuses ``verbose_json`` (400) on
  the first request is asked again with ``json``, and this transcriber keeps to ``json``.
- ``gpt-4o-transcribe`` / ``gpt-4o-mini-transcribe`` (``gpt-*``): only ``response_format=json``,
  which is ``{"text": ...}`` with no times. The audio is therefore sent in pieces of at most
  30 s cut at quiet points, and each piece becomes one segment spanning the piece: coarse, but
  honest.

Uploads are limited to 25 MB, so ``verbose_json`` audio goes in pieces of at most 10 minutes
(a 16 kHz 16-bit WAV is 1.9 MB a minute).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import httpx

from meetbot.contract.models import Segment, Word
from meetbot.transcription.audio import SAMPLE_RATE, as_samples, pieces, to_wav_bytes
from meetbot.transcription.segments import clean_text, monotonic_words
from meetbot.transcription.vendors.base import (
    VENDOR_ERROR,
    VendorAuthError,
    VendorError,
    VendorTranscriber,
    number,
    send_json,
)

VENDOR: Final = "openai"
DEFAULT_BASE_URL: Final = "https://api.openai.com"
TEXT_ONLY_PREFIX: Final = "gpt-"
"""OpenAI's ``gpt-*`` transcription models answer ``json`` (text only); the others are asked
for ``verbose_json`` (times)."""


class OpenAITranscriber(VendorTranscriber):
    """Implements :class:`meetbot.ports.Transcriber` (blocking; run it in a thread)."""

    default_model = "whisper-1"
    default_base_url = DEFAULT_BASE_URL

    _text_only: bool = False
    """Set once the server refused ``verbose_json``."""

    @property
    def verbose(self) -> bool:
        return not (self._text_only or self.model.lower().startswith(TEXT_ONLY_PREFIX))

    @property
    def piece_seconds(self) -> float:
        return 600.0 if self.verbose else 30.0

    def form(self) -> dict[str, str | list[str]]:
        fields: dict[str, str | list[str]] = {"model": self.model}
        if self.verbose:
            fields["response_format"] = "verbose_json"
            fields["timestamp_granularities[]"] = ["word", "segment"]
        else:
            fields["response_format"] = "json"
        if self.language:
            fields["language"] = self.language
        return fields

    def transcribe(self, pcm16k: Any, *, offset: float = 0.0) -> list[Segment]:
        samples = as_samples(pcm16k)
        out: list[Segment] = []
        with self.client() as client:
            for start, piece in pieces(samples, self.piece_seconds):
                at = offset + start / SAMPLE_RATE
                try:
                    payload = self._post(client, to_wav_bytes(piece), "audio/wav", "audio.wav")
                except VendorError as exc:
                    if out or not self._refused_verbose(exc):
                        raise
                    return self.transcribe(samples, offset=offset)
                out.extend(parse_response(payload, offset=at, duration=len(piece) / SAMPLE_RATE))
        return out

    def _refused_verbose(self, exc: VendorError) -> bool:
        """Whether ``exc`` is a 400 to a ``verbose_json`` request (then keep to ``json``)."""
        if not self.verbose or exc.status_code != 400 or isinstance(exc, VendorAuthError):
            return False
        self._text_only = True
        return True

    def transcribe_bytes(
        self,
        audio: bytes,
        content_type: str,
        *,
        filename: str = "audio.ogg",
        offset: float = 0.0,
    ) -> list[Segment]:
        """Upload an encoded file (at most 25 MB) as is; the extension tells OpenAI the format."""
        with self.client() as client:
            payload = self._post(client, audio, content_type, filename)
        return parse_response(payload, offset=offset)

    def _post(self, client: httpx.Client, audio: bytes, content_type: str, filename: str) -> Any:
        return send_json(
            VENDOR,
            client,
            lambda: client.build_request(
                "POST",
                f"{self.base_url}/v1/audio/transcriptions",
                headers={"Authorization": f"Bearer {self._api_key}"},
                data=self.form(),
                files={"file": (filename, audio, content_type)},
            ),
            self.retry,
        )


def _words(raw: Any, offset: float) -> tuple[Word, ...]:
    if not isinstance(raw, Sequence):
        return ()
    return monotonic_words(
        Word(
            number(w.get("start"), "words.start", VENDOR) + offset,
            number(w.get("end"), "words.end", VENDOR) + offset,
            str(w.get("word", "")),
        )
        for w in raw
        if isinstance(w, Mapping)
    )


def _mid(word: Word) -> float:
    return (word.start + word.end) / 2


def parse_response(
    payload: Any, *, offset: float = 0.0, duration: float | None = None
) -> list[Segment]:
    """Segments from a ``verbose_json`` or ``json`` answer, times shifted by ``offset``.

    ``verbose_json`` words are attached to the segment holding their midpoint. A ``json``
    answer gives one segment over ``[offset, offset + duration]`` (``duration`` from the answer
    when it has one).
    """
    if not isinstance(payload, Mapping) or not isinstance(payload.get("text"), str):
        raise VendorError(VENDOR, "response has no 'text'", sub_code=VENDOR_ERROR)
    words = _words(payload.get("words"), offset)
    raw = payload.get("segments")
    raw_segments = [s for s in raw if isinstance(s, Mapping)] if isinstance(raw, Sequence) else []
    if raw_segments:
        out: list[Segment] = []
        index = 0
        for i, item in enumerate(raw_segments):
            start = number(item.get("start"), "segments.start", VENDOR) + offset
            end = number(item.get("end"), "segments.end", VENDOR) + offset
            last = i == len(raw_segments) - 1
            mine: list[Word] = []
            while index < len(words) and (last or _mid(words[index]) < end):
                mine.append(words[index])
                index += 1
            out.append(Segment(start, end, clean_text(str(item.get("text", ""))), tuple(mine)))
        return [s for s in out if s.text]
    text = clean_text(payload["text"])
    if not text:
        return []
    if words:
        return [Segment(words[0].start, words[-1].end, text, words)]
    span = payload.get("duration", duration)
    length = number(span, "duration", VENDOR) if span is not None else 0.0
    return [Segment(offset, offset + length, text)]
